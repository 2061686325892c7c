package builder

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// buildCache remembers, across devloop restarts, which image (repository
// and content tag) was built with which digest, so unchanged inputs skip
// BuildKit. It is a small JSON file, rewritten atomically after each build.
type buildCache struct {
	path string

	mu      sync.Mutex
	loaded  bool
	entries map[string]cacheEntry // "repo:tag" → entry
}

type cacheEntry struct {
	// Input is the plan's content digest of every input; an entry only
	// answers for the same inputs (a fixed tag= is reused across changes).
	Input string `json:"input"`
	// Digest is the pushed manifest's digest; empty when not pushed.
	Digest string `json:"digest,omitempty"`
	// ImageID is the image's ID in docker's image store, for an image that
	// is not pushed and that the command put there.
	ImageID string    `json:"imageID,omitempty"`
	Built   time.Time `json:"built"`
}

// cacheLimit bounds the file: a few hundred images per project is plenty,
// and older entries only serve reverts to long-gone states.
const cacheLimit = 1000

// cacheFile is the name of the file under the cache directory.
const cacheFile = "builds.json"

func newBuildCache(dir string) *buildCache {
	return &buildCache{path: filepath.Join(dir, cacheFile), entries: map[string]cacheEntry{}}
}

// load reads the file once. A missing file is an empty cache; a corrupt one
// is reported, and the builder carries on without it.
func (c *buildCache) load() error {
	if c.loaded {
		return nil
	}
	c.loaded = true
	data, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading build cache: %w", err)
	}
	if err := json.Unmarshal(data, &c.entries); err != nil {
		c.entries = map[string]cacheEntry{}
		return fmt.Errorf("build cache %s is corrupt (it will be rewritten): %w", c.path, err)
	}
	return nil
}

func (c *buildCache) get(image string) (cacheEntry, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.load()
	e, ok := c.entries[image]
	return e, ok, err
}

func (c *buildCache) put(image string, e cacheEntry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.load() // a corrupt file is replaced
	c.entries[image] = e
	if len(c.entries) > cacheLimit {
		keys := make([]string, 0, len(c.entries))
		for k := range c.entries {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return c.entries[keys[i]].Built.Before(c.entries[keys[j]].Built) })
		for _, k := range keys[:len(keys)-cacheLimit] {
			delete(c.entries, k)
		}
	}
	data, err := json.MarshalIndent(c.entries, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o755); err != nil {
		return fmt.Errorf("writing build cache: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), cacheFile+".*")
	if err != nil {
		return fmt.Errorf("writing build cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing build cache %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing build cache %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		return fmt.Errorf("writing build cache: %w", err)
	}
	return nil
}
