package devfile

import (
	"errors"
	"fmt"
	"time"

	"go.starlark.net/starlark"
)

// localDecl is a local_resource call.
type localDecl struct {
	Resource
}

// localResource implements local_resource.
func (s *state) localResource(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		name, cmdBat, serveCmdBat, dir, serveDir string
		cmd, serveCmd, deps                      starlark.Value = starlark.None, starlark.None, starlark.None
		triggerMode, labels, links, tags         starlark.Value = starlark.None, starlark.None, starlark.None, starlark.None
		readiness                                starlark.Value = starlark.None
		ignore, resourceDeps                     stringList
		env, serveEnv                            stringDict
		autoInit                                 = true
		allowParallel                            bool
	)
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"name", &name, "cmd?", &cmd, "deps?", &deps, "trigger_mode?", &triggerMode,
		"resource_deps?", &resourceDeps, "ignore?", &ignore, "auto_init?", &autoInit,
		"serve_cmd?", &serveCmd, "cmd_bat?", &cmdBat, "serve_cmd_bat?", &serveCmdBat,
		"allow_parallel?", &allowParallel, "links?", &links, "tags?", &tags,
		"env?", &env, "serve_env?", &serveEnv, "readiness_probe?", &readiness,
		"dir?", &dir, "serve_dir?", &serveDir, "labels?", &labels,
	); err != nil {
		return nil, err
	}
	if err := checkResourceName(name); err != nil {
		return nil, err
	}
	base := execDir(thread)
	spec := &LocalSpec{Dir: base, ServeDir: base, AllowParallel: allowParallel}
	r := Resource{Name: name, Kind: KindLocal, AutoInit: autoInit, Local: spec, Pos: callPos(thread)}
	var err error
	if spec.Cmd, err = cmdFromValue("cmd", cmd); err != nil {
		return nil, err
	}
	if spec.ServeCmd, err = cmdFromValue("serve_cmd", serveCmd); err != nil {
		return nil, err
	}
	if spec.Cmd.Empty() && spec.ServeCmd.Empty() {
		if cmdBat != "" || serveCmdBat != "" {
			return nil, errors.New("cmd and serve_cmd are empty and cmd_bat/serve_cmd_bat run only on Windows: pass cmd= or serve_cmd=")
		}
		return nil, errors.New("cmd and serve_cmd are both empty: pass cmd= (runs to completion) or serve_cmd= (keeps running)")
	}
	// As in Tilt: with no cmd there is nothing to run one at a time (serve_cmd
	// starts and keeps running), so the resource never holds other updates.
	if spec.Cmd.Empty() {
		spec.AllowParallel = true
	}
	if dir != "" {
		spec.Dir = absFrom(base, dir)
	}
	if serveDir != "" {
		spec.ServeDir = absFrom(base, serveDir)
	}
	if spec.Deps, err = pathsFromValue(base, deps); err != nil {
		return nil, fmt.Errorf("deps: %w", err)
	}
	spec.Ignore, spec.Env, spec.ServeEnv, r.ResourceDeps = ignore, env, serveEnv, resourceDeps
	if r.Labels, err = labelsFromValue(labels); err != nil {
		return nil, err
	}
	if tags != starlark.None {
		// tags= is Tilt's old name for labels.
		more, err := labelsFromValue(tags)
		if err != nil {
			return nil, fmt.Errorf("tags: %w", err)
		}
		r.Labels, _ = labelsFromValue(toStarlarkList(append(r.Labels, more...)))
	}
	if r.Links, err = linksFromValue(links); err != nil {
		return nil, err
	}
	mode, _, err := triggerModeFromValue(triggerMode)
	if err != nil {
		return nil, err
	}
	r.TriggerMode = mode
	if readiness != starlark.None {
		p, ok := readiness.(*probeValue)
		if !ok {
			return nil, fmt.Errorf("readiness_probe: got %s, want probe(...)", readiness.Type())
		}
		if spec.ServeCmd.Empty() {
			return nil, errors.New("readiness_probe is set but serve_cmd is empty: a probe checks a serve_cmd; add one or drop the probe")
		}
		pr := p.Probe
		spec.ReadinessProbe = &pr
	}
	for _, other := range s.locals {
		if other.Name == name {
			return nil, fmt.Errorf("local_resource %q is already defined at %s: give each resource its own name", name, other.Pos)
		}
	}
	s.locals = append(s.locals, &localDecl{Resource: r})
	return starlark.None, nil
}

func toStarlarkList(ss []string) *starlark.List {
	vs := make([]starlark.Value, len(ss))
	for i, x := range ss {
		vs[i] = starlark.String(x)
	}
	return starlark.NewList(vs)
}

// checkResourceName rejects names the dashboard, the API and devloop
// trigger could not address.
func checkResourceName(name string) error {
	if name == "" {
		return errors.New("name is empty: name the resource")
	}
	if len(name) > 253 {
		return fmt.Errorf("name %q is longer than 253 characters", name[:40]+"...")
	}
	for _, c := range name {
		if c == '/' || c < ' ' || c == 0x7f {
			return fmt.Errorf("name %q contains %q: use letters, digits, '-', '_', '.' or ':'", name, c)
		}
	}
	return nil
}

// probeValue is the Starlark value of probe().
type probeValue struct{ Probe }

