//go:build unix

// Command watch measures package watch on a generated tree: by default 250k
// files in 25k directories, of which a node_modules of 200k files is ignored.
// It prints Markdown for the "## Watch" section of BENCHMARKS.md.
//
//	go run ./bench/watch [-scale 1] [-dir DIR] [-idle 30s] [-samples 200] [-storm 10000]
//
// The tree is generated once under -dir and reused. The measurement runs in a
// fresh process (the harness re-executes itself after generating), so the RSS
// is the watcher's.
//
// It is Unix only: it re-executes itself with syscall.Exec and reads getrusage.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/devloop-dev/devloop/watch"
)

// The tree: node_modules holds nmPkgs packages and src holds srcPkgs, each
// package a directory with dirsPerPkg-1 subdirectories, each directory
// filesPerDir files. At scale 1 that is 2000×10×10 = 200k ignored files,
// 500×10×10 = 50k watched files and 25,003 directories.
const (
	nmPkgs      = 2000
	srcPkgs     = 500
	dirsPerPkg  = 10
	filesPerDir = 10
)

type options struct {
	dir            string
	scale          float64
	idle           time.Duration
	samples, storm int
	quiet, maxWait time.Duration
}

func main() {
	log.SetFlags(0)
	var o options
	flag.StringVar(&o.dir, "dir", filepath.Join(os.TempDir(), "devloop-bench-watch"), "where to generate the tree (reused across runs)")
	flag.Float64Var(&o.scale, "scale", 1, "tree size relative to 250k files in 25k directories")
	flag.DurationVar(&o.idle, "idle", 30*time.Second, "how long to measure idle CPU")
	flag.IntVar(&o.samples, "samples", 200, "single-file edits timed for the latency percentiles")
	flag.IntVar(&o.storm, "storm", 10000, "files changed at once in the storm")
	flag.DurationVar(&o.quiet, "quiet", watch.DefaultQuiet, "quiet period")
	flag.DurationVar(&o.maxWait, "max-wait", watch.DefaultMaxWait, "maximum wait")
	measured := flag.Bool("measure", false, "internal: the tree is ready, measure")
	flag.Parse()

	root := filepath.Join(o.dir, "scale-"+strconv.FormatFloat(o.scale, 'f', -1, 64))
	if !*measured {
		if err := ensureTree(root, o.scale); err != nil {
			log.Fatal(err)
		}
		// Measure in a fresh process, so the RSS is not the generator's.
		exe, err := os.Executable()
		if err != nil {
			log.Fatal(err)
		}
		args := append([]string{exe, "-measure"}, os.Args[1:]...)
		log.Fatal(syscall.Exec(exe, args, os.Environ()))
	}
	if err := measure(root, o); err != nil {
		log.Fatal(err)
	}
}

func pkgs(n int, scale float64) int { return max(1, int(math.Round(float64(n)*scale))) }

