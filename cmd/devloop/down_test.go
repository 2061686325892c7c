package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devloop-dev/devloop/kube"
)

// fakeKube records what devloop down asked of kube and replays results.
type fakeKube struct {
	cfg     *kube.Config
	objs    []string
	opts    kube.DownOptions
	results []kube.DownResult
	err     error
}

func (f *fakeKube) DeleteManaged(_ context.Context, objs []*unstructured.Unstructured, opts kube.DownOptions) ([]kube.DownResult, error) {
	for _, o := range objs {
		f.objs = append(f.objs, o.GetKind()+"/"+o.GetName())
	}
	f.opts = opts
	return f.results, f.err
}

type fakeClusterDeleter struct{ deleted []string }

func (f *fakeClusterDeleter) Delete(_ context.Context, name string) error {
	f.deleted = append(f.deleted, name)
	return nil
}

const downYAML = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
`

func TestDown(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	results := []kube.DownResult{
		{Ref: kube.Ref{Kind: "Deployment", Name: "web", Namespace: "shop"}, Action: kube.DownDeleted},
		{Ref: kube.Ref{Kind: "Namespace", Name: "shop"}, Action: kube.DownKept, Why: "a Namespace (pass --delete-namespaces to delete it and everything in it)"},
	}
	tests := []struct {
		name    string
		devfile string
		cfg     downConfig
		kubeErr error
		// context is the kube context down must use; "-" means no kube client.
		context string
		objs    []string
		deleted []string
		out     []string
		err     string
	}{
		{
			name:    "objects of the kind cluster",
			devfile: "kind_cluster(name='dev')\nk8s_yaml('app.yaml')\n",
			context: "kind-dev",
			objs:    []string{"Deployment/web", "Namespace/shop"},
			out:     []string{"deleted  deployment/web in namespace shop", "kept     namespace/shop: a Namespace"},
		},
		{
			name:    "current context, namespaces and cluster",
			devfile: "k8s_yaml('app.yaml')\n",
			cfg:     downConfig{deleteNamespaces: true, cluster: true},
			context: "",
			objs:    []string{"Deployment/web", "Namespace/shop"},
			err:     "declares no kind_cluster()",
		},
		{
			name:    "--cluster deletes the kind cluster",
			devfile: "kind_cluster()\nlocal_resource('x', cmd='true')\n",
			cfg:     downConfig{cluster: true},
			context: "-",
			deleted: []string{"kind"},
			out:     []string{"deploys no Kubernetes objects"},
		},
		{
			name:    "--context and --namespace",
			devfile: "k8s_yaml('app.yaml')\n",
			cfg:     downConfig{kube: kubeFlags{context: "team-ctx", namespace: "team"}},
			context: "team-ctx",
			objs:    []string{"Deployment/web", "Namespace/shop"},
		},
		{
			name:    "--context other than the kind_cluster's",
			devfile: "kind_cluster(name='dev')\nk8s_yaml('app.yaml')\n",
			cfg:     downConfig{kube: kubeFlags{context: "prod"}},
			context: "-",
			err:     "--context prod: the Devfile declares kind_cluster()",
		},
		{
			name:    "deletion errors are returned",
			devfile: "kind_cluster(name='dev')\nk8s_yaml('app.yaml')\n",
			kubeErr: errors.New("deleting deployment/web: forbidden"),
			context: "kind-dev",
			objs:    []string{"Deployment/web", "Namespace/shop"},
			err:     "forbidden",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeDevfile(t, tt.devfile)
			if err := os.WriteFile(filepath.Join(filepath.Dir(path), "app.yaml"), []byte(downYAML), 0o644); err != nil {
				t.Fatal(err)
			}
			fk := &fakeKube{results: results, err: tt.kubeErr}
			fc := &fakeClusterDeleter{}
			cfg := tt.cfg
			cfg.file = path
			cfg.newKube = func(c kube.Config) (objectDeleter, error) { fk.cfg = &c; return fk, nil }
			cfg.clusters = fc
			var out bytes.Buffer
			err := runDown(context.Background(), cfg, Streams{Out: &out, Err: &out})
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("runDown(%s) = %v, want error containing %q; output:\n%s", tt.name, err, tt.err, out.String())
			}
			switch {
			case tt.context == "-" && fk.cfg != nil:
				t.Errorf("runDown(%s) made a kube client for %+v, want none", tt.name, *fk.cfg)
			case tt.context != "-" && (fk.cfg == nil || fk.cfg.Context != tt.context):
				t.Errorf("runDown(%s) kube config = %+v, want context %q", tt.name, fk.cfg, tt.context)
			case fk.cfg != nil && fk.cfg.Namespace != tt.cfg.kube.namespace:
				t.Errorf("runDown(%s) kube namespace = %q, want %q (--namespace)", tt.name, fk.cfg.Namespace, tt.cfg.kube.namespace)
			}
			if strings.Join(fk.objs, " ") != strings.Join(tt.objs, " ") || fk.opts.DeleteNamespaces != tt.cfg.deleteNamespaces {
				t.Errorf("runDown(%s): DeleteManaged(%v, %+v), want (%v, DeleteNamespaces=%v)", tt.name, fk.objs, fk.opts, tt.objs, tt.cfg.deleteNamespaces)
			}
			if strings.Join(fc.deleted, " ") != strings.Join(tt.deleted, " ") {
				t.Errorf("runDown(%s): cluster Delete(%v), want %v", tt.name, fc.deleted, tt.deleted)
			}
			for _, w := range tt.out {
				if !strings.Contains(out.String(), w) {
					t.Errorf("runDown(%s) output lacks %q:\n%s", tt.name, w, out.String())
				}
			}
		})
	}
}