func (p *probeValue) String() string        { return "probe(...)" }
func (p *probeValue) Type() string          { return "probe" }
func (p *probeValue) Freeze()               {}
func (p *probeValue) Truth() starlark.Bool  { return true }
func (p *probeValue) Hash() (uint32, error) { return 0, errors.New("unhashable type: probe") }

// actionValue is the Starlark value of http_get_action, tcp_socket_action and exec_action.
type actionValue struct {
	http *HTTPGetAction
	tcp  *TCPSocketAction
	exec *ExecAction
}

func (a *actionValue) String() string {
	switch {
	case a.http != nil:
		return fmt.Sprintf("http_get_action(%d)", a.http.Port)
	case a.tcp != nil:
		return fmt.Sprintf("tcp_socket_action(%d)", a.tcp.Port)
	}
	return "exec_action(...)"
}
func (a *actionValue) Type() string {
	switch {
	case a.http != nil:
		return "http_get_action"
	case a.tcp != nil:
		return "tcp_socket_action"
	}
	return "exec_action"
}
func (a *actionValue) Freeze()               {}
func (a *actionValue) Truth() starlark.Bool  { return true }
func (a *actionValue) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: %s", a.Type()) }

// probeBuiltin implements probe() with Kubernetes' defaults: period 10s,
// timeout 1s, success 1, failure 3, no initial delay.
func probeBuiltin(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	initialDelay, timeout, period, success, failure := 0, 1, 10, 1, 3
	var execV, httpV, tcpV starlark.Value = starlark.None, starlark.None, starlark.None
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"initial_delay_secs?", &initialDelay, "timeout_secs?", &timeout,
		"period_secs?", &period, "success_threshold?", &success,
		"failure_threshold?", &failure, "exec?", &execV,
		"http_get?", &httpV, "tcp_socket?", &tcpV); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		name   string
		v, min int
	}{
		{"initial_delay_secs", initialDelay, 0}, {"timeout_secs", timeout, 1},
		{"period_secs", period, 1}, {"success_threshold", success, 1}, {"failure_threshold", failure, 1},
	} {
		if c.v < c.min || c.v > 24*3600 {
			return nil, fmt.Errorf("%s: %d is out of range [%d, 86400]", c.name, c.v, c.min)
		}
	}
	p := Probe{
		InitialDelay:     time.Duration(initialDelay) * time.Second,
		Timeout:          time.Duration(timeout) * time.Second,
		Period:           time.Duration(period) * time.Second,
		SuccessThreshold: success,
		FailureThreshold: failure,
	}
	n := 0
	for _, x := range []struct {
		name string
		v    starlark.Value
	}{{"exec", execV}, {"http_get", httpV}, {"tcp_socket", tcpV}} {
		if x.v == starlark.None {
			continue
		}
		a, ok := x.v.(*actionValue)
		if !ok {
			return nil, fmt.Errorf("%s: got %s, want %s_action(...)", x.name, x.v.Type(), x.name)
		}
		switch {
		case x.name == "exec" && a.exec != nil:
			p.Exec = a.exec
		case x.name == "http_get" && a.http != nil:
			p.HTTPGet = a.http
		case x.name == "tcp_socket" && a.tcp != nil:
			p.TCPSocket = a.tcp
		default:
			return nil, fmt.Errorf("%s: got %s, want %s_action(...)", x.name, a.Type(), x.name)
		}
		n++
	}
	if n != 1 {
		return nil, errors.New("a probe needs exactly one of exec=, http_get= or tcp_socket=")
	}
	return &probeValue{p}, nil
}

// httpGetActionBuiltin implements http_get_action(port, host="localhost", scheme="http", path="").
func httpGetActionBuiltin(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a := HTTPGetAction{Host: "localhost", Scheme: "http"}
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "port", &a.Port, "host?", &a.Host, "scheme?", &a.Scheme, "path?", &a.Path); err != nil {
		return nil, err
	}
	if err := checkPort(a.Port); err != nil {
		return nil, err
	}
	if a.Scheme != "http" && a.Scheme != "https" {
		return nil, fmt.Errorf("scheme: %q is not \"http\" or \"https\"", a.Scheme)
	}
	if a.Host == "" {
		a.Host = "localhost"
	}
	return &actionValue{http: &a}, nil
}

// tcpSocketActionBuiltin implements tcp_socket_action(port, host="localhost").
func tcpSocketActionBuiltin(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	a := TCPSocketAction{Host: "localhost"}
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "port", &a.Port, "host?", &a.Host); err != nil {
		return nil, err
	}
	if err := checkPort(a.Port); err != nil {
		return nil, err
	}
	if a.Host == "" {
		a.Host = "localhost"
	}
	return &actionValue{tcp: &a}, nil
}

// execActionBuiltin implements exec_action(command): argv, as in Kubernetes.
func execActionBuiltin(_ *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var cmdV starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "command", &cmdV); err != nil {
		return nil, err
	}
	argv, err := stringsFromValue("command", cmdV)
	if err != nil {
		return nil, err
	}
	if _, isStr := cmdV.(starlark.String); isStr {
		return nil, errors.New("command: got a string, want a list (argv), e.g. [\"sh\", \"-c\", \"test -f /tmp/ready\"]")
	}
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("command is empty: pass the argv of the check")
	}
	return &actionValue{exec: &ExecAction{Command: argv}}, nil
}

func checkPort(p int) error {
	if p < 1 || p > 65535 {
		return fmt.Errorf("port: %d is out of range [1, 65535]", p)
	}
	return nil
}
