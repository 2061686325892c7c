module example.com/devloop-multi

go 1.26
