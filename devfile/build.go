package devfile

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// liveStep is the Starlark value of a live_update step builtin.
type liveStep struct {
	step LiveUpdateStep
	pos  syntax.Position
}

var _ starlark.Value = (*liveStep)(nil)

func (l *liveStep) String() string {
	switch l.step.Type {
	case StepSync:
		return fmt.Sprintf("sync(%q, %q)", l.step.Local, l.step.Remote)
	case StepFallBackOn:
		return fmt.Sprintf("fall_back_on(%q)", l.step.Paths)
	case StepRun:
		return fmt.Sprintf("run(%q)", strings.Join(l.step.Cmd.Argv, " "))
	}
	return string(l.step.Type) + "()"
}
func (l *liveStep) Type() string          { return "live_update_step" }
func (l *liveStep) Freeze()               {}
func (l *liveStep) Truth() starlark.Bool  { return true }
func (l *liveStep) Hash() (uint32, error) { return starlark.String(l.pos.String()).Hash() }

// name returns how the step is written in a Devfile, for errors.
func (l *liveStep) name() string { return string(l.step.Type) + "()" }

func (s *state) recordStep(thread *starlark.Thread, step LiveUpdateStep) *liveStep {
	l := &liveStep{step: step, pos: callPos(thread)}
	s.liveSteps[l.pos] = l
	return l
}

func (s *state) initialSync(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return s.recordStep(thread, LiveUpdateStep{Type: StepInitialSync}), nil
}

func (s *state) fallBackOn(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "paths", &v); err != nil {
		return nil, err
	}
	paths, err := pathsFromValue(execDir(thread), v)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, errors.New("paths is empty: name the files whose change needs a full rebuild")
	}
	return s.recordStep(thread, LiveUpdateStep{Type: StepFallBackOn, Paths: paths}), nil
}

func (s *state) syncStep(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var local, remote string
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "local_path", &local, "remote_path", &remote); err != nil {
		return nil, err
	}
	if local == "" {
		return nil, errors.New("local_path is empty: name a file or directory (\".\" for this directory)")
	}
	if !path.IsAbs(remote) {
		return nil, fmt.Errorf("remote_path %q is not absolute: write the container path from /, e.g. \"/app\"", remote)
	}
	return s.recordStep(thread, LiveUpdateStep{
		Type:   StepSync,
		Local:  s.absPath(thread, local),
		Remote: path.Clean(remote),
	}), nil
}

func (s *state) runStep(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var cmdV, trigger starlark.Value = nil, starlark.None
	var echoOff bool
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs, "cmd", &cmdV, "trigger?", &trigger, "echo_off?", &echoOff); err != nil {
		return nil, err
	}
	cmd, err := cmdFromValue("cmd", cmdV)
	if err != nil {
		return nil, err
	}
	if cmd.Empty() {
		return nil, errors.New("cmd is empty: pass the command to run in the container")
	}
	triggers, err := pathsFromValue(execDir(thread), trigger)
	if err != nil {
		return nil, fmt.Errorf("trigger: %w", err)
	}
	return s.recordStep(thread, LiveUpdateStep{Type: StepRun, Cmd: cmd, Trigger: triggers, EchoOff: echoOff}), nil
}

func (s *state) restartContainer(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return s.recordStep(thread, LiveUpdateStep{Type: StepRestartContainer}), nil
}

// liveUpdate converts a live_update= list into ordered steps, enforcing
// Tilt's order: fall_back_on and initial_sync first, then syncs, then runs,
// restart_container last. Each sync's local path must be under one of roots.
func (s *state) liveUpdate(v starlark.Value, roots []string, rootsWhat string) ([]LiveUpdateStep, error) {
	var items []starlark.Value
	switch v := v.(type) {
	case nil, starlark.NoneType:
		return []LiveUpdateStep{}, nil
	case *liveStep:
		items = []starlark.Value{v}
	case *starlark.List, starlark.Tuple:
		it := v.(starlark.Iterable).Iterate()
		var x starlark.Value
		for it.Next(&x) {
			items = append(items, x)
		}
		it.Done()
	default:
		return nil, fmt.Errorf("live_update: got %s, want a list of steps (sync(), run(), ...)", v.Type())
	}
	// rank orders the kinds of steps; a step may not follow one of a higher rank.
	rank := map[LiveUpdateStepType]int{
		StepFallBackOn: 0, StepInitialSync: 0, StepSync: 1, StepRun: 2, StepRestartContainer: 3,
	}
	steps := make([]LiveUpdateStep, 0, len(items))
	var prev *liveStep
	initial := false
	for i, x := range items {
		l, ok := x.(*liveStep)
		if !ok {
			return nil, fmt.Errorf("live_update: element %d is %s (%s), want a step: initial_sync(), fall_back_on(), sync(), run() or restart_container()", i, x.Type(), x)
		}
		t := l.step.Type
		if prev != nil && rank[t] < rank[prev.step.Type] {
			return nil, fmt.Errorf("live_update: %s at %s comes after %s at %s: order the steps fall_back_on/initial_sync, then sync, then run, then restart_container", l.name(), l.pos, prev.name(), prev.pos)
		}
		if prev != nil && prev.step.Type == StepRestartContainer {
			return nil, fmt.Errorf("live_update: %s at %s comes after restart_container(): restart_container() must be the last step", l.name(), l.pos)
		}
		if t == StepInitialSync {
			if initial {
				return nil, fmt.Errorf("live_update: initial_sync() at %s appears twice: keep one", l.pos)
			}
			initial = true
		}
		if t == StepSync && len(roots) > 0 && !underAny(l.step.Local, roots) {
			return nil, fmt.Errorf("live_update: sync() at %s: local path %s is outside the %s %s: sync only files that the build uses", l.pos, l.step.Local, rootsWhat, strings.Join(roots, ", "))
		}
		delete(s.liveSteps, l.pos)
		steps = append(steps, l.step)
		prev = l
	}
	return steps, nil
}

