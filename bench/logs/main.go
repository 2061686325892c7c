//go:build linux

// Command logs measures devloop's logs under load, issue #20 item 7 and
// issue #17's noisy-resources case: -n local resources each print -rate
// lines a second for -dur through `devloop up`, while `devloop logs -f
// -o json` follows all of them. It reports how many lines the follower
// received, whether every line it missed is covered by a drop marker of
// its resource (nothing lost silently), the daemon's peak RSS and the
// API's slowest answer meanwhile, as Markdown for BENCHMARKS.md.
//
//	go run ./bench/logs [-n 50] [-rate 2000] [-dur 2m]
//
// It needs no cluster: the resources are local serve_cmds, each a copy of
// this harness printing numbered lines.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/devloop-dev/devloop/bench/internal/harness"
	"github.com/devloop-dev/devloop/engine"
)

func main() {
	log.SetFlags(0)
	if len(os.Args) > 1 && os.Args[1] == "print" {
		printer(os.Args[2:])
		return
	}
	n := flag.Int("n", 50, "resources")
	rate := flag.Int("rate", 2000, "lines per second per resource")
	dur := flag.Duration("dur", 30*time.Second, "how long each resource prints")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *n, *rate, *dur); err != nil {
		log.Fatalf("bench/logs: %v", err)
	}
}

// printer prints rate numbered lines a second for dur ("NAME LINE
// padding", about 100 bytes), in bursts every 10 ms, then says how many it
// printed and waits to be stopped: a serve_cmd that exits would be
// restarted.
func printer(args []string) {
	fs := flag.NewFlagSet("print", flag.ExitOnError)
	name := fs.String("name", "r", "")
	rate := fs.Int("rate", 2000, "")
	dur := fs.Duration("dur", 30*time.Second, "")
	_ = fs.Parse(args)
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	pad := strings.Repeat("x", 80)
	start := time.Now()
	i := 0
	for tick := time.NewTicker(10 * time.Millisecond); time.Since(start) < *dur; <-tick.C {
		want := int(time.Since(start).Seconds() * float64(*rate))
		for ; i < want; i++ {
			fmt.Fprintf(w, "%s %d %s\n", *name, i, pad)
		}
		w.Flush()
	}
	fmt.Fprintf(w, "%s done %d\n", *name, i)
	w.Flush()
	select {}
}

type counts struct {
	printed  int // from the printer's "done" line; -1 until it arrives
	received int
	seen     map[int]bool
	dropped  int // the largest drop marker of the resource
}

