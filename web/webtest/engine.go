// Package webtest provides a hand-written fake engine for tests of the web
// server, its client and the CLI verbs that talk to it.
package webtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/devloop-dev/devloop/engine"
)

// Call is one recorded action: Trigger or SetEnabled.
type Call struct {
	Op   string // "trigger", "enable" or "disable"
	Name string
}

// Engine is a fake engine whose state tests set directly. It implements the
// methods web.Engine needs, with the engine's semantics: latest-only
// subscriptions, Seq and Version bumped on every change.
type Engine struct {
	mu    sync.Mutex
	view  engine.View
	logs  []engine.LogLine
	subs  map[chan engine.View]bool
	calls []Call
	errs  map[string]error
	// called gets every call, for tests that wait on one.
	called chan Call
	// Clock stamps log lines and updates; nil means time.Now.
	Clock func() time.Time
}

// New returns a fake engine with the given resources (Version and Enabled
// are set for them).
func New(resources ...engine.ResourceView) *Engine {
	e := &Engine{subs: make(map[chan engine.View]bool), errs: make(map[string]error), called: make(chan Call, 1000)}
	for _, r := range resources {
		r.Version = 1
		e.view.Resources = append(e.view.Resources, r)
	}
	e.view.Seq = 1
	e.view.Devfile = engine.DevfileStatus{Path: "Devfile"}
	return e
}

func (e *Engine) now() time.Time {
	if e.Clock != nil {
		return e.Clock()
	}
	return time.Now()
}

// Snapshot returns a copy of the current view.
func (e *Engine) Snapshot() engine.View {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.copyView()
}

func (e *Engine) copyView() engine.View {
	v := e.view
	v.Resources = slices.Clone(v.Resources)
	return v
}

// Subscribe returns a latest-only channel of views, closed when ctx is done.
func (e *Engine) Subscribe(ctx context.Context) <-chan engine.View {
	ch := make(chan engine.View, 1)
	e.mu.Lock()
	e.subs[ch] = true
	e.mu.Unlock()
	go func() {
		<-ctx.Done()
		e.mu.Lock()
		delete(e.subs, ch)
		close(ch)
		e.mu.Unlock()
	}()
	return ch
}

// Subscribers is the number of live subscriptions.
func (e *Engine) Subscribers() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.subs)
}

// Logs returns up to limit lines of resource ("" = all) with Seq > after.
func (e *Engine) Logs(resource string, after uint64, limit int) []engine.LogLine {
	e.mu.Lock()
	defer e.mu.Unlock()
	i, _ := slices.BinarySearchFunc(e.logs, after+1, func(l engine.LogLine, seq uint64) int {
		switch {
		case l.Seq < seq:
			return -1
		case l.Seq > seq:
			return 1
		}
		return 0
	})
	var out []engine.LogLine
	for _, l := range e.logs[i:] {
		if len(out) == limit {
			break
		}
		if resource == "" || l.Resource == resource {
			out = append(out, l)
		}
	}
	return out
}

// Trigger records the call; an unknown name wraps engine.ErrNotFound.
func (e *Engine) Trigger(ctx context.Context, name string) error {
	return e.act(Call{Op: "trigger", Name: name})
}

// SetEnabled records the call and sets the resource's phase to disabled or
// pending.
func (e *Engine) SetEnabled(ctx context.Context, name string, enabled bool) error {
	op := "disable"
	if enabled {
		op = "enable"
	}
	if err := e.act(Call{Op: op, Name: name}); err != nil {
		return err
	}
	e.Update(name, func(r *engine.ResourceView) {
		r.Enabled = enabled
		r.Phase = engine.PhasePending
		if !enabled {
			r.Phase = engine.PhaseDisabled
		}
	})
	return nil
}

func (e *Engine) act(c Call) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !slices.ContainsFunc(e.view.Resources, func(r engine.ResourceView) bool { return r.Name == c.Name }) {
		return fmt.Errorf("%s %q: %w", c.Op, c.Name, engine.ErrNotFound)
	}
	e.calls = append(e.calls, c)
	select {
	case e.called <- c:
	default:
	}
	return e.errs[c.Op+" "+c.Name]
}

// FailNext makes every later call of op ("trigger", "enable", "disable")
// on name return err (nil clears it).
func (e *Engine) FailNext(op, name string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs[op+" "+name] = err
}

// Calls returns the recorded calls.
func (e *Engine) Calls() []Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}

// Called delivers each call as it happens (the first 1000 unread).
func (e *Engine) Called() <-chan Call { return e.called }

// Update changes the resource name with f, bumps its Version and the view's
// Seq, and publishes the view.
func (e *Engine) Update(name string, f func(*engine.ResourceView)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.view.Resources {
		if e.view.Resources[i].Name == name {
			f(&e.view.Resources[i])
			e.view.Resources[i].Version++
		}
	}
	e.publish()
}

// SetPhase sets a resource's phase (and error) and publishes.
func (e *Engine) SetPhase(name string, phase engine.Phase, errText string) {
	e.Update(name, func(r *engine.ResourceView) {
		r.Phase = phase
		r.Error = errText
	})
}

// SetResources replaces the resource list (Devfile reload) and publishes.
func (e *Engine) SetResources(rs ...engine.ResourceView) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range rs {
		rs[i].Version = e.view.Seq + 1
	}
	e.view.Resources = rs
	e.publish()
}

// SetDevfile sets the Devfile status and publishes.
func (e *Engine) SetDevfile(d engine.DevfileStatus) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.view.Devfile = d
	e.publish()
}

// SetKube sets where Kubernetes resources deploy and publishes.
func (e *Engine) SetKube(k *engine.KubeTarget) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.view.Kube = k
	e.publish()
}

// SetCluster sets the cluster's status (nil: it answers) and publishes.
func (e *Engine) SetCluster(c *engine.ClusterStatus) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.view.Cluster = c
	e.publish()
}

// AddLogs appends one line per text to resource's log and publishes once.
func (e *Engine) AddLogs(resource string, texts ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	for _, t := range texts {
		e.view.LogSeq++
		e.logs = append(e.logs, engine.LogLine{Seq: e.view.LogSeq, Resource: resource, Time: now, Text: t})
	}
	e.publish()
}

// publish bumps Seq and hands the view to every subscriber, replacing an
// unread one. The caller holds mu.
func (e *Engine) publish() {
	e.view.Seq++
	v := e.copyView()
	for ch := range e.subs {
		select {
		case <-ch:
		default:
		}
		ch <- v
	}
}
