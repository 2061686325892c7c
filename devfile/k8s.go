package devfile

import "go.starlark.net/starlark"

// k8sState records what the Kubernetes builtins (k8s_yaml, k8s_resource, helm,
// kustomize, filter_yaml, workload_to_resource_function, ...) were given.
type k8sState struct{}

// k8sBuiltins returns the Kubernetes builtins, bound to s.
func (s *state) k8sBuiltins() starlark.StringDict { return starlark.StringDict{} }

// finishK8s turns the recorded Kubernetes calls into resources of m (after
// evaluation, before validation), matching m.Images to workloads.
func (s *state) finishK8s(m *Model) error { return nil }
