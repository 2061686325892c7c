//go:build linux

// Command live measures live update through devloop on a kind cluster: the
// time from a file's edit to the running container serving the new content
// through devloop's port-forward, for one file and for 100 files, over -n
// edits each. It runs examples/live with `devloop up` and prints Markdown
// for the "## Live update" section of BENCHMARKS.md, with the median of each
// step of devloop's own timing trace (what dominates).
//
//	. .e2e/env; go run ./bench/live [-n 50] [-cluster NAME -registry-port PORT]
//
// Without -cluster it creates a kind cluster with a unique name and deletes
// it at the end; with -cluster it uses (or creates and keeps) that one. It
// needs what `devloop up -f examples/live/Devfile` needs: Go, docker, and on
// an air-gapped machine the images of the test environment (TESTING.md).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/devloop-dev/devloop/bench/internal/harness"
	"github.com/devloop-dev/devloop/engine"
	"github.com/devloop-dev/devloop/web"
)

// pollEvery is how often the harness GETs the page while it waits for the
// new content: fine against ~100 ms latencies, cheap for the forward.
const pollEvery = 2 * time.Millisecond

// settle is the pause between edits: each edit is measured alone, after
// the last update was recorded.
const settle = 150 * time.Millisecond

func main() {
	log.SetFlags(0)
	n := flag.Int("n", 50, "edits per case")
	cluster := flag.String("cluster", "", "kind cluster to use (kept); empty: a new one, deleted at the end")
	regPort := flag.Int("registry-port", 0, "the cluster's registry port (with -cluster); 0: a free port")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if out, err := exec.CommandContext(ctx, "docker", "info").CombinedOutput(); err != nil {
		// make bench runs every harness: say why this one cannot, and go on.
		fmt.Printf("bench/live skipped: it needs a running docker for the kind cluster (docker info: %v %s)\n", err, firstLine(out))
		return
	}
	if err := run(ctx, *n, *cluster, *regPort); err != nil {
		log.Fatalf("bench/live: %v", err)
	}
}

func run(ctx context.Context, n int, cluster string, regPort int) error {
	tmp, err := os.MkdirTemp("", "devloop-bench-live-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "devloop")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/devloop").CombinedOutput(); err != nil {
		return fmt.Errorf("building devloop: %v\n%s", err, out)
	}
	dir := filepath.Join(tmp, "live")
	if out, err := exec.CommandContext(ctx, "cp", "-r", "examples/live", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("copying examples/live: %v\n%s", err, out)
	}
	keep := cluster != ""
	if cluster == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		cluster = "devloop-bench-" + hex.EncodeToString(b)
	}
	if regPort == 0 {
		if regPort, err = harness.FreePort(); err != nil {
			return err
		}
	}
	devfile := filepath.Join(dir, "Devfile")
	src, err := os.ReadFile(devfile)
	if err != nil {
		return err
	}
	decl := `kind_cluster(name = "devloop-live")`
	if !strings.Contains(string(src), decl) {
		return fmt.Errorf("examples/live/Devfile has no %s: update bench/live", decl)
	}
	src = []byte(strings.Replace(string(src), decl, fmt.Sprintf("kind_cluster(name = %q, registry_port = %d)", cluster, regPort), 1))
	if err := os.WriteFile(devfile, src, 0o644); err != nil {
		return err
	}

	dash, err1 := harness.FreePort()
	webPort, err2 := harness.FreePort()
	apiPort, err3 := harness.FreePort()
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	state := filepath.Join(tmp, "state")
	os.Setenv("XDG_STATE_HOME", state) // for web.NewClient's state file
	cmd := exec.Command(bin, "up", "-f", devfile, "--port", strconv.Itoa(dash), "--",
		"--web_port", strconv.Itoa(webPort), "--api_port", strconv.Itoa(apiPort))
	cmd.Dir = dir
	cmd.Env = os.Environ()
	logFile := filepath.Join(tmp, "up.log")
	lf, err := os.Create(logFile)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if !keep {
			out, err := exec.Command(bin, "cluster", "delete", "-f", devfile).CombinedOutput()
			if err != nil {
				log.Printf("deleting cluster %s: %v\n%s", cluster, err, out)
			}
		}
	}()

	log.Printf("devloop up on cluster %s (log: %s)", cluster, logFile)
	api, err := harness.WaitAPI(ctx, dash, 5*time.Minute)
	if err != nil {
		return err
	}
	if err := waitReady(ctx, api, "web", 10*time.Minute); err != nil {
		b, _ := os.ReadFile(logFile)
		return fmt.Errorf("%v\ndevloop up output:\n%s", err, b)
	}
	site := fmt.Sprintf("http://127.0.0.1:%d/", webPort)
	www := filepath.Join(dir, "web", "www")

	fmt.Printf("Live update through `devloop up` on kind (examples/live, busybox httpd), %d edits per case.\n\n", n)
	fmt.Println("| case | p50 | p95 | max | median steps (devloop's trace) |")
	fmt.Println("| --- | --- | --- | --- | --- |")
	cases := []struct {
		name  string
		files int
		run   bool // data.txt: a run() step remakes table.html
	}{{"1 file", 1, false}, {"100 files", 100, false}, {"1 file + run() step", 1, true}}
	for _, c := range cases {
		var lat []time.Duration
		steps := map[string][]time.Duration{}
		var order []string
		for i := range n {
			token := fmt.Sprintf("edit-%d-%d-%d", c.files, i, time.Now().UnixNano())
			var d time.Duration
			var err error
			if c.run {
				d, err = editData(ctx, www, site, token)
			} else {
				d, err = edit(ctx, www, site, c.files, token)
			}
			if err != nil {
				return fmt.Errorf("%s, edit %d: %w", c.name, i, err)
			}
			lat = append(lat, d)
			u, err := waitRecorded(ctx, api, "web", c.files)
			if err != nil {
				return fmt.Errorf("%s, edit %d: %w", c.name, i, err)
			}
			for _, s := range u.Steps {
				if !slices.Contains(order, s.Name) {
					order = append(order, s.Name)
				}
				steps[s.Name] = append(steps[s.Name], s.End.Sub(s.Start))
			}
			time.Sleep(settle)
		}
		var parts []string
		for _, name := range order {
			parts = append(parts, fmt.Sprintf("%s %s", name, ms(pct(steps[name], 50))))
		}
		fmt.Printf("| %s | %s | %s | %s | %s |\n", c.name, ms(pct(lat, 50)), ms(pct(lat, 95)), ms(pct(lat, 100)), strings.Join(parts, ", "))
	}
	return nil
}