// checkUnusedSteps reports live_update steps that no build used, as Tilt does:
// a step outside live_update=[...] is almost always a mistake.
func (s *state) checkUnusedSteps() error {
	var first *liveStep
	for _, l := range s.liveSteps {
		if first == nil || posLess(l.pos, first.pos) {
			first = l
		}
	}
	if first == nil {
		return nil
	}
	return errorAt(first.pos, "%s is not used by any docker_build or custom_build: pass it in live_update=[...]", first.name())
}

func posLess(a, b syntax.Position) bool {
	if a.Filename() != b.Filename() {
		return a.Filename() < b.Filename()
	}
	if a.Line != b.Line {
		return a.Line < b.Line
	}
	return a.Col < b.Col
}

// underAny reports whether p is one of roots or inside one of them.
func underAny(p string, roots []string) bool {
	for _, r := range roots {
		if p == r {
			return true
		}
		rel, err := filepath.Rel(r, p)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel) {
			return true
		}
	}
	return false
}

// checkRef validates an image reference as Docker parses it
// (distribution/reference): [registry[:port]/]path[:tag][@digest].
func checkRef(ref string) error {
	if ref == "" {
		return errors.New("ref is empty: name the image, e.g. \"example.com/app\"")
	}
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return fmt.Errorf("ref %q is not a valid image name (%v): use lower-case letters, digits and separators, e.g. \"example.com/team/app\" (a tag or digest is optional)", ref, err)
	}
	return nil
}

func (s *state) addImage(thread *starlark.Thread, img Image) error {
	for _, other := range s.images {
		if other.Ref == img.Ref {
			return fmt.Errorf("image %q is already built by the call at %s: declare each image once", img.Ref, other.Pos)
		}
	}
	img.Pos = callPos(thread)
	s.images = append(s.images, img)
	return nil
}

// warnIgnored records a warning for an accepted Tilt argument devloop ignores.
func (s *state) warnIgnored(thread *starlark.Thread, fn, arg, why string) {
	s.warnings = append(s.warnings, fmt.Sprintf("%s: %s: argument %s is accepted for Tilt compatibility and ignored: %s", callPos(thread), fn, arg, why))
}

