package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/web"
)

// fakeRunner records the commands it runs and replays scripted answers,
// keyed by the docker subcommand ("info", "inspect").
type fakeRunner struct {
	out   map[string]string
	err   map[string]error
	block bool // wait for ctx.Done() instead of answering
	calls [][]string
}

func (f *fakeRunner) Run(ctx context.Context, argv ...string) (string, error) {
	f.calls = append(f.calls, argv)
	if f.block {
		<-ctx.Done()
		return "", fmt.Errorf("%s: %w", strings.Join(argv, " "), ctx.Err())
	}
	return f.out[argv[1]], f.err[argv[1]]
}

// check is what a test asserts about a Result: its status and words that
// its found text and its fix contain.
type check struct {
	status Status
	found  string
	fix    string
}

func (c check) match(t *testing.T, call string, r Result) {
	t.Helper()
	if r.Status != c.status || !strings.Contains(r.Found, c.found) || !strings.Contains(r.Fix, c.fix) || (c.fix == "" && r.Fix != "") {
		t.Errorf("%s = %s, want status %s, found containing %q, fix containing %q", call, r, c.status.Symbol(), c.found, c.fix)
	}
}

func TestCheckDevfile(t *testing.T) {
	k8s := devfile.Resource{Name: "web", Kind: devfile.KindK8s}
	local := devfile.Resource{Name: "gen", Kind: devfile.KindLocal}
	tests := []struct {
		name string
		m    *devfile.Model
		err  error
		want check
	}{
		{"missing", nil, fmt.Errorf("Devfile /p/Devfile: %w", fs.ErrNotExist), check{Fail, "/p/Devfile", "pass the Devfile with -f PATH"}},
		{"eval error", nil, errors.New("/p/Devfile:3:7: local_resource: got 0 arguments, want at least 1"),
			check{Fail, "/p/Devfile:3:7: local_resource", "correct the Devfile"}},
		{"local only", &devfile.Model{Path: "/p/Devfile", Resources: []devfile.Resource{local, local}}, nil,
			check{OK, "/p/Devfile evaluates: 2 local resources, 0 k8s resources, 0 images", ""}},
		{"kind cluster", &devfile.Model{Path: "/p/Devfile", Resources: []devfile.Resource{k8s}, Images: []devfile.Image{{Ref: "web"}}, Cluster: &devfile.Cluster{Name: "dev"}}, nil,
			check{OK, "0 local resources, 1 k8s resource, 1 image, kind_cluster \"dev\"", ""}},
		{"kube context", &devfile.Model{Path: "/p/Devfile", Resources: []devfile.Resource{k8s}}, nil,
			check{OK, "1 k8s resource, 0 images, the current kube context", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.match(t, fmt.Sprintf("checkDevfile(%s)", tt.name), checkDevfile(tt.m, tt.err))
		})
	}
}

func TestDockerNeed(t *testing.T) {
	docker := []devfile.Image{{Ref: "web", Kind: devfile.ImageDocker}}
	custom := []devfile.Image{{Ref: "web", Kind: devfile.ImageCustom}}
	tests := []struct {
		name     string
		m        *devfile.Model
		host     string
		want     string
		buildkit bool
	}{
		{"nothing", &devfile.Model{}, "", "", false},
		{"kind", &devfile.Model{Cluster: &devfile.Cluster{Name: "dev"}}, "", `kind_cluster "dev" runs in docker`, false},
		{"images without BUILDKIT_HOST", &devfile.Model{Images: docker}, "", "devloop's buildkitd container", true},
		{"images with BUILDKIT_HOST", &devfile.Model{Images: docker}, "tcp://b:1234", "", true},
		{"BUILDKIT_HOST in docker", &devfile.Model{Images: docker}, "docker-container://bk", "BUILDKIT_HOST is a docker container", true},
		{"custom_build only", &devfile.Model{Images: custom}, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dockerNeed(tt.m, tt.host); (got == "") != (tt.want == "") || !strings.Contains(got, tt.want) {
				t.Errorf("dockerNeed(%s, %q) = %q, want %q", tt.name, tt.host, got, tt.want)
			}
			if got := needsBuildKit(tt.m); got != tt.buildkit {
				t.Errorf("needsBuildKit(%s) = %v, want %v", tt.name, got, tt.buildkit)
			}
		})
	}
}

