package devfile

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/devloop-dev/devloop/devfile/internal/manifest"
)

// extensions are the Tilt extensions devloop implements itself, so that
// load("ext://NAME", ...) works offline and without Tilt's helper images.
var extensions = map[string]func(s *state) starlark.StringDict{
	"restart_process": (*state).restartProcessExt,
	"namespace":       (*state).namespaceExt,
	"uibutton":        (*state).uibuttonExt,
	"configmap":       (*state).configmapExt,
	"secret":          (*state).secretExt,
	"dotenv":          (*state).dotenvExt,
}

// extension returns the module that load("ext://NAME", ...) binds: the
// built-in implementations of Tilt's most used extensions.
func (s *state) extension(thread *starlark.Thread, name string) (starlark.StringDict, error) {
	mk, ok := extensions[name]
	if !ok {
		names := make([]string, 0, len(extensions))
		for n := range extensions {
			names = append(names, "ext://"+n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("extension %q is not supported: devloop implements %s itself and fetches no extensions (copy the extension's Tiltfile into your project and load() it as a file instead)", "ext://"+name, strings.Join(names, ", "))
	}
	return mk(s), nil
}

func builtins(fns map[string]builtinFunc) starlark.StringDict {
	d := starlark.StringDict{}
	for name, fn := range fns {
		d[name] = starlark.NewBuiltin(name, fn)
	}
	return d
}

// restartProcessExt is ext://restart_process.
func (s *state) restartProcessExt() starlark.StringDict {
	return builtins(map[string]builtinFunc{
		"docker_build_with_restart": s.buildWithRestart("docker_build", []string{"ref", "context", "entrypoint", "live_update"}),
		"custom_build_with_restart": s.buildWithRestart("custom_build", []string{"ref", "command", "deps", "entrypoint", "live_update"}),
	})
}

// buildWithRestart returns docker_build_with_restart or
// custom_build_with_restart: they call the core builtin (positional params
// named by params, the rest passed through) and mark the image so that the
// container's process restarts after each live update, as
// restart_container() asks. devloop restarts the process itself, so no
// wrapper is added to the image and the entrypoint is set as given.
// base_suffix and restart_file are accepted and unused; trigger= limits
// restarts to changes of those files; exit_policy is "restart" or "continue".
func (s *state) buildWithRestart(core string, params []string) builtinFunc {
	return func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if s.k8s.assembling {
			return nil, errAssembling(fn.Name())
		}
		if len(args) > len(params) {
			return nil, fmt.Errorf("%s: got %d positional arguments, want at most %d (%s)", fn.Name(), len(args), len(params), strings.Join(params, ", "))
		}
		named := map[string]starlark.Value{}
		for i, a := range args {
			named[params[i]] = a
		}
		var pass []starlark.Tuple
		var trigger starlark.Value
		for _, kv := range kwargs {
			k := string(kv[0].(starlark.String))
			switch k {
			case "base_suffix", "restart_file":
				if _, ok := starlark.AsString(kv[1]); !ok {
					return nil, fmt.Errorf("%s: %s: got %s, want a string", fn.Name(), k, kv[1].Type())
				}
				continue
			case "trigger":
				trigger = kv[1]
				continue
			case "exit_policy":
				if p, _ := starlark.AsString(kv[1]); p != "restart" && p != "continue" {
					return nil, fmt.Errorf("%s: exit_policy: %s is not \"restart\" or \"continue\"", fn.Name(), kv[1])
				}
				continue
			}
			if _, dup := named[k]; dup {
				return nil, fmt.Errorf("%s: got multiple values for parameter %q", fn.Name(), k)
			}
			isParam := false
			for _, p := range params {
				isParam = isParam || p == k
			}
			if isParam {
				named[k] = kv[1]
				continue
			}
			pass = append(pass, kv)
		}
		for _, p := range params {
			if _, ok := named[p]; !ok {
				return nil, fmt.Errorf("%s: missing argument for %s", fn.Name(), p)
			}
		}
		ref, ok := starlark.AsString(named["ref"])
		if !ok {
			return nil, fmt.Errorf("%s: ref: got %s, want a string", fn.Name(), named["ref"].Type())
		}
		if err := checkRestartLiveUpdate(fn.Name(), named["live_update"]); err != nil {
			return nil, err
		}
		var trig []string
		if trigger != nil && trigger != starlark.None {
			ts, err := stringsFromValue("trigger", trigger)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fn.Name(), err)
			}
			for _, t := range ts {
				trig = append(trig, s.absPath(thread, t))
			}
		}
		var coreArgs starlark.Tuple
		for _, p := range params {
			if p == "entrypoint" || p == "live_update" {
				pass = append(pass, starlark.Tuple{starlark.String(p), named[p]})
				continue
			}
			coreArgs = append(coreArgs, named[p])
		}
		builder, ok := s.predeclared[core].(starlark.Callable)
		if !ok {
			return nil, fmt.Errorf("%s: the %s builtin is missing (a devloop bug)", fn.Name(), core)
		}
		if _, err := starlark.Call(thread, builder, coreArgs, pass); err != nil {
			return nil, err
		}
		s.k8s.restarts = append(s.k8s.restarts, restartMark{ref: ref, trigger: trig, pos: callPos(thread)})
		return starlark.None, nil
	}
}

