// Package engine is devloop's control loop. One goroutine owns all state
// (resources, their phases, update history, queued changes) and does no
// blocking I/O; workers (local processes, builds and deploys, pod watches)
// report back on a channel. Readers get copied Views.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/devloop-dev/devloop/builder"
	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/kube"
	"github.com/devloop-dev/devloop/liveupdate"
	"github.com/devloop-dev/devloop/proc"
	"github.com/devloop-dev/devloop/watch"
)

// DefaultMaxParallelUpdates bounds concurrent updates when the Devfile does
// not say (update_settings(max_parallel_updates=)): 3, as in Tilt, keeps a
// laptop responsive while independent resources still come up together.
const DefaultMaxParallelUpdates = 3

// stopTimeout bounds how long shutdown waits for one process to stop: the
// process's grace period (proc.DefaultGrace) plus slack for the supervisor.
const stopTimeout = proc.DefaultGrace + 2*time.Second

// Loader re-evaluates the Devfile (devfile.Load with the path and options
// of the first load).
type Loader interface {
	Load(ctx context.Context) (*devfile.Model, error)
}

// LoaderFunc adapts a function to Loader.
type LoaderFunc func(ctx context.Context) (*devfile.Model, error)

// Load calls f.
func (f LoaderFunc) Load(ctx context.Context) (*devfile.Model, error) { return f(ctx) }

// Watcher watches what cfg says and sends batches to out until ctx is done.
type Watcher interface {
	Watch(ctx context.Context, cfg watch.Config, out chan<- watch.Batch) error
}

// Runner starts local processes.
type Runner interface {
	Start(spec proc.Spec) (Process, error)
}

// Process is a started local process (*proc.Process).
type Process interface {
	Done() <-chan struct{}
	Err() error
	Stop(ctx context.Context) error
}

// Checker turns a readiness probe into its check.
type Checker interface {
	Check(p *devfile.Probe, dir string, env []string) proc.Check
}

// Builder, Cluster and Forwarder are the seams Kubernetes resources use:
// the engine decides, they do the work.

// Builder builds the Devfile's images (*builder.Builder): with refs, those,
// what they build from and what builds from them, in dependency order; an
// unchanged image is a no-op.
type Builder interface {
	BuildAll(ctx context.Context, images []devfile.Image, refs ...string) (map[string]builder.Result, error)
}

var _ Builder = (*builder.Builder)(nil)

// Cluster applies a resource's objects with the built images injected
// (Devfile ref → reference to deploy) and follows the pods they run
// (*kube.Client).
type Cluster interface {
	Apply(ctx context.Context, objs []*unstructured.Unstructured, images map[string]string) ([]kube.Applied, error)
	Watch(ctx context.Context, t kube.Target, report func(kube.Status)) error
	Logs(ctx context.Context, t kube.Target, out func(kube.LogLine)) error
}

var _ Cluster = (*kube.Client)(nil)

// Forwarder runs a port-forward to a resource's pods until ctx is done
// (*kube.Client).
type Forwarder interface {
	Forward(ctx context.Context, t kube.Target, spec kube.ForwardSpec, events func(kube.ForwardEvent)) error
}

var _ Forwarder = (*kube.Client)(nil)

// Pinger tells whether the cluster answers (*kube.Client). When the
// Cluster is one, the engine pings it every pingEvery and shows a cluster
// that stops answering (View.Cluster), and when it answers again.
type Pinger interface {
	Ping(ctx context.Context) error
}

var _ Pinger = (*kube.Client)(nil)

// pingEvery is how often the cluster is pinged: a stopped cluster (docker
// stop, a laptop waking up) shows within seconds, and a GET /readyz every
// few seconds costs the API server nothing. pingTimeout bounds one ping:
// a local API server answers in milliseconds.
const (
	pingEvery   = 5 * time.Second
	pingTimeout = 3 * time.Second
)

// Syncer applies a live update plan to running containers (*sync.Updater):
// one Result per container; run steps' output goes to out.
type Syncer interface {
	Update(ctx context.Context, plan liveupdate.Plan, containers []liveupdate.Container, out io.Writer) ([]liveupdate.Result, error)
}

var _ Syncer = (*liveupdate.Updater)(nil)

