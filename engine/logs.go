package engine

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// logBounds bound the log store in bytes of text (plus lineOverhead per line).
type logBounds struct {
	perResource int
	total       int
}

// defaultLogBounds: 2 MiB per resource (tens of thousands of typical lines;
// at 1 MiB a storm of 50 chatty resources left `logs -f` about 2,500 lines
// of each to catch up with, and it lost a third of them), and the 32 MiB
// total keeps devloop's memory small with dozens of chatty resources (12M
// lines from 50 resources kept RSS near 120 MB at half these bounds) while
// a quiet resource keeps its history. What is dropped is never silent: a
// marker line per resource says how many.
var defaultLogBounds = logBounds{perResource: 2 << 20, total: 32 << 20}

// lineOverhead approximates a LogLine's memory besides its text.
const lineOverhead = 64

// logStore keeps resources' log lines, each resource's bounded, and all of
// them bounded together. When a bound is passed, the oldest eighth of the
// resource's lines is dropped at once (so dropping is amortized) and one
// marker line, with Dropped set, stands in for everything dropped so far.
// It has its own lock: writers are process output goroutines, readers are
// web handlers; the loop only learns that the sequence moved (notify).
type logStore struct {
	now    func() time.Time
	bounds logBounds
	notify chan struct{}

	mu    sync.Mutex
	seq   uint64
	size  int
	byRes map[string]*resourceLog
}

type resourceLog struct {
	lines   []LogLine // oldest first; lines[0] may be the dropped marker
	size    int
	dropped int
}

func newLogStore(now func() time.Time, b logBounds) *logStore {
	return &logStore{now: now, bounds: b, notify: make(chan struct{}, 1), byRes: map[string]*resourceLog{}}
}

// append adds a line of resource ("" for devloop's own) and returns its Seq.
func (s *logStore) append(resource, text string) uint64 {
	s.mu.Lock()
	s.seq++
	l := LogLine{Seq: s.seq, Resource: resource, Time: s.now(), Text: text}
	rl := s.byRes[resource]
	if rl == nil {
		rl = &resourceLog{}
		s.byRes[resource] = rl
	}
	rl.lines = append(rl.lines, l)
	n := len(text) + lineOverhead
	rl.size += n
	s.size += n
	for rl.size > s.bounds.perResource && len(rl.lines) > 1 {
		s.trim(rl)
	}
	for s.size > s.bounds.total {
		big := s.largest()
		if len(big.lines) <= 1 {
			break
		}
		s.trim(big)
	}
	seq := s.seq
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return seq
}

func (s *logStore) largest() *resourceLog {
	var big *resourceLog
	for _, rl := range s.byRes {
		if big == nil || rl.size > big.size {
			big = rl
		}
	}
	return big
}

// trim drops the oldest eighth of rl's lines (at least one) behind a marker.
func (s *logStore) trim(rl *resourceLog) {
	start := 0
	if len(rl.lines) > 0 && rl.lines[0].Dropped > 0 {
		start = 1
	}
	n := max((len(rl.lines)-start)/8, 1)
	if start+n > len(rl.lines) {
		n = len(rl.lines) - start
	}
	if n <= 0 {
		return
	}
	freed := 0
	for _, l := range rl.lines[start : start+n] {
		freed += len(l.Text) + lineOverhead
	}
	last := rl.lines[start+n-1]
	rl.dropped += n
	marker := LogLine{
		Seq: last.Seq, Resource: last.Resource, Time: last.Time, Dropped: rl.dropped,
		Text: fmt.Sprintf("[devloop: %d older lines dropped to bound memory]", rl.dropped),
	}
	if start == 1 {
		freed += len(rl.lines[0].Text) + lineOverhead
	}
	rl.lines = append([]LogLine{marker}, rl.lines[start+n:]...)
	freed -= len(marker.Text) + lineOverhead
	rl.size -= freed
	s.size -= freed
}

// get returns up to limit lines of resource ("" for all) with Seq > after,
// oldest first. A limit <= 0 means no limit.
func (s *logStore) get(resource string, after uint64, limit int) []LogLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	var heads [][]LogLine // per resource, the lines after the cursor
	if resource != "" {
		if rl := s.byRes[resource]; rl != nil {
			heads = append(heads, since(rl.lines, after))
		}
	} else {
		for _, rl := range s.byRes {
			if l := since(rl.lines, after); len(l) > 0 {
				heads = append(heads, l)
			}
		}
	}
	// Merge the sorted runs by Seq, stopping at limit: a reader paging
	// through a large store pays for the page, not for the store.
	out := []LogLine{}
	for limit <= 0 || len(out) < limit {
		best := -1
		for i, h := range heads {
			if len(h) > 0 && (best < 0 || h[0].Seq < heads[best][0].Seq) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		out = append(out, heads[best][0])
		heads[best] = heads[best][1:]
	}
	return out
}

func since(lines []LogLine, after uint64) []LogLine {
	i := sort.Search(len(lines), func(i int) bool { return lines[i].Seq > after })
	return lines[i:]
}

// last returns the text of resource's newest n lines.
func (s *logStore) last(resource string, n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	rl := s.byRes[resource]
	if rl == nil {
		return nil
	}
	lines := rl.lines[max(len(rl.lines)-n, 0):]
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		if l.Dropped == 0 {
			out = append(out, l.Text)
		}
	}
	return out
}

// lastSeq is the Seq of the newest line.
func (s *logStore) lastSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}
