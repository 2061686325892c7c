// Package manifest is the Kubernetes machinery behind the Devfile's
// Kubernetes builtins: YAML streams split into documents and parsed into
// objects (Lists flattened), what an object says about itself (pod
// templates, container images, env values and ports, the Services that
// select its pods), selectors and image paths (filter_yaml, k8s_kind),
// resource names as Tilt derives them, the apply order, matching images in
// YAML to the images a Devfile builds, port forward strings, and rendering
// with helm and kustomize.
//
// It knows nothing of Starlark or of the devfile model: package devfile
// converts arguments and builds its model from what this package returns.
//
//	yaml.go       Split, Parse, Join, Encode, ReadFile
//	object.go     Object and what it contains; namespaces set on it
//	select.go     Selector, ParseJSONPath, ExtractPath
//	names.go      PotentialNames, UniqueNames, ApplyRank
//	images.go     ImageMatcher
//	ports.go      ParsePortForward, ValidHost, ResolveContainerPort
//	helm.go       HelmRequest (Render with the Helm SDK), DropHelmTests,
//	              LocalSubcharts
//	kustomize.go  KustomizeOptions, Kustomize
package manifest