func TestCheckDocker(t *testing.T) {
	notFound := &exec.Error{Name: "docker", Err: exec.ErrNotFound}
	tests := []struct {
		name  string
		need  string
		run   *fakeRunner
		want  check
		calls int
	}{
		{"not needed", "", &fakeRunner{}, check{OK, "not needed", ""}, 0},
		{"answering", "kind", &fakeRunner{out: map[string]string{"info": "27.3.1\n"}}, check{OK, "daemon 27.3.1 answering; needed: kind", ""}, 1},
		{"no CLI", "kind", &fakeRunner{err: map[string]error{"info": fmt.Errorf("docker info: %w", notFound)}}, check{Fail, "not on PATH", "install Docker"}, 1},
		{"daemon down", "kind", &fakeRunner{err: map[string]error{"info": errors.New("docker info: exit status 1: Cannot connect to the Docker daemon")}},
			check{Fail, "not answering (docker info: exit status 1: Cannot connect", "sudo systemctl start docker"}, 1},
		{"permission", "kind", &fakeRunner{err: map[string]error{"info": errors.New("docker info: exit status 1: permission denied while trying to connect")}},
			check{Fail, "refuses this user", "usermod -aG docker"}, 1},
		{"no version", "kind", &fakeRunner{out: map[string]string{"info": "\n"}}, check{Fail, "not answering", "start docker"}, 1},
		{"stuck", "kind", &fakeRunner{block: true}, check{Fail, "did not answer within 1ms", "restart"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := checkDocker(context.Background(), tt.run, "docker", time.Millisecond, tt.need)
			tt.want.match(t, fmt.Sprintf("checkDocker(%s)", tt.name), r)
			if len(tt.run.calls) != tt.calls {
				t.Errorf("checkDocker(%s) ran %q, want %d command(s)", tt.name, tt.run.calls, tt.calls)
			}
			if tt.calls > 0 && strings.Join(tt.run.calls[0], " ") != "docker info --format {{.ServerVersion}}" {
				t.Errorf("checkDocker(%s) ran %q, want docker info --format {{.ServerVersion}}", tt.name, tt.run.calls[0])
			}
		})
	}
}

// fakeDial records where it dials and fails with err, or connects to a pipe.
type fakeDial struct {
	err     error
	network string
	address string
}

func (f *fakeDial) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	f.network, f.address = network, address
	if f.err != nil {
		return nil, f.err
	}
	c1, c2 := net.Pipe()
	c2.Close()
	return c1, nil
}

func TestCheckBuildKit(t *testing.T) {
	refused := errors.New("connect: connection refused")
	noAnswer := errors.New("rpc error: code = Unavailable")
	tests := []struct {
		name    string
		host    string
		need    bool
		dialErr error
		ping    *fakePing // nil: no BuildKit client
		run     *fakeRunner
		want    check
		dialed  string // network address
		pinged  bool
	}{
		{"unset needed", "", true, nil, &fakePing{}, &fakeRunner{}, check{OK, "devloop starts its own buildkitd", ""}, "", false},
		{"unset not needed", "", false, nil, &fakePing{}, &fakeRunner{}, check{OK, "not needed", ""}, "", false},
		{"unix", "unix:///run/buildkit/buildkitd.sock", true, nil, nil, &fakeRunner{}, check{OK, "unix:///run/buildkit/buildkitd.sock: it accepts connections", ""}, "unix /run/buildkit/buildkitd.sock", false},
		{"tcp", "tcp://127.0.0.1:1234", true, nil, nil, &fakeRunner{}, check{OK, "it accepts connections", ""}, "tcp 127.0.0.1:1234", false},
		{"tcp answers", "tcp://127.0.0.1:1234", true, nil, &fakePing{}, &fakeRunner{}, check{OK, "tcp://127.0.0.1:1234: BuildKit answers", ""}, "tcp 127.0.0.1:1234", true},
		{"tcp not BuildKit", "tcp://127.0.0.1:1234", true, nil, &fakePing{err: noAnswer}, &fakeRunner{},
			check{Fail, "it accepts connections, but does not answer as BuildKit (rpc error", "start buildkitd there"}, "tcp 127.0.0.1:1234", true},
		{"refused", "tcp://127.0.0.1:1234", true, refused, &fakePing{}, &fakeRunner{}, check{Fail, "unreachable (connect: connection refused)", "start buildkitd there"}, "tcp 127.0.0.1:1234", false},
		{"refused not needed", "tcp://127.0.0.1:1234", false, refused, &fakePing{}, &fakeRunner{}, check{Warn, "unreachable", "start buildkitd there"}, "tcp 127.0.0.1:1234", false},
		{"container running", "docker-container://bk", true, nil, nil, &fakeRunner{out: map[string]string{"inspect": "true\n"}}, check{OK, "its container is running", ""}, "", false},
		{"container stopped", "docker-container://bk", true, nil, &fakePing{}, &fakeRunner{out: map[string]string{"inspect": "false\n"}}, check{Fail, "not running", "`docker start bk`"}, "", false},
		{"container missing", "docker-container://bk", true, nil, &fakePing{}, &fakeRunner{err: map[string]error{"inspect": errors.New("No such object: bk")}}, check{Fail, "no such container", "start buildkitd there"}, "", false},
		{"kube-pod unchecked", "kube-pod://buildkitd", true, nil, nil, &fakeRunner{}, check{Warn, "not checked", ""}, "", false},
		{"kube-pod answers", "kube-pod://buildkitd", true, nil, &fakePing{}, &fakeRunner{}, check{OK, "BuildKit answers", ""}, "", true},
		{"unknown scheme", "ftp://x", true, nil, &fakePing{}, &fakeRunner{}, check{Fail, `unknown scheme "ftp"`, "use unix://"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dial := &fakeDial{err: tt.dialErr}
			var ping func(context.Context, string) error
			if tt.ping != nil {
				ping = tt.ping.Ping
			}
			r := checkBuildKit(context.Background(), tt.host, tt.need, time.Second, dial.Dial, ping, tt.run, "docker")
			tt.want.match(t, fmt.Sprintf("checkBuildKit(%q)", tt.host), r)
			if got := strings.TrimSpace(dial.network + " " + dial.address); got != tt.dialed {
				t.Errorf("checkBuildKit(%q) dialed %q, want %q", tt.host, got, tt.dialed)
			}
			if tt.ping != nil && (tt.ping.address != "") != tt.pinged {
				t.Errorf("checkBuildKit(%q) pinged %q, want pinged %v", tt.host, tt.ping.address, tt.pinged)
			}
			if tt.ping != nil && tt.pinged && tt.ping.address != tt.host {
				t.Errorf("checkBuildKit(%q) pinged %q, want %q", tt.host, tt.ping.address, tt.host)
			}
		})
	}
}

