// Command api is the live example's compiled service: it answers / with
// its greeting and the time it started, so a restart shows.
package main

import (
	"fmt"
	"log"
	"net/http"
	"time"
)

const greeting = "hello from the api"

func main() {
	started := time.Now().UTC().Format(time.RFC3339Nano)
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s (started %s)\n", greeting, started)
	})
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	log.Print("api: listening on :8080")
	log.Fatal(http.ListenAndServe(":8080", nil))
}
