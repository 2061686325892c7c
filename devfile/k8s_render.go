package devfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"go.starlark.net/starlark"

	"github.com/devloop-dev/devloop/devfile/internal/manifest"
)

// helm implements helm(paths, name="", namespace="", values=[], set=[],
// kube_version="", skip_crds=False): renders a local chart directory with
// the Helm SDK built into devloop (what `helm template` prints; no helm
// binary needed) and returns the YAML as a blob. The chart's files, local
// subcharts and values files become dependencies.
func (s *state) helm(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var chart, name, namespace, kubeVersion string
	var values, set starlark.Value
	var skipCRDs bool
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"paths", &chart, "name?", &name, "namespace?", &namespace,
		"values?", &values, "set?", &set, "kube_version?", &kubeVersion,
		"skip_crds?", &skipCRDs); err != nil {
		return nil, err
	}
	if chart == "" {
		return nil, fmt.Errorf("%s: the chart path is empty: name a chart directory (the one with Chart.yaml)", fn.Name())
	}
	if strings.Contains(chart, "://") {
		return nil, fmt.Errorf("%s: %s is a remote chart: helm() renders local chart directories only; fetch it once (helm pull %s --untar) and pass the directory", fn.Name(), chart, chart)
	}
	// Without namespace=, helm renders into the kube context's namespace.
	releaseNS := namespace
	if releaseNS == "" {
		releaseNS = s.opts.KubeNamespace
	}
	req := manifest.HelmRequest{Chart: s.absPath(thread, chart), Name: name, Namespace: releaseNS, KubeVersion: kubeVersion, SkipCRDs: skipCRDs}
	fi, err := os.Stat(req.Chart)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: chart directory %s does not exist (looked for %s): helm() renders local charts only; fetch remote ones first (helm pull REPO/CHART --untar)", fn.Name(), chart, req.Chart)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	case !fi.IsDir():
		return nil, fmt.Errorf("%s: %s is not a directory: pass the chart directory (the one with Chart.yaml)", fn.Name(), chart)
	}
	vs, err := stringsFromValue("values", values)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	for _, v := range vs {
		abs := s.absPath(thread, v)
		s.addDep(abs)
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("%s: values file %s: %w", fn.Name(), v, err)
		}
		req.Values = append(req.Values, abs)
	}
	if req.Set, err = stringsFromValue("set", set); err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	if err := s.addTreeDeps(req.Chart); err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	for _, sub := range manifest.LocalSubcharts(req.Chart) {
		if err := s.addTreeDeps(sub); err != nil {
			return nil, fmt.Errorf("%s: %w", fn.Name(), err)
		}
	}
	out, err := req.Render(ctxOf(thread))
	if err != nil {
		return nil, fmt.Errorf("%s: rendering %s: %w", fn.Name(), chart, err)
	}
	text := manifest.DropHelmTests(out)
	source := "helm: " + s.rel(req.Chart)
	if namespace != "" {
		// helm template --namespace neither sets the namespace of objects
		// whose templates omit it nor creates it; set it, as Tilt does.
		objs, err := manifest.Parse(text, source)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn.Name(), err)
		}
		for _, o := range objs {
			if o.Namespace == "" && !manifest.ClusterScoped(o.Kind) {
				if err := o.SetNamespace(namespace, false); err != nil {
					return nil, fmt.Errorf("%s: %w", fn.Name(), err)
				}
			}
		}
		text = manifest.Join(objs)
	}
	return &Blob{Text: text, Source: source}, nil
}

// maxTreeDeps bounds how many files of one directory become dependencies: a
// chart or kustomization has tens of files; a directory with more is
// probably a mistake (a repository root) and watching it file by file
// would cost more than it helps.
const maxTreeDeps = 10000

// addTreeDeps records every regular file under dir as a dependency.
func (s *state) addTreeDeps(dir string) error {
	n := 0
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") && p != dir {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			n++
			if n > maxTreeDeps {
				return fmt.Errorf("%s has more than %d files: name a smaller directory", s.rel(dir), maxTreeDeps)
			}
			s.addDep(p)
		}
		return nil
	})
}

