package kube

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestReadLogLines(t *testing.T) {
	pod := PodRef{Namespace: "dev", Name: "web-1"}
	t1 := "2026-01-01T00:00:01.000000001Z"
	t2 := "2026-01-01T00:00:02Z"
	tests := []struct {
		name  string
		in    string
		after time.Time
		want  []string
	}{
		{name: "timestamps stripped", in: t1 + " hello\n" + t2 + " world\n", want: []string{"hello", "world"}},
		{name: "last line without newline", in: t1 + " a\n" + t2 + " b", want: []string{"a", "b"}},
		{name: "lines already sent are skipped", in: t1 + " old\n" + t2 + " new\n", after: mustTime(t, t1), want: []string{"new"}},
		{name: "no timestamp kept whole", in: "plain line\n", want: []string{"plain line"}},
		{name: "empty line kept", in: t1 + " \n", want: []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			_, err := readLogLines(strings.NewReader(tt.in), pod, "app", tt.after, func(l LogLine) {
				if l.Pod != pod || l.Container != "app" {
					t.Errorf("readLogLines line from %v/%s, want %v/app", l.Pod, l.Container, pod)
				}
				got = append(got, l.Text)
			})
			if err != nil || strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("readLogLines(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTailBuffer(t *testing.T) {
	tb := &tailBuffer{max: 5}
	for _, s := range []string{"ab", "cd", "efg"} {
		if _, err := tb.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if got := tb.String(); got != "cdefg" {
		t.Errorf("tailBuffer after abcdefg = %q, want %q", got, "cdefg")
	}
}

func TestExecErrorMessage(t *testing.T) {
	err := &ExecError{Argv: []string{"sh", "-c", "make"}, ExitCode: 2, Output: "make: *** no rule\n"}
	if got, want := err.Error(), `command "sh -c make" exited with code 2: make: *** no rule`; got != want {
		t.Errorf("ExecError.Error() = %q, want %q", got, want)
	}
}

func TestLocalRegistry(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "local-registry-hosting", Namespace: "kube-public"},
		Data: map[string]string{"localRegistryHosting.v1": "host: localhost:5005\n"}}
	tests := []struct {
		name string
		cs   *fake.Clientset
		want string
	}{
		{name: "present", cs: fake.NewClientset(cm), want: "localhost:5005"},
		{name: "absent", cs: fake.NewClientset(), want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(Config{Context: "kind-x"}, nil, tt.cs, nil, nil)
			got, err := c.LocalRegistry(t.Context())
			host := ""
			if got != nil {
				host = got.Host
			}
			if err != nil || host != tt.want {
				t.Errorf("LocalRegistry() = %+v, %v; want host %q", got, err, tt.want)
			}
		})
	}
}

func TestPickPod(t *testing.T) {
	target := Target{Applied: []Applied{{TemplateHashes: []string{"h1"}}}}
	tests := []struct {
		name string
		pods []*corev1.Pod
		want string
	}{
		{name: "none", want: ""},
		{name: "newest ready", pods: []*corev1.Pod{testPod("a", createdAt(1), ready), testPod("b", createdAt(2), ready)}, want: "b"},
		{name: "ready over newer running", pods: []*corev1.Pod{testPod("a", createdAt(1), ready), testPod("b", createdAt(2), running)}, want: "a"},
		{name: "running when none ready", pods: []*corev1.Pod{testPod("a", createdAt(1), running)}, want: "a"},
		{name: "current rollout first", pods: []*corev1.Pod{testPod("old", hash("h0"), createdAt(3), ready), testPod("a", createdAt(1), running)}, want: "a"},
		{name: "newer rollout than the target", pods: []*corev1.Pod{testPod("next", hash("h2"), createdAt(3), running), testPod("next-ready", hash("h2"), createdAt(2), ready)}, want: "next-ready"},
		{name: "not terminating", pods: []*corev1.Pod{testPod("a", ready, func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{} })}, want: ""},
		{name: "not pending", pods: []*corev1.Pod{testPod("a")}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pickPod(tt.pods, target); got.Name != tt.want {
				t.Errorf("pickPod(%s) = %q, want %q", tt.name, got.Name, tt.want)
			}
		})
	}
}

func TestForwardLocalPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	c := newClient(Config{Context: "kind-x"}, nil, fake.NewClientset(), nil, nil)
	defer c.Close()
	err = c.Forward(t.Context(), Target{}, ForwardSpec{LocalPort: port, ContainerPort: 80}, nil)
	if err == nil || !strings.Contains(err.Error(), "local port "+strconv.Itoa(port)+" is in use") {
		t.Errorf("Forward(busy port %d) = %v, want the port-in-use error", port, err)
	}
}

func TestLogsFollowsContainers(t *testing.T) {
	pod := testPod("web-1", ready)
	cs := fake.NewClientset(pod)
	c := newClient(Config{Context: "kind-x", Namespace: "dev"}, nil, cs, nil, nil)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	lines := make(chan LogLine, 16)
	done := make(chan error, 1)
	target := Target{Applied: []Applied{{Ref: Ref{Kind: "Pod", Name: "web-1", Namespace: "dev", UID: pod.UID}, RunsPods: true}}}
	go func() { done <- c.Logs(ctx, target, func(l LogLine) { lines <- l }) }()
	// The fake clientset answers every log request with "fake logs".
	select {
	case l := <-lines:
		if l.Text != "fake logs" || l.Pod.Name != "web-1" || l.Container != "app" {
			t.Errorf("Logs line = %+v, want web-1/app: fake logs", l)
		}
	case <-ctx.Done():
		t.Fatal("Logs: no line")
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Logs after cancel = %v, want context.Canceled", err)
	}
}
