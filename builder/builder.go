// Package builder builds a Devfile's images with BuildKit, tags them by
// content, pushes them to the cluster's registry and returns references by
// digest. Unchanged inputs make no BuildKit call, also across restarts.
package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/docker/cli/cli/config"
	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/client"
	_ "github.com/moby/buildkit/client/connhelper/dockercontainer" // docker-container:// addresses
	_ "github.com/moby/buildkit/client/connhelper/kubepod"         // kube-pod:// addresses
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/devloop-dev/devloop/devfile"
	"github.com/devloop-dev/devloop/internal/dockercli"
	"github.com/devloop-dev/devloop/kube/localregistry"
)

// Config configures a Builder. The zero value builds with BUILDKIT_HOST (or
// a managed buildkitd container), but has no registry to push to.
type Config struct {
	// Host is the BuildKit address the Devfile gives; BUILDKIT_HOST wins over it.
	Host string
	// Registry is where images are pushed: the cluster's KEP-1755
	// ConfigMap (localregistry.Parse), or Hosting{Host: default_registry}.
	Registry localregistry.Hosting
	// CacheDir holds the no-op cache file; default $XDG_CACHE_HOME/devloop.
	CacheDir string
	// MaxParallel bounds concurrent builds in BuildAll; default 3, Tilt's
	// max_parallel_updates default.
	MaxParallel int
	// BuildKitImage is the image of the managed buildkitd container; default
	// $DEVLOOP_BUILDKIT_IMAGE, then defaultBuildKitImage (moby/buildkit at the version devloop is built with).
	BuildKitImage string
	// Docker is the docker CLI; default "docker".
	Docker string
	// OnProgress receives each image's progress: the BuildKit chosen, every
	// step as it starts and ends, and the steps' output. It is called from
	// build goroutines and must not block for long.
	OnProgress func(ref string, ev Progress)
	// Logger receives debug logs; default discards.
	Logger *slog.Logger
	// Getenv reads the environment; default os.Getenv.
	Getenv func(string) string
}

// ProgressKind tells what a Progress event reports.
type ProgressKind string

const (
	// ProgressMessage is a line from devloop itself (which BuildKit, no-op).
	ProgressMessage ProgressKind = "message"
	// ProgressStep is a build step that started (Done false) or ended.
	ProgressStep ProgressKind = "step"
	// ProgressLog is output of a build step (or of a custom_build command).
	ProgressLog ProgressKind = "log"
)

// Progress is one event of a build.
type Progress struct {
	Kind ProgressKind
	// Message is a ProgressMessage's text, or how far a running step got
	// (a ProgressStep that is not Done: "pushing layers: 12.0 MB of 30.0 MB").
	Message string
	// Step is the BuildKit vertex name, e.g. "[stage-1 2/3] RUN make".
	Step     string
	Done     bool
	Cached   bool
	Duration time.Duration
	Error    string
	Log      []byte
}

// Step is one finished build step in a Result's timing trace.
type Step struct {
	Name     string
	Cached   bool
	Duration time.Duration
	Error    string
}

// Result is a built (or unchanged) image.
type Result struct {
	// Ref is the Devfile's image ref.
	Ref string
	// Image is the pushed tag, e.g. "localhost:5001/app:devloop-0123456789abcdef".
	Image string
	// Digest is the pushed manifest's digest; empty only for a custom_build
	// with disable_push.
	Digest string
	// Reference is Image's repository at Digest, as this machine reaches the registry.
	Reference string
	// ClusterReference is Reference as the cluster's container runtime pulls
	// it (KEP-1755 hostFromContainerRuntime); the one to deploy.
	ClusterReference string
	// InputHash is the content digest of every input of the build.
	InputHash string
	// Unchanged is true when no build ran: the inputs hash the same as a
	// previous successful build whose image is still in the registry.
	Unchanged bool
	// Steps is the timing trace of BuildKit's steps.
	Steps    []Step
	Duration time.Duration
}

