//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devloop-dev/devloop/internal/testkit/testenv"
)

// disableDevfile is a resource of a Deployment, a ConfigMap and the
// Namespace they are in; %s are the kind cluster's name and registry port.
const disableDevfile = `kind_cluster(name = %q, registry_port = %d)
docker_build("disable-web", ".", build_args = {"BASE": os.getenv("DEVLOOP_BASE_IMAGE", "busybox:1.36")})
k8s_yaml(blob("""
apiVersion: v1
kind: Namespace
metadata:
  name: disable-ns
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: disable-ns
data: {greeting: hello}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: disable-ns
spec:
  replicas: 1
  selector: {matchLabels: {app: disable-web}}
  template:
    metadata: {labels: {app: disable-web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: disable-web
        command: ["sleep", "3600"]
"""))
k8s_resource("web", objects = ["web-config:configmap", "disable-ns:namespace"])
`

// TestDisableTakesDown: `devloop disable web` deletes web's Deployment and
// ConfigMap and keeps its Namespace, saying so in web's log; `devloop
// enable web` applies them again and web is ready.
func TestDisableTakesDown(t *testing.T) {
	testenv.Getenv(t, "DEVLOOP_KIND_NODE_IMAGE")
	testenv.Getenv(t, "DEVLOOP_REGISTRY_IMAGE")
	testenv.Getenv(t, "BUILDKIT_HOST")
	testenv.Getenv(t, "DEVLOOP_BASE_IMAGE")
	kubectl := testenv.Getenv(t, "KUBECTL")
	goBin := testenv.LookPath(t, "go", "golang (or Go from go.dev)")
	ctx := t.Context()

	x := &example{tmp: t.TempDir()}
	x.bin = devloopBin(ctx, t, goBin, x.tmp)
	x.cluster, x.regPort = "devloop-disable-"+randHex(t), testenv.FreePort(t)
	x.dir = filepath.Join(x.tmp, "disable")
	x.devfile = filepath.Join(x.dir, "Devfile")
	x.kubeconfig = filepath.Join(x.tmp, "kubeconfig")
	x.env = devloopEnv(x.tmp, x.kubeconfig, goBin)
	if err := os.MkdirAll(x.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"Devfile":    fmt.Sprintf(disableDevfile, x.cluster, x.regPort),
		"Dockerfile": "ARG BASE=busybox:1.36\nFROM ${BASE}\n",
	} {
		if err := os.WriteFile(filepath.Join(x.dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	deleteClusterAtEnd(t, x.cluster, x.kubeconfig)
	kc := x.kubectl(kubectl)
	_, api := x.up(ctx, t)
	waitFor(ctx, t, "web ready", liveUpTimeout, allReady(api, "web"))

	// exists tells whether kubectl finds each object, as "kind/name=bool".
	exists := func(ctx context.Context) string {
		var out []string
		for _, obj := range []string{"deployment/web", "configmap/web-config", "namespace/disable-ns"} {
			_, err := kc(ctx, "get", "-n", "disable-ns", obj)
			out = append(out, fmt.Sprintf("%s=%t", obj, err == nil))
		}
		return strings.Join(out, " ")
	}
	cli := func(verb string) {
		t.Helper()
		if out, code := runDevloop(ctx, t, x.bin, x.dir, x.env, verb, "web"); code != 0 {
			t.Fatalf("devloop %s web = exit %d:\n%s", verb, code, out)
		}
	}

	cli("disable")
	gone := "deployment/web=false configmap/web-config=false namespace/disable-ns=true"
	waitFor(ctx, t, "web's objects deleted, its Namespace kept", liveStepTimeout, func(ctx context.Context) (bool, string, error) {
		s := exists(ctx)
		return s == gone, s, nil
	})
	waitFor(ctx, t, "web's log saying what went", liveStepTimeout, func(ctx context.Context) (bool, string, error) {
		l := logsOf(ctx, t, api, "web")
		var deleted string
		for line := range strings.Lines(l) {
			if strings.Contains(line, "disabled: deleted ") {
				deleted = line
			}
		}
		return strings.Contains(deleted, "deployment/web in namespace disable-ns") && strings.Contains(deleted, "configmap/web-config in namespace disable-ns") &&
			strings.Contains(l, "disabled: kept namespace/disable-ns (a Namespace"), l, nil
	})

	cli("enable")
	waitFor(ctx, t, "web ready again", liveStepTimeout, allReady(api, "web"))
	if s, want := exists(ctx), "deployment/web=true configmap/web-config=true namespace/disable-ns=true"; s != want {
		t.Errorf("objects after enable: %s, want %s", s, want)
	}
}
