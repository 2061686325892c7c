package engine

import "time"

// Phase is a resource's state as shown everywhere (CLI, API, dashboard).
type Phase string

const (
	PhasePending   Phase = "pending"
	PhaseBuilding  Phase = "building"
	PhaseDeploying Phase = "deploying"
	PhaseSyncing   Phase = "syncing"
	PhaseReady     Phase = "ready"
	PhaseError     Phase = "error"
	PhaseDisabled  Phase = "disabled"
)

// View is a copied snapshot of the engine's state. Receivers own it: the
// engine never mutates a View it handed out. Its JSON form is the
// `devloop get -o json` contract (docs/api.md).
type View struct {
	// Seq increases by one with every state change; equal Seq means equal View.
	Seq     uint64        `json:"seq"`
	Devfile DevfileStatus `json:"devfile"`
	// Resources in Devfile order.
	Resources []ResourceView `json:"resources"`
	// LogSeq is the sequence number of the newest log line; a reader holding
	// an older cursor has lines to fetch with Logs.
	LogSeq uint64 `json:"log_seq"`
	// Cluster is set while the cluster does not answer.
	Cluster *ClusterStatus `json:"cluster,omitempty"`
	// Kube is where Kubernetes resources deploy, once the cluster is
	// prepared; nil before, and for a Devfile without them.
	Kube *KubeTarget `json:"kube,omitempty"`
}

// KubeTarget is the kube context and default namespace devloop deploys to,
// and the registry images are pushed to ("" when none).
type KubeTarget struct {
	Context   string `json:"context"`
	Namespace string `json:"namespace"`
	Registry  string `json:"registry,omitempty"`
}

// ClusterStatus says that the cluster does not answer, why, and since when.
type ClusterStatus struct {
	Error string    `json:"error"`
	Since time.Time `json:"since"`
}

// DevfileStatus is the Devfile's own status: the last load and its error.
type DevfileStatus struct {
	Path     string    `json:"path"`
	LoadedAt time.Time `json:"loaded_at"`
	// Error is the last failed reload's message ("PATH:LINE:COL: ..."); the
	// last good model keeps running while it is set.
	Error    string   `json:"error,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// ResourceView is one resource as the engine sees it now.
type ResourceView struct {
	Name         string   `json:"name"`
	Kind         string   `json:"kind"` // "k8s" or "local"
	Labels       []string `json:"labels"`
	Links        []Link   `json:"links"`
	ResourceDeps []string `json:"resource_deps"`
	Enabled      bool     `json:"enabled"`
	TriggerMode  string   `json:"trigger_mode"` // "auto" or "manual"
	Phase        Phase    `json:"phase"`
	// Error is the current error, empty unless Phase is error (or the last
	// update failed while the previous version keeps running).
	Error string `json:"error,omitempty"`
	// Waiting says what a pending resource waits for ("resource_deps: db").
	Waiting string `json:"waiting,omitempty"`
	// Queued are changed files waiting for a manual trigger or a free slot.
	Queued []string `json:"queued,omitempty"`
	// Current is the update in progress, nil when idle.
	Current *Update `json:"current,omitempty"`
	// LastUpdate is the last finished update, nil before the first.
	LastUpdate *Update `json:"last_update,omitempty"`
	// History holds the most recent finished updates, newest first (bounded).
	History []Update `json:"history,omitempty"`
	// Version increases whenever this resource's view changes, so that
	// subscribers can send only the resources that changed.
	Version uint64 `json:"version"`
}

// Link is a URL shown with a resource (links, port-forwards).
type Link struct {
	URL  string `json:"url"`
	Name string `json:"name,omitempty"`
}

// Update is one build/sync/deploy/run of a resource.
type Update struct {
	ID int `json:"id"`
	// Reason is "initial", "trigger", "files", "devfile", "dependency",
	// "cluster" (run again because it failed while the cluster did not
	// answer), or "catch-up" (a live update of a container that restarted
	// or was replaced, with the changes since its image was built).
	Reason string `json:"reason"`
	// Files are the changed files that caused it (bounded, relative to the
	// Devfile directory where possible).
	Files  []string  `json:"files,omitempty"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end,omitzero"`
	Result string    `json:"result"` // "running", "ok", "error", "cancelled"
	// LiveUpdate is set when files were copied into running containers
	// instead of a build and deploy.
	LiveUpdate bool   `json:"live_update,omitempty"`
	Error      string `json:"error,omitempty"`
	// Steps is the timing trace: file event, batch, then each step to ready.
	Steps []Step `json:"steps,omitempty"`
}

// Step is one timed step of an update.
type Step struct {
	Name  string    `json:"name"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"`
}

// LogLine is one line of a resource's log (or of devloop's own, Resource "").
type LogLine struct {
	Seq      uint64    `json:"seq"`
	Resource string    `json:"resource"`
	Time     time.Time `json:"time"`
	Text     string    `json:"text"`
	// Dropped is set on the marker line that stands for lines dropped by the
	// log store's bounds.
	Dropped int `json:"dropped,omitempty"`
}