// maxToolOutput bounds what a kustomize_bin= binary may print (rendered YAML
// of even large kustomizations is a few MB).
const maxToolOutput = 64 << 20

// toolWaitDelay is how long runTool waits for output pipes after the tool
// exits (a child it left behind may hold them); the output is complete by then.
const toolWaitDelay = 2 * time.Second

// cappedBuffer is a bytes.Buffer that fails writes beyond maxToolOutput.
type cappedBuffer struct{ bytes.Buffer }

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxToolOutput {
		return 0, fmt.Errorf("output exceeds %d bytes", maxToolOutput)
	}
	return b.Buffer.Write(p)
}

// runTool runs argv in dir with the evaluation's environment and returns its
// stdout. A missing program is an error naming it, with remedy.
func (s *state) runTool(thread *starlark.Thread, argv []string, dir, remedy string) (string, error) {
	if s.opts.NoExec {
		return "", fmt.Errorf("running %s is disabled (Options.NoExec)", argv[0])
	}
	env := s.env.list(nil)
	prog, err := lookPathIn(argv[0], env)
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, remedy)
	}
	c := exec.CommandContext(ctxOf(thread), prog, argv[1:]...)
	c.Dir = dir
	c.Env = env
	c.WaitDelay = toolWaitDelay
	var stdout, stderr cappedBuffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if s.opts.Stdout != nil {
		fmt.Fprintf(s.opts.Stdout, "%s\n", strings.Join(argv, " "))
	}
	if err := c.Run(); err != nil {
		if ctxErr := ctxOf(thread).Err(); ctxErr != nil {
			return "", fmt.Errorf("%s: %w", strings.Join(argv, " "), ctxErr)
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		return "", fmt.Errorf("%s failed: %v\n%s", strings.Join(argv, " "), err, msg)
	}
	return stdout.String(), nil
}

// lookPathIn finds a program on the PATH of env (not of this process), so
// that Options.Environ decides what a Devfile can run.
func lookPathIn(prog string, env []string) (string, error) {
	if strings.Contains(prog, "/") {
		if isExecutable(prog) {
			return prog, nil
		}
		return "", fmt.Errorf("%s is not an executable file", prog)
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, prog)
		if isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("the %s binary is not on PATH (%s)", prog, path)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// kustomize implements kustomize(paths, kustomize_bin="", flags=[]): builds
// a kustomization directory with the kustomize library built into devloop
// (no kustomize or kubectl binary needed) and returns the YAML as a blob.
// Every file kustomize reads, and every file under the directory, becomes a
// dependency. kustomize_bin= runs that binary instead ("BIN build FLAGS DIR").
func (s *state) kustomize(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var dir, bin string
	var flagsV starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "paths", &dir, "kustomize_bin?", &bin, "flags?", &flagsV); err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, fmt.Errorf("%s: the directory is empty: name the directory with kustomization.yaml", fn.Name())
	}
	flags, err := stringsFromValue("flags", flagsV)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	abs := s.absPath(thread, dir)
	if !isDir(abs) {
		return nil, fmt.Errorf("%s: %s is not a directory (looked for %s): name the directory with kustomization.yaml", fn.Name(), dir, abs)
	}
	if err := s.addTreeDeps(abs); err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	source := "kustomize: " + s.rel(abs)
	if bin != "" {
		argv := append(append([]string{bin, "build"}, flags...), abs)
		out, err := s.runTool(thread, argv, execDir(thread), "install it, or drop kustomize_bin= to use the kustomize built into devloop")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn.Name(), err)
		}
		return &Blob{Text: out, Source: source}, nil
	}
	opts, err := manifest.KustomizeOptions(flags)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	if s.opts.NoExec && opts.PluginConfig.HelmConfig.Enabled {
		return nil, fmt.Errorf("%s: running helm for --enable-helm is disabled (Options.NoExec)", fn.Name())
	}
	out, err := manifest.Kustomize(opts, abs, s.addDep)
	if err != nil {
		return nil, fmt.Errorf("%s: building %s: %w", fn.Name(), dir, err)
	}
	return &Blob{Text: out, Source: source}, nil
}
