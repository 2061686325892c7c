package devfile

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.starlark.net/starlark"
)

// Argument conversions shared by the builtins. The types implement
// starlark.Unpacker, so that a builtin unpacks into them directly with
// starlark.UnpackArgs, which names the builtin and the parameter in errors.

// stringList is an argument that is None, a string, or an iterable of
// strings (not a dict).
type stringList []string

// Unpack implements starlark.Unpacker.
func (l *stringList) Unpack(v starlark.Value) error {
	switch v := v.(type) {
	case nil, starlark.NoneType:
		*l = nil
	case starlark.String:
		*l = []string{string(v)}
	case *Blob:
		*l = []string{v.Text}
	case *starlark.Dict:
		return errors.New("got dict, want a string or a list of strings")
	case starlark.Iterable:
		var out []string
		it := v.Iterate()
		defer it.Done()
		var x starlark.Value
		for it.Next(&x) {
			s, ok := starlark.AsString(x)
			if !ok {
				return fmt.Errorf("list element %s is %s, want a string", x, x.Type())
			}
			out = append(out, s)
		}
		*l = out
	default:
		return fmt.Errorf("got %s, want a string or a list of strings", v.Type())
	}
	return nil
}

// stringsFromValue is stringList for a value that a builtin unpacked
// itself; what names the argument in errors.
func stringsFromValue(what string, v starlark.Value) ([]string, error) {
	var l stringList
	if err := l.Unpack(v); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return l, nil
}

// pathsFromValue converts None, a path, or a list of paths into absolute,
// cleaned paths; relative paths are taken relative to base (a directory).
func pathsFromValue(base string, v starlark.Value) ([]string, error) {
	ps, err := stringsFromValue("paths", v)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if p == "" {
			return nil, fmt.Errorf("paths: empty path: name a file or directory (use \".\" for this directory)")
		}
		out = append(out, absFrom(base, p))
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// absFrom resolves p against base, leaving absolute paths alone.
func absFrom(base, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(base, p)
}

// labelRE is the syntax of a Kubernetes qualified name (an optional DNS
// subdomain prefix and "/", then a name), which is what Tilt requires of
// resource labels (they group resources in the dashboard).
var labelRE = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)

