package devfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Options configure one evaluation of a Devfile.
type Options struct {
	// Args are the arguments after "--" on the command line, for config.parse().
	Args []string
	// Subcommand is what config.tilt_subcommand reports ("up", "ci", "down", "config").
	Subcommand string
	// Stdout receives print() and local() echo output; nil discards it.
	Stdout io.Writer
	// KubeContext and KubeNamespace answer k8s_context() and k8s_namespace();
	// the caller reads them from kubeconfig, keeping Load free of cluster access.
	KubeContext   string
	KubeNamespace string
	// MaxSteps bounds evaluation (Starlark execution steps); 0 means
	// DefaultMaxSteps.
	MaxSteps uint64
	// MaxMemory bounds how many bytes the heap may grow during evaluation;
	// 0 means DefaultMaxMemory.
	MaxMemory uint64
	// NoExec makes local() fail instead of running commands: for fuzzing
	// and for evaluating Devfiles that are not trusted.
	NoExec bool
	// Environ is the environment os.getenv/os.environ read and local()
	// commands run with, as "KEY=VALUE" entries; nil means os.Environ().
	Environ []string
}

// fileOptions is the Starlark dialect of Devfiles: Tilt's (sets, global
// reassignment, recursion, top-level control flow, while loops).
var fileOptions = &syntax.FileOptions{
	Set:             true,
	While:           true,
	TopLevelControl: true,
	GlobalReassign:  true,
	Recursion:       true,
}

// Thread-local keys.
const (
	stateKey = "devloop.state"
	ctxKey   = "devloop.ctx"
)

// builtinFile is the file name Starlark gives frames of Go builtins.
const builtinFile = "<builtin>"

// state is what the builtins of one evaluation record; it lives in the
// Starlark thread's locals. The Kubernetes half lives in k8sState (k8s.go).
type state struct {
	opts Options
	k8s  k8sState

	mainPath string
	mainDir  string
	// predeclared is the universe of builtins every file sees.
	predeclared starlark.StringDict
	// modules caches loaded files by absolute path; loading holds the
	// files being evaluated, outermost first, for cycle detection.
	modules map[string]*module
	loading []string
	deps    map[string]bool
	env     *environ

	images     []Image
	locals     []*localDecl
	cluster    *Cluster
	clusterPos syntax.Position
	settings   Settings
	settingPos map[string]syntax.Position
	warnings   []string
	config     configState
	// liveSteps are live_update steps created and not yet used by a build,
	// keyed by their position, as Tilt reports unused steps.
	liveSteps map[syntax.Position]*liveStep
	// enabled is what config.set_enabled_resources named (nil: not called).
	enabled    []string
	enabledPos syntax.Position
}

// module is one evaluated (or being evaluated) file.
type module struct {
	globals starlark.StringDict
	err     error
	done    bool
}

// Load evaluates the Devfile at path and returns its validated model.
// Errors in the user's files are *Error values naming PATH:LINE:COL.
func Load(ctx context.Context, path string, opts Options) (m *Model, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	if fi, err := os.Stat(abs); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("loading %s: no such file: create a Devfile there or pass -f PATH", path)
		}
		return nil, fmt.Errorf("loading %s: %w", path, err)
	} else if fi.IsDir() {
		return nil, fmt.Errorf("loading %s: is a directory: pass the path of the Devfile inside it", path)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	s := newState(abs, opts)
	defer func() {
		var de *Error
		if errors.As(err, &de) && de.Dependencies == nil {
			de.Dependencies = append([]string{abs}, slices.DeleteFunc(s.sortedDeps(), func(p string) bool { return p == abs })...)
		}
	}()

	thread := &starlark.Thread{
		Name:  "devfile " + abs,
		Print: s.print,
		Load:  s.load,
	}
	thread.SetLocal(stateKey, s)
	thread.SetLocal(ctxKey, ctx)
	b := bound(ctx, thread, opts)
	defer b.stop()

	defer func() {
		// A panic in a builtin is a devloop bug; report it as an error rather
		// than taking the whole process (the engine, the dashboard) down.
		if r := recover(); r != nil {
			m = nil
			err = fmt.Errorf("loading %s: internal error: %v (please report this as a devloop bug, with this trace)\n%s", abs, r, debug.Stack())
		}
	}()

	if _, err := s.exec(thread, abs); err != nil {
		return nil, s.evalError(ctx, thread, b, err)
	}
	if err := s.checkUnusedSteps(); err != nil {
		return nil, err
	}
	m, err = s.model()
	if err != nil {
		return nil, err
	}
	if err := s.finishK8s(m); err != nil {
		return nil, err
	}
	if err := s.finish(m); err != nil {
		return nil, err
	}
	return m, nil
}