// Config configures an Engine. Model is required; the zero value of every
// other field means its default.
type Config struct {
	// Model is the first, already loaded Devfile model.
	Model *devfile.Model
	// Loader reloads the Devfile when one of Model.Dependencies changes; nil
	// means the Devfile is never reloaded.
	Loader Loader
	// Watcher delivers file changes; nil means FSWatcher.
	Watcher Watcher
	// Runner starts local processes; nil means ProcRunner{} (no supervisor).
	Runner Runner
	// Checker makes readiness checks; nil means ProbeChecker{}.
	Checker Checker
	// Builder builds images, Cluster deploys and follows pods, Forwarder
	// forwards ports. Without a Cluster, Kubernetes resources show
	// KubeError (or that this command does not deploy them) as their error.
	Builder   Builder
	Cluster   Cluster
	Forwarder Forwarder
	// Syncer live-updates containers; nil means images are always rebuilt.
	Syncer Syncer
	// KubeError is why the cluster cannot be used (kind cluster creation
	// failed, a context devloop must not deploy to, ...).
	KubeError error
	// KubePending, when set, says what is being done to prepare the cluster
	// ("creating kind cluster dev"): Kubernetes resources wait, showing it,
	// until SetKube gives the Builder, Cluster and Syncer or the error.
	// The Builder, Cluster, Forwarder, Syncer and KubeError above are then
	// ignored. Local resources start at once.
	KubePending string
	// WatchIgnore are global watch ignore patterns (.devloopignore lines),
	// relative to the Devfile's directory, on top of the Devfile's own.
	WatchIgnore []string
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Engine runs the resources of a Devfile. Create it with New and start it
// with Run; every other method is safe from any goroutine.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	msgs    chan msg
	logs    *logStore
	subs    *subscribers
	view    atomic.Pointer[View]
	started atomic.Bool
	// stopped is closed when the loop has returned; workers stop sending.
	stopped chan struct{}
	// imageUsers maps image refs to the resources using them, for
	// BuildProgress; the loop replaces it on every model.
	imageUsers atomic.Pointer[map[string][]string]
	// workers counts the goroutines that own processes; Run waits for them.
	workers sync.WaitGroup
}

