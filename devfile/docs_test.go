package devfile

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.starlark.net/starlarkstruct"
)

// TestBuiltinsDocumented checks that every predeclared name, and every
// member of the os, os.path, shlex, sys and config modules, appears in the
// Devfile reference docs.
func TestBuiltinsDocumented(t *testing.T) {
	var docs strings.Builder
	for _, name := range []string{"devfile.md", "devfile-kubernetes.md"} {
		b, err := os.ReadFile(filepath.Join("..", "docs", name))
		if err != nil {
			t.Fatalf("reading the docs: %v", err)
		}
		docs.Write(b)
	}
	text := docs.String()
	s := newState("/nonexistent/Devfile", Options{Environ: []string{}})
	var names []string
	var addModule func(prefix string, m *starlarkstruct.Module)
	addModule = func(prefix string, m *starlarkstruct.Module) {
		for member, v := range m.Members {
			if sub, ok := v.(*starlarkstruct.Module); ok {
				addModule(prefix+member+".", sub)
				continue
			}
			names = append(names, prefix+member)
		}
	}
	for name, v := range s.predeclared {
		if m, ok := v.(*starlarkstruct.Module); ok {
			addModule(name+".", m)
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		short := name[strings.LastIndex(name, ".")+1:]
		if !strings.Contains(text, name) && !(strings.HasPrefix(name, "os.path.") && strings.Contains(text, "`"+short)) {
			t.Errorf("builtin %s is not in docs/devfile.md or docs/devfile-kubernetes.md", name)
		}
	}
}

func TestLoadNoExec(t *testing.T) {
	path := writeDevfile(t, "local('touch ran')\n", nil)
	_, err := Load(context.Background(), path, Options{NoExec: true})
	if err == nil || !strings.Contains(err.Error(), "does not run commands") {
		t.Fatalf("Load(NoExec) = %v, want an error saying commands are not run", err)
	}
	if _, statErr := os.Stat(filepath.Join(filepath.Dir(path), "ran")); statErr == nil {
		t.Errorf("Load(NoExec) ran the command")
	}
}

// tiltBuiltins are the names Tilt's Tiltfile predeclares (from its
// internal/tiltfile, v0.37.6-dev): top-level names, and module members as
// MODULE.NAME. Extensions (ext://) are not builtins.
var tiltBuiltins = strings.Fields(`
TRIGGER_MODE_AUTO TRIGGER_MODE_MANUAL allow_k8s_contexts analytics_settings blob ci_settings
custom_build dc_resource decode_json decode_yaml decode_yaml_stream default_registry
disable_feature disable_snapshots docker_build docker_compose docker_prune_settings
enable_feature encode_json encode_yaml encode_yaml_stream exec_action exit
experimental_analytics_report experimental_metrics_settings experimental_telemetry_cmd fail
fall_back_on filter_yaml helm http_get_action include initial_sync k8s_context
k8s_custom_deploy k8s_image_json_path k8s_kind k8s_namespace k8s_resource k8s_yaml kustomize
link listdir load_dynamic local local_git_repo local_resource module port_forward probe
read_file read_json read_yaml read_yaml_stream restart_container run secret_settings set_team
struct sync tcp_socket_action test trigger_mode update_settings v1alpha1 version_settings warn
watch_file watch_settings workload_to_resource_function
config.clear_enabled_resources config.define_bool config.define_object config.define_string
config.define_string_list config.main_dir config.main_path config.parse
config.set_enabled_resources config.tilt_subcommand
os.environ os.getcwd os.getenv os.name os.path.abspath os.path.basename os.path.dirname
os.path.exists os.path.join os.path.realpath os.path.relpath os.putenv os.unsetenv
shlex.quote sys.argv sys.executable
`)

// TestTiltBuiltinsKnown checks that every Tilt builtin is either a devloop
// builtin or named by the "is a Tilt builtin that devloop does not
// support" message, never Starlark's generic "undefined".
func TestTiltBuiltinsKnown(t *testing.T) {
	for _, name := range tiltBuiltins {
		t.Run(name, func(t *testing.T) {
			first, _, _ := strings.Cut(name, ".")
			src := "x = " + name + "\n"
			path := writeDevfile(t, src, nil)
			_, err := Load(context.Background(), path, Options{Environ: []string{}})
			if err == nil {
				return
			}
			if _, ok := unsupportedTilt[first]; ok && first == name {
				want := name + " is a Tilt builtin that devloop does not support"
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Load(%q) = %v, want an error containing %q", src, err, want)
				}
				return
			}
			t.Errorf("Load(%q) = %v, want a devloop builtin or an unsupported-Tilt-builtin message", src, err)
		})
	}
}

func TestClearEnabledResourcesUnsupported(t *testing.T) {
	path := writeDevfile(t, "config.clear_enabled_resources()\n", nil)
	_, err := Load(context.Background(), path, Options{Environ: []string{}})
	want := "Devfile:1:31: config.clear_enabled_resources is a Tilt builtin that devloop does not support (use config.set_enabled_resources)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Load(config.clear_enabled_resources()) = %v, want an error containing %q", err, want)
	}
}