// checkRestartLiveUpdate rejects what Tilt's extension rejects: no steps, or
// a restart_container() step (the extension replaces it).
func checkRestartLiveUpdate(fnName string, v starlark.Value) error {
	var steps []starlark.Value
	switch v := v.(type) {
	case *starlark.List, starlark.Tuple:
		it := v.(starlark.Iterable).Iterate()
		var x starlark.Value
		for it.Next(&x) {
			steps = append(steps, x)
		}
		it.Done()
	case *liveStep:
		steps = []starlark.Value{v}
	}
	if len(steps) == 0 {
		return fmt.Errorf("%s: live_update is empty: give at least one step (sync(), run()); the process restarts after them", fnName)
	}
	for _, st := range steps {
		if l, ok := st.(*liveStep); ok && l.step.Type == StepRestartContainer {
			return fmt.Errorf("%s: live_update has restart_container(): remove it, %s already restarts the process after each live update", fnName, fnName)
		}
	}
	return nil
}

// finishRestarts marks the images of docker_build_with_restart.
func (s *state) finishRestarts(m *Model) error {
	for _, r := range s.k8s.restarts {
		img := m.Image(r.ref)
		if img == nil {
			return errorAt(r.pos, "image %q of the restart_process extension was not recorded (a devloop bug)", r.ref)
		}
		img.RestartOnChange = true
		img.RestartTrigger = r.trigger
	}
	return nil
}

// namespaceExt is ext://namespace.
func (s *state) namespaceExt() starlark.StringDict {
	return builtins(map[string]builtinFunc{
		"namespace_yaml":   s.namespaceYAML,
		"namespace_create": s.namespaceCreate,
		"namespace_inject": s.namespaceInject,
	})
}

// namespaceObject returns a Namespace object; annotations and labels are
// lists of "key: value" strings (as in Tilt's extension) or dicts.
func namespaceObject(fnName, name string, annotations, labels starlark.Value) (*manifest.Object, error) {
	if err := checkDNSLabel(name); err != nil {
		return nil, fmt.Errorf("%s: namespace %q: %w", fnName, name, err)
	}
	meta := map[string]any{"name": name}
	for _, f := range []struct {
		key string
		v   starlark.Value
	}{{"annotations", annotations}, {"labels", labels}} {
		m, err := keyValuesFromValue(f.key, f.v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fnName, err)
		}
		if len(m) > 0 {
			meta[f.key] = m
		}
	}
	return manifest.New(map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": meta}, "")
}

// keyValuesFromValue converts a dict, or a list of "key: value" (or
// "key=value") strings, into a map for labels and annotations.
func keyValuesFromValue(what string, v starlark.Value) (map[string]any, error) {
	if d, ok := v.(*starlark.Dict); ok {
		m, err := stringMapFromValue(what, d)
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		for k, val := range m {
			out[k] = val
		}
		return out, nil
	}
	items, err := stringsFromValue(what, v)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, it := range items {
		k, val, ok := strings.Cut(it, ":")
		if !ok {
			k, val, ok = strings.Cut(it, "=")
		}
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%s: %q is not \"key: value\"", what, it)
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && (val[0] == '"' && val[len(val)-1] == '"' || val[0] == '\'' && val[len(val)-1] == '\'') {
			val = val[1 : len(val)-1]
		}
		out[strings.TrimSpace(k)] = val
	}
	return out, nil
}

// checkDNSLabel checks a namespace name (RFC 1123 label).
func checkDNSLabel(name string) error {
	if name == "" || len(name) > 63 {
		return fmt.Errorf("want 1 to 63 characters")
	}
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(name)-1
		if !ok {
			return fmt.Errorf("use lower-case letters, digits and '-' (not first or last)")
		}
	}
	return nil
}

// namespaceYAML implements namespace_yaml(name, annotations=[], labels=[]).
func (s *state) namespaceYAML(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var annotations, labels starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &name, "annotations?", &annotations, "labels?", &labels); err != nil {
		return nil, err
	}
	o, err := namespaceObject(fn.Name(), name, annotations, labels)
	if err != nil {
		return nil, err
	}
	return &Blob{Text: o.YAML, Source: fn.Name() + "(" + name + ")"}, nil
}