// ensureTree generates the tree unless a previous run completed it.
func ensureTree(root string, scale float64) error {
	done := filepath.Join(root, ".generated")
	if _, err := os.Stat(done); err == nil {
		return nil
	}
	if err := os.RemoveAll(root); err != nil {
		return err
	}
	start := time.Now()
	jobs := make(chan string, 64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range max(2, runtime.NumCPU()) {
		wg.Go(func() {
			for pkg := range jobs {
				if err := writePkg(pkg); err != nil {
					mu.Lock()
					firstErr = cmp(firstErr, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range pkgs(nmPkgs, scale) {
		jobs <- filepath.Join(root, "node_modules", fmt.Sprintf("pkg%04d", i))
	}
	for i := range pkgs(srcPkgs, scale) {
		jobs <- filepath.Join(root, "src", fmt.Sprintf("mod%02d", i%20), fmt.Sprintf("pkg%03d", i))
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := os.WriteFile(filepath.Join(root, ".dockerignore"), []byte("node_modules\n"), 0o644); err != nil {
		return err
	}
	log.Printf("generated %s in %v", root, time.Since(start).Round(time.Second))
	return os.WriteFile(done, nil, 0o644)
}

func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func writePkg(pkg string) error {
	content := []byte(strings.Repeat("// generated for the watch benchmark\n", 2))
	for d := range dirsPerPkg {
		dir := pkg
		if d > 0 {
			dir = filepath.Join(pkg, fmt.Sprintf("dir%d", d))
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for f := range filesPerDir {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file%d.js", f)), content, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// srcFiles lists the watched files of the tree.
func srcFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(filepath.Join(root, "src"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	return files, err
}

func measure(root string, o options) error {
	files, err := srcFiles(root)
	if err != nil {
		return err
	}
	ignore, err := watch.ReadIgnoreFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		return err
	}
	runtime.GC()

	start := time.Now()
	w, err := watch.New(watch.Config{Roots: []watch.Root{{Path: root, Ignore: ignore}}, Quiet: o.quiet, MaxWait: o.maxWait})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	select {
	case <-w.Ready():
	case err := <-errc:
		return err
	}
	startup := time.Since(start)
	st := w.Stats()
	rssReady := rssKiB()

	// Idle: nothing changes in the tree; the watcher should not wake up.
	batchesBefore := w.Stats().Batches
	cpu0 := cpuTime()
	time.Sleep(o.idle)
	idleCPU := float64(cpuTime()-cpu0) / float64(o.idle) * 100
	idleBatches := w.Stats().Batches - batchesBefore

	// Latency: one file edited at a time, timed from just before the write
	// to the batch reaching the consumer.
	var total, afterWrite, overshoot []time.Duration
	for i := range o.samples {
		p := files[(i*7919)%len(files)]
		t0 := time.Now()
		if err := os.WriteFile(p, []byte(t0.String()), 0o644); err != nil {
			return err
		}
		written := time.Now()
		bs, err := waitFor(w, p, 30*time.Second)
		if err != nil {
			return err
		}
		received := time.Now()
		b := bs[len(bs)-1]
		total = append(total, received.Sub(t0))
		afterWrite = append(afterWrite, received.Sub(written))
		overshoot = append(overshoot, b.Emitted.Sub(b.Last)-o.quiet)
	}

	// Storm: many files changed at once, then a sentinel. Batches are read
	// as they come, as the engine does: a consumer that does not read gets
	// everything since its last batch merged into one.
	n := min(o.storm, len(files))
	sentinel := filepath.Join(root, "src", "sentinel")
	type stormResult struct {
		bs  []watch.Batch
		err error
	}
	stormc := make(chan stormResult, 1)
	go func() {
		bs, err := waitFor(w, sentinel, 120*time.Second)
		stormc <- stormResult{bs, err}
	}()
	stormStart := time.Now()
	var longestPause time.Duration
	last := stormStart
	for _, p := range files[:n] {
		if err := os.WriteFile(p, []byte("storm"), 0o644); err != nil {
			return err
		}
		now := time.Now()
		longestPause = max(longestPause, now.Sub(last))
		last = now
	}
	stormWrite := time.Since(stormStart)
	if err := os.WriteFile(sentinel, []byte(time.Now().String()), 0o644); err != nil {
		return err
	}
	sr := <-stormc
	if sr.err != nil {
		return sr.err
	}
	bs := sr.bs
	stormEnd := time.Since(stormStart)
	stormSeen := map[string]bool{}
	var sizes []string
	overflow := false
	for _, b := range bs {
		hit := 0
		for _, p := range b.Changed {
			if strings.HasPrefix(p, filepath.Join(root, "src")+"/") && p != sentinel {
				stormSeen[p] = true
				hit++
			}
		}
		if hit > 0 || b.Overflow {
			sizes = append(sizes, strconv.Itoa(hit))
		}
		overflow = overflow || b.Overflow
	}
	if err := os.Remove(sentinel); err != nil {
		return err
	}
	final := w.Stats()
	cancel()
	if err := <-errc; err != nil {
		return err
	}

	fmt.Printf("Tree: %s files in %s directories (%s ignored in node_modules), quiet %v, max wait %v, GOMAXPROCS %d.\n\n",
		count(pkgs(nmPkgs, o.scale)*dirsPerPkg*filesPerDir+len(files)), count((pkgs(nmPkgs, o.scale)+pkgs(srcPkgs, o.scale))*dirsPerPkg+3+min(20, pkgs(srcPkgs, o.scale))),
		count(pkgs(nmPkgs, o.scale)*dirsPerPkg*filesPerDir), o.quiet, o.maxWait, runtime.GOMAXPROCS(0))
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("Load average at the end (1, 5, 15 min; shared machine): %s.\n\n", strings.Join(strings.Fields(string(b))[:3], ", "))
	}
	fmt.Println("| measure | result | target |")
	fmt.Println("|---|---|---|")
	fmt.Printf("| time until watching (New → Ready) | %v | < 3 s |\n", startup.Round(time.Millisecond))
	fmt.Printf("| inotify watches | %d (%d directories examined, %d pruned) | ignored tree costs none |\n", st.Watches, st.Dirs, st.Pruned)
	fmt.Printf("| RSS when ready | %.1f MiB | |\n", float64(rssReady)/1024)
	fmt.Printf("| idle CPU over %v | %.3f %% (%d batches) | < 1 %% |\n", o.idle, idleCPU, idleBatches)
	fmt.Printf("| write start → batch received, p50 / p99 (%d single-file edits) | %v / %v | ≤ quiet + 10 ms |\n", o.samples, pct(total, 50), pct(total, 99))
	fmt.Printf("| write returned → batch received, p50 / p99 | %v / %v | ≤ quiet + 10 ms |\n", pct(afterWrite, 50), pct(afterWrite, 99))
	fmt.Printf("| batch emitted − last event − quiet (timer lateness), p50 / p99 | %v / %v | |\n", pct(overshoot, 50), pct(overshoot, 99))
	fmt.Printf("| storm of %s files → batches | %d (of %s paths; %s distinct reported, overflow %v; the writes took %v with at most %v for one write, the last batch came %v after the first write) | 1, or a few under the max wait |\n",
		count(n), len(sizes), strings.Join(sizes, " + "), count(len(stormSeen)), overflow, stormWrite.Round(time.Millisecond), longestPause.Round(time.Millisecond), stormEnd.Round(time.Millisecond))
	fmt.Printf("| RSS at the end | %.1f MiB | |\n", float64(rssKiB())/1024)
	fmt.Printf("| events received / batches / rescans | %d / %d / %d | |\n", final.Events, final.Batches, final.Rescans)
	return nil
}

// waitFor reads batches until one reports p as changed, and returns them.
func waitFor(w *watch.Watcher, p string, limit time.Duration) ([]watch.Batch, error) {
	var bs []watch.Batch
	timeout := time.After(limit)
	for {
		select {
		case b, ok := <-w.Batches():
			if !ok {
				return bs, fmt.Errorf("watcher stopped while waiting for %s", p)
			}
			bs = append(bs, b)
			if _, found := slices.BinarySearch(b.Changed, p); found {
				return bs, nil
			}
		case <-timeout:
			return bs, fmt.Errorf("no batch with %s after %v", p, limit)
		}
	}
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := min(len(s)-1, (len(s)*p+99)/100-1)
	return s[max(0, i)].Round(100 * time.Microsecond)
}

func count(n int) string {
	if n >= 10000 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.Itoa(n)
}

// rssKiB reads the resident set size of this process.
func rssKiB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

// cpuTime is the user and system CPU time this process used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
