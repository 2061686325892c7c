package web

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/devloop-dev/devloop/engine"
	"github.com/devloop-dev/devloop/internal/testkit/testenv"
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
	port := testenv.FreePort(t)
	c, err := NewClient(ClientConfig{Port: port})
	if err != nil {
		t.Fatalf("NewClient(port %d) without a state file = %v, want a client (the request says no daemon)", port, err)
	}
	want := fmt.Sprintf("no devloop is running on port %d: start one with `devloop up`", port)
	if _, err := c.View(context.Background()); !errors.Is(err, ErrNoDaemon) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "stale") {
		t.Errorf("View() without a daemon or a state file = %v, want ErrNoDaemon with the remedy %q", err, want)
	}
}

// TestClientWithoutStateFile: a daemon started with another XDG_STATE_HOME
// still answers reads; a mutating request says where the state file was
// looked for and what to do.
func TestClientWithoutStateFile(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	s := startServer(t, webtest.New(testResources()...), Config{})
	c, err := NewClient(ClientConfig{Port: s.Port()})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := c.View(context.Background()); err != nil || len(v.Resources) != 3 {
		t.Errorf("View() without the state file = %d resources, %v; want 3, nil", len(v.Resources), err)
	}
	err = c.Trigger(context.Background(), "api")
	if err == nil || !strings.Contains(err.Error(), "not at "+StatePath(s.Port())) || !strings.Contains(err.Error(), "XDG_STATE_HOME") {
		t.Errorf("Trigger() without the state file = %v, want an error naming the state file and XDG_STATE_HOME", err)
	}
}

// TestClientDiscoversPort: with no port, the client finds the one running
// daemon; of several it takes the one on DefaultPort or lists them; a state
// file whose process is gone does not count.
func TestClientDiscoversPort(t *testing.T) {
	save := func(t *testing.T, port, pid int) {
		t.Helper()
		if err := SaveState(State{Port: port, Token: "t", PID: pid, Devfile: "/p" + strconv.Itoa(port) + "/Devfile"}); err != nil {
			t.Fatal(err)
		}
	}
	dead := deadPID(t)
	port := func(t *testing.T) (int, error) {
		t.Helper()
		c, err := NewClient(ClientConfig{})
		if err != nil {
			return 0, err
		}
		return c.port, nil
	}
	t.Run("none", func(t *testing.T) {
		t.Setenv("XDG_STATE_HOME", t.TempDir())
		save(t, 10400, dead)
		if got, err := port(t); err != nil || got != DefaultPort {
			t.Errorf("port = %d, %v; want %d (only a dead daemon's file)", got, err, DefaultPort)
		}
	})
	t.Run("one", func(t *testing.T) {
		t.Setenv("XDG_STATE_HOME", t.TempDir())
		save(t, 10401, os.Getpid())
		save(t, 10402, dead)
		if got, err := port(t); err != nil || got != 10401 {
			t.Errorf("port = %d, %v; want 10401, the running one", got, err)
		}
	})
	t.Run("several, one on the default port", func(t *testing.T) {
		t.Setenv("XDG_STATE_HOME", t.TempDir())
		save(t, 10401, os.Getpid())
		save(t, DefaultPort, os.Getpid())
		if got, err := port(t); err != nil || got != DefaultPort {
			t.Errorf("port = %d, %v; want %d", got, err, DefaultPort)
		}
	})
	t.Run("several", func(t *testing.T) {
		t.Setenv("XDG_STATE_HOME", t.TempDir())
		save(t, 10402, os.Getpid())
		save(t, 10401, os.Getpid())
		_, err := port(t)
		if err == nil || !strings.Contains(err.Error(), "2 devloop up are running, on ports 10401 (/p10401/Devfile), 10402 (/p10402/Devfile)") || !strings.Contains(err.Error(), "--port or DEVLOOP_PORT") {
			t.Errorf("NewClient() with two daemons = %v, want an error listing both and the remedy", err)
		}
	})
}

// deadPID returns the PID of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}
