package devfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"go.starlark.net/starlark"
)

// maxReadSize bounds read_file and friends: a Devfile that reads a larger
// file almost certainly named the wrong one, and the content would be held
// in memory for the life of the model.
const maxReadSize = 64 << 20

// readPath reads the file at p (relative to execDir), recording it
// as a dependency even when it does not exist, so creating it reloads.
func (s *state) readPath(thread *starlark.Thread, p string) (string, []byte, error) {
	if p == "" {
		return "", nil, errors.New("path is empty: name a file")
	}
	abs := s.absPath(thread, p)
	s.addDep(abs)
	fi, err := os.Stat(abs)
	if err != nil {
		return abs, nil, err
	}
	if fi.IsDir() {
		return abs, nil, fmt.Errorf("%s is a directory: name a file (listdir lists a directory)", abs)
	}
	if !fi.Mode().IsRegular() {
		return abs, nil, fmt.Errorf("%s is not a regular file", abs)
	}
	if fi.Size() > maxReadSize {
		return abs, nil, fmt.Errorf("%s is %d bytes, more than the %d a Devfile may read", abs, fi.Size(), maxReadSize)
	}
	b, err := os.ReadFile(abs)
	return abs, b, err
}

// readArgs unpacks (path, default=) for the read_* builtins.
func readArgs(fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (string, starlark.Value, error) {
	var p string
	var def starlark.Value
	err := starlark.UnpackArgs(fn.Name(), args, kwargs, "paths", &p, "default?", &def)
	return p, def, err
}

// readOrDefault reads a file; when it does not exist and def is set it
// returns ok=false so that the caller returns def.
func (s *state) readOrDefault(thread *starlark.Thread, p string, def starlark.Value) (abs string, data []byte, ok bool, err error) {
	abs, data, err = s.readPath(thread, p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if def != nil {
				return abs, nil, false, nil
			}
			return abs, nil, false, fmt.Errorf("%s does not exist: check the path (relative to %s), or pass default=", abs, execDir(thread))
		}
		return abs, nil, false, err
	}
	return abs, data, true, nil
}

func (s *state) readFile(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	p, def, err := readArgs(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	if def == starlark.None {
		def = nil // read_file(path, default=None) has no default, as in Tilt
	}
	abs, data, ok, err := s.readOrDefault(thread, p, def)
	if err != nil {
		return nil, err
	}
	if !ok {
		text, err := textOf("default", def)
		if err != nil {
			return nil, err
		}
		return &Blob{Text: text, Source: "default of read_file " + p}, nil
	}
	return &Blob{Text: string(data), Source: abs}, nil
}

// readDecoded makes read_yaml, read_yaml_stream and read_json: each reads a
// file (or returns its default when the file does not exist) and decodes the
// text with decode; a decoding error names the file.
func (s *state) readDecoded(decode func(text string) (starlark.Value, error)) builtinFunc {
	return func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		p, def, err := readArgs(fn, args, kwargs)
		if err != nil {
			return nil, err
		}
		abs, data, ok, err := s.readOrDefault(thread, p, def)
		if err != nil || !ok {
			return def, err
		}
		v, err := decode(string(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", abs, err)
		}
		return v, nil
	}
}

// watchFile records a dependency without reading it.
func (s *state) watchFile(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var p string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "paths", &p); err != nil {
		return nil, err
	}
	if p == "" {
		return nil, errors.New("path is empty: name a file or directory")
	}
	s.addDep(s.absPath(thread, p))
	return starlark.None, nil
}

// maxListdir bounds listdir(recursive=True) so that pointing it at / or a
// node_modules tree fails clearly instead of stalling evaluation.
const maxListdir = 100_000

// listdir returns the absolute paths of the files in a directory (sorted),
// recursively when asked; the directory becomes a dependency.
func (s *state) listdir(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var dir string
	var recursive bool
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "directory", &dir, "recursive?", &recursive); err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, errors.New("directory is empty: name a directory (\".\" for this one)")
	}
	abs := s.absPath(thread, dir)
	s.addDep(abs)
	fi, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s does not exist: check the path (relative to the directory of the file whose top level is running)", abs)
		}
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", abs)
	}
	var files []string
	err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != abs && !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		files = append(files, p)
		if len(files) > maxListdir {
			return fmt.Errorf("more than %d files under %s: list a smaller directory", maxListdir, abs)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	vs := make([]starlark.Value, len(files))
	for i, f := range files {
		vs[i] = starlark.String(f)
	}
	return starlark.NewList(vs), nil
}

// localWaitDelay is how long local() waits for a finished command's output
// pipes to close (a backgrounded child may hold them); the command itself
// has exited by then, so a short wait loses no output of its own.
const localWaitDelay = 2 * time.Second

// maxLocalOutput bounds what local() keeps of a command's output.
const maxLocalOutput = 64 << 20

// localOutput collects a command's stdout, and stdout and stderr
// interleaved, up to maxLocalOutput each. exec copies the two streams from
// separate goroutines, hence the lock.
type localOutput struct {
	mu       sync.Mutex
	stdout   bytes.Buffer
	combined bytes.Buffer
}

type localWriter struct {
	o        *localOutput
	isStdout bool
}

func (o *localOutput) writer(isStdout bool) io.Writer { return &localWriter{o, isStdout} }

