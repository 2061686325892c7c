// Command multi is the example's three services and its integration check,
// one static binary whose first argument picks the role:
//
//	multi db                 answers "db"
//	multi api                answers "api <- " + what UPSTREAM (db) answers
//	multi web                answers "web <- " + what UPSTREAM (api) answers
//	multi check URL WANT     GETs URL until it answers WANT (the test resource)
//
// Each service is ready (GET /healthz) only once its UPSTREAM is, so the
// Deployments' readiness probes follow the chain db <- api <- web. GET
// /whoami answers the pod's name (its hostname), to see which pod a
// port-forward reaches.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"time"
)

// client bounds each call to an upstream: the Services are in the same
// cluster, so an answer takes milliseconds; a readiness probe waits 1 s.
var client = &http.Client{Timeout: 900 * time.Millisecond}

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: multi db|api|web|check URL WANT")
	}
	role := os.Args[1]
	if role == "check" {
		if len(os.Args) != 4 {
			log.Fatal("usage: multi check URL WANT")
		}
		os.Exit(check(os.Args[2], os.Args[3]))
	}
	upstream := os.Getenv("UPSTREAM")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if upstream == "" {
			fmt.Fprintln(w, role)
			return
		}
		body, err := get(r.Context(), upstream+"/")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "%s <- %s", role, body)
	})
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if upstream != "" {
			if _, err := get(r.Context(), upstream+"/healthz"); err != nil {
				http.Error(w, "upstream not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	http.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		name, err := os.Hostname()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, name)
	})
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	log.Printf("%s: listening on :%s (upstream %q)", role, port, upstream)
	log.Fatal(http.ListenAndServe(":"+port, nil))
}

// get returns the body of a GET that answered 200.
func get(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return string(body), nil
}

// checkTimeout is how long check retries: the port-forward starts with
// the web pod, so its first connection may be refused for a moment.
const checkTimeout = 30 * time.Second

// check GETs url until it answers want (after trimming spaces) and returns
// the exit code: 0 when it did, 1 when checkTimeout passed.
func check(url, want string) int {
	deadline := time.Now().Add(checkTimeout)
	for {
		body, err := get(context.Background(), url)
		got := strings.TrimSpace(body)
		if err == nil && got == want {
			fmt.Printf("PASS: GET %s = %q\n", url, got)
			return 0
		}
		if time.Now().After(deadline) {
			if err != nil {
				fmt.Printf("FAIL: GET %s: %v\n", url, err)
			} else {
				fmt.Printf("FAIL: GET %s = %q, want %q\n", url, got, want)
			}
			return 1
		}
		time.Sleep(500 * time.Millisecond)
	}
}
