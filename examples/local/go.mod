module example.com/devloop-local

go 1.26
