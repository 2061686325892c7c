package web

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/devloop-dev/devloop/engine"
	"github.com/devloop-dev/devloop/web/webtest"
)

func TestClient(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	eng := webtest.New(testResources()...)
	eng.AddLogs("api", "a1", "a2", "a3")
	eng.AddLogs("db", "d1")
	s := startServer(t, eng, Config{})
	if err := SaveState(State{Port: s.Port(), Token: s.Token(), PID: 1}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := NewClient(ClientConfig{Port: s.Port()})
	if err != nil {
		t.Fatalf("NewClient(port %d) with a state file = %v", s.Port(), err)
	}

	v, err := c.View(ctx)
	if err != nil || len(v.Resources) != 3 || v.LogSeq != 4 {
		t.Errorf("View() = %d resources, log_seq %d, %v; want 3, 4, nil", len(v.Resources), v.LogSeq, err)
	}
	r, err := c.Resource(ctx, "api")
	if err != nil || r.Name != "api" || r.Phase != engine.PhaseBuilding {
		t.Errorf("Resource(api) = %s %s, %v; want api building", r.Name, r.Phase, err)
	}
	if _, err := c.Resource(ctx, "nope"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("Resource(nope) = %v, want an error wrapping engine.ErrNotFound", err)
	}
	if err := c.Trigger(ctx, "nope"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("Trigger(nope) = %v, want an error wrapping engine.ErrNotFound", err)
	}

	// Paging through api's lines two at a time.
	var got []string
	var after uint64
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatalf("Logs(api) paging did not end: got %q", got)
		}
		lr, err := c.Logs(ctx, "api", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lr.Lines {
			got = append(got, l.Text)
		}
		if !lr.More {
			break
		}
		after = lr.Next
	}
	if strings.Join(got, ",") != "a1,a2,a3" {
		t.Errorf("Logs(api) pages = %q, want a1,a2,a3", got)
	}

	bad, err := NewClient(ClientConfig{Port: s.Port(), Token: "from-another-run"})
	if err != nil {
		t.Fatal(err)
	}
	var apiErr *APIError
	if err := bad.Trigger(ctx, "api"); !errors.As(err, &apiErr) || apiErr.Status != 401 || !strings.Contains(err.Error(), "restart `devloop up`") {
		t.Errorf("Trigger with a stale token = %v, want a 401 APIError that says to restart devloop up", err)
	}
	if calls := eng.Calls(); len(calls) != 0 {
		t.Errorf("engine calls = %v, want none", calls)
	}
}

func TestClientWithoutDaemon(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	_, err := NewClient(ClientConfig{Port: 10399})
	if !errors.Is(err, ErrNoDaemon) || !strings.Contains(err.Error(), "no devloop is running on port 10399: start one with `devloop up`") {
		t.Errorf("NewClient(port 10399) without a state file = %v, want ErrNoDaemon with the remedy", err)
	}
}
