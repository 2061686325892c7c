package watch

import (
	"context"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"
)

// change is one observation the tree hands to the batcher.
type change struct {
	Path     string
	Removed  bool
	Dir      bool // Path was a watched directory: its removal covers everything below it
	Created  bool // Path appeared (it did not exist just before)
	Overflow bool // events were lost; the changes sent with it come from a rescan
	At       time.Time
}

// batcher collects changes into Batches: a batch is due once no change came
// for quiet, or maxWait after its first change, whichever is sooner. It does
// no I/O, so testing/synctest can drive it.
type batcher struct {
	quiet, maxWait time.Duration
	emitted        *atomic.Uint64 // counts delivered batches
}

// run collects changes from in and sends batches to out until ctx is done or
// in is closed. A due batch that out does not take yet is frozen; changes
// that come meanwhile start the next batch, which, once its own time is up,
// is merged with everything that keeps coming until out takes the first one.
func (b *batcher) run(ctx context.Context, in <-chan []change, out chan<- Batch) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()

	var (
		cur  *pending // collecting
		due  *Batch   // waiting for the consumer
		ripe bool     // cur is due too, but waits behind due
	)
	for {
		var outc chan<- Batch
		var send Batch
		if due != nil {
			outc, send = out, *due
		}
		var timerc <-chan time.Time
		if cur != nil && !ripe {
			timerc = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case cs, ok := <-in:
			if !ok {
				return
			}
			if len(cs) == 0 {
				continue
			}
			if cur == nil {
				cur = newPending()
			}
			for _, c := range cs {
				cur.add(c)
			}
			if !ripe {
				timer.Reset(time.Until(cur.deadline(b.quiet, b.maxWait)))
			}
		case <-timerc:
			if due == nil {
				due, cur = nonEmpty(cur.batch()), nil
			} else {
				ripe = true
			}
		case outc <- send:
			b.emitted.Add(1)
			due = nil
			if ripe {
				due, cur, ripe = nonEmpty(cur.batch()), nil, false
			}
		}
	}
}

// nonEmpty returns b, or nil when nothing is left in it (every path came and
// went within it): such a batch is not sent.
func nonEmpty(b *Batch) *Batch {
	if len(b.Changed)+len(b.Removed) == 0 && !b.Overflow {
		return nil
	}
	return b
}

// pending is a batch being collected: the last state of each path wins.
type pending struct {
	entries     map[string]entry
	seq         uint64
	overflow    bool
	first, last time.Time
}

type entry struct {
	removed bool
	// born is set when the path's first change in the batch was its
	// creation: it did not exist before the batch, so if it is gone at the
	// end (an editor's or sed -i's temporary file) nothing changed.
	born    bool
	seq     uint64 // order of the last change to the path
	dirGone uint64 // order of the last removal of the path as a directory
}

func newPending() *pending { return &pending{entries: make(map[string]entry)} }

func (p *pending) add(c change) {
	at := c.At
	if at.IsZero() {
		at = time.Now()
	}
	if p.first.IsZero() || at.Before(p.first) {
		p.first = at
	}
	if at.After(p.last) {
		p.last = at
	}
	if c.Overflow {
		p.overflow = true
	}
	if c.Path == "" {
		return
	}
	p.seq++
	e, seen := p.entries[c.Path]
	if !seen {
		e.born = c.Created
	}
	e.removed, e.seq = c.Removed, p.seq
	if c.Removed && c.Dir {
		e.dirGone = p.seq
	}
	p.entries[c.Path] = e
}

// deadline is when the batch is due: quiet after its last change, but no
// later than maxWait after its first.
func (p *pending) deadline(quiet, maxWait time.Duration) time.Time {
	d := p.last.Add(quiet)
	if limit := p.first.Add(maxWait); limit.Before(d) {
		return limit
	}
	return d
}

// batch freezes the pending changes. A path under a directory whose removal
// came after the path's own last change is covered by that removal and left
// out: deleting a tree reports the tree's top directory, and a directory
// deleted and created again reports only what it holds now.
func (p *pending) batch() *Batch {
	removedDirs := make(map[string]uint64)
	for path, e := range p.entries {
		if e.dirGone > 0 {
			removedDirs[path] = e.dirGone
		}
	}
	b := &Batch{Overflow: p.overflow, First: p.first, Last: p.last, Emitted: time.Now()}
	for path, e := range p.entries {
		if coveredByRemoval(path, e.seq, removedDirs) || (e.removed && e.born) {
			continue
		}
		if e.removed {
			b.Removed = append(b.Removed, path)
		} else {
			b.Changed = append(b.Changed, path)
		}
	}
	slices.Sort(b.Changed)
	slices.Sort(b.Removed)
	return b
}

func coveredByRemoval(path string, seq uint64, removedDirs map[string]uint64) bool {
	if len(removedDirs) == 0 {
		return false
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		if s, ok := removedDirs[dir]; ok && s > seq {
			return true
		}
		if dir == filepath.Dir(dir) {
			return false
		}
	}
}