// fakePing records the address it was asked about and answers err.
type fakePing struct {
	err     error
	address string
}

func (f *fakePing) Ping(ctx context.Context, address string) error {
	f.address = address
	return f.err
}

func TestCountDirs(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"a/b/c", "d", ".git/objects/aa", "node_modules/x/y", "a/node_modules/z"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "f.go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name         string
		ctx          context.Context
		want         int
		wantComplete bool
	}{
		{"whole tree", context.Background(), 5, true}, // . a a/b a/b/c d
		{"out of time", cancelled, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, complete := countDirs(tt.ctx, os.DirFS(dir))
			if n != tt.want || complete != tt.wantComplete {
				t.Errorf("countDirs(%s) = %d, %v, want %d, %v", tt.name, n, complete, tt.want, tt.wantComplete)
			}
		})
	}
}

func TestCheckInotify(t *testing.T) {
	proc := func(watches, instances string) fs.FS {
		return fstest.MapFS{
			"max_user_watches":   {Data: []byte(watches + "\n")},
			"max_user_instances": {Data: []byte(instances + "\n")},
		}
	}
	tests := []struct {
		name     string
		proc     fs.FS
		dirs     int
		complete bool
		want     check
	}{
		{"not linux", fstest.MapFS{}, 10, true, check{OK, "not Linux", ""}},
		{"plenty", proc("524288", "128"), 1000, true, check{OK, "max_user_watches 524288, max_user_instances 128; the project has 1000 directories", ""}},
		{"one", proc("524288", "128"), 1, true, check{OK, "the project has 1 directory", ""}},
		{"too few watches", proc("8192", "128"), 10000, true,
			check{Fail, "more than the watches allowed", "`sudo sysctl -w fs.inotify.max_user_watches=524288`"}},
		{"tight", proc("15000", "128"), 10000, true, check{Warn, "little room", "fs.inotify.max_user_watches=524288"}},
		{"huge tree", proc("524288", "128"), 400000, false,
			check{Warn, "at least 400000 directories (counting stopped early)", "fs.inotify.max_user_watches=800000"}},
		{"few instances", proc("524288", "4"), 10, true, check{Fail, "fewer than 8 inotify instances", "`sudo sysctl -w fs.inotify.max_user_instances=512`"}},
		{"unreadable", proc("lots", "128"), 10, true, check{Warn, "cannot read the limits", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.match(t, fmt.Sprintf("checkInotify(%s, %d)", tt.name, tt.dirs), checkInotify(tt.proc, tt.dirs, tt.complete))
		})
	}
}

func TestCheckPort(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	heldPort := held.Addr().(*net.TCPAddr).Port
	// A port that was free a moment ago: listen, note it, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freePort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	devloop := func(port int) (web.State, error) { return web.State{Port: port, PID: 4242, Devfile: "/p/Devfile"}, nil }
	none := func(port int) (web.State, error) {
		return web.State{}, errors.New("no devloop is running on port " + strconv.Itoa(port))
	}
	tests := []struct {
		name  string
		port  int
		state func(int) (web.State, error)
		want  check
	}{
		{"free", freePort, none, check{OK, strconv.Itoa(freePort) + " is free", ""}},
		{"held by devloop", heldPort, devloop, check{Warn, "held by a running devloop (pid 4242, Devfile /p/Devfile)", "Ctrl-C in its terminal (or `kill 4242`)"}},
		{"held by another", heldPort, none, check{Fail, "in use by another program", "ss -ltnp 'sport = :" + strconv.Itoa(heldPort)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.match(t, fmt.Sprintf("checkPort(%s)", tt.name), checkPort(tt.port, tt.state))
		})
	}
}

