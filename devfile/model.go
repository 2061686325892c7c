package devfile

import (
	"time"

	"go.starlark.net/syntax"
)

// Model is the typed, validated result of evaluating a Devfile. Its JSON form
// (see docs/devfile.md, "devloop config -o json") is a stable contract: fields
// may be added, never renamed or removed.
type Model struct {
	// Path is the absolute path of the main Devfile.
	Path string `json:"path"`
	// Resources in the order Tilt would show them: k8s workloads in the order
	// their YAML was registered, then local resources in declaration order.
	Resources []Resource `json:"resources"`
	// Images are the build targets that resources depend on.
	Images []Image `json:"images"`
	// Cluster is what kind_cluster() declared, or nil to use the current kube context.
	Cluster *Cluster `json:"cluster"`
	// Dependencies are the absolute paths of every file the evaluation read
	// (the Devfile, loaded files, read_file targets, watch_file, ...). A change
	// to any of them reloads the Devfile.
	Dependencies []string `json:"dependencies"`
	// Settings collects the global settings builtins.
	Settings Settings `json:"settings"`
	// Buttons are the uibutton extension's cmd_button declarations.
	Buttons []Button `json:"buttons,omitempty"`
	// Warnings are the messages of warn() and of deprecated forms.
	Warnings []string `json:"warnings,omitempty"`
	// Env is what os.putenv and assignments to os.environ set during
	// evaluation; the engine adds it to the environment of local commands
	// (Tilt changes its own process environment instead).
	Env map[string]string `json:"env,omitempty"`
}

// ResourceKind tells what a resource runs.
type ResourceKind string

const (
	KindK8s   ResourceKind = "k8s"
	KindLocal ResourceKind = "local"
)

// TriggerMode decides whether file changes update a resource by themselves.
type TriggerMode string

const (
	TriggerAuto   TriggerMode = "auto"
	TriggerManual TriggerMode = "manual"
)

// Resource is one unit shown and updated by devloop: a Kubernetes workload
// (with the objects grouped into it) or a local command.
type Resource struct {
	Name         string       `json:"name"`
	Kind         ResourceKind `json:"kind"`
	Enabled      bool         `json:"enabled"`
	Labels       []string     `json:"labels"`
	Links        []Link       `json:"links"`
	ResourceDeps []string     `json:"resource_deps"`
	TriggerMode  TriggerMode  `json:"trigger_mode"`
	// AutoInit false means the resource does not update until triggered.
	AutoInit bool `json:"auto_init"`
	// Images are the refs of Model.Images this resource uses (k8s only):
	// each image its objects deploy, followed (depth first) by the Devfile
	// images it builds from, transitively (Dockerfile FROM, COPY --from,
	// RUN --mount=from, a build arg naming one; custom_build image_deps),
	// as Tilt lists a resource's image targets.
	Images       []string      `json:"images"`
	PortForwards []PortForward `json:"port_forwards"`
	// Objects are the Kubernetes objects deployed with this resource (k8s
	// only), in apply order: Tilt's kind order (Namespace, ResourceQuota,
	// StorageClass, CustomResourceDefinition, ..., Service, ..., Deployment,
	// StatefulSet, CronJob, PodDisruptionBudget), then other kinds, each in
	// YAML order.
	Objects []Object `json:"objects"`
	// K8s holds the Kubernetes-only settings; nil for local resources.
	K8s *K8sSpec `json:"k8s,omitempty"`
	// Local holds the local-only settings; nil for k8s resources.
	Local *LocalSpec `json:"local,omitempty"`
	// Pos is where the resource was declared (local_resource, k8s_resource
	// or the k8s_yaml that produced it), for validation errors; not part of
	// the JSON contract.
	Pos syntax.Position `json:"-"`
}

// K8sSpec holds what only a Kubernetes resource has.
type K8sSpec struct {
	ExtraPodSelectors []map[string]string `json:"extra_pod_selectors,omitempty"`
	// PodReadiness is "wait", "ignore", "succeeded" (Jobs: ready once
	// complete) or "" (the default: wait when the resource has a workload,
	// ignore otherwise).
	PodReadiness string `json:"pod_readiness,omitempty"`
	// DiscoveryStrategy is k8s_resource(discovery_strategy=): "" or
	// "default" (pods owned by the deployed objects, plus
	// ExtraPodSelectors), "selectors-only" (ExtraPodSelectors only).
	DiscoveryStrategy string `json:"discovery_strategy,omitempty"`
}

