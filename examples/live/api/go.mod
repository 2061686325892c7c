module example.com/devloop-live-api

go 1.26
