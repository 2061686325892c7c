package devfile

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// defaultUpsertTimeout is Tilt's default k8s_upsert_timeout_secs.
const defaultUpsertTimeout = 30 * time.Second

// builtinFunc is the signature of a Go builtin.
type builtinFunc = func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error)

// builtins returns the core builtins of a Devfile (the Kubernetes ones come
// from k8sBuiltins), bound to s.
func (s *state) builtins() starlark.StringDict {
	fns := map[string]builtinFunc{
		// builds
		"docker_build":      s.dockerBuild,
		"custom_build":      s.customBuild,
		"initial_sync":      s.initialSync,
		"fall_back_on":      s.fallBackOn,
		"sync":              s.syncStep,
		"run":               s.runStep,
		"restart_container": s.restartContainer,
		// local resources
		"local_resource":    s.localResource,
		"probe":             probeBuiltin,
		"http_get_action":   httpGetActionBuiltin,
		"tcp_socket_action": tcpSocketActionBuiltin,
		"exec_action":       execActionBuiltin,
		"link":              linkBuiltin,
		// files and data
		"include":            s.include,
		"load_dynamic":       s.loadDynamic,
		"read_file":          s.readFile,
		"read_yaml":          s.readDecoded(decodeYAMLOne),
		"read_yaml_stream":   s.readDecoded(decodeYAMLList),
		"read_json":          s.readDecoded(decodeJSONText),
		"decode_yaml":        decoder("yaml", decodeYAMLOne),
		"decode_yaml_stream": decoder("yaml", decodeYAMLList),
		"encode_yaml":        encodeYAML,
		"encode_yaml_stream": encodeYAMLStream,
		"decode_json":        decoder("json", decodeJSONText),
		"encode_json":        encodeJSON,
		"blob":               blobBuiltin,
		"local":              s.local,
		"listdir":            s.listdir,
		"watch_file":         s.watchFile,
		"local_git_repo":     s.localGitRepo,
		// settings
		"allow_k8s_contexts":    s.allowK8sContexts,
		"k8s_context":           s.k8sContext,
		"k8s_namespace":         s.k8sNamespace,
		"default_registry":      s.defaultRegistry,
		"update_settings":       s.updateSettings,
		"ci_settings":           s.ciSettings,
		"trigger_mode":          s.triggerModeBuiltin,
		"version_settings":      s.versionSettings,
		"docker_prune_settings": s.dockerPruneSettings,
		"watch_settings":        s.watchSettings,
		"kind_cluster":          s.kindCluster,
		// Tilt settings with no devloop equivalent: accepted so that
		// Tiltfiles run unchanged.
		"analytics_settings": noop("enable?"),
		"secret_settings":    noop("disable_scrub?"),
		"disable_snapshots":  noop(),
		"set_team":           noop("team_id"),
		"enable_feature":     s.enableFeature,
		// messages
		"warn": s.warn,
		"fail": fail,
	}
	d := starlark.StringDict{}
	for name, fn := range fns {
		d[name] = starlark.NewBuiltin(name, fn)
	}
	d["struct"] = starlark.NewBuiltin("struct", starlarkstruct.Make)
	d["TRIGGER_MODE_AUTO"] = triggerModeValue(TriggerAuto)
	d["TRIGGER_MODE_MANUAL"] = triggerModeValue(TriggerManual)
	d["os"] = s.osModule()
	d["shlex"] = shlexModule()
	d["sys"] = s.sysModule()
	d["config"] = s.configModule()
	return d
}

// warn records a warning (the model carries it to devloop config and the
// dashboard) and prints it, as Tilt logs it.
func (s *state) warn(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var msg string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "msg", &msg); err != nil {
		return nil, err
	}
	s.warnings = append(s.warnings, msg)
	if s.opts.Stdout != nil {
		fmt.Fprintf(s.opts.Stdout, "WARNING: %s\n", msg)
	}
	return starlark.None, nil
}

// failError is the error of fail(): its message is the user's, unadorned.
type failError struct{ msg string }

func (e *failError) Error() string { return e.msg }

// fail stops evaluation with the user's message.
func fail(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var msg starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "msg", &msg); err != nil {
		return nil, err
	}
	text := msg.String()
	if s, ok := starlark.AsString(msg); ok {
		text = s
	}
	return nil, &failError{msg: "fail: " + text}
}

// blobBuiltin wraps a string as a Blob.
func blobBuiltin(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var text string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "input", &text); err != nil {
		return nil, err
	}
	return &Blob{Text: text, Source: "blob()"}, nil
}

// include evaluates a file for its side effects, as load() without symbols.
func (s *state) include(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "path", &path); err != nil {
		return nil, err
	}
	if _, err := s.load(thread, path); err != nil {
		return nil, fmt.Errorf("include %s: %w", path, err)
	}
	return starlark.None, nil
}

