module example.com/devloop-hello

go 1.26