func (w *localWriter) Write(p []byte) (int, error) {
	w.o.mu.Lock()
	defer w.o.mu.Unlock()
	if w.o.combined.Len()+len(p) > maxLocalOutput {
		return 0, fmt.Errorf("output exceeds %d bytes", maxLocalOutput)
	}
	w.o.combined.Write(p)
	if w.isStdout {
		w.o.stdout.Write(p)
	}
	return len(p), nil
}

// LocalError is the error of a local() command that failed; Output is what
// it printed (stdout and stderr).
type LocalError struct {
	Argv     []string
	ExitCode int
	Output   string
}

func (e *LocalError) Error() string {
	out := strings.TrimRight(e.Output, "\n")
	if out == "" {
		out = "(no output)"
	}
	return fmt.Sprintf("command %q failed with exit code %d:\n%s", cmdString(e.Argv), e.ExitCode, out)
}

// local runs a command at load time and returns its stdout as a Blob.
func (s *state) local(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var cmdV, env starlark.Value = nil, starlark.None
	var quiet, echoOff bool
	var dir, commandBat string
	var stdin starlark.Value = starlark.None
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"command", &cmdV, "quiet?", &quiet, "command_bat?", &commandBat,
		"echo_off?", &echoOff, "env?", &env, "dir?", &dir, "stdin?", &stdin); err != nil {
		return nil, err
	}
	cmd, err := cmdFromValue("command", cmdV)
	if err != nil {
		return nil, err
	}
	if cmd.Empty() {
		return nil, errors.New("command is empty: pass the command to run")
	}
	if s.opts.NoExec {
		return nil, fmt.Errorf("command %q not run: this evaluation does not run commands", cmdString(cmd.Argv))
	}
	extra, err := stringMapFromValue("env", env)
	if err != nil {
		return nil, err
	}
	base := execDir(thread)
	if dir != "" {
		base = absFrom(base, dir)
	}
	c := exec.CommandContext(ctxOf(thread), cmd.Argv[0], cmd.Argv[1:]...)
	c.Dir = base
	// A command that backgrounds a child holding stdout open would otherwise
	// block evaluation forever once the command itself has exited.
	c.WaitDelay = localWaitDelay
	c.Env = s.env.list(extra)
	if stdin != starlark.None {
		text, err := textOf("stdin", stdin)
		if err != nil {
			return nil, err
		}
		c.Stdin = strings.NewReader(text)
	}
	out := &localOutput{}
	c.Stdout = out.writer(true)
	c.Stderr = out.writer(false)
	if s.opts.Stdout != nil && !echoOff {
		fmt.Fprintf(s.opts.Stdout, "local: %s\n", cmdString(cmd.Argv))
	}
	err = c.Run()
	if s.opts.Stdout != nil && !quiet && out.combined.Len() > 0 {
		s.opts.Stdout.Write(out.combined.Bytes())
	}
	if err != nil {
		if ctxErr := ctxOf(thread).Err(); ctxErr != nil {
			return nil, fmt.Errorf("command %q: %w", cmdString(cmd.Argv), ctxErr)
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, &LocalError{Argv: cmd.Argv, ExitCode: ee.ExitCode(), Output: out.combined.String()}
		}
		return nil, fmt.Errorf("command %q: %w", cmdString(cmd.Argv), err)
	}
	return &Blob{Text: out.stdout.String(), Source: "local: " + strings.Join(cmd.Argv, " ")}, nil
}

// cmdString shows argv as the user wrote it: the script of "sh -c SCRIPT",
// else the words joined by spaces.
func cmdString(argv []string) string {
	if len(argv) == 3 && argv[0] == "sh" && argv[1] == "-c" {
		return argv[2]
	}
	return strings.Join(argv, " ")
}

// localGitRepo implements local_git_repo(path): the directory at path,
// which must hold a .git directory, as a value whose paths(p) joins p to it.
func (s *state) localGitRepo(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var p string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "path", &p); err != nil {
		return nil, err
	}
	abs := s.absPath(thread, p)
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("%s: %w", abs, err)
	}
	if fi, err := os.Stat(filepath.Join(abs, ".git")); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a git repository: it has no .git directory", abs)
	}
	return &gitRepo{dir: abs}, nil
}

// gitRepo is the value of local_git_repo(): Tilt's git.Repo.
type gitRepo struct{ dir string }

func (r *gitRepo) String() string        { return fmt.Sprintf("[git.Repo] '%s'", r.dir) }
func (r *gitRepo) Type() string          { return "git.Repo" }
func (r *gitRepo) Freeze()               {}
func (r *gitRepo) Truth() starlark.Bool  { return r.dir != "" }
func (r *gitRepo) Hash() (uint32, error) { return 0, errors.New("unhashable type: git.Repo") }
func (r *gitRepo) AttrNames() []string   { return []string{"paths"} }

// Attr returns the paths method: paths(p) is the repository's directory
// joined with p, as a string.
func (r *gitRepo) Attr(name string) (starlark.Value, error) {
	if name != "paths" {
		return nil, nil
	}
	return starlark.NewBuiltin("paths", func(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var p string
		if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "path", &p); err != nil {
			return nil, err
		}
		return starlark.String(filepath.Join(r.dir, p)), nil
	}), nil
}
