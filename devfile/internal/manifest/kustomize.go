package manifest

import (
	"fmt"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// KustomizeOptions are the krusty options for `kustomize build` flags.
// Supported: --load-restrictor (LoadRestrictionsRootOnly|LoadRestrictionsNone),
// --enable-helm, --helm-command; the rest need kustomize_bin=.
func KustomizeOptions(flags []string) (*krusty.Options, error) {
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

// Kustomize builds the kustomization in dir (absolute) with the kustomize
// library, calling record with every file it reads, and returns the YAML.
func Kustomize(opts *krusty.Options, dir string, record func(string)) (string, error) {
	fsys := &recordingFS{FileSystem: filesys.MakeFsOnDisk(), record: record}
	resMap, err := krusty.MakeKustomizer(opts).Run(fsys, dir)
	if err != nil {
		return "", err
	}
	out, err := resMap.AsYaml()
	if err != nil {
		return "", fmt.Errorf("encoding the output: %w", err)
	}
	return string(out), nil
}
