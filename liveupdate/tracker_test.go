package liveupdate

import (
	"reflect"
	"testing"
)

func TestTracker(t *testing.T) {
	type batch struct{ changed, removed []string }
	type since struct {
		id      string
		changed []string
		removed []string
		first   bool
		apply   bool // mark the pending changes applied afterwards
	}
	tests := []struct {
		name  string
		steps []any // batch, since, or "built"
	}{
		{
			name: "a new container catches up on everything since the build",
			steps: []any{
				batch{changed: []string{"/s/a", "/s/b"}},
				since{id: "c1", changed: []string{"/s/a", "/s/b"}, first: true, apply: true},
				batch{changed: []string{"/s/c"}},
				since{id: "c1", changed: []string{"/s/c"}, apply: true},
				since{id: "c1"},
				// c1 restarted as c2: its writable layer is the image's again.
				since{id: "c2", changed: []string{"/s/a", "/s/b", "/s/c"}, first: true},
			},
		},
		{
			name: "nothing is marked received until applied",
			steps: []any{
				batch{changed: []string{"/s/a"}},
				since{id: "c1", changed: []string{"/s/a"}, first: true},
				since{id: "c1", changed: []string{"/s/a"}, first: true},
			},
		},
		{
			name: "a build forgets changes and containers",
			steps: []any{
				batch{changed: []string{"/s/a"}, removed: []string{"/s/old"}},
				since{id: "c1", changed: []string{"/s/a"}, removed: []string{"/s/old"}, first: true, apply: true},
				"built",
				since{id: "c1", first: true},
			},
		},
		{
			name: "a removed directory supersedes earlier changes below it",
			steps: []any{
				batch{changed: []string{"/s/d/x", "/s/dx"}},
				batch{removed: []string{"/s/d"}},
				since{id: "c1", changed: []string{"/s/dx"}, removed: []string{"/s/d"}, first: true},
			},
		},
		{
			name: "rm -rf of a tree is one removal of its top, in any order",
			steps: []any{
				batch{changed: []string{"/s/d/e/x", "/s/d/y", "/s/dz"}},
				batch{removed: []string{"/s/d/e/x", "/s/d", "/s/d/y", "/s/d/e"}},
				since{id: "c1", changed: []string{"/s/dz"}, removed: []string{"/s/d"}, first: true},
			},
		},
		{
			name: "changes below a directory after its removal are kept",
			steps: []any{
				batch{removed: []string{"/s/d"}},
				batch{changed: []string{"/s/d/x"}},
				since{id: "c1", changed: []string{"/s/d/x"}, removed: []string{"/s/d"}, first: true},
			},
		},
		{
			name: "a path removed then recreated is deleted first for containers behind",
			steps: []any{
				since{id: "up", first: true, apply: true},
				since{id: "late", first: true, apply: true},
				batch{changed: []string{"/s/d"}},
				since{id: "up", changed: []string{"/s/d"}, apply: true},
				batch{removed: []string{"/s/d"}},
				batch{changed: []string{"/s/d"}},
				since{id: "up", changed: []string{"/s/d"}, removed: []string{"/s/d"}, apply: true},
				since{id: "late", changed: []string{"/s/d"}, removed: []string{"/s/d"}},
				batch{changed: []string{"/s/d"}},
				since{id: "up", changed: []string{"/s/d"}},
			},
		},
		{
			name: "a changed file that is later removed is only removed",
			steps: []any{
				batch{changed: []string{"/s/a"}},
				batch{removed: []string{"/s/a"}},
				since{id: "c1", removed: []string{"/s/a"}, first: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker()
			for i, st := range tt.steps {
				switch st := st.(type) {
				case batch:
					tr.Add(st.changed, st.removed)
				case string:
					tr.Built()
				case since:
					got := tr.Since(st.id)
					want := Pending{Changed: st.changed, Removed: st.removed, First: st.first, Seq: got.Seq}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("step %d: Since(%s) = %+v, want %+v", i, st.id, got, want)
					}
					if st.apply {
						tr.Applied(st.id, got.Seq)
					}
				}
			}
		})
	}
}

func TestTrackerAppliedNeverMovesBack(t *testing.T) {
	tr := NewTracker()
	tr.Add([]string{"/s/a"}, nil)
	old := tr.Since("c1").Seq
	tr.Add([]string{"/s/b"}, nil)
	tr.Applied("c1", tr.Since("c1").Seq)
	tr.Applied("c1", old) // a slower, older update finishing late
	if got := tr.Since("c1"); len(got.Changed) != 0 || got.First {
		t.Errorf("Since(c1) after a late older Applied = %+v, want nothing pending", got)
	}
	tr.Forget("c1")
	if got := tr.Since("c1"); !got.First {
		t.Errorf("Since(c1) after Forget = %+v, want First", got)
	}
}

// TestTrackerBuiltAt: changes made while an image was building stay
// pending for its containers; those before the build started are in it.
func TestTrackerBuiltAt(t *testing.T) {
	tr := NewTracker()
	tr.Add([]string{"/s/a"}, nil)
	tr.Applied("old", tr.Seq())
	mark := tr.Seq() // the build starts
	tr.Add([]string{"/s/b"}, []string{"/s/gone"})
	tr.BuiltAt(mark)
	if got := tr.Containers(); len(got) != 0 {
		t.Errorf("Containers() after BuiltAt = %q, want none", got)
	}
	got := tr.Since("new")
	want := Pending{Changed: []string{"/s/b"}, Removed: []string{"/s/gone"}, First: true, Seq: got.Seq}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Since(new) after BuiltAt = %+v, want %+v", got, want)
	}
	tr.Applied("new", got.Seq)
	tr.Applied("other", got.Seq)
	if got, want := tr.Containers(), []string{"new", "other"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Containers() = %q, want %q", got, want)
	}
	tr.Built()
	if got := tr.Since("new"); len(got.Changed)+len(got.Removed) != 0 || !got.First {
		t.Errorf("Since(new) after Built = %+v, want nothing pending and First", got)
	}
}
