package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/devloop-dev/devloop/engine"
)

// TestUseColor: colour only on a terminal (a real pseudo-terminal here),
// never through a pipe, with NO_COLOR or with TERM=dumb.
func TestUseColor(t *testing.T) {
	pty := openPTY(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		name string
		f    *os.File
		env  func(string) string
		want bool
	}{
		{"terminal", pty, env("TERM", "xterm-256color"), true},
		{"pipe", w, env("TERM", "xterm-256color"), false},
		{"NO_COLOR", pty, env("TERM", "xterm", "NO_COLOR", "1"), false},
		{"dumb", pty, env("TERM", "dumb"), false},
	}
	for _, tt := range tests {
		if got := useColor(tt.f, tt.env); got != tt.want {
			t.Errorf("useColor(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestPrinterColor: with colour, names keep one colour each and the status
// marks are green, red and yellow; without, not one escape is printed.
func TestPrinterColor(t *testing.T) {
	v := engine.View{Resources: []engine.ResourceView{
		{Name: "api", Phase: engine.PhaseReady},
		{Name: "db", Phase: engine.PhaseError, Error: "exit 1"},
		{Name: "web", Phase: engine.PhasePending, Waiting: "resource_deps: api"},
	}}
	print := func(color bool) string {
		var b strings.Builder
		p := &printer{out: &b, last: map[string]string{}, color: color}
		p.width(v)
		p.status(v)
		p.line("api", "a log line \x1b[1mbold\x1b[0m")
		return b.String()
	}
	plain := print(false)
	if want := "api     │ ● ready\ndb      │ ✗ error: exit 1\nweb     │ ○ pending: resource_deps: api\napi     │ a log line \x1b[1mbold\x1b[0m\n"; plain != want {
		t.Errorf("plain = %q, want %q (the program's own escapes kept, none added)", plain, want)
	}
	colored := print(true)
	api := nameColor("api")
	for _, want := range []string{
		api + "api     │" + sgrReset + " " + sgrGreen + "● ready" + sgrReset + "\n",
		nameColor("db") + "db      │" + sgrReset + " " + sgrRed + "✗ error: exit 1" + sgrReset + "\n",
		sgrYellow + "○ pending: resource_deps: api" + sgrReset + "\n",
		api + "api     │" + sgrReset + " a log line \x1b[1mbold\x1b[0m\n",
	} {
		if !strings.Contains(colored, want) {
			t.Errorf("colored = %q, want it to contain %q", colored, want)
		}
	}
	for _, c := range []string{sgrRed, sgrGreen, sgrYellow} {
		if slices.Contains(nameColors, c) {
			t.Errorf("name colours include %q, which a status mark uses", c)
		}
	}
	if nameColor("api") != nameColor("api") {
		t.Errorf("a name's colour must be the same every time")
	}
}
