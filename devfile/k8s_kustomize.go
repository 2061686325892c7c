package devfile

import (
	"fmt"
	"path/filepath"
	"strings"

	"go.starlark.net/starlark"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// kustomizeOptions are the krusty options for `kustomize build` flags.
// Supported: --load-restrictor (LoadRestrictionsRootOnly|LoadRestrictionsNone),
// --enable-helm, --helm-command; the rest need kustomize_bin=.
func kustomizeOptions(flags []string) (*krusty.Options, error) {
	opts := krusty.MakeDefaultOptions()
	for i := 0; i < len(flags); i++ {
		name, value, hasValue := strings.Cut(flags[i], "=")
		next := func() (string, error) {
			if hasValue {
				return value, nil
			}
			if i+1 >= len(flags) {
				return "", fmt.Errorf("flags: %s needs a value", name)
			}
			i++
			return flags[i], nil
		}
		switch name {
		case "--load-restrictor", "--load_restrictor":
			v, err := next()
			if err != nil {
				return nil, err
			}
			switch v {
			case "LoadRestrictionsNone", "none":
				opts.LoadRestrictions = types.LoadRestrictionsNone
			case "LoadRestrictionsRootOnly", "rootOnly":
				opts.LoadRestrictions = types.LoadRestrictionsRootOnly
			default:
				return nil, fmt.Errorf("flags: --load-restrictor %q: want LoadRestrictionsRootOnly or LoadRestrictionsNone", v)
			}
		case "--enable-helm":
			if hasValue && value != "true" {
				continue
			}
			opts.PluginConfig.HelmConfig.Enabled = true
			if opts.PluginConfig.HelmConfig.Command == "" {
				opts.PluginConfig.HelmConfig.Command = "helm"
			}
		case "--helm-command":
			v, err := next()
			if err != nil {
				return nil, err
			}
			opts.PluginConfig.HelmConfig.Command = v
		default:
			return nil, fmt.Errorf("flags: %s is not supported by devloop's built-in kustomize (it supports --load-restrictor, --enable-helm, --helm-command): pass kustomize_bin=\"kustomize\" to run your own kustomize binary with these flags", flags[i])
		}
	}
	return opts, nil
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
		out, err := s.runTool(thread, argv, filepath.Dir(callerFile(thread)), "install it, or drop kustomize_bin= to use the kustomize built into devloop")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn.Name(), err)
		}
		return &Blob{Text: out, Source: source}, nil
	}
	opts, err := kustomizeOptions(flags)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn.Name(), err)
	}
	if s.opts.NoExec && opts.PluginConfig.HelmConfig.Enabled {
		return nil, fmt.Errorf("%s: running helm for --enable-helm is disabled (Options.NoExec)", fn.Name())
	}
	fsys := &recordingFS{FileSystem: filesys.MakeFsOnDisk(), record: s.addDep}
	resMap, err := krusty.MakeKustomizer(opts).Run(fsys, abs)
	if err != nil {
		return nil, fmt.Errorf("%s: building %s: %w", fn.Name(), dir, err)
	}
	out, err := resMap.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("%s: encoding the output of %s: %w", fn.Name(), dir, err)
	}
	return &Blob{Text: string(out), Source: source}, nil
}

// recordingFS records every file kustomize reads (bases and patches outside
// the directory included) as a dependency.
type recordingFS struct {
	filesys.FileSystem
	record func(string)
}

func (f *recordingFS) ReadFile(p string) ([]byte, error) {
	f.note(p)
	return f.FileSystem.ReadFile(p)
}

func (f *recordingFS) Open(p string) (filesys.File, error) {
	f.note(p)
	return f.FileSystem.Open(p)
}

func (f *recordingFS) note(p string) {
	if abs, err := filepath.Abs(p); err == nil {
		f.record(abs)
	}
}