// CachedSteps counts the steps BuildKit answered from its cache.
func (r Result) CachedSteps() int {
	n := 0
	for _, s := range r.Steps {
		if s.Cached {
			n++
		}
	}
	return n
}

// solver is the seam over BuildKit: one Solve per build that runs.
type solver interface {
	Solve(ctx context.Context, opt client.SolveOpt, status chan *client.SolveStatus) (*client.SolveResponse, error)
}

// manifestHeader finds manifest digests in registries.
type manifestHeader interface {
	Head(ctx context.Context, name, reference string) (string, error)
}

// Builder builds images. It is safe for concurrent use.
type Builder struct {
	cfg   Config
	log   *slog.Logger
	run   runner
	reg   manifestHeader
	steps step // runStep behind the no-op cache, behind sharing
	sums  *sumCache
	wrap  func(solver) solver
	// container names the managed buildkitd container (tests use their own).
	container string

	connMu   sync.Mutex
	solver   solver
	endpoint Endpoint
	closer   io.Closer

	lastMu sync.Mutex
	last   map[string]Result // by ref: the latest good result
}

// deps are the seams a Builder uses; nil fields get the real implementations.
type deps struct {
	solver solver
	// wrap, when set, wraps the solver connect makes (tests count calls).
	wrap   func(solver) solver
	runner runner
	heads  manifestHeader
	// container replaces managedContainer.
	container string
}

// New returns a Builder. It does not contact BuildKit: the first build (or
// Endpoint) does.
func New(cfg Config) (*Builder, error) { return newBuilder(cfg, deps{}) }

func newBuilder(cfg Config, d deps) (*Builder, error) {
	if cfg.MaxParallel < 0 {
		return nil, fmt.Errorf("builder: MaxParallel %d is negative", cfg.MaxParallel)
	}
	if cfg.MaxParallel == 0 {
		cfg.MaxParallel = 3
	}
	if cfg.Docker == "" {
		cfg.Docker = "docker"
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.CacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("builder: no cache directory (%w): set XDG_CACHE_HOME or HOME", err)
		}
		cfg.CacheDir = filepath.Join(dir, "devloop")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Builder{cfg: cfg, log: log, run: d.runner, reg: d.heads, solver: d.solver,
		sums: newSumCache(), wrap: d.wrap, container: d.container, last: map[string]Result{}}
	if b.container == "" {
		b.container = managedContainer
	}
	if b.run == nil {
		b.run = dockercli.Exec{}
	}
	if b.reg == nil {
		b.reg = newRegistryClient()
	}
	if b.solver != nil {
		b.endpoint = Endpoint{Address: "(injected)", Reason: "test seam"}
	}
	b.steps = newShared(&noopCache{inner: runStep{b}, file: newBuildCache(cfg.CacheDir), reg: b.reg, localID: b.localImageID,
		registry: cfg.Registry, log: log, progress: b.progress}, log)
	return b, nil
}

// Close closes the BuildKit connection.
func (b *Builder) Close() error {
	b.connMu.Lock()
	defer b.connMu.Unlock()
	if b.closer != nil {
		return b.closer.Close()
	}
	return nil
}

// connectTimeout bounds the first contact with BuildKit: long enough for a
// docker exec into the managed container, short enough that a wrong address
// is reported while the user still waits for it.
const connectTimeout = 20 * time.Second

// Endpoint connects to BuildKit (the first time) and says where it runs and why.
func (b *Builder) Endpoint(ctx context.Context) (Endpoint, error) {
	_, ep, err := b.connect(ctx)
	return ep, err
}