// edit writes token into files pages under www/bench and returns the time
// until the last one is served with it.
func edit(ctx context.Context, www, site string, files int, token string) (time.Duration, error) {
	dir := filepath.Join(www, "bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	start := time.Now()
	var last string
	for i := range files {
		last = fmt.Sprintf("f%03d.html", i)
		if err := os.WriteFile(filepath.Join(dir, last), []byte(token+"\n"), 0o644); err != nil {
			return 0, err
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	url := site + "bench/" + last
	for time.Now().Before(deadline) {
		if body, err := get(ctx, url); err == nil && strings.TrimSpace(body) == token {
			d := time.Since(start)
			if body, err := get(ctx, site+"bench/f000.html"); err != nil || strings.TrimSpace(body) != token {
				return 0, fmt.Errorf("bench/f000.html = %q, %v after %s was served; want %s", body, err, last, token)
			}
			return d, nil
		}
		time.Sleep(pollEvery)
	}
	return 0, fmt.Errorf("%s not served with %s after 30 s", url, token)
}

// editData writes a row named token into data.txt, whose run() step
// remakes table.html, and returns the time until table.html has it.
func editData(ctx context.Context, www, site, token string) (time.Duration, error) {
	start := time.Now()
	if err := os.WriteFile(filepath.Join(www, "data.txt"), []byte("alpha 1\n"+token+" 2\n"), 0o644); err != nil {
		return 0, err
	}
	want := "<td>" + token + "</td>"
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if body, err := get(ctx, site+"table.html"); err == nil && strings.Contains(body, want) {
			return time.Since(start), nil
		}
		time.Sleep(pollEvery)
	}
	return 0, fmt.Errorf("table.html without %s after 30 s", want)
}

var client = &http.Client{Timeout: 5 * time.Second}

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
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s", resp.Status)
	}
	return string(b), nil
}

// waitRecorded waits until web's last update is a finished live update of
// files files and returns it.
func waitRecorded(ctx context.Context, api *web.Client, name string, files int) (engine.Update, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		v, err := api.View(ctx)
		if err == nil {
			for _, r := range v.Resources {
				if r.Name == name && r.Current == nil && r.LastUpdate != nil && r.LastUpdate.LiveUpdate {
					u := *r.LastUpdate
					if u.Result != "ok" {
						return u, fmt.Errorf("live update %s: %s", u.Result, u.Error)
					}
					if len(u.Files) >= min(files, 50) {
						return u, nil
					}
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return engine.Update{}, fmt.Errorf("no finished live update of %s recorded after 30 s", name)
}

func waitReady(ctx context.Context, api *web.Client, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		if v, err := api.View(ctx); err == nil {
			for _, r := range v.Resources {
				if r.Name == name {
					if r.Phase == engine.PhaseReady {
						return nil
					}
					last = fmt.Sprintf("%s %s %s", r.Phase, r.Waiting, r.Error)
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after %s: %s", name, timeout, last)
}

// pct returns the p-th percentile (nearest rank) of ds.
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}