func newState(mainPath string, opts Options) *state {
	s := &state{
		opts:       opts,
		mainPath:   mainPath,
		mainDir:    filepath.Dir(mainPath),
		modules:    map[string]*module{},
		deps:       map[string]bool{},
		settingPos: map[string]syntax.Position{},
		liveSteps:  map[syntax.Position]*liveStep{},
	}
	s.settings.MaxParallelUpdates = 3
	s.settings.K8sUpsertTimeout = defaultUpsertTimeout
	s.env = newEnviron(opts.Environ)
	s.predeclared = s.builtins()
	for name, v := range s.k8sBuiltins() {
		s.predeclared[name] = v
	}
	return s
}

// stateOf returns the evaluation state of thread.
func stateOf(thread *starlark.Thread) *state {
	s, _ := thread.Local(stateKey).(*state)
	return s
}

// ctxOf returns the context of the evaluation running on thread.
func ctxOf(thread *starlark.Thread) context.Context {
	if ctx, ok := thread.Local(ctxKey).(context.Context); ok {
		return ctx
	}
	return context.Background()
}

// addDep records path (absolute) as a file the evaluation read.
func (s *state) addDep(path string) { s.deps[filepath.Clean(path)] = true }

// exec evaluates the file at abs (cached), returning its globals.
func (s *state) exec(thread *starlark.Thread, abs string) (starlark.StringDict, error) {
	if m, ok := s.modules[abs]; ok {
		if !m.done {
			return nil, fmt.Errorf("load cycle: %s: a file cannot load itself, directly or through others", s.cycle(abs))
		}
		return m.globals, m.err
	}
	s.addDep(abs)
	fi, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s does not exist: check the path (it is relative to the directory of the file whose top level is running)", abs)
		}
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file: load Starlark files only", abs)
	}
	if fi.Size() > maxReadSize {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d a Devfile may read", abs, fi.Size(), maxReadSize)
	}
	src, err := os.ReadFile(abs)
	if err != nil {
		return nil, err
	}
	mod := &module{}
	s.modules[abs] = mod
	s.loading = append(s.loading, abs)
	globals, err := starlark.ExecFileOptions(fileOptions, thread, abs, src, s.predeclared)
	s.loading = s.loading[:len(s.loading)-1]
	mod.done = true
	if err != nil {
		mod.err = s.syntaxError(err)
		return nil, mod.err
	}
	mod.globals = globals
	return globals, nil
}

// cycle describes the load cycle that reaches abs again.
func (s *state) cycle(abs string) string {
	var parts []string
	started := false
	for _, p := range s.loading {
		if p == abs {
			started = true
		}
		if started {
			parts = append(parts, s.rel(p))
		}
	}
	parts = append(parts, s.rel(abs))
	return strings.Join(parts, " -> ")
}

// rel shows path relative to the main Devfile's directory when it is inside it.
func (s *state) rel(path string) string {
	if r, err := filepath.Rel(s.mainDir, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// load implements the load statement: local files relative to the loading
// file, and ext://NAME extensions.
func (s *state) load(thread *starlark.Thread, module string) (starlark.StringDict, error) {
	if name, ok := strings.CutPrefix(module, "ext://"); ok {
		return s.extension(thread, name)
	}
	if module == "" {
		return nil, errors.New("load of an empty path: name a file, relative to this file's directory")
	}
	abs := s.absPath(thread, module)
	return s.exec(thread, abs)
}

// print writes print() output to Options.Stdout.
func (s *state) print(_ *starlark.Thread, msg string) {
	if s.opts.Stdout != nil {
		fmt.Fprintln(s.opts.Stdout, msg)
	}
}

// execFile returns the absolute path of the file whose top level is
// running: the Devfile, or a file while load(), include() or
// load_dynamic() runs its top level. Relative paths resolve against its
// directory, as in Tilt: a function defined in lib/x.star and called by the
// Devfile resolves against the Devfile's directory, not lib/. After
// evaluation (callbacks the engine calls later) it is the Devfile.
func execFile(thread *starlark.Thread) string {
	s := stateOf(thread)
	if s == nil {
		return ""
	}
	if n := len(s.loading); n > 0 {
		return s.loading[n-1]
	}
	return s.mainPath
}

// execDir is the directory of execFile: the base of relative paths.
func execDir(thread *starlark.Thread) string { return filepath.Dir(execFile(thread)) }

// callPos returns the position of the user code that called the running
// builtin, for errors found after evaluation.
func callPos(thread *starlark.Thread) syntax.Position {
	for i := 0; i < thread.CallStackDepth(); i++ {
		if p := thread.CallFrame(i).Pos; p.Filename() != builtinFile && p.Filename() != "" {
			return p
		}
	}
	return syntax.Position{}
}

// absPath resolves p against execDir, the one place relative paths are
// resolved (pathsFromValue and absFrom take execDir as their base).
func (s *state) absPath(thread *starlark.Thread, p string) string {
	if strings.HasPrefix(p, "~/") || p == "~" {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[1:])
		}
	}
	return absFrom(execDir(thread), p)
}

