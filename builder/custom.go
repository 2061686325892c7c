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

// buildCustom runs a custom_build command with $EXPECTED_REF set to the
// image it must produce, then makes sure the image is in the registry, as
// Tilt does:
//   - default: the command builds into the local docker; devloop pushes
//     $EXPECTED_REF with the docker CLI.
//   - skips_local_docker: the command itself pushes $EXPECTED_REF (without
//     docker, this is the only way: e.g. `buildctl ... --output
//     type=image,name=$EXPECTED_REF,push=true`).
//   - disable_push: nothing is pushed or checked; the image is deployed by tag.
//
// The tag is the content tag of the deps and the command, or the Devfile's
// tag= when given. Unchanged deps skip the command, as for docker_build.
func (b *Builder) buildCustom(ctx context.Context, img devfile.Image) (Result, error) {
	if img.Command.Empty() {
		return Result{}, fmt.Errorf("custom_build %s: %w: give the command that builds $EXPECTED_REF", img.Ref, errEmptyCommand)
	}
	h := sha256.New()
	fmt.Fprintf(h, "devloop custom_build v1\x00")
	for _, a := range img.Command.Argv {
		fmt.Fprintf(h, "argv %s\x00", a)
	}
	fmt.Fprintf(h, "tag %s\x00push %t %t\x00", img.Tag, img.DisablePush, img.SkipsLocalDocker)
	for _, dep := range img.Deps {
		if err := hashTree(h, dep); err != nil {
			return Result{}, fmt.Errorf("custom_build %s: hashing deps: %w", img.Ref, err)
		}
	}
	hash := "sha256:" + hex.EncodeToString(h.Sum(nil))
	repo := Repository(b.cfg.Registry.Host, img.Ref)
	tag := Tag(hash)
	if img.Tag != "" {
		tag = img.Tag
	}
	expected := repo + ":" + tag
	res := Result{Ref: img.Ref, Image: expected, InputHash: hash}
	if img.DisablePush {
		// Deployed by tag: nothing in a registry to check or reuse.
		res.Reference, res.ClusterReference = expected, expected
	} else if img.Tag == "" {
		if d, ok := b.unchanged(ctx, img.Ref, repo, expected); ok {
			return b.finish(res, repo, d, true), nil
		}
	}

	b.progress(img.Ref, Progress{Kind: ProgressMessage, Message: "running custom_build command with EXPECTED_REF=" + expected})
	step := strings.Join(img.Command.Argv, " ")
	start := time.Now()
	out := &progressWriter{ref: img.Ref, step: step, b: b}
	cmd := exec.CommandContext(ctx, img.Command.Argv[0], img.Command.Argv[1:]...)
	cmd.Dir = img.Context
	cmd.Env = append(os.Environ(), "EXPECTED_REF="+expected)
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	res.Steps = []Step{{Name: step, Duration: time.Since(start)}}
	if err != nil {
		return Result{}, &BuildError{Ref: img.Ref, Step: step, Output: out.tail(), Err: fmt.Errorf("custom_build command: %w", err)}
	}
	if img.DisablePush {
		return res, nil
	}
	if !img.SkipsLocalDocker {
		if _, err := b.run.Run(ctx, b.cfg.Docker, "push", expected); err != nil {
			return Result{}, fmt.Errorf("custom_build %s: pushing %s: %w; if the command pushes by itself (or there is no docker), set skips_local_docker=True", img.Ref, expected, err)
		}
	}
	d, err := b.reg.Head(ctx, repo, tag)
	if err != nil {
		return Result{}, fmt.Errorf("custom_build %s: the command finished but %s is not in the registry (%w): the command must build $EXPECTED_REF, and with skips_local_docker=True also push it", img.Ref, expected, err)
	}
	if img.Tag == "" {
		if err := b.cache.put(expected, cacheEntry{Digest: d, Built: time.Now()}); err != nil {
			b.log.Warn("build cache not saved; the next start rebuilds", "err", err)
		}
	}
	return b.finish(res, repo, d, false), nil
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
