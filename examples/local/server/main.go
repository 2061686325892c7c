// Command server is the example's HTTP server: it answers / with the
// generated greeting and /healthz for devloop's readiness probe.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8000"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, greeting)
	})
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	log.Printf("server: listening on 127.0.0.1:%s (pid %d)", port, os.Getpid())
	log.Fatal(http.ListenAndServe("127.0.0.1:"+port, nil))
}
