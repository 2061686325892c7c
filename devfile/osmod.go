package devfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// environ is the environment a Devfile sees. os.putenv and assignments to
// os.environ change it (and local() commands see the change), but never
// devloop's own process environment: Load stays free of side effects on
// the caller. The changes are reported in Model.Env.
type environ struct {
	vars    map[string]string
	changed map[string]string
}

func newEnviron(entries []string) *environ {
	if entries == nil {
		entries = os.Environ()
	}
	e := &environ{vars: map[string]string{}, changed: map[string]string{}}
	for _, kv := range entries {
		k, v, ok := strings.Cut(kv, "=")
		if ok && k != "" {
			e.vars[k] = v
		}
	}
	return e
}

func (e *environ) set(k, v string) error {
	if k == "" || strings.ContainsAny(k, "=\x00") || strings.Contains(v, "\x00") {
		return fmt.Errorf("invalid environment variable %q: names are non-empty, without '=' or NUL", k)
	}
	e.vars[k] = v
	e.changed[k] = v
	return nil
}

func (e *environ) unset(k string) {
	delete(e.vars, k)
	delete(e.changed, k)
}

// list returns the environment as sorted KEY=VALUE entries, plus extra.
func (e *environ) list(extra map[string]string) []string {
	m := make(map[string]string, len(e.vars)+len(extra))
	for k, v := range e.vars {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func (e *environ) keys() []string {
	ks := make([]string, 0, len(e.vars))
	for k := range e.vars {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// environValue is os.environ: a dict-like view of the environment.
type environValue struct{ e *environ }

var (
	_ starlark.IterableMapping = environValue{}
	_ starlark.HasSetKey       = environValue{}
	_ starlark.HasAttrs        = environValue{}
	_ starlark.Sequence        = environValue{}
)

func (v environValue) String() string        { return fmt.Sprintf("environ(%d variables)", len(v.e.vars)) }
func (v environValue) Type() string          { return "environ" }
func (v environValue) Freeze()               {}
func (v environValue) Truth() starlark.Bool  { return len(v.e.vars) > 0 }
func (v environValue) Hash() (uint32, error) { return 0, errors.New("unhashable type: environ") }
func (v environValue) Len() int              { return len(v.e.vars) }

func (v environValue) Get(k starlark.Value) (starlark.Value, bool, error) {
	key, ok := starlark.AsString(k)
	if !ok {
		return nil, false, fmt.Errorf("environ key %s is %s, want a string", k, k.Type())
	}
	val, found := v.e.vars[key]
	if !found {
		return nil, false, nil
	}
	return starlark.String(val), true, nil
}

func (v environValue) SetKey(k, val starlark.Value) error {
	key, ok := starlark.AsString(k)
	if !ok {
		return fmt.Errorf("environ key %s is %s, want a string", k, k.Type())
	}
	s, ok := starlark.AsString(val)
	if !ok {
		return fmt.Errorf("environ[%q]: got %s, want a string", key, val.Type())
	}
	return v.e.set(key, s)
}

func (v environValue) Items() []starlark.Tuple {
	out := make([]starlark.Tuple, 0, len(v.e.vars))
	for _, k := range v.e.keys() {
		out = append(out, starlark.Tuple{starlark.String(k), starlark.String(v.e.vars[k])})
	}
	return out
}

func (v environValue) Iterate() starlark.Iterator {
	keys := v.e.keys()
	vs := make([]starlark.Value, len(keys))
	for i, k := range keys {
		vs[i] = starlark.String(k)
	}
	return starlark.NewList(vs).Iterate()
}

func (v environValue) AttrNames() []string { return []string{"get", "items", "keys", "values"} }

func (v environValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "get":
		return starlark.NewBuiltin("environ.get", func(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var k string
			var def starlark.Value = starlark.None
			if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "key", &k, "default?", &def); err != nil {
				return nil, err
			}
			if val, ok := v.e.vars[k]; ok {
				return starlark.String(val), nil
			}
			return def, nil
		}), nil
	case "keys", "values", "items":
		return starlark.NewBuiltin("environ."+name, func(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if err := starlark.UnpackArgs(fn.Name(), args, kwargs); err != nil {
				return nil, err
			}
			var vs []starlark.Value
			for _, it := range v.Items() {
				switch name {
				case "keys":
					vs = append(vs, it[0])
				case "values":
					vs = append(vs, it[1])
				default:
					vs = append(vs, it)
				}
			}
			return starlark.NewList(vs), nil
		}), nil
	}
	return nil, nil
}

// osModule returns Tilt's os module. Paths are relative to execDir, which
// is also what os.getcwd() returns.
func (s *state) osModule() *starlarkstruct.Module {
	b := func(name string, fn builtinFunc) *starlark.Builtin { return starlark.NewBuiltin("os."+name, fn) }
	pb := func(name string, fn builtinFunc) *starlark.Builtin { return starlark.NewBuiltin("os.path."+name, fn) }
	onePath := func(fn func(thread *starlark.Thread, p string) (starlark.Value, error)) builtinFunc {
		return func(thread *starlark.Thread, f *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var p string
			if err := starlark.UnpackArgs(f.Name(), args, kwargs, "path", &p); err != nil {
				return nil, err
			}
			return fn(thread, p)
		}
	}
	path := &starlarkstruct.Module{Name: "os.path", Members: starlark.StringDict{
		"abspath": pb("abspath", onePath(func(thread *starlark.Thread, p string) (starlark.Value, error) {
			return starlark.String(s.absPath(thread, p)), nil
		})),
		"basename": pb("basename", onePath(func(_ *starlark.Thread, p string) (starlark.Value, error) {
			// Python's basename: the part after the last slash ("" for "a/").
			return starlark.String(p[strings.LastIndex(p, "/")+1:]), nil
		})),
		"dirname": pb("dirname", onePath(func(_ *starlark.Thread, p string) (starlark.Value, error) {
			i := strings.LastIndex(p, "/")
			if i < 0 {
				return starlark.String(""), nil
			}
			head := p[:i+1]
			if strings.Trim(head, "/") != "" {
				head = strings.TrimRight(head, "/")
			}
			return starlark.String(head), nil
		})),
		"exists": pb("exists", onePath(func(thread *starlark.Thread, p string) (starlark.Value, error) {
			abs := s.absPath(thread, p)
			s.addDep(abs)
			_, err := os.Stat(abs)
			return starlark.Bool(err == nil), nil
		})),
		"isdir": pb("isdir", onePath(func(thread *starlark.Thread, p string) (starlark.Value, error) {
			abs := s.absPath(thread, p)
			s.addDep(abs)
			fi, err := os.Stat(abs)
			return starlark.Bool(err == nil && fi.IsDir()), nil
		})),
		"isfile": pb("isfile", onePath(func(thread *starlark.Thread, p string) (starlark.Value, error) {
			abs := s.absPath(thread, p)
			s.addDep(abs)
			fi, err := os.Stat(abs)
			return starlark.Bool(err == nil && fi.Mode().IsRegular()), nil
		})),
		"expanduser": pb("expanduser", onePath(func(_ *starlark.Thread, p string) (starlark.Value, error) {
			if p == "~" || strings.HasPrefix(p, "~/") {
				if home := s.env.vars["HOME"]; home != "" {
					return starlark.String(home + p[1:]), nil
				}
			}
			return starlark.String(p), nil
		})),
		"realpath": pb("realpath", onePath(func(thread *starlark.Thread, p string) (starlark.Value, error) {
			abs := s.absPath(thread, p)
			real, err := filepath.EvalSymlinks(abs)
			if err != nil {
				// Python's realpath returns the path unresolved when it does not exist.
				return starlark.String(abs), nil
			}
			return starlark.String(real), nil
		})),
		"join": pb("join", func(_ *starlark.Thread, f *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if len(kwargs) > 0 {
				return nil, fmt.Errorf("%s: unexpected keyword arguments", f.Name())
			}
			if len(args) == 0 {
				return nil, fmt.Errorf("%s: missing argument: pass at least one path", f.Name())
			}
			out := ""
			for i, a := range args {
				p, ok := starlark.AsString(a)
				if !ok {
					return nil, fmt.Errorf("%s: argument %d is %s, want a string", f.Name(), i+1, a.Type())
				}
				// Python semantics: an absolute component restarts the path.
				switch {
				case strings.HasPrefix(p, "/") || out == "":
					out = p
				case strings.HasSuffix(out, "/"):
					out += p
				default:
					out += "/" + p
				}
			}
			return starlark.String(out), nil
		}),
		"relpath": pb("relpath", func(thread *starlark.Thread, f *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var p, start string
			if err := starlark.UnpackArgs(f.Name(), args, kwargs, "path", &p, "start?", &start); err != nil {
				return nil, err
			}
			if start == "" {
				start = "."
			}
			rel, err := filepath.Rel(s.absPath(thread, start), s.absPath(thread, p))
			if err != nil {
				return nil, err
			}
			return starlark.String(rel), nil
		}),
	}}
	return &starlarkstruct.Module{Name: "os", Members: starlark.StringDict{
		"name":    starlark.String("posix"),
		"environ": environValue{s.env},
		"path":    path,
		"getcwd": b("getcwd", func(thread *starlark.Thread, f *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if err := starlark.UnpackArgs(f.Name(), args, kwargs); err != nil {
				return nil, err
			}
			return starlark.String(execDir(thread)), nil
		}),
		"getenv": b("getenv", func(_ *starlark.Thread, f *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var k string
			var def starlark.Value = starlark.None
			if err := starlark.UnpackArgs(f.Name(), args, kwargs, "key", &k, "default?", &def); err != nil {
				return nil, err
			}
			if v, ok := s.env.vars[k]; ok {
				return starlark.String(v), nil
			}
			return def, nil
		}),
		"putenv": b("putenv", func(_ *starlark.Thread, f *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var k, v string
			if err := starlark.UnpackArgs(f.Name(), args, kwargs, "key", &k, "value", &v); err != nil {
				return nil, err
			}
			return starlark.None, s.env.set(k, v)
		}),
		"unsetenv": b("unsetenv", func(_ *starlark.Thread, f *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var k string
			if err := starlark.UnpackArgs(f.Name(), args, kwargs, "key", &k); err != nil {
				return nil, err
			}
			s.env.unset(k)
			return starlark.None, nil
		}),
	}}
}

// shlexModule returns shlex.quote, as Python's.
func shlexModule() *starlarkstruct.Module {
	return &starlarkstruct.Module{Name: "shlex", Members: starlark.StringDict{
		"quote": starlark.NewBuiltin("shlex.quote", func(_ *starlark.Thread, f *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var str string
			if err := starlark.UnpackArgs(f.Name(), args, kwargs, "s", &str); err != nil {
				return nil, err
			}
			return starlark.String(shellQuote(str)), nil
		}),
	}}
}

// shellQuote quotes s for a POSIX shell the way Python's shlex.quote does.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("@%+=:,./-_", c)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// sysModule returns sys.argv (devloop's subcommand and the args after --)
// and sys.executable.
func (s *state) sysModule() *starlarkstruct.Module {
	argv := []starlark.Value{starlark.String("devloop")}
	if s.opts.Subcommand != "" {
		argv = append(argv, starlark.String(s.opts.Subcommand))
	}
	for _, a := range s.opts.Args {
		argv = append(argv, starlark.String(a))
	}
	exe, _ := os.Executable()
	l := starlark.NewList(argv)
	l.Freeze()
	return &starlarkstruct.Module{Name: "sys", Members: starlark.StringDict{
		"argv":       l,
		"executable": starlark.String(exe),
	}}
}
