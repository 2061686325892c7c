package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// DefaultPort is the port the daemon's API and dashboard listen on unless
// --port says otherwise (Tilt's port, so muscle memory carries over).
const DefaultPort = 10350

// ErrNoDaemon is wrapped by errors that mean no devloop daemon answers on
// the port: no state file, or nothing listening.
var ErrNoDaemon = errors.New("no devloop is running")

// State is what a running daemon records so that CLI verbs (get, logs,
// trigger, ...) can find it and authenticate to it.
type State struct {
	// Host is the address the daemon is bound to; empty means 127.0.0.1.
	Host    string `json:"host,omitempty"`
	Port    int    `json:"port"`
	Token   string `json:"token"`
	PID     int    `json:"pid"`
	Devfile string `json:"devfile,omitempty"`
}

// StatePath returns the state file of the daemon on port:
// $XDG_STATE_HOME/devloop/daemon-PORT.json, or
// ~/.local/state/devloop/daemon-PORT.json without XDG_STATE_HOME.
func StatePath(port int) string {
	return filepath.Join(stateDir(), "daemon-"+strconv.Itoa(port)+".json")
}

func stateDir() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "devloop")
}

// RunningStates returns the state of every daemon whose state file is in
// the state directory and whose process is alive, by port. A file left by
// a devloop that was killed is skipped; an unreadable one too.
func RunningStates() []State {
	paths, _ := filepath.Glob(filepath.Join(stateDir(), "daemon-*.json"))
	var out []State
	for _, path := range paths {
		port, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "daemon-"), ".json"))
		if err != nil {
			continue
		}
		st, err := LoadState(port)
		if err != nil || !processAlive(st.PID) {
			continue
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b State) int { return a.Port - b.Port })
	return out
}

// processAlive reports whether a process with pid exists (signal 0: EPERM
// means it exists under another user).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// SaveState writes st to StatePath(st.Port) with mode 0600 (it holds the
// token), replacing the file atomically.
func SaveState(st State) error {
	if st.Port <= 0 {
		return fmt.Errorf("saving daemon state: port %d is not a port number", st.Port)
	}
	path := StatePath(st.Port)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("saving daemon state: %w (set XDG_STATE_HOME to a writable directory)", err)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("saving daemon state: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".daemon-*.json")
	if err != nil {
		return fmt.Errorf("saving daemon state: %w (set XDG_STATE_HOME to a writable directory)", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("saving daemon state: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("saving daemon state %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("saving daemon state %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("saving daemon state: %w", err)
	}
	return nil
}

// LoadState reads the state of the daemon on port. A missing file is an
// error wrapping ErrNoDaemon that tells the user to start one.
func LoadState(port int) (State, error) {
	path := StatePath(port)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, noDaemonError(port)
	}
	if err != nil {
		return State{}, fmt.Errorf("reading daemon state: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("reading daemon state %s: %w (remove the file and restart `devloop up`)", path, err)
	}
	if st.Port == 0 {
		st.Port = port
	}
	return st, nil
}

// RemoveState removes the state file of the daemon on port; a missing file
// is not an error.
func RemoveState(port int) error {
	err := os.Remove(StatePath(port))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing daemon state: %w", err)
	}
	return nil
}

func noDaemonError(port int) error {
	return fmt.Errorf("%w on port %d: start one with `devloop up` (or pass --port)", ErrNoDaemon, port)
}
