package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/devloop-dev/devloop/devfile"
)

// planCustom hashes a custom_build's inputs: its deps, command and push
// settings. The tag is the content tag of that hash, or the Devfile's tag=
// when given.
func (b *Builder) planCustom(img devfile.Image) (*plan, error) {
	if img.Command.Empty() {
		return nil, fmt.Errorf("custom_build %s: %w: give the command that builds $EXPECTED_REF", img.Ref, errEmptyCommand)
	}
	h := sha256.New()
	fmt.Fprintf(h, "devloop custom_build v1\x00")
	for _, a := range img.Command.Argv {
		fmt.Fprintf(h, "argv %s\x00", a)
	}
	fmt.Fprintf(h, "tag %s\x00push %t %t\x00", img.Tag, img.DisablePush, img.SkipsLocalDocker)
	for _, dep := range img.Deps {
		if err := hashTree(h, dep); err != nil {
			return nil, fmt.Errorf("custom_build %s: hashing deps: %w", img.Ref, err)
		}
	}
	p := &plan{img: img, hash: "sha256:" + hex.EncodeToString(h.Sum(nil)), push: !img.DisablePush}
	p.repo, p.tag = repository(b.cfg.Registry.Host, img.Ref), contentTag(p.hash)
	if img.Tag != "" {
		p.tag = img.Tag
	}
	p.image = p.repo + ":" + p.tag
	return p, nil
}

// runCustom runs a custom_build command with $EXPECTED_REF set to the
// image it must produce, then makes sure the image is in the registry, as
// Tilt does:
//   - default: the command builds into the local docker; devloop pushes
//     $EXPECTED_REF with the docker CLI.
//   - skips_local_docker: the command itself pushes $EXPECTED_REF (without
//     docker, this is the only way: e.g. `buildctl ... --output
//     type=image,name=$EXPECTED_REF,push=true`).
//   - disable_push: nothing is pushed or checked; the image is deployed by tag.
func (b *Builder) runCustom(ctx context.Context, p *plan) (Result, error) {
	img, expected := p.img, p.image
	b.progress(img.Ref, Progress{Kind: ProgressMessage, Message: "running custom_build command with EXPECTED_REF=" + expected})
	step := strings.Join(img.Command.Argv, " ")
	start := time.Now()
	out := &progressWriter{ref: img.Ref, step: step, b: b}
	cmd := exec.CommandContext(ctx, img.Command.Argv[0], img.Command.Argv[1:]...)
	cmd.Dir = img.Context
	cmd.Env = append(os.Environ(), "EXPECTED_REF="+expected)
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	steps := []Step{{Name: step, Duration: time.Since(start)}}
	if err != nil {
		return Result{}, &BuildError{Ref: img.Ref, Step: step, Output: out.tail(), Err: fmt.Errorf("custom_build command: %w", err)}
	}
	if !p.push {
		res := result(p, b.cfg.Registry, "")
		res.Steps = steps
		return res, nil
	}
	if !img.SkipsLocalDocker {
		if _, err := b.run.Run(ctx, b.cfg.Docker, "push", expected); err != nil {
			return Result{}, fmt.Errorf("custom_build %s: pushing %s: %w; if the command pushes by itself (or there is no docker), set skips_local_docker=True", img.Ref, expected, err)
		}
	}
	d, err := b.reg.Head(ctx, p.repo, p.tag)
	if err != nil {
		return Result{}, fmt.Errorf("custom_build %s: the command finished but %s is not in the registry (%w): the command must build $EXPECTED_REF, and with skips_local_docker=True also push it", img.Ref, expected, err)
	}
	res := result(p, b.cfg.Registry, d)
	res.Steps = steps
	return res, nil
}

// hashTree hashes the files under path (or the file itself) by relative
// path and content, in lexical order.
func hashTree(h interface{ Write([]byte) (int, error) }, root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if !d.Type().IsRegular() {
			fmt.Fprintf(h, "entry %s %s %s\x00", root, rel, d.Type())
			return nil
		}
		sum, err := fileSHA256(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "file %s %s %s\x00", root, rel, sum)
		return nil
	})
}

// progressWriter streams a command's output as ProgressLog events and keeps
// its end for errors.
type progressWriter struct {
	ref, step string
	b         *Builder
	buf       bytes.Buffer
}

func (w *progressWriter) Write(p []byte) (int, error) {
	w.b.progress(w.ref, Progress{Kind: ProgressLog, Step: w.step, Log: bytes.Clone(p)})
	w.buf.Write(p)
	if over := w.buf.Len() - stepLogTail; over > 0 {
		w.buf.Next(over)
	}
	return len(p), nil
}

func (w *progressWriter) tail() string { return strings.TrimSpace(w.buf.String()) }