// loadDynamic evaluates a file and returns its globals as a dict.
func (s *state) loadDynamic(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "path", &path); err != nil {
		return nil, err
	}
	globals, err := s.load(thread, path)
	if err != nil {
		return nil, fmt.Errorf("load_dynamic %s: %w", path, err)
	}
	d := starlark.NewDict(len(globals))
	for _, k := range globals.Keys() {
		if err := d.SetKey(starlark.String(k), globals[k]); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// allowK8sContexts records the kube contexts devloop may deploy to besides
// local ones; None is a no-op as in Tilt.
func (s *state) allowK8sContexts(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "contexts", &v); err != nil {
		return nil, err
	}
	names, err := stringsFromValue("contexts", v)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if n == "" {
			return nil, errors.New("contexts: empty context name: pass the name kubectl config current-context prints")
		}
	}
	s.settings.AllowedContexts = appendUnique(s.settings.AllowedContexts, names...)
	return starlark.None, nil
}

func appendUnique(list []string, items ...string) []string {
	for _, it := range items {
		found := false
		for _, x := range list {
			if x == it {
				found = true
				break
			}
		}
		if !found {
			list = append(list, it)
		}
	}
	return list
}

func (s *state) k8sContext(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return starlark.String(s.opts.KubeContext), nil
}

func (s *state) k8sNamespace(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs); err != nil {
		return nil, err
	}
	if s.settings.Namespace != "" {
		return starlark.String(s.settings.Namespace), nil
	}
	if s.opts.KubeNamespace == "" {
		return starlark.String("default"), nil
	}
	return starlark.String(s.opts.KubeNamespace), nil
}

// defaultRegistry records the registry images are pushed to, as Tilt's
// default_registry(host, host_from_cluster=, single_name=).
func (s *state) defaultRegistry(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var host, fromCluster, singleName string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "host", &host, "host_from_cluster?", &fromCluster, "single_name?", &singleName); err != nil {
		return nil, err
	}
	if host == "" {
		return nil, errors.New("host is empty: pass the registry as HOST[:PORT][/PATH], e.g. \"localhost:5000\"")
	}
	if strings.Contains(host, "://") {
		return nil, fmt.Errorf("host %q has a scheme: write it without one, e.g. \"localhost:5000\"", host)
	}
	if prev, ok := s.settingPos["default_registry"]; ok {
		return nil, fmt.Errorf("default_registry is already set at %s: call it once", prev)
	}
	s.settingPos["default_registry"] = callPos(thread)
	s.settings.DefaultRegistry = host
	s.settings.DefaultRegistryFromCluster = fromCluster
	s.settings.DefaultRegistrySingleName = singleName
	return starlark.None, nil
}

// updateSettings records Tilt's update_settings.
func (s *state) updateSettings(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var maxParallel, upsertTimeout starlark.Value = starlark.None, starlark.None
	var suppress starlark.Value = starlark.None
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"max_parallel_updates?", &maxParallel,
		"k8s_upsert_timeout_secs?", &upsertTimeout,
		"suppress_unused_image_warnings?", &suppress); err != nil {
		return nil, err
	}
	if maxParallel != starlark.None {
		n, err := intFromValue("max_parallel_updates", maxParallel, 1, 1000)
		if err != nil {
			return nil, err
		}
		s.settings.MaxParallelUpdates = n
	}
	if upsertTimeout != starlark.None {
		n, err := intFromValue("k8s_upsert_timeout_secs", upsertTimeout, 1, 24*3600)
		if err != nil {
			return nil, err
		}
		s.settings.K8sUpsertTimeout = time.Duration(n) * time.Second
	}
	if suppress != starlark.None {
		refs, err := stringsFromValue("suppress_unused_image_warnings", suppress)
		if err != nil {
			return nil, err
		}
		s.settings.SuppressUnusedImageWarnings = appendUnique(s.settings.SuppressUnusedImageWarnings, refs...)
	}
	return starlark.None, nil
}

// ciSettings records Tilt's ci_settings; durations are strings like "30m".
func (s *state) ciSettings(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var timeout, readiness, grace starlark.Value = starlark.None, starlark.None, starlark.None
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"k8s_grace_period?", &grace,
		"timeout?", &timeout,
		"readiness_timeout?", &readiness); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		v    starlark.Value
		dst  *time.Duration
	}{
		{"timeout", timeout, &s.settings.CITimeout},
		{"readiness_timeout", readiness, &s.settings.CIReadinessTimeout},
		{"k8s_grace_period", grace, &s.settings.CIK8sGracePeriod},
	} {
		if f.v == starlark.None {
			continue
		}
		d, err := durationFromValue(f.name, f.v)
		if err != nil {
			return nil, err
		}
		*f.dst = d
	}
	return starlark.None, nil
}

// triggerModeBuiltin sets the trigger mode of every resource that does not
// set its own.
func (s *state) triggerModeBuiltin(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "trigger_mode", &v); err != nil {
		return nil, err
	}
	mode, ok, err := triggerModeFromValue(v)
	if err != nil {
		return nil, err
	}
	if ok {
		s.settings.TriggerMode = mode
	}
	return starlark.None, nil
}