func run(ctx context.Context, n, rate int, dur time.Duration) error {
	tmp, err := os.MkdirTemp("", "devloop-bench-logs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "devloop")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/devloop").CombinedOutput(); err != nil {
		return fmt.Errorf("building devloop: %v\n%s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var df strings.Builder
	for i := range n {
		fmt.Fprintf(&df, "local_resource(%q, serve_cmd = [%q, \"print\", \"-name\", %q, \"-rate\", \"%d\", \"-dur\", %q])\n",
			fmt.Sprintf("r%d", i), self, fmt.Sprintf("r%d", i), rate, dur.String())
	}
	devfile := filepath.Join(tmp, "Devfile")
	if err := os.WriteFile(devfile, []byte(df.String()), 0o644); err != nil {
		return err
	}
	port, err := harness.FreePort()
	if err != nil {
		return err
	}
	os.Setenv("XDG_STATE_HOME", filepath.Join(tmp, "state"))
	up := exec.Command(bin, "up", "-f", devfile, "--port", strconv.Itoa(port))
	up.Dir = tmp
	up.Env = os.Environ()
	upLog, err := os.Create(filepath.Join(tmp, "up.log"))
	if err != nil {
		return err
	}
	up.Stdout, up.Stderr = upLog, upLog
	up.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := up.Start(); err != nil {
		return err
	}
	defer func() {
		_ = up.Process.Signal(os.Interrupt)
		_ = up.Wait()
	}()
	api, err := harness.WaitAPI(ctx, port, 2*time.Minute)
	if err != nil {
		return err
	}

	// The follower starts before the resources print much: it must keep
	// up from the start.
	follow := exec.CommandContext(ctx, bin, "logs", "-f", "-o", "json", "--port", strconv.Itoa(port))
	follow.Env = os.Environ()
	out, err := follow.StdoutPipe()
	if err != nil {
		return err
	}
	follow.Stderr = os.Stderr
	if err := follow.Start(); err != nil {
		return err
	}
	defer func() { _ = follow.Process.Kill(); _ = follow.Wait() }()

	var mu sync.Mutex
	res := map[string]*counts{}
	lastLine := time.Now()
	for i := range n {
		res[fmt.Sprintf("r%d", i)] = &counts{printed: -1, seen: map[int]bool{}}
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l engine.LogLine
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue
			}
			mu.Lock()
			lastLine = time.Now()
			c := res[l.Resource]
			if c == nil {
				mu.Unlock()
				continue
			}
			if l.Dropped > 0 {
				c.dropped = max(c.dropped, l.Dropped)
			} else if f := strings.Fields(l.Text); len(f) >= 3 && f[1] == "done" {
				c.printed, _ = strconv.Atoi(f[2])
			} else if len(f) >= 2 {
				if k, err := strconv.Atoi(f[1]); err == nil && !c.seen[k] {
					c.seen[k] = true
					c.received++
				}
			}
			mu.Unlock()
		}
	}()

	// Sample the daemon's RSS and the API's answer time until every
	// printer said it is done and the follower has been quiet for 3 s.
	start := time.Now()
	var peakRSS int64
	var slowest time.Duration
	probes, failed := 0, 0
	deadline := start.Add(dur + 5*time.Minute)
	for {
		if rss, err := rssOf(up.Process.Pid); err == nil {
			peakRSS = max(peakRSS, rss)
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		t0 := time.Now()
		_, err := api.View(rctx)
		cancel()
		probes++
		if err != nil {
			failed++
		} else {
			slowest = max(slowest, time.Since(t0))
		}
		mu.Lock()
		done := true
		for _, c := range res {
			if c.printed < 0 {
				done = false
			}
		}
		quiet := time.Since(lastLine) > 3*time.Second
		mu.Unlock()
		if done && quiet {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the printers did not all finish within %s of starting (see %s)", dur+5*time.Minute, upLog.Name())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}

	mu.Lock()
	defer mu.Unlock()
	var printed, received, silent int
	var worst []string
	names := make([]string, 0, len(res))
	for name := range res {
		names = append(names, name)
	}
	sort.Strings(names)
	minPct := 100.0
	for _, name := range names {
		c := res[name]
		printed += c.printed
		received += c.received
		missed := c.printed - c.received
		if missed > c.dropped {
			silent += missed - c.dropped
			worst = append(worst, fmt.Sprintf("%s missed %d, markers %d", name, missed, c.dropped))
		}
		if c.printed > 0 {
			minPct = min(minPct, 100*float64(c.received)/float64(c.printed))
		}
	}
	fmt.Printf("`devloop logs -f -o json` following %d local resources printing %d lines/s each (about 100 bytes a line) for %s.\n\n", n, rate, dur)
	fmt.Println("| measure | result |")
	fmt.Println("| --- | --- |")
	fmt.Printf("| lines printed | %d |\n", printed)
	fmt.Printf("| lines the follower received | %d (%.1f %%; the worst resource %.1f %%) |\n", received, 100*float64(received)/float64(max(printed, 1)), minPct)
	fmt.Printf("| lines missed with no drop marker of their resource covering them | %d |\n", silent)
	fmt.Printf("| daemon peak RSS | %.0f MiB |\n", float64(peakRSS)/(1<<20))
	fmt.Printf("| API view: slowest answer, failed requests | %s, %d of %d |\n", slowest.Round(time.Millisecond), failed, probes)
	if len(worst) > 0 {
		fmt.Printf("\nSilent losses: %s\n", strings.Join(worst, "; "))
	}
	return nil
}

// rssOf is a process's resident set (VmRSS) in bytes.
func rssOf(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS")
}
