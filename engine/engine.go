package engine

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/devloop-dev/devloop/builder"
	"github.com/devloop-dev/devloop/devfile"
)

// DefaultMaxParallelUpdates bounds concurrent updates when the Devfile does
// not say (update_settings(max_parallel_updates=)): 3, as in Tilt, keeps a
// laptop responsive while independent resources still come up together.
const DefaultMaxParallelUpdates = 3

// Loader re-evaluates the Devfile (devfile.Load with the path and options
// of the first load).
type Loader interface {
	Load(ctx context.Context) (*devfile.Model, error)
}

// LoaderFunc adapts a function to Loader.
type LoaderFunc func(ctx context.Context) (*devfile.Model, error)

// Load calls f.
func (f LoaderFunc) Load(ctx context.Context) (*devfile.Model, error) { return f(ctx) }

// Config configures an Engine. Model is required; the zero value of every
// other field means its default.
type Config struct {
	// Model is the first, already loaded Devfile model.
	Model *devfile.Model
	// LoadErr, when set, is why the first load failed: Model then holds
	// only the Devfile's path and the files to watch, the error shows as
	// the Devfile's, and the engine waits for a change to load again (as
	// after a failed reload, with nothing running yet).
	LoadErr error
	// Loader reloads the Devfile when one of Model.Dependencies changes; nil
	// means the Devfile is never reloaded.
	Loader Loader
	// Watcher delivers file changes; nil means FSWatcher.
	Watcher Watcher
	// Runner starts local processes; nil means ProcRunner{} (no supervisor).
	Runner Runner
	// Checker makes readiness checks; nil means ProbeChecker{}.
	Checker Checker
	// Kube prepares what Kubernetes resources need (the cluster, a client
	// of it, an image builder); nil means this command does not deploy
	// them, and they say so. The engine calls it once, in a worker, for
	// the first model that needs a cluster (Kubernetes resources or a
	// kind_cluster(): the first one, or a reload's), with that model and
	// the function that shows build progress in the logs of the resources
	// building the image (give it to builder.Config.OnProgress; it is safe
	// from any goroutine). Until it returns, Kubernetes resources wait,
	// showing KubeWaiting, while local ones run. A Kube.Err is shown by the
	// Kubernetes resources while the local ones keep running; an error ends
	// Run with it (nothing could run). ctx ends when Run stops.
	Kube func(ctx context.Context, m *devfile.Model, progress func(ref string, ev builder.Progress)) (Kube, error)
	// KubeWaiting says what is done while Kube runs ("creating kind
	// cluster dev"); "" means defaultKubeWaiting.
	KubeWaiting string
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
	// kube holds the Kubernetes seams once Config.Kube gave them: the
	// loop writes it before it starts a worker that reads it.
	kube Kube
	// builds says in whose log each image's build progress goes.
	builds buildLogs
	// checkView, when set (by tests), is given the cached and a freshly
	// built view of each resource whose viewKey did not change: they must
	// be equal, or the key misses something the view shows.
	checkView func(cached, fresh ResourceView)
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
	if cfg.KubeWaiting == "" {
		cfg.KubeWaiting = defaultKubeWaiting
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
	if cfg.LoadErr != nil {
		v.Devfile.Error = cfg.LoadErr.Error()
	}
	e.view.Store(&v)
	return e, nil
}

// Run runs the loop until ctx is done, then stops every process and returns
// once they are gone. It returns nil after a shutdown by ctx. Run may be
// called once. It returns Config.Kube's error, after the same shutdown,
// when that ends it.
func (e *Engine) Run(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("engine already running: create a new one with New")
	}
	l := newLoop(e)
	l.apply(e.cfg.Model, readImages(e.cfg.Model), "initial")
	if err := e.cfg.LoadErr; err != nil {
		l.devfile.Error, l.devfile.LoadedAt = err.Error(), time.Time{}
		l.logf("", "Devfile error: devloop waits for a fix and loads it again when the file changes: %v", err)
	}
	l.schedule()
	l.publish()
	l.run(ctx)
	l.shutdown()
	close(e.stopped)
	e.workers.Wait()
	e.subs.closeAll()
	return l.fatal
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

// Trigger runs an update of the resource now, applying queued changes. The
// error wraps ErrNotFound for an unknown resource.
func (e *Engine) Trigger(ctx context.Context, name string) error {
	return e.request(ctx, requestMsg{name: name, trigger: true})
}

// SetEnabled enables or disables a resource; disabling stops its processes
// and deletes the objects devloop applied for it (takeDown).
func (e *Engine) SetEnabled(ctx context.Context, name string, enabled bool) error {
	return e.request(ctx, requestMsg{name: name, enabled: &enabled})
}

type requestMsg struct {
	name    string
	trigger bool
	enabled *bool
	reply   chan error
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

// defaultDir is the Devfile's directory: where commands run when the
// Devfile gives no directory, and what paths are shown relative to.
func defaultDir(m *devfile.Model) string { return filepath.Dir(m.Path) }