// Object is one Kubernetes object of a resource.
type Object struct {
	APIVersion string `json:"api_version"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Namespace  string `json:"namespace,omitempty"`
	// YAML is the object as the Devfile produced it (one document).
	YAML string `json:"-"`
}

// LocalSpec holds what only a local resource has.
type LocalSpec struct {
	Cmd      Cmd               `json:"cmd"`
	ServeCmd Cmd               `json:"serve_cmd"`
	Dir      string            `json:"dir"`
	Env      map[string]string `json:"env,omitempty"`
	ServeDir string            `json:"serve_dir"`
	ServeEnv map[string]string `json:"serve_env,omitempty"`
	// Deps are absolute paths; a change under any of them re-runs cmd and
	// restarts serve_cmd.
	Deps   []string `json:"deps"`
	Ignore []string `json:"ignore,omitempty"`
	// AllowParallel lets the update run while others run: allow_parallel=,
	// and always true when Cmd is empty (only serve_cmd), as in Tilt.
	AllowParallel  bool   `json:"allow_parallel"`
	ReadinessProbe *Probe `json:"readiness_probe,omitempty"`
}

// Cmd is a command: Argv is what is executed. A Devfile string becomes
// ["sh", "-c", s] as in Tilt; a list is taken as argv.
type Cmd struct {
	Argv []string `json:"argv,omitempty"`
}

// Empty reports whether the command is unset.
func (c Cmd) Empty() bool { return len(c.Argv) == 0 }

// Probe decides when a serve_cmd is ready, with Kubernetes probe semantics.
type Probe struct {
	InitialDelay     time.Duration    `json:"initial_delay"`
	Timeout          time.Duration    `json:"timeout"`
	Period           time.Duration    `json:"period"`
	SuccessThreshold int              `json:"success_threshold"`
	FailureThreshold int              `json:"failure_threshold"`
	HTTPGet          *HTTPGetAction   `json:"http_get,omitempty"`
	TCPSocket        *TCPSocketAction `json:"tcp_socket,omitempty"`
	Exec             *ExecAction      `json:"exec,omitempty"`
}

// HTTPGetAction probes with an HTTP GET; any 2xx or 3xx status is success.
type HTTPGetAction struct {
	Host   string `json:"host"`
	Port   int    `json:"port"`
	Path   string `json:"path"`
	Scheme string `json:"scheme"`
}

// TCPSocketAction probes by opening a TCP connection.
type TCPSocketAction struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

// ExecAction probes by running a command; exit 0 is success.
type ExecAction struct {
	Command []string `json:"command"`
}

// PortForward forwards Host:Local on this machine to Container in the pod.
type PortForward struct {
	Host      string `json:"host"`
	Local     int    `json:"local"`
	Container int    `json:"container"`
	Name      string `json:"name,omitempty"`
	LinkPath  string `json:"link_path,omitempty"`
}

// Link is a URL shown with a resource.
type Link struct {
	URL  string `json:"url"`
	Name string `json:"name,omitempty"`
}

// ImageKind tells how an image is built.
type ImageKind string

const (
	ImageDocker ImageKind = "docker"
	ImageCustom ImageKind = "custom"
)

// Image is a build target: docker_build or custom_build.
type Image struct {
	Ref  string    `json:"ref"`
	Kind ImageKind `json:"kind"`
	// Context is the absolute build context directory (docker_build).
	Context string `json:"context"`
	// Dockerfile is the absolute Dockerfile path, empty when
	// DockerfileContents is set.
	Dockerfile         string            `json:"dockerfile"`
	DockerfileContents string            `json:"dockerfile_contents,omitempty"`
	BuildArgs          map[string]string `json:"build_args,omitempty"`
	Target             string            `json:"target,omitempty"`
	Only               []string          `json:"only,omitempty"`
	Ignore             []string          `json:"ignore,omitempty"`
	Entrypoint         []string          `json:"entrypoint,omitempty"`
	Platform           string            `json:"platform,omitempty"`
	SSH                []string          `json:"ssh,omitempty"`
	Secret             []string          `json:"secret,omitempty"`
	LiveUpdate         []LiveUpdateStep  `json:"live_update"`
	// custom_build only.
	Command          Cmd      `json:"command,omitempty"`
	Deps             []string `json:"deps,omitempty"`
	Tag              string   `json:"tag,omitempty"`
	DisablePush      bool     `json:"disable_push,omitempty"`
	SkipsLocalDocker bool     `json:"skips_local_docker,omitempty"`
	// RestartOnChange is set by the restart_process extension
	// (docker_build_with_restart): the container's process restarts after a
	// live update, as restart_container() asks.
	RestartOnChange bool `json:"restart_on_change,omitempty"`
	// RestartTrigger (absolute paths), when set with RestartOnChange, limits
	// the restart to live updates that change one of these files
	// (docker_build_with_restart(trigger=)).
	RestartTrigger []string `json:"restart_trigger,omitempty"`
	// ContainerArgs replace the container's args when set (docker_build and
	// custom_build container_args=).
	ContainerArgs []string `json:"container_args,omitempty"`
	// docker_build's less common build options, passed to BuildKit.
	Network    string   `json:"network,omitempty"`
	ExtraTags  []string `json:"extra_tags,omitempty"`
	CacheFrom  []string `json:"cache_from,omitempty"`
	Pull       bool     `json:"pull,omitempty"`
	ExtraHosts []string `json:"extra_hosts,omitempty"`
	// custom_build only: the working directory (absolute) and extra
	// environment of Command, the file the command writes the built ref to
	// (absolute, outputs_image_ref_to=), and refs of images it needs first.
	Dir               string            `json:"dir,omitempty"`
	Env               map[string]string `json:"env,omitempty"`
	OutputsImageRefTo string            `json:"outputs_image_ref_to,omitempty"`
	ImageDeps         []string          `json:"image_deps,omitempty"`
	// MatchInEnvVars asks to replace the ref in container env vars too.
	MatchInEnvVars bool `json:"match_in_env_vars,omitempty"`
	// Pos is where docker_build or custom_build was called; not part of the
	// JSON contract.
	Pos syntax.Position `json:"-"`
}

// LiveUpdateStepType names a live_update step.
type LiveUpdateStepType string

const (
	StepFallBackOn       LiveUpdateStepType = "fall_back_on"
	StepInitialSync      LiveUpdateStepType = "initial_sync"
	StepSync             LiveUpdateStepType = "sync"
	StepRun              LiveUpdateStepType = "run"
	StepRestartContainer LiveUpdateStepType = "restart_container"
)

// LiveUpdateStep is one step of an image's live_update, in Devfile order.
type LiveUpdateStep struct {
	Type LiveUpdateStepType `json:"type"`
	// Paths are absolute local paths (fall_back_on).
	Paths []string `json:"paths,omitempty"`
	// Local is an absolute local path and Remote an absolute container path (sync).
	Local  string `json:"local,omitempty"`
	Remote string `json:"remote,omitempty"`
	// Cmd and Trigger (absolute local paths) for run.
	Cmd     Cmd      `json:"cmd,omitempty"`
	Trigger []string `json:"trigger,omitempty"`
	// EchoOff hides the run command from the log (run(echo_off=True)).
	EchoOff bool `json:"echo_off,omitempty"`
}

// Cluster is what kind_cluster() declares.
type Cluster struct {
	Name          string `json:"name"`
	Nodes         int    `json:"nodes"`
	K8sVersion    string `json:"k8s_version,omitempty"`
	NodeImage     string `json:"node_image,omitempty"`
	Registry      bool   `json:"registry"`
	RegistryPort  int    `json:"registry_port,omitempty"`
	RegistryImage string `json:"registry_image,omitempty"`
}

// Settings collects the global settings builtins.
type Settings struct {
	// AllowedContexts are the kube contexts allow_k8s_contexts() named.
	AllowedContexts []string `json:"allowed_contexts,omitempty"`
	// DefaultRegistry is default_registry()'s host, empty when unset.
	DefaultRegistry string `json:"default_registry,omitempty"`
	// MaxParallelUpdates from update_settings (default 3, as in Tilt).
	MaxParallelUpdates int `json:"max_parallel_updates"`
	// K8sUpsertTimeout from update_settings (default 30s).
	K8sUpsertTimeout time.Duration `json:"k8s_upsert_timeout"`
	// CITimeout and CIReadinessTimeout from ci_settings (0 means the CLI default).
	CITimeout          time.Duration `json:"ci_timeout,omitempty"`
	CIReadinessTimeout time.Duration `json:"ci_readiness_timeout,omitempty"`
	// WatchIgnore are watch_settings(ignore=) patterns, relative to the Devfile's directory.
	WatchIgnore []string `json:"watch_ignore,omitempty"`
	// Namespace is k8s_namespace()'s answer when the Devfile changed it, else "".
	Namespace string `json:"namespace,omitempty"`
	// DefaultRegistryFromCluster and DefaultRegistrySingleName are
	// default_registry()'s host_from_cluster= and single_name=.
	DefaultRegistryFromCluster string `json:"default_registry_from_cluster,omitempty"`
	DefaultRegistrySingleName  string `json:"default_registry_single_name,omitempty"`
	// SuppressUnusedImageWarnings are the refs update_settings() named.
	SuppressUnusedImageWarnings []string `json:"suppress_unused_image_warnings,omitempty"`
	// CIK8sGracePeriod is ci_settings(k8s_grace_period=) (0 means the CLI default).
	CIK8sGracePeriod time.Duration `json:"ci_k8s_grace_period,omitempty"`
	// TriggerMode is what trigger_mode() set, "" when not called; resources
	// that set none get it (already applied to Resources).
	TriggerMode TriggerMode `json:"trigger_mode,omitempty"`
	// VersionConstraint is version_settings(constraint=), a semver range.
	VersionConstraint string `json:"version_constraint,omitempty"`
}

// Button is a cmd_button from the uibutton extension.
type Button struct {
	Name     string   `json:"name"`
	Resource string   `json:"resource,omitempty"`
	Argv     []string `json:"argv"`
	Text     string   `json:"text"`
	Dir      string   `json:"dir,omitempty"`
	Env      []string `json:"env,omitempty"`
	// Location is "resource" (shown with Resource) or "nav" (the top bar).
	Location string `json:"location,omitempty"`
	IconName string `json:"icon_name,omitempty"`
	IconSVG  string `json:"icon_svg,omitempty"`
	// Inputs are shown as a form; their values reach Argv's process as
	// environment variables named by ButtonInput.Name.
	Inputs               []ButtonInput `json:"inputs,omitempty"`
	Disabled             bool          `json:"disabled,omitempty"`
	RequiresConfirmation bool          `json:"requires_confirmation,omitempty"`
}

// ButtonInput is a form field of a cmd_button: text_input, bool_input or
// choice_input.
type ButtonInput struct {
	Name  string `json:"name"`
	Label string `json:"label,omitempty"`
	// Type is "text", "bool" or "choice".
	Type string `json:"type"`
	// Default is the initial value ("true"/"false" for bool inputs).
	Default     string `json:"default,omitempty"`
	Placeholder string `json:"placeholder,omitempty"`
	// TrueString and FalseString are what a bool input sets ("true" and
	// "false" when empty).
	TrueString  string   `json:"true_string,omitempty"`
	FalseString string   `json:"false_string,omitempty"`
	Choices     []string `json:"choices,omitempty"`
}

// Resource returns the resource with the given name, or nil.
func (m *Model) Resource(name string) *Resource {
	for i := range m.Resources {
		if m.Resources[i].Name == name {
			return &m.Resources[i]
		}
	}
	return nil
}

// Image returns the image with the given ref, or nil.
func (m *Model) Image(ref string) *Image {
	for i := range m.Images {
		if m.Images[i].Ref == ref {
			return &m.Images[i]
		}
	}
	return nil
}