// dockerBuild implements docker_build.
func (s *state) dockerBuild(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	img := Image{Kind: ImageDocker}
	var (
		contextDir, dockerfile                     string
		dockerfileContents, liveUpdate, entrypoint starlark.Value = starlark.None, starlark.None, starlark.None
	)
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"ref", &img.Ref, "context", &contextDir,
		"build_args?", (*stringDict)(&img.BuildArgs), "dockerfile?", &dockerfile,
		"dockerfile_contents?", &dockerfileContents, "live_update?", &liveUpdate,
		"match_in_env_vars?", &img.MatchInEnvVars, "ignore?", (*stringList)(&img.Ignore), "only?", (*stringList)(&img.Only),
		"entrypoint?", &entrypoint, "target?", &img.Target, "ssh?", (*stringList)(&img.SSH),
		"network?", &img.Network, "secret?", (*stringList)(&img.Secret), "extra_tag?", (*stringList)(&img.ExtraTags),
		"container_args?", (*stringList)(&img.ContainerArgs), "cache_from?", (*stringList)(&img.CacheFrom),
		"pull?", &img.Pull, "platform?", &img.Platform, "extra_hosts?", (*stringList)(&img.ExtraHosts),
	); err != nil {
		return nil, err
	}
	if err := checkRef(img.Ref); err != nil {
		return nil, err
	}
	if contextDir == "" {
		return nil, errors.New("context is empty: pass the build context directory (\".\" for this directory)")
	}
	base := execDir(thread)
	img.Context = absFrom(base, contextDir)
	var err error
	if dockerfileContents != starlark.None {
		switch v := dockerfileContents.(type) {
		case starlark.String:
			img.DockerfileContents = string(v)
		case *Blob:
			img.DockerfileContents = v.Text
		default:
			return nil, fmt.Errorf("dockerfile_contents: got %s, want a string or blob", v.Type())
		}
		if dockerfile != "" {
			return nil, errors.New("dockerfile and dockerfile_contents are both set: pass one of them")
		}
		if strings.TrimSpace(img.DockerfileContents) == "" {
			return nil, errors.New("dockerfile_contents is empty: pass the Dockerfile text, or drop it to use the context's Dockerfile")
		}
	} else {
		if dockerfile != "" {
			img.Dockerfile = absFrom(base, dockerfile)
		} else {
			img.Dockerfile = filepath.Join(img.Context, "Dockerfile")
		}
		// As Tilt, which reads the Dockerfile while loading: a missing one
		// is a mistake better reported now than at the first build.
		if fi, err := os.Stat(img.Dockerfile); err != nil || fi.IsDir() {
			return nil, fmt.Errorf("the Dockerfile %s does not exist: create it, or pass dockerfile= (relative to %s) or dockerfile_contents=", img.Dockerfile, base)
		}
	}
	for _, o := range img.Only {
		if filepath.IsAbs(o) || o == ".." || strings.HasPrefix(filepath.Clean(o), "../") {
			return nil, fmt.Errorf("only: %q is not inside the context: list paths relative to the context %s", o, img.Context)
		}
	}
	if img.Entrypoint, err = entrypointFromValue(entrypoint); err != nil {
		return nil, err
	}
	if img.LiveUpdate, err = s.liveUpdate(liveUpdate, []string{img.Context}, "build context"); err != nil {
		return nil, err
	}
	if err := s.addImage(thread, img); err != nil {
		return nil, err
	}
	return starlark.None, nil
}

// entrypointFromValue converts entrypoint=: a string runs under sh -c, a list is argv.
func entrypointFromValue(v starlark.Value) ([]string, error) {
	cmd, err := cmdFromValue("entrypoint", v)
	if err != nil {
		return nil, err
	}
	return cmd.Argv, nil
}

// customBuild implements custom_build.
func (s *state) customBuild(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	img := Image{Kind: ImageCustom}
	var (
		commandBat, outputsTo, dir            string
		command, deps, liveUpdate, entrypoint starlark.Value = nil, nil, starlark.None, starlark.None
	)
	if err := starlark.UnpackArgs(fn.Name(), args, kwargs,
		"ref", &img.Ref, "command", &command, "deps", &deps,
		"tag?", &img.Tag, "disable_push?", &img.DisablePush, "skips_local_docker?", &img.SkipsLocalDocker,
		"live_update?", &liveUpdate, "match_in_env_vars?", &img.MatchInEnvVars,
		"ignore?", (*stringList)(&img.Ignore), "entrypoint?", &entrypoint, "command_bat?", &commandBat,
		"outputs_image_ref_to?", &outputsTo, "container_args?", (*stringList)(&img.ContainerArgs),
		"image_deps?", (*stringList)(&img.ImageDeps), "env?", (*stringDict)(&img.Env), "dir?", &dir,
	); err != nil {
		return nil, err
	}
	if err := checkRef(img.Ref); err != nil {
		return nil, err
	}
	base := execDir(thread)
	img.Dir = base
	var err error
	if img.Command, err = cmdFromValue("command", command); err != nil {
		return nil, err
	}
	if img.Command.Empty() {
		if commandBat != "" {
			return nil, errors.New("command is empty and command_bat runs only on Windows: pass command= for Linux and macOS")
		}
		return nil, errors.New("command is empty: pass the command that builds $EXPECTED_REF")
	}
	if img.Tag != "" && outputsTo != "" {
		return nil, errors.New("tag and outputs_image_ref_to are both set: pass one of them")
	}
	if img.Deps, err = pathsFromValue(base, deps); err != nil {
		return nil, fmt.Errorf("deps: %w", err)
	}
	if dir != "" {
		img.Dir = absFrom(base, dir)
	}
	if outputsTo != "" {
		img.OutputsImageRefTo = absFrom(base, outputsTo)
	}
	if img.Entrypoint, err = entrypointFromValue(entrypoint); err != nil {
		return nil, err
	}
	if img.LiveUpdate, err = s.liveUpdate(liveUpdate, img.Deps, "deps"); err != nil {
		return nil, err
	}
	if len(img.Deps) == 0 {
		for _, st := range img.LiveUpdate {
			if st.Type == StepSync {
				return nil, errors.New("live_update syncs files but deps is empty: list the directories the build reads in deps")
			}
		}
	}
	if err := s.addImage(thread, img); err != nil {
		return nil, err
	}
	return starlark.None, nil
}
