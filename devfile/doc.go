// Package devfile evaluates a Devfile (a Starlark program, the language of a
// Tiltfile) into a validated Model: the resources, images, cluster and
// settings that the engine builds, deploys and watches.
//
// Load is the one way in. It evaluates the file with go.starlark.net in
// Tilt's dialect; each builtin records what it was given into a state kept
// in the thread's locals, and after evaluation the Kubernetes objects are
// grouped into resources and the whole is checked (names, resource_deps,
// live update steps) before the Model is returned.
//
// Loading is pure: no cluster, no docker, no network. What it reads from
// the outside comes in through Options (the kube context and namespace, the
// environment, the args after "--"); the only commands it runs are the
// user's local() and kustomize(kustomize_bin=) (and helm for kustomize's
// --enable-helm), and Options.NoExec refuses those; helm() renders charts
// in-process with the Helm SDK. Every file it reads is listed in
// Model.Dependencies, so the caller can watch them and load again.
//
// Loading is bounded: ctx cancels a running evaluation (Thread.Cancel, and
// the context of local() commands), Options.MaxSteps (DefaultMaxSteps)
// caps the Starlark steps and Options.MaxMemory (DefaultMaxMemory) the
// heap's growth while the Devfile runs (bounds.go). Errors in the user's files are *Error values
// that start with PATH:LINE:COL and name the builtin that failed.
//
// The files, by role:
//
//	load.go       Load, Options, the evaluation state, load(), errors into *Error
//	model.go      the Model and its types, the package's face
//	errors.go     *Error, messages for names that are not builtins
//	finish.go     after evaluation: checks, enabled resources, warnings
//	args.go       argument conversions shared by the builtins
//	builtins.go   the core builtin table; include, load_dynamic, blob, warn,
//	              fail, allow_k8s_contexts, k8s_context, k8s_namespace,
//	              default_registry, update_settings, ci_settings,
//	              trigger_mode, *_settings, kind_cluster, enable_feature
//	build.go      docker_build, custom_build and the live update steps
//	              initial_sync, fall_back_on, sync, run, restart_container
//	dockerfile.go the images a Dockerfile builds from (also the builder's
//	              image graph), for a resource's base images
//	local.go      local_resource, probe, http_get_action, tcp_socket_action,
//	              exec_action
//	link.go       link
//	files.go      read_file, read_yaml(_stream), read_json, watch_file,
//	              listdir, local
//	encoding.go   decode_yaml(_stream), encode_yaml(_stream), decode_json,
//	              encode_json
//	blob.go       the blob value
//	osmod.go      os, os.path, shlex, sys
//	configmod.go  config.define_*, config.parse, config.set_enabled_resources
//	k8s.go        k8s_yaml, k8s_resource, filter_yaml, k8s_kind,
//	              k8s_image_json_path, workload_to_resource_function
//	k8s_assemble.go  after evaluation: objects grouped into resources
//	k8s_render.go helm (Helm SDK), kustomize, and running kustomize_bin=
//	k8s_ports.go  port_forward, port_forwards=
//	ext.go        load("ext://..."): restart_process, namespace, dotenv
//	ext_configmap.go ext://configmap, ext://secret
//	ext_uibutton.go  ext://uibutton: cmd_button, text_input, bool_input,
//	              choice_input
//
// The Kubernetes machinery those builtins use (YAML objects, selectors,
// naming, image matching, helm and kustomize rendering, port forward
// strings) is in internal/manifest, which knows nothing of Starlark.
package devfile