func (b *Builder) connect(ctx context.Context) (solver, Endpoint, error) {
	b.connMu.Lock()
	defer b.connMu.Unlock()
	if b.solver != nil {
		return b.solver, b.endpoint, nil
	}
	ep, err := resolveEndpoint(ctx, b.cfg.Getenv, b.cfg.Host, b.cfg.Docker, b.cfg.BuildKitImage, b.container, b.run)
	if err != nil {
		return nil, Endpoint{}, err
	}
	var c *client.Client
	if ep.daemon != "" {
		c, err = daemonClient(ctx, ep.daemon)
	} else {
		c, err = client.New(ctx, ep.Address)
	}
	if err != nil {
		return nil, ep, fmt.Errorf("connecting to BuildKit at %s (%s): %w", ep.Address, ep.Reason, err)
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := ping(cctx, c, ep.starting); err != nil {
		c.Close()
		if ep.daemon != "" {
			return nil, ep, fmt.Errorf("docker's embedded BuildKit at %s is unreachable: %w; devloop uses it because %s; docker 18.09 or later on Linux has it (POST /grpc and /session): upgrade docker, or set BUILDKIT_HOST to a running buildkitd", ep.Address, err, ep.Reason)
		}
		if ep.managed != "" {
			if _, xerr := b.run.Run(ctx, b.cfg.Docker, "exec", ep.managed, "buildctl", "--version"); xerr != nil {
				return nil, ep, fmt.Errorf("BuildKit in container %s (%s) is unreachable: %w; devloop connects through `docker exec %s buildctl dial-stdio`, which failed (%v): use an image with buildctl on its PATH (moby/buildkit has it) in DEVLOOP_BUILDKIT_IMAGE, then `docker rm -f %s`", ep.managed, ep.Reason, err, ep.managed, xerr, ep.managed)
			}
		}
		return nil, ep, fmt.Errorf("BuildKit at %s (%s) is unreachable: %w; start buildkitd there, or point BUILDKIT_HOST at a running one (e.g. unix:///run/buildkit/buildkitd.sock)", ep.Address, ep.Reason, err)
	}
	b.log.Debug("connected to BuildKit", "address", ep.Address, "reason", ep.Reason)
	b.solver, b.endpoint, b.closer = clientSolver{c}, ep, c
	if b.wrap != nil {
		b.solver = b.wrap(b.solver)
	}
	return b.solver, ep, nil
}

// ping asks BuildKit for its workers. A buildkitd that devloop just
// started gets until ctx's deadline to listen (gRPC wait-for-ready); any
// other fails fast, so a wrong address is reported at once.
func ping(ctx context.Context, c *client.Client, wait bool) error {
	if !wait {
		_, err := c.ListWorkers(ctx)
		return err
	}
	_, err := c.ControlClient().ListWorkers(ctx, &controlapi.ListWorkersRequest{}, grpc.WaitForReady(true))
	return err
}

// clientSolver is the real solver: BuildKit's client with a frontend.
type clientSolver struct{ c *client.Client }

func (s clientSolver) Solve(ctx context.Context, opt client.SolveOpt, ch chan *client.SolveStatus) (*client.SolveResponse, error) {
	return s.c.Solve(ctx, nil, opt, ch)
}

// buildOne builds one image (and nothing it depends on: use BuildAll for
// images that build FROM other images of the Devfile).
func (b *Builder) buildOne(ctx context.Context, img devfile.Image) (Result, error) {
	res, err := b.BuildAll(ctx, []devfile.Image{img})
	return res[img.Ref], err
}

// BuildAll builds images in dependency order: an image that builds FROM
// another (see NewGraph) waits for it and uses its exact digest as a BuildKit
// named context; independent images build in parallel, at most
// Config.MaxParallel at a time. With refs, only those images, the images
// that depend on them and what they need are built; an unchanged image costs
// a content hash and a registry HEAD, no BuildKit call. The map holds every
// image that succeeded; the error joins every failure.
func (b *Builder) BuildAll(ctx context.Context, images []devfile.Image, refs ...string) (map[string]Result, error) {
	g, err := NewGraph(images)
	if err != nil {
		return nil, err
	}
	byRef := map[string]devfile.Image{}
	for _, img := range images {
		byRef[img.Ref] = img
	}
	want := map[string]bool{}
	if len(refs) == 0 {
		for _, img := range images {
			want[img.Ref] = true
		}
	}
	for _, r := range refs {
		if _, ok := byRef[r]; !ok {
			return nil, fmt.Errorf("no image %q in the Devfile", r)
		}
		want[r] = true
		for _, d := range g.dependents(r) {
			want[d] = true
		}
	}
	// Dependencies of wanted images are needed too (usually unchanged, so free).
	order := g.inOrder()
	for i := len(order) - 1; i >= 0; i-- {
		if want[order[i]] {
			for _, d := range g.Deps[order[i]] {
				want[d] = true
			}
		}
	}

	type outcome struct {
		res  Result
		err  error
		done chan struct{}
	}
	outcomes := map[string]*outcome{}
	for _, r := range order {
		if want[r] {
			outcomes[r] = &outcome{done: make(chan struct{})}
		}
	}
	// Every image waits for its dependencies, then for one of MaxParallel
	// slots: a waiting image holds no slot, so independent images run.
	sem := make(chan struct{}, b.cfg.MaxParallel)
	var eg errgroup.Group
	for _, r := range order {
		o := outcomes[r]
		if o == nil {
			continue
		}
		eg.Go(func() error {
			defer close(o.done)
			if err := g.refErr(r); err != nil {
				o.err = err
				return nil
			}
			depResults := map[string]Result{}
			for _, d := range g.Deps[r] {
				do := outcomes[d]
				select {
				case <-do.done:
				case <-ctx.Done():
					o.err = fmt.Errorf("image %s: %w", r, ctx.Err())
					return nil
				}
				if do.err != nil {
					o.err = fmt.Errorf("image %s not built: its base image %s failed", r, d)
					return nil
				}
				depResults[d] = do.res
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				o.err = fmt.Errorf("image %s: %w", r, ctx.Err())
				return nil
			}
			defer func() { <-sem }()
			o.res, o.err = b.build(ctx, byRef[r], g.uses[r], depResults)
			return nil
		})
	}
	_ = eg.Wait() // goroutines report through outcomes
	results := map[string]Result{}
	var errs []error
	for _, r := range order {
		o := outcomes[r]
		if o == nil {
			continue
		}
		if o.err != nil {
			errs = append(errs, o.err)
			continue
		}
		results[r] = o.res
	}
	return results, errors.Join(errs...)
}

// Last returns the latest successful result for ref.
func (b *Builder) Last(ref string) (Result, bool) {
	b.lastMu.Lock()
	defer b.lastMu.Unlock()
	r, ok := b.last[ref]
	return r, ok
}

func (b *Builder) progress(ref string, ev Progress) {
	if b.cfg.OnProgress != nil {
		b.cfg.OnProgress(ref, ev)
	}
}

// build builds one image whose dependencies are built: uses maps each
// dependency's ref to the names the Dockerfile calls it by.
func (b *Builder) build(ctx context.Context, img devfile.Image, uses map[string][]string, depResults map[string]Result) (Result, error) {
	start := time.Now()
	// A custom_build with disable_push needs no registry: its image stays
	// where the command put it, under the Devfile's name.
	if b.cfg.Registry.Host == "" && (img.Kind != devfile.ImageCustom || !img.DisablePush) {
		return Result{}, fmt.Errorf("image %s: %w", img.Ref, errNoRegistry)
	}
	var (
		p   *plan
		err error
	)
	switch img.Kind {
	case devfile.ImageCustom:
		p, err = b.planCustom(img)
	default:
		p, err = b.planDocker(ctx, img, uses, depResults)
	}
	if err != nil {
		return Result{}, err
	}
	res, err := b.steps.build(ctx, p)
	if err != nil {
		return Result{}, err
	}
	res.Duration = time.Since(start)
	b.lastMu.Lock()
	b.last[img.Ref] = res
	b.lastMu.Unlock()
	return res, nil
}

// dockerPlan is what a docker_build hands BuildKit, computed before
// deciding whether BuildKit must run.
type dockerPlan struct {
	ctx        *buildContext
	dockerfile []byte
	dfName     string
	named      map[string]string // named context → docker-image://...
	// uses maps each Devfile image this one builds FROM to the names the
	// Dockerfile calls it by.
	uses map[string][]string
}

func (b *Builder) planDocker(ctx context.Context, img devfile.Image, uses map[string][]string, depResults map[string]Result) (*plan, error) {
	bc, err := newBuildContext(img)
	if err != nil {
		return nil, err
	}
	bc.sums = b.sums
	data, dfName, err := img.ReadDockerfile()
	if err != nil {
		return nil, err
	}
	all, err := devfile.DockerfileImages(data, img.BuildArgs)
	if err != nil {
		return nil, fmt.Errorf("image %s: %s: %w", img.Ref, dfName, err)
	}
	dp := &dockerPlan{ctx: bc, dockerfile: data, dfName: dfName, named: map[string]string{}, uses: uses}
	depNames := map[string]string{} // name in the Dockerfile → dep ref
	for dep, names := range uses {
		for _, n := range names {
			depNames[n] = dep
		}
	}

	h := sha256.New()
	fmt.Fprintf(h, "devloop docker_build v1\x00%s\x00", data)
	fmt.Fprintf(h, "target %s\x00platform %s\x00", img.Target, img.Platform)
	for _, k := range slices.Sorted(maps.Keys(img.BuildArgs)) {
		fmt.Fprintf(h, "arg %s=%s\x00", k, img.BuildArgs[k])
	}
	for _, s := range img.SSH {
		fmt.Fprintf(h, "ssh %s\x00", s)
	}
	for _, s := range img.Secret {
		fmt.Fprintf(h, "secret %s\x00", s)
	}
	// Base images: a Devfile image by its exact digest, any other by the
	// digest its registry has now.
	names := slices.Sorted(maps.Keys(depNames))
	for _, u := range all {
		if _, ok := depNames[u.Name]; !ok && !slices.Contains(names, u.Name) {
			names = append(names, u.Name)
		}
	}
	for _, name := range names {
		if dep, ok := depNames[name]; ok {
			r := depResults[dep]
			dp.named["context:"+name] = "docker-image://" + r.Reference
			fmt.Fprintf(h, "base %s=%s\x00", name, r.Digest)
			continue
		}
		fmt.Fprintf(h, "base %s=%s\x00", name, b.baseDigest(ctx, name))
	}
	if err := bc.hash(ctx, h); err != nil {
		return nil, err
	}
	p := &plan{img: img, hash: "sha256:" + hex.EncodeToString(h.Sum(nil)), push: true, docker: dp, deps: depResults}
	p.repo, p.tag = repository(b.cfg.Registry.Host, img.Ref), contentTag(p.hash)
	p.image = p.repo + ":" + p.tag
	return p, nil
}

// baseDigest returns the digest of an external base image, or a marker
// when its registry cannot be asked: an unreachable registry then keeps the
// hash stable rather than forcing rebuilds.
func (b *Builder) baseDigest(ctx context.Context, name string) string {
	if _, d, ok := strings.Cut(name, "@"); ok {
		return d
	}
	tag := "latest"
	slash := strings.LastIndex(name, "/")
	if i := strings.LastIndex(name, ":"); i > slash {
		tag = name[i+1:]
	}
	d, err := b.reg.Head(ctx, refName(name), tag)
	if err != nil {
		b.log.Debug("base image digest unknown; hashing its name", "image", name, "err", err)
		return "unresolved:" + name
	}
	return d
}

// runDocker builds a docker_build with BuildKit and pushes it.
func (b *Builder) runDocker(ctx context.Context, p *plan) (Result, error) {
	img := p.img
	s, ep, err := b.connect(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("image %s: %w", img.Ref, err)
	}
	b.progress(img.Ref, Progress{Kind: ProgressMessage, Message: fmt.Sprintf("building %s with BuildKit at %s (%s)", p.image, ep.Address, ep.Reason)})
	if ep.daemon != "" {
		if err := b.tagBasesInDocker(ctx, p); err != nil {
			return Result{}, err
		}
	}
	opt, cleanup, err := b.solveOpt(p, ep.daemon != "")
	if err != nil {
		return Result{}, err
	}
	defer cleanup()
	steps, resp, err := b.solve(ctx, s, img.Ref, opt)
	if err != nil {
		return Result{}, buildError(img.Ref, p.docker.dfName, steps, err)
	}
	trace := steps.trace()
	var digest string
	if ep.daemon != "" {
		d, push, err := b.pushFromDocker(ctx, p)
		if err != nil {
			return Result{}, err
		}
		digest, trace = d, append(trace, push)
	} else if digest = resp.ExporterResponse["containerimage.digest"]; digest == "" {
		return Result{}, fmt.Errorf("image %s: BuildKit pushed %s but reported no digest", img.Ref, p.image)
	}
	res := result(p, b.cfg.Registry, digest)
	res.Steps = trace
	return res, nil
}

// solveOpt is the BuildKit solve of p. Docker's embedded BuildKit exports
// into docker's image store (pushed afterwards with the docker CLI); any
// other BuildKit pushes the image itself.
func (b *Builder) solveOpt(p *plan, intoDocker bool) (client.SolveOpt, func(), error) {
	img, dp := p.img, p.docker
	cleanup := func() {}
	ctxFS, err := dp.ctx.fs()
	if err != nil {
		return client.SolveOpt{}, cleanup, err
	}
	dfDir, dfFile := filepath.Split(img.Dockerfile)
	if img.DockerfileContents != "" || img.Dockerfile == "" {
		if img.DockerfileContents == "" {
			dfDir, dfFile = img.Context, "Dockerfile"
		} else {
			tmp, err := os.MkdirTemp("", "devloop-dockerfile-")
			if err != nil {
				return client.SolveOpt{}, cleanup, fmt.Errorf("writing dockerfile_contents of %s: %w", img.Ref, err)
			}
			cleanup = func() { os.RemoveAll(tmp) }
			if err := os.WriteFile(filepath.Join(tmp, "Dockerfile"), dp.dockerfile, 0o644); err != nil {
				cleanup()
				return client.SolveOpt{}, func() {}, fmt.Errorf("writing dockerfile_contents of %s: %w", img.Ref, err)
			}
			dfDir, dfFile = tmp, "Dockerfile"
		}
	}
	dfFS, err := fsutilFS(dfDir)
	if err != nil {
		cleanup()
		return client.SolveOpt{}, func() {}, err
	}
	attrs := map[string]string{"filename": dfFile}
	if img.Target != "" {
		attrs["target"] = img.Target
	}
	if img.Platform != "" {
		attrs["platform"] = img.Platform
	}
	for k, v := range img.BuildArgs {
		attrs["build-arg:"+k] = v
	}
	maps.Copy(attrs, dp.named)
	export := client.ExportEntry{Type: client.ExporterImage, Attrs: map[string]string{"name": p.image, "push": "true"}}
	if isLoopback(b.cfg.Registry.Host) {
		export.Attrs["registry.insecure"] = "true"
	}
	if intoDocker {
		export = client.ExportEntry{Type: mobyExporter, Attrs: map[string]string{"name": p.image}}
	}
	attachables, err := sessionAttachables(img)
	if err != nil {
		cleanup()
		return client.SolveOpt{}, func() {}, err
	}
	return client.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: attrs,
		LocalMounts:   map[string]fsutilFSType{"context": ctxFS, "dockerfile": dfFS},
		Exports:       []client.ExportEntry{export},
		Session:       attachables,
	}, cleanup, nil
}

// sessionAttachables gives BuildKit this machine's registry credentials and
// the image's secrets and ssh agents.
func sessionAttachables(img devfile.Image) ([]session.Attachable, error) {
	out := []session.Attachable{authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(config.LoadDefaultConfigFile(io.Discard)),
	})}
	if len(img.Secret) > 0 {
		a, err := secretsAttachable(img.Secret)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", img.Ref, err)
		}
		out = append(out, a)
	}
	if len(img.SSH) > 0 {
		a, err := sshAttachable(img.SSH)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", img.Ref, err)
		}
		out = append(out, a)
	}
	return out, nil
}