// New validates cfg and returns an Engine with the model's resources pending.
func New(cfg Config) (*Engine, error) {
	if cfg.Model == nil {
		return nil, errors.New("engine: no Devfile model: load one with devfile.Load first")
	}
	if cfg.Watcher == nil {
		cfg.Watcher = FSWatcher{Logger: cfg.Logger}
	}
	if cfg.Runner == nil {
		cfg.Runner = ProcRunner{}
	}
	if cfg.Checker == nil {
		cfg.Checker = ProbeChecker{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if f, ok := cfg.Cluster.(Forwarder); ok && cfg.Forwarder == nil {
		cfg.Forwarder = f
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		cfg:     cfg,
		log:     log,
		msgs:    make(chan msg),
		subs:    newSubscribers(),
		stopped: make(chan struct{}),
	}
	e.logs = newLogStore(cfg.Now, defaultLogBounds)
	v := View{Devfile: DevfileStatus{Path: cfg.Model.Path, Warnings: cfg.Model.Warnings}, Resources: []ResourceView{}}
	e.view.Store(&v)
	return e, nil
}

// Run runs the loop until ctx is done, then stops every process and returns
// once they are gone. It returns nil after a shutdown by ctx. Run may be
// called once.
func (e *Engine) Run(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("engine already running: create a new one with New")
	}
	l := newLoop(e)
	l.startPing()
	l.apply(e.cfg.Model, readImages(e.cfg.Model), "initial")
	l.schedule()
	l.publish()
	l.run(ctx)
	l.shutdown()
	close(e.stopped)
	e.workers.Wait()
	e.subs.closeAll()
	return nil
}

// Snapshot returns the latest View. The caller owns it.
func (e *Engine) Snapshot() View { return *e.view.Load() }

// Subscribe returns a channel that receives the current View and then each
// newer one. Only the latest is kept: a newer View replaces an unread one.
// The channel is closed when ctx is done or the engine stops.
func (e *Engine) Subscribe(ctx context.Context) <-chan View {
	return e.subs.add(ctx, e.stopped, e.view.Load())
}

// Logs returns up to limit lines of resource ("" for all) with Seq > after,
// oldest first.
func (e *Engine) Logs(resource string, after uint64, limit int) []LogLine {
	return e.logs.get(resource, after, limit)
}

// Kube is what SetKube gives an engine started with Config.KubePending:
// the fields of Config of the same names.
type Kube struct {
	Builder   Builder
	Cluster   Cluster
	Forwarder Forwarder
	Syncer    Syncer
	// Err is why the cluster cannot be used: Kubernetes resources show it.
	Err error
}

// SetKube ends the wait of an engine started with Config.KubePending:
// Kubernetes resources start with k, or show k.Err. It may be called once,
// from any goroutine, before or after Run started.
func (e *Engine) SetKube(ctx context.Context, k Kube) error {
	if f, ok := k.Cluster.(Forwarder); ok && k.Forwarder == nil {
		k.Forwarder = f
	}
	select {
	case e.msgs <- kubeMsg{k: k}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-e.stopped:
		return errEngineStopped
	}
}

// Trigger runs an update of the resource now, applying queued changes. The
// error wraps ErrNotFound for an unknown resource.
func (e *Engine) Trigger(ctx context.Context, name string) error {
	return e.request(ctx, requestMsg{name: name, trigger: true})
}

// SetEnabled enables or disables a resource; disabling stops its processes.
func (e *Engine) SetEnabled(ctx context.Context, name string, enabled bool) error {
	return e.request(ctx, requestMsg{name: name, enabled: &enabled})
}

func (e *Engine) request(ctx context.Context, m requestMsg) error {
	m.reply = make(chan error, 1)
	select {
	case e.msgs <- m:
	case <-ctx.Done():
		return ctx.Err()
	case <-e.stopped:
		return errEngineStopped
	}
	select {
	case err := <-m.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errEngineStopped = errors.New("engine stopped: devloop is shutting down")

// send delivers a worker's message to the loop; false when the loop is gone.
func (e *Engine) send(m msg) bool {
	select {
	case e.msgs <- m:
		return true
	case <-e.stopped:
		return false
	}
}

// goWorker runs f as a worker goroutine that Run waits for.
func (e *Engine) goWorker(f func()) {
	e.workers.Add(1)
	go func() {
		defer e.workers.Done()
		f()
	}()
}

// ProcRunner runs processes with package proc. Supervisor is passed on as
// proc.Spec.Supervisor when the spec has none.
type ProcRunner struct {
	Supervisor []string
}

// Start starts spec.
func (r ProcRunner) Start(spec proc.Spec) (Process, error) {
	if len(spec.Supervisor) == 0 {
		spec.Supervisor = r.Supervisor
	}
	p, err := proc.Start(spec)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// ProbeChecker makes the real checks of package proc.
type ProbeChecker struct{}

// Check returns p's check; exec probes run in dir with env.
func (ProbeChecker) Check(p *devfile.Probe, dir string, env []string) proc.Check {
	switch {
	case p.HTTPGet != nil:
		return proc.HTTPGet(p.HTTPGet.Scheme, p.HTTPGet.Host, p.HTTPGet.Port, p.HTTPGet.Path)
	case p.TCPSocket != nil:
		return proc.TCPSocket(p.TCPSocket.Host, p.TCPSocket.Port)
	case p.Exec != nil:
		return proc.Exec(p.Exec.Command, dir, env)
	}
	return func(context.Context) error { return errors.New("readiness probe has no action") }
}

// FSWatcher watches the file system with package watch.
type FSWatcher struct {
	Logger *slog.Logger
}

// Watch runs a watch.Watcher for cfg and forwards its batches to out.
func (w FSWatcher) Watch(ctx context.Context, cfg watch.Config, out chan<- watch.Batch) error {
	cfg.Logger = w.Logger
	wt, err := watch.New(cfg)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- wt.Run(ctx) }()
	for b := range wt.Batches() {
		select {
		case out <- b:
		case <-ctx.Done():
		}
	}
	if err := <-errc; err != nil {
		return fmt.Errorf("watching files: %w", err)
	}
	return nil
}

// defaultDir is the Devfile's directory: where commands run when the
// Devfile gives no directory, and what paths are shown relative to.
func defaultDir(m *devfile.Model) string { return filepath.Dir(m.Path) }

// ping pings p every pingEvery until ctx ends, and tells the loop when the
// answer changes (the error's text, "" when it answers).
func (e *Engine) ping(ctx context.Context, p Pinger) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		err := p.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		now := ""
		if err != nil {
			now = err.Error()
		}
		if now != last {
			last = now
			if !e.send(pingMsg{err: now}) {
				return
			}
		}
	}
}