// versionSettings records Tilt's version_settings; devloop checks the
// constraint against its own version only when it looks like devloop's.
func (s *state) versionSettings(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	checkUpdates := true
	var constraint string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "check_updates?", &checkUpdates, "constraint?", &constraint); err != nil {
		return nil, err
	}
	s.settings.VersionConstraint = constraint
	return starlark.None, nil
}

// dockerPruneSettings accepts Tilt's docker_prune_settings; devloop builds
// with BuildKit, whose cache has its own garbage collection, so the values
// are recorded and otherwise ignored.
func (s *state) dockerPruneSettings(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var disable bool
	var maxAge, interval starlark.Value = starlark.None, starlark.None
	var numBuilds int
	var keepRecent int
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"disable?", &disable, "max_age_mins?", &maxAge, "num_builds?", &numBuilds,
		"interval_hrs?", &interval, "keep_recent?", &keepRecent); err != nil {
		return nil, err
	}
	return starlark.None, nil
}

// watchSettings records patterns that no file watch reacts to.
func (s *state) watchSettings(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var ignore starlark.Value = starlark.None
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "ignore?", &ignore); err != nil {
		return nil, err
	}
	pats, err := stringsFromValue("ignore", ignore)
	if err != nil {
		return nil, err
	}
	s.settings.WatchIgnore = appendUnique(s.settings.WatchIgnore, pats...)
	return starlark.None, nil
}

// defaultKindClusterName is kind's own default cluster name.
const defaultKindClusterName = "kind"

// kindCluster declares the kind cluster that devloop up ensures.
func (s *state) kindCluster(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	c := Cluster{Name: defaultKindClusterName, Nodes: 1, Registry: true}
	var port starlark.Value = starlark.None
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"name?", &c.Name, "nodes?", &c.Nodes, "k8s_version?", &c.K8sVersion,
		"node_image?", &c.NodeImage, "registry?", &c.Registry,
		"registry_port?", &port, "registry_image?", &c.RegistryImage); err != nil {
		return nil, err
	}
	if s.cluster != nil {
		return nil, fmt.Errorf("kind_cluster is already declared at %s: a Devfile declares one cluster", s.clusterPos)
	}
	if !clusterNameRE.MatchString(c.Name) {
		return nil, fmt.Errorf("name %q is not a valid kind cluster name: use lower-case letters, digits and '-', starting with a letter", c.Name)
	}
	if c.Nodes < 1 || c.Nodes > 100 {
		return nil, fmt.Errorf("nodes: %d is out of range [1, 100]", c.Nodes)
	}
	if c.K8sVersion != "" && c.NodeImage != "" {
		return nil, errors.New("k8s_version and node_image are both set: node_image already fixes the Kubernetes version; pass one of them")
	}
	if c.K8sVersion != "" && !k8sVersionRE.MatchString(c.K8sVersion) {
		return nil, fmt.Errorf("k8s_version %q is not a version like \"v1.34.2\"", c.K8sVersion)
	}
	if port != starlark.None {
		p, err := intFromValue("registry_port", port, 1, 65535)
		if err != nil {
			return nil, err
		}
		c.RegistryPort = p
	}
	if !c.Registry && (c.RegistryPort != 0 || c.RegistryImage != "") {
		return nil, errors.New("registry_port or registry_image is set but registry=False: drop them or enable the registry")
	}
	if c.Registry && c.RegistryPort == 0 {
		c.RegistryPort = defaultRegistryPort
	}
	s.cluster = &c
	s.clusterPos = callPos(thread)
	return starlark.None, nil
}

// defaultRegistryPort is the host port of the local registry when
// kind_cluster() names none. It is kindcluster.DefaultRegistryPort (not 5001,
// which kind's own local-registry script takes); devfile stays free of the
// kind library, so a test in cmd/devloop keeps the two equal.
const defaultRegistryPort = 5005

// clusterNameRE is what kind accepts as a cluster name (it becomes part of
// container and network names).
var clusterNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,48}[a-z0-9])?$`)

// k8sVersionRE matches a Kubernetes release version such as v1.34.2.
var k8sVersionRE = regexp.MustCompile(`^v?\d+\.\d+(\.\d+)?$`)

// noop returns a builtin that checks its arguments and does nothing.
func noop(params ...string) builtinFunc {
	return func(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		pairs := make([]any, 0, 2*len(params))
		for _, p := range params {
			var v starlark.Value
			pairs = append(pairs, p, &v)
		}
		return starlark.None, starlark.UnpackArgs(fn.Name(), args, kwargs, pairs...)
	}
}

// enableFeature accepts Tilt's feature flags; devloop has none, so it warns.
func (s *state) enableFeature(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "feature_name", &name); err != nil {
		return nil, err
	}
	s.warnIgnored(thread, fn.Name(), fmt.Sprintf("%q", name), "devloop has no feature flags")
	return starlark.None, nil
}
