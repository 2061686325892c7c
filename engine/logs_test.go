package engine

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLogStore(t *testing.T) {
	now := func() time.Time { return time.Unix(0, 0) }
	tests := []struct {
		name      string
		bounds    logBounds
		lines     map[string]int // resource → lines appended, in name order
		resource  string
		after     uint64
		limit     int
		wantTexts []string
		wantDrop  int
	}{
		{
			name: "all resources in order", bounds: logBounds{1 << 20, 1 << 20},
			lines: map[string]int{"a": 2, "b": 2}, wantTexts: []string{"a0", "a1", "b0", "b1"},
		},
		{
			name: "one resource after a cursor with a limit", bounds: logBounds{1 << 20, 1 << 20},
			lines: map[string]int{"a": 5}, resource: "a", after: 1, limit: 2, wantTexts: []string{"a1", "a2"},
		},
		{
			// Each line costs 2+64 bytes; 10 lines pass 600 bytes.
			name: "per-resource bound drops the oldest behind a marker", bounds: logBounds{600, 1 << 20},
			lines: map[string]int{"a": 10}, resource: "a", wantDrop: 10,
		},
		{
			name: "global bound drops from the largest resource", bounds: logBounds{1 << 20, 700},
			lines: map[string]int{"a": 2, "b": 9}, resource: "a", wantTexts: []string{"a0", "a1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newLogStore(now, tt.bounds)
			for _, res := range slices.Sorted(func(yield func(string) bool) {
				for k := range tt.lines {
					if !yield(k) {
						return
					}
				}
			}) {
				for i := range tt.lines[res] {
					s.append(res, fmt.Sprintf("%s%d", res, i))
				}
			}
			got := s.get(tt.resource, tt.after, tt.limit)
			if tt.wantDrop > 0 {
				// wantDrop is the number of lines appended: the marker
				// accounts for those that are gone.
				if len(got) < 2 || got[0].Dropped == 0 || got[0].Dropped+len(got)-1 != tt.wantDrop || !strings.Contains(got[0].Text, "dropped") {
					t.Fatalf("get(%q) = %+v, want a marker for the dropped lines first, then the rest of %d", tt.resource, got, tt.wantDrop)
				}
				if last := got[len(got)-1].Text; last != "a9" {
					t.Fatalf("get(%q): newest line = %q, want a9", tt.resource, last)
				}
				return
			}
			var texts []string
			for _, l := range got {
				texts = append(texts, l.Text)
			}
			if !slices.Equal(texts, tt.wantTexts) {
				t.Errorf("get(%q, %d, %d) = %q, want %q", tt.resource, tt.after, tt.limit, texts, tt.wantTexts)
			}
		})
	}
}

func TestLogStoreInterleaved(t *testing.T) {
	s := newLogStore(time.Now, defaultLogBounds)
	for _, l := range []struct{ res, text string }{{"a", "a0"}, {"b", "b0"}, {"", "devloop"}, {"a", "a1"}, {"b", "b1"}} {
		s.append(l.res, l.text)
	}
	tests := []struct {
		name     string
		resource string
		after    uint64
		limit    int
		want     []string
	}{
		{"all", "", 0, 0, []string{"a0", "b0", "devloop", "a1", "b1"}},
		{"all, a page", "", 1, 3, []string{"b0", "devloop", "a1"}},
		{"one resource", "b", 0, 0, []string{"b0", "b1"}},
		{"unknown resource", "zz", 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, l := range s.get(tt.resource, tt.after, tt.limit) {
				got = append(got, l.Text)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("get(%q, %d, %d) = %q, want %q", tt.resource, tt.after, tt.limit, got, tt.want)
			}
		})
	}
}
