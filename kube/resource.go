package kube

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devloop-dev/devloop/devfile"
)

// resourceObjects decodes the objects of a Devfile k8s resource, in order,
// for Apply.
func resourceObjects(r *devfile.Resource) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, o := range r.Objects {
		objs, err := Decode([]byte(o.YAML))
		if err != nil {
			return nil, fmt.Errorf("resource %s: %s/%s: %w", r.Name, o.Kind, o.Name, err)
		}
		out = append(out, objs...)
	}
	return out, nil
}

// resourceTarget is the Target to Watch, Logs and Forward for resource r
// after Apply returned applied: its extra_pod_selectors and pod_readiness.
func resourceTarget(r *devfile.Resource, applied []Applied) Target {
	t := Target{Applied: applied}
	if r.K8s != nil {
		t.ExtraSelectors = r.K8s.ExtraPodSelectors
		t.PodReadiness = r.K8s.PodReadiness
	}
	return t
}