// namespaceCreate implements namespace_create(name, allow_duplicates=False,
// annotations=[], labels=[]): k8s_yaml(namespace_yaml(...)).
func (s *state) namespaceCreate(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var allowDuplicates bool
	var annotations, labels starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "name", &name, "allow_duplicates?", &allowDuplicates, "annotations?", &annotations, "labels?", &labels); err != nil {
		return nil, err
	}
	o, err := namespaceObject(fn.Name(), name, annotations, labels)
	if err != nil {
		return nil, err
	}
	return starlark.None, s.registerObjects(thread, fn.Name(), []*manifest.Object{o}, allowDuplicates)
}

// namespaceInject implements namespace_inject(x, ns): the objects of x (a
// path or a blob) with metadata.namespace, pod templates' namespace and
// ServiceAccount subjects' namespace set to ns.
func (s *state) namespaceInject(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var x starlark.Value
	var ns string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "x", &x, "ns", &ns); err != nil {
		return nil, err
	}
	switch x.(type) {
	case starlark.String, *Blob:
	default:
		return nil, fmt.Errorf("%s: got %s, want a path or a blob of YAML", fn.Name(), x.Type())
	}
	if err := checkDNSLabel(ns); err != nil {
		return nil, fmt.Errorf("%s: namespace %q: %w", fn.Name(), ns, err)
	}
	objs, err := s.objectsFromValue(thread, fn.Name(), x)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if err := o.SetNamespace(ns, true); err != nil {
			return nil, fmt.Errorf("%s: %w", fn.Name(), err)
		}
	}
	return &Blob{Text: manifest.Join(objs), Source: fn.Name()}, nil
}

// dotenvExt is ext://dotenv.
func (s *state) dotenvExt() starlark.StringDict {
	return builtins(map[string]builtinFunc{"dotenv": s.dotenv})
}

// dotenv implements dotenv(fn='.env', verbose=False, showValues=False): sets
// the file's variables in the Devfile's environment (os.getenv, local(),
// Model.Env) as the extension does. A missing file is a warning.
func (s *state) dotenv(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	path := ".env"
	var verbose, showValues bool
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "fn?", &path, "verbose?", &verbose, "showValues?", &showValues); err != nil {
		return nil, err
	}
	abs := s.absPath(thread, path)
	s.addDep(abs)
	data, err := manifest.ReadFile(abs)
	if errors.Is(err, fs.ErrNotExist) {
		s.warnings = append(s.warnings, fmt.Sprintf("%s: environment variables file not found: %s", callPos(thread), path))
		return starlark.None, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	if verbose {
		s.print(thread, "Loading environment variables from file: "+path)
	}
	vars, err := parseDotenv(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %s:%w", fn.Name(), path, err)
	}
	for _, kv := range vars {
		if err := s.env.set(kv[0], kv[1]); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", fn.Name(), path, err)
		}
		if verbose {
			if showValues {
				s.print(thread, fmt.Sprintf("Loading environment variable: %s=%s", kv[0], kv[1]))
			} else {
				s.print(thread, "Loading environment variable: "+kv[0])
			}
		}
	}
	return starlark.None, nil
}

// parseDotenv parses KEY=VALUE lines as the dotenv extension does: '#'
// lines are comments, blank lines are skipped, keys and values are trimmed,
// a value in matching quotes loses them, and a double-quoted value may span
// lines. Errors start with the line number (for "PATH:LINE: ...").
func parseDotenv(text string) ([][2]string, error) {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	var out [][2]string
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.HasPrefix(strings.TrimSpace(line), "#") || strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%d: %q is not KEY=VALUE", i+1, line)
		}
		key := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(k), "export "))
		val := strings.TrimSpace(v)
		if strings.HasPrefix(val, `"`) && (len(val) == 1 || !strings.HasSuffix(val, `"`)) {
			parts := []string{strings.TrimLeft(v, " \t")}
			closed := false
			for i+1 < len(lines) {
				i++
				next := strings.TrimRight(lines[i], " \t")
				parts = append(parts, next)
				if strings.HasSuffix(next, `"`) {
					closed = true
					break
				}
			}
			if !closed {
				return nil, fmt.Errorf("%d: the quoted value of %s is not closed", i+1, key)
			}
			val = strings.Join(parts, "\n")
		}
		if len(val) >= 2 && (val[0] == '"' && val[len(val)-1] == '"' || val[0] == '\'' && val[len(val)-1] == '\'') {
			val = val[1 : len(val)-1]
		}
		out = append(out, [2]string{key, val})
	}
	return out, nil
}

// locationStruct is uibutton's location: RESOURCE and NAV.
func locationStruct() starlark.Value {
	return starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
		"RESOURCE": starlark.String(buttonLocationResource),
		"NAV":      starlark.String(buttonLocationNav),
	})
}