// syntaxError turns parse and resolve errors into *Error, naming unknown builtins.
func (s *state) syntaxError(err error) error {
	var serr syntax.Error
	if errors.As(err, &serr) {
		return &Error{Pos: serr.Pos, Msg: serr.Msg, err: err}
	}
	var list resolveErrors
	if errors.As(err, &list.l) && len(list.l) > 0 {
		first := list.l[0]
		return &Error{Pos: first.Pos, Msg: undefinedMessage(first.Msg), err: err}
	}
	return err
}

// evalError converts an evaluation error into an *Error at the innermost
// user frame, with a backtrace when that frame is in a loaded file.
func (s *state) evalError(ctx context.Context, thread *starlark.Thread, b *bounds, err error) error {
	var deepest *starlark.EvalError
	var specific *Error
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch x := e.(type) {
		case *starlark.EvalError:
			deepest, specific = x, nil
		case *Error:
			if specific == nil {
				specific = x
			}
		}
	}
	if deepest == nil {
		if specific != nil {
			return specific
		}
		return err
	}
	out := &Error{Msg: deepest.Msg, err: err}
	for i := len(deepest.CallStack) - 1; i >= 0; i-- {
		if p := deepest.CallStack[i].Pos; p.Filename() != builtinFile && p.Filename() != "" {
			out.Pos = p
			break
		}
	}
	if specific != nil {
		out.Msg = specific.Msg
		if specific.Pos.IsValid() {
			out.Pos = specific.Pos
		}
	}
	// Name the builtin that failed, unless the message already does.
	if n := len(deepest.CallStack); n > 0 && deepest.CallStack[n-1].Pos.Filename() == builtinFile {
		if name := deepest.CallStack[n-1].Name; !strings.HasPrefix(out.Msg, name) {
			out.Msg = name + ": " + out.Msg
		}
	}
	out.Msg = unpackParam.ReplaceAllString(out.Msg, "$1$2: ")
	switch {
	case ctx.Err() != nil:
		out.Msg = fmt.Sprintf("evaluation cancelled: %v", ctx.Err())
		out.err = ctx.Err()
	case b.reason(thread) != "":
		out.Msg = b.reason(thread)
	}
	out.Pos = s.posOr(out.Pos)
	if out.Pos.Filename() != s.mainPath {
		out.Backtrace = backtrace(deepest.CallStack)
	}
	return out
}

// unpackParam matches the "BUILTIN: for parameter NAME: " (NAME quoted when
// passed by keyword) that starlark.UnpackArgs puts before the error of an
// argument's Unpack; evalError shortens it to "BUILTIN: NAME: ", the form
// of every other argument error of the package.
var unpackParam = regexp.MustCompile(`^([\w.]+: )for parameter "?([A-Za-z_]\w*)"?: `)

// backtrace formats the user frames of stack, outermost first.
func backtrace(stack starlark.CallStack) string {
	var b strings.Builder
	b.WriteString("Traceback (most recent call last):")
	for _, fr := range stack {
		if fr.Pos.Filename() == builtinFile {
			continue
		}
		fmt.Fprintf(&b, "\n  %s: in %s", fr.Pos, fr.Name)
	}
	return b.String()
}

// sortedDeps returns the recorded dependencies, sorted.
func (s *state) sortedDeps() []string {
	out := make([]string, 0, len(s.deps))
	for p := range s.deps {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