// labelsFromValue converts the labels= argument (None, a string or a list of
// strings) into a sorted, de-duplicated list of valid labels.
func labelsFromValue(v starlark.Value) ([]string, error) {
	ls, err := stringsFromValue("labels", v)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, l := range ls {
		if len(l) > 253+1+63 || !labelRE.MatchString(l) {
			return nil, fmt.Errorf("labels: %q is not a valid label: use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit, optionally after a DNS prefix and '/'", l)
		}
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out, nil
}

// cmdFromValue converts a command: a string runs under "sh -c" as in Tilt, a
// list is argv. None and "" are the empty command.
func cmdFromValue(what string, v starlark.Value) (Cmd, error) {
	switch v := v.(type) {
	case nil, starlark.NoneType:
		return Cmd{}, nil
	case starlark.String:
		if strings.TrimSpace(string(v)) == "" {
			return Cmd{}, nil
		}
		return Cmd{Argv: []string{"sh", "-c", string(v)}}, nil
	case *Blob:
		if strings.TrimSpace(v.Text) == "" {
			return Cmd{}, nil
		}
		return Cmd{Argv: []string{"sh", "-c", v.Text}}, nil
	case *starlark.List, starlark.Tuple:
		argv, err := stringsFromValue(what, v)
		if err != nil {
			return Cmd{}, err
		}
		if len(argv) > 0 && argv[0] == "" {
			return Cmd{}, fmt.Errorf("%s: the program (first element) is empty", what)
		}
		return Cmd{Argv: argv}, nil
	}
	return Cmd{}, fmt.Errorf("%s: got %s, want a string (run with sh -c) or a list (argv)", what, v.Type())
}

// stringDict is an argument that is None or a dict of strings (values may
// also be numbers or bools, converted as str() would); empty is nil.
type stringDict map[string]string

// Unpack implements starlark.Unpacker.
func (m *stringDict) Unpack(v starlark.Value) error {
	*m = nil
	switch v := v.(type) {
	case nil, starlark.NoneType:
		return nil
	case *starlark.Dict:
		if v.Len() == 0 {
			return nil
		}
		out := make(map[string]string, v.Len())
		for _, kv := range v.Items() {
			k, ok := starlark.AsString(kv[0])
			if !ok {
				return fmt.Errorf("key %s is %s, want a string", kv[0], kv[0].Type())
			}
			switch x := kv[1].(type) {
			case starlark.String:
				out[k] = string(x)
			case starlark.Int, starlark.Float, starlark.Bool:
				out[k] = x.String()
			default:
				return fmt.Errorf("value of %q is %s, want a string", k, x.Type())
			}
		}
		*m = out
		return nil
	}
	return fmt.Errorf("got %s, want a dict of strings", v.Type())
}

// stringMapFromValue is stringDict for a value that a builtin unpacked
// itself; what names the argument in errors.
func stringMapFromValue(what string, v starlark.Value) (map[string]string, error) {
	var m stringDict
	if err := m.Unpack(v); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return m, nil
}

// durationFromValue converts a Go duration string ("30s", "1m30s") or a
// number of seconds.
func durationFromValue(what string, v starlark.Value) (time.Duration, error) {
	switch v := v.(type) {
	case nil, starlark.NoneType:
		return 0, nil
	case starlark.String:
		if v == "" {
			return 0, nil
		}
		d, err := time.ParseDuration(string(v))
		if err != nil {
			return 0, fmt.Errorf("%s: %q is not a duration: write it like \"30s\", \"5m\" or \"1h30m\"", what, string(v))
		}
		if d < 0 {
			return 0, fmt.Errorf("%s: %q is negative", what, string(v))
		}
		return d, nil
	case starlark.Int:
		n, ok := v.Int64()
		if !ok || n < 0 || n > int64(100*365*24*time.Hour/time.Second) {
			return 0, fmt.Errorf("%s: %s seconds is out of range", what, v)
		}
		return time.Duration(n) * time.Second, nil
	case starlark.Float:
		if v < 0 || v > starlark.Float(100*365*24*3600) || v != v {
			return 0, fmt.Errorf("%s: %s seconds is out of range", what, v)
		}
		return time.Duration(float64(v) * float64(time.Second)), nil
	}
	return 0, fmt.Errorf("%s: got %s, want a duration string like \"30s\"", what, v.Type())
}

// intFromValue converts a Starlark int that must fit in [lo, hi].
func intFromValue(what string, v starlark.Value, lo, hi int) (int, error) {
	i, ok := v.(starlark.Int)
	if !ok {
		return 0, fmt.Errorf("%s: got %s, want an int", what, v.Type())
	}
	n, ok := i.Int64()
	if !ok || n < int64(lo) || n > int64(hi) {
		return 0, fmt.Errorf("%s: %s is out of range [%d, %d]", what, i, lo, hi)
	}
	return int(n), nil
}

// triggerModeFromValue converts TRIGGER_MODE_AUTO/MANUAL (or None: unset).
func triggerModeFromValue(v starlark.Value) (TriggerMode, bool, error) {
	switch v := v.(type) {
	case nil, starlark.NoneType:
		return "", false, nil
	case triggerModeValue:
		return TriggerMode(v), true, nil
	case starlark.Int:
		// Tilt's constants are ints (0 auto, 1 manual); accept them too.
		n, _ := v.Int64()
		switch n {
		case 0:
			return TriggerAuto, true, nil
		case 1:
			return TriggerManual, true, nil
		}
	}
	return "", false, fmt.Errorf("trigger_mode: got %s, want TRIGGER_MODE_AUTO or TRIGGER_MODE_MANUAL", v.String())
}

// triggerModeValue is the Starlark value of TRIGGER_MODE_AUTO and TRIGGER_MODE_MANUAL.
type triggerModeValue TriggerMode

func (t triggerModeValue) String() string {
	if TriggerMode(t) == TriggerManual {
		return "TRIGGER_MODE_MANUAL"
	}
	return "TRIGGER_MODE_AUTO"
}
func (t triggerModeValue) Type() string          { return "trigger_mode" }
func (t triggerModeValue) Freeze()               {}
func (t triggerModeValue) Truth() starlark.Bool  { return true }
func (t triggerModeValue) Hash() (uint32, error) { return starlark.String(t).Hash() }
