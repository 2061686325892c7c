package kube

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LogLine is one line a container wrote.
type LogLine struct {
	Pod       PodRef
	Container string
	// Time is when the container wrote the line (zero when unknown).
	Time time.Time
	Text string
}

// logRetryDelay is how long Logs waits before reopening a stream that broke
// while its container kept running (API server restart, network blip): long
// enough not to spin, short enough that lines appear without a visible gap.
const logRetryDelay = time.Second

// Logs streams, line by line to out, what the containers of t's pods write:
// every container instance once, from its start, following restarts (a new
// container ID starts a new stream) and pod replacements, until ctx ends
// (it then returns ctx.Err()). out is called from several goroutines, one at
// a time.
func (c *Client) Logs(ctx context.Context, t Target, out func(LogLine)) error {
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		started = map[string]bool{} // pod/container/containerID
		live    = map[string]bool{} // the same keys, while their container runs
	)
	var outMu sync.Mutex
	emit := func(l LogLine) {
		outMu.Lock()
		defer outMu.Unlock()
		out(l)
	}
	stillRunning := func(key string) bool {
		mu.Lock()
		defer mu.Unlock()
		return live[key]
	}
	err := c.track(ctx, t, func(st Status, _ []*corev1.Pod) {
		mu.Lock()
		defer mu.Unlock()
		clear(live)
		present := map[string]bool{}
		for _, p := range st.Pods {
			present[p.Namespace+"/"+p.Name+"/"] = true
		}
		// Forget the instances of pods that are gone, so that a long session
		// does not accumulate them.
		for key := range started {
			ns, rest, _ := strings.Cut(key, "/")
			name, _, _ := strings.Cut(rest, "/")
			if !present[ns+"/"+name+"/"] {
				delete(started, key)
			}
		}
		for _, p := range st.Pods {
			for _, cs := range p.Containers {
				if cs.ID == "" {
					continue // not started yet
				}
				key := p.Namespace + "/" + p.Name + "/" + cs.Name + "/" + cs.ID
				if cs.Running {
					live[key] = true
				}
				if started[key] {
					continue
				}
				started[key] = true
				wg.Add(1)
				go func() {
					defer wg.Done()
					c.streamContainer(ctx, PodRef{Namespace: p.Namespace, Name: p.Name}, cs.Name, key, stillRunning, emit)
				}()
			}
		}
	})
	wg.Wait()
	return err
}

// streamContainer follows one container instance's log until it ends; when
// the stream breaks while the container still runs, it reopens it from the
// last line's time.
func (c *Client) streamContainer(ctx context.Context, pod PodRef, container, key string, running func(string) bool, out func(LogLine)) {
	var since time.Time
	for {
		opts := &corev1.PodLogOptions{Container: container, Follow: true, Timestamps: true}
		if !since.IsZero() {
			opts.SinceTime = &metav1.Time{Time: since}
		}
		rc, err := c.cs.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, opts).Stream(ctx)
		if err == nil {
			last, _ := readLogLines(rc, pod, container, since, out)
			rc.Close()
			if !last.IsZero() {
				since = last
			}
		} else {
			c.log.Debug("log stream", "pod", pod.String(), "container", container, "err", err)
		}
		if ctx.Err() != nil || !running(key) {
			return
		}
		timer := time.NewTimer(logRetryDelay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// readLogLines sends each "RFC3339NANO text" line of r to out, skipping
// lines at or before after (already sent by an earlier stream). It returns
// the time of the last line.
func readLogLines(r io.Reader, pod PodRef, container string, after time.Time, out func(LogLine)) (time.Time, error) {
	br := bufio.NewReaderSize(r, 64*1024)
	var last time.Time
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			line = strings.TrimSuffix(line, "\n")
			l := LogLine{Pod: pod, Container: container, Text: line}
			if ts, rest, ok := strings.Cut(line, " "); ok {
				if t, perr := time.Parse(time.RFC3339Nano, ts); perr == nil {
					l.Time, l.Text = t, rest
					last = t
				}
			}
			if after.IsZero() || l.Time.IsZero() || l.Time.After(after) {
				out(l)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return last, nil
			}
			return last, err
		}
	}
}
