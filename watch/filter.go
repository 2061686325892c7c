package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// Filter answers whether a path is relevant to one Root, with the same rules
// the Watcher applies: .git and editor temporary files are never relevant,
// Only (if set) must include the path, and Ignore must not exclude it.
// A Filter is safe for concurrent use.
type Filter struct {
	root   string // clean, absolute
	ignore *matcher
	only   *matcher // nil when Root.Only is empty
}

// NewFilter returns the Filter of root. It does no I/O; root.Path is made
// absolute against the working directory.
func NewFilter(root Root) (*Filter, error) {
	if root.Path == "" {
		return nil, fmt.Errorf("watch root has an empty path: give a file or directory")
	}
	abs, err := filepath.Abs(root.Path)
	if err != nil {
		return nil, fmt.Errorf("making watch root %q absolute: %w", root.Path, err)
	}
	f := &Filter{root: abs}
	if f.ignore, err = newMatcher(root.Ignore); err != nil {
		return nil, fmt.Errorf("ignore patterns of %s: %w", abs, err)
	}
	if len(root.Only) > 0 {
		if f.only, err = newMatcher(root.Only); err != nil {
			return nil, fmt.Errorf("only patterns of %s: %w", abs, err)
		}
	}
	return f, nil
}

// Root returns the clean absolute path of the filter's root.
func (f *Filter) Root() string { return f.root }

// Match reports whether abs is the root itself or a path under it that the
// root's rules keep. abs must be absolute.
func (f *Filter) Match(abs string) bool {
	rel, ok := relTo(f.root, filepath.Clean(abs))
	if !ok {
		return false
	}
	if rel == "." {
		return true
	}
	if hasGitSegment(rel) || isEditorTemp(filepath.Base(rel)) {
		return false
	}
	if f.only != nil && !f.only.matches(rel) {
		return false
	}
	return !f.ignore.matches(rel)
}

// descend reports whether the directory abs, under the root, may hold a
// path that Match keeps, so it must be watched. An excluded directory is
// still descended when a later "!" pattern could re-include something below
// it, as Docker does.
func (f *Filter) descend(abs string) bool {
	rel, ok := relTo(f.root, abs)
	if !ok {
		return false
	}
	if rel == "." {
		return true
	}
	if hasGitSegment(rel) {
		return false
	}
	if f.only != nil && !f.only.matches(rel) && !f.only.mayFlipBelow(rel, false) {
		return false
	}
	return !f.ignore.matches(rel) || f.ignore.mayFlipBelow(rel, true)
}

// ReadIgnoreFile reads a .dockerignore or .devloopignore file into patterns
// for Root.Ignore or Config.Ignore. A missing file means no patterns.
func ReadIgnoreFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ignore file: %w", err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading ignore file %s: %w", path, err)
	}
	return patterns, nil
}

// matcher is a dockerignore pattern list, evaluated like Docker does: the
// last pattern that matches a path or one of its parents decides, and a "!"
// pattern re-includes.
type matcher struct {
	mu   sync.Mutex // patternmatcher compiles lazily and is not safe for concurrent use
	pm   *patternmatcher.PatternMatcher
	pats []pattern
}

type pattern struct {
	segs      []string
	exclusion bool
}

// newMatcher normalizes patterns like a .dockerignore file (clean, leading
// "/" dropped, "!" kept) and compiles them.
func newMatcher(patterns []string) (*matcher, error) {
	norm, err := ignorefile.ReadAll(strings.NewReader(strings.Join(patterns, "\n")))
	if err != nil {
		return nil, err
	}
	pm, err := patternmatcher.New(norm)
	if err != nil {
		return nil, fmt.Errorf("%w: fix the pattern (dockerignore syntax)", err)
	}
	m := &matcher{pm: pm}
	for _, p := range pm.Patterns() {
		m.pats = append(m.pats, pattern{segs: strings.Split(p.String(), string(os.PathSeparator)), exclusion: p.Exclusion()})
	}
	return m, nil
}

// matches reports whether rel (relative, clean) is matched by the list.
func (m *matcher) matches(rel string) bool {
	if m == nil || len(m.pats) == 0 {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ok, err := m.pm.MatchesOrParentMatches(rel)
	return err == nil && ok
}

// mayFlipBelow reports whether a pattern of the kind that would flip the
// directory's result (exclusions when the directory matched, inclusions when
// it did not) could match a strict descendant of the directory rel. Patterns
// that match rel or a parent of it also match every descendant, so only
// longer patterns, or ones with "**", can flip a descendant's result.
func (m *matcher) mayFlipBelow(rel string, matched bool) bool {
	dir := strings.Split(rel, string(os.PathSeparator))
	for _, p := range m.pats {
		if p.exclusion == matched && mayMatchBelow(p.segs, dir) {
			return true
		}
	}
	return false
}

// mayMatchBelow reports whether the pattern segments could match some path
// strictly below the directory segments. It errs towards true.
func mayMatchBelow(pat, dir []string) bool {
	for i, d := range dir {
		if i >= len(pat) {
			return false
		}
		if strings.Contains(pat[i], "**") {
			return true
		}
		if ok, err := filepath.Match(pat[i], d); err != nil || !ok {
			return false
		}
	}
	return len(pat) > len(dir)
}

// relTo returns path relative to root when path is root or under it.
func relTo(root, path string) (string, bool) {
	if path == root {
		return ".", true
	}
	prefix := root
	if !strings.HasSuffix(prefix, string(os.PathSeparator)) {
		prefix += string(os.PathSeparator)
	}
	if !strings.HasPrefix(path, prefix) {
		return "", false
	}
	return path[len(prefix):], true
}

// hasGitSegment reports whether a relative path is .git or inside one.
func hasGitSegment(rel string) bool {
	for seg := range strings.SplitSeq(rel, string(os.PathSeparator)) {
		if seg == ".git" {
			return true
		}
	}
	return false
}

// isEditorTemp reports whether a file name is an editor's temporary or backup
// file, which never triggers an update:
//   - vim: swap files ".name.swp" (.swo ... .swa when one exists, .swx while
//     it probes), and "4913", the file vim creates to test that a directory
//     is writable;
//   - emacs: lock files ".#name" and auto-save files "#name#";
//   - "name~" backups (emacs, vim with backup on, many others);
//   - JetBrains safe-write files "name___jb_tmp___" and "name___jb_old___".
func isEditorTemp(name string) bool {
	switch {
	case name == "4913":
		return true
	case strings.HasSuffix(name, "~"):
		return true
	case strings.HasPrefix(name, ".#"):
		return true
	case len(name) > 1 && strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#"):
		return true
	case strings.HasSuffix(name, "___jb_tmp___"), strings.HasSuffix(name, "___jb_old___"):
		return true
	case strings.HasPrefix(name, ".") && len(name) >= len(".x.swp"):
		ext := name[len(name)-4:]
		return ext[:3] == ".sw" && (ext[3] >= 'a' && ext[3] <= 'p' || ext[3] == 'x')
	}
	return false
}