func TestCheckKube(t *testing.T) {
	k8s := []devfile.Resource{{Name: "web", Kind: devfile.KindK8s}}
	allow := devfile.Settings{AllowedContexts: []string{"staging"}}
	tests := []struct {
		name   string
		m      *devfile.Model
		ctx    string
		server string
		err    error
		want   check
	}{
		{"no k8s", &devfile.Model{}, "prod", "https://prod", nil, check{OK, "not needed", ""}},
		{"kind cluster", &devfile.Model{Resources: k8s, Cluster: &devfile.Cluster{Name: "dev"}}, "prod", "https://prod", nil, check{OK, `kind_cluster "dev" is used`, ""}},
		{"local", &devfile.Model{Resources: k8s}, "kind-dev", "https://127.0.0.1:6443", nil, check{OK, `"kind-dev" (server https://127.0.0.1:6443) is a local cluster`, ""}},
		{"allowed", &devfile.Model{Resources: k8s, Settings: allow}, "staging", "https://staging.example.com", nil, check{OK, "allows it with allow_k8s_contexts", ""}},
		{"remote", &devfile.Model{Resources: k8s}, "prod", "https://prod.example.com", nil, check{Fail, `"prod" (server https://prod.example.com) is not a local cluster`, `allow_k8s_contexts("prod")`}},
		{"no context", &devfile.Model{Resources: k8s}, "", "", nil, check{Fail, "no current context", "kubectl config use-context"}},
		{"bad kubeconfig", &devfile.Model{Resources: k8s}, "", "", errors.New("yaml: line 3"), check{Fail, "reading kubeconfig: yaml: line 3", "repair KUBECONFIG"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.match(t, fmt.Sprintf("checkKube(%s, %q)", tt.name, tt.ctx), checkKube(tt.m, tt.ctx, tt.server, tt.err))
		})
	}
}

func TestCheckImageVars(t *testing.T) {
	env := map[string]string{"DEVLOOP_KIND_NODE_IMAGE": "mirror/node:v1", "DEVLOOP_BUILDKIT_IMAGE": "mirror/buildkit:v0"}
	var got []string
	for _, r := range checkImageVars(func(k string) string { return env[k] }) {
		got = append(got, r.String())
	}
	want := []string{
		"✓ images: DEVLOOP_KIND_NODE_IMAGE=mirror/node:v1 (kind node image)",
		"✓ images: DEVLOOP_BUILDKIT_IMAGE=mirror/buildkit:v0 (managed buildkitd image)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("checkImageVars(%v) = %q, want %q", env, got, want)
	}
}

func TestCurrentKubeContext(t *testing.T) {
	dir := t.TempDir()
	cfg := `apiVersion: v1
kind: Config
current-context: kind-dev
contexts:
- name: kind-dev
  context: {cluster: kind-dev, user: kind-dev}
clusters:
- name: kind-dev
  cluster: {server: "https://127.0.0.1:40123"}
users:
- name: kind-dev
  user: {}
`
	tests := []struct {
		name       string
		content    string
		wantName   string
		wantServer string
		wantErr    bool
	}{
		{"kind", cfg, "kind-dev", "https://127.0.0.1:40123", false},
		{"empty", "", "", "", false},
		{"broken", "current-context: [", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("KUBECONFIG", path)
			name, server, err := currentKubeContext()
			if name != tt.wantName || server != tt.wantServer || (err != nil) != tt.wantErr {
				t.Errorf("currentKubeContext(%s) = %q, %q, %v; want %q, %q, error %v", tt.name, name, server, err, tt.wantName, tt.wantServer, tt.wantErr)
			}
		})
	}
}

func TestRunningDaemon(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pid     int // 0: no state file
		wantErr string
	}{
		{"no state file", 0, "no devloop is running on port 20000"},
		{"alive", os.Getpid(), ""},
		{"gone", exited.Process.Pid, "is gone"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := 20000 + i
			if tt.pid != 0 {
				if err := web.SaveState(web.State{Port: port, PID: tt.pid, Token: "t"}); err != nil {
					t.Fatal(err)
				}
			}
			st, err := runningDaemon(port)
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("runningDaemon(%s) = %+v, %v; want error containing %q", tt.name, st, err, tt.wantErr)
			}
			if err == nil && st.PID != tt.pid {
				t.Errorf("runningDaemon(%s) = pid %d, want %d", tt.name, st.PID, tt.pid)
			}
		})
	}
}
