package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/moby/patternmatcher/ignorefile"
	"github.com/tonistiigi/fsutil"

	"github.com/devloop-dev/devloop/devfile"
)

// buildContext is an image's filtered build context: the directory, and the
// patterns that decide which of its files BuildKit sees. The same filter
// serves the content hash and the session that sends the files, so the hash
// covers exactly what is built.
type buildContext struct {
	dir      string
	includes []string // `only`; empty means everything
	excludes []string // .dockerignore, then `ignore`
	sums     *sumCache
}

// sumCache remembers file digests by path, size and modification time, so
// an unchanged file is not read again on the next build of the process.
type sumCache struct {
	mu sync.Mutex
	m  map[string]fileSum
}

type fileSum struct {
	size  int64
	mtime time.Time
	sum   string
}

// racyWindow: a file modified this recently may change again within the
// file system's timestamp granularity without its size or time changing,
// so its digest is not remembered (git's "racy clean" rule).
const racyWindow = 2 * time.Second

func newSumCache() *sumCache { return &sumCache{m: map[string]fileSum{}} }

// sum returns the SHA-256 of the file name, whose size and modification
// time are given, reading it only when the cache cannot answer.
func (c *sumCache) sum(name string, size int64, mtime time.Time) (string, error) {
	if c == nil {
		return fileSHA256(name)
	}
	c.mu.Lock()
	e, ok := c.m[name]
	c.mu.Unlock()
	if ok && e.size == size && e.mtime.Equal(mtime) {
		return e.sum, nil
	}
	sum, err := fileSHA256(name)
	if err != nil {
		return "", err
	}
	if time.Since(mtime) > racyWindow {
		c.mu.Lock()
		c.m[name] = fileSum{size: size, mtime: mtime, sum: sum}
		c.mu.Unlock()
	}
	return sum, nil
}

// newBuildContext reads the context's .dockerignore (or the Dockerfile's own
// <Dockerfile>.dockerignore, which wins as in BuildKit) and adds the image's
// ignore and only patterns, relative to the context.
func newBuildContext(img devfile.Image) (*buildContext, error) {
	if img.Context == "" {
		return nil, fmt.Errorf("image %s has no build context directory", img.Ref)
	}
	fi, err := os.Stat(img.Context)
	if err != nil {
		return nil, fmt.Errorf("build context of image %s: %w", img.Ref, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("build context %s of image %s is not a directory", img.Context, img.Ref)
	}
	bc := &buildContext{dir: img.Context}
	ignoreFiles := []string{filepath.Join(img.Context, ".dockerignore")}
	if img.Dockerfile != "" {
		ignoreFiles = append([]string{img.Dockerfile + ".dockerignore"}, ignoreFiles...)
	}
	for _, name := range ignoreFiles {
		patterns, err := readIgnoreFile(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		bc.excludes = append(bc.excludes, patterns...)
		break
	}
	for _, p := range img.Ignore {
		bc.excludes = append(bc.excludes, relPattern(img.Context, p))
	}
	for _, p := range img.Only {
		bc.includes = append(bc.includes, strings.TrimPrefix(relPattern(img.Context, p), "!"))
	}
	return bc, nil
}

func readIgnoreFile(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return patterns, nil
}

// relPattern makes an absolute pattern relative to the context directory;
// relative patterns are already relative to it.
func relPattern(dir, p string) string {
	neg := strings.HasPrefix(p, "!")
	p = strings.TrimPrefix(p, "!")
	if filepath.IsAbs(p) {
		if r, err := filepath.Rel(dir, p); err == nil {
			p = r
		}
	}
	p = filepath.ToSlash(filepath.Clean(p))
	if neg {
		return "!" + p
	}
	return p
}

// fs returns the filtered context as BuildKit's session sends it.
func (bc *buildContext) fs() (fsutil.FS, error) {
	base, err := fsutil.NewFS(bc.dir)
	if err != nil {
		return nil, fmt.Errorf("opening build context %s: %w", bc.dir, err)
	}
	filtered, err := fsutil.NewFilterFS(base, &fsutil.FilterOpt{
		IncludePatterns: bc.includes,
		ExcludePatterns: bc.excludes,
	})
	if err != nil {
		return nil, fmt.Errorf("build context %s: bad ignore/only pattern: %w", bc.dir, err)
	}
	return filtered, nil
}

// files lists the context's paths after filtering, sorted, slash-separated.
func (bc *buildContext) files(ctx context.Context) ([]string, error) {
	fsys, err := bc.fs()
	if err != nil {
		return nil, err
	}
	var out []string
	err = fsys.Walk(ctx, "", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			out = append(out, filepath.ToSlash(path))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walking build context %s: %w", bc.dir, err)
	}
	sort.Strings(out)
	return out, nil
}

// hash writes the filtered context into h: for every entry its path, type,
// executable bit and content (or symlink target), in walk order, which
// fsutil keeps lexical. Modification times are left out: touching a file
// without changing it is not a change.
func (bc *buildContext) hash(ctx context.Context, h hash.Hash) error {
	fsys, err := bc.fs()
	if err != nil {
		return err
	}
	err = fsys.Walk(ctx, "", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		path = filepath.ToSlash(path)
		mode := d.Type()
		switch {
		case d.IsDir():
			fmt.Fprintf(h, "dir %s\x00", path)
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(filepath.Join(bc.dir, path))
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "link %s %s\x00", path, target)
		case mode.IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			sum, err := bc.sums.sum(filepath.Join(bc.dir, path), info.Size(), info.ModTime())
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "file %s %o %s\x00", path, info.Mode().Perm()&0o111, sum)
		default:
			fmt.Fprintf(h, "other %s %s\x00", path, mode)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("hashing build context %s: %w", bc.dir, err)
	}
	return nil
}

func fileSHA256(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
