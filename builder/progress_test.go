package builder

import (
	"slices"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

// TestStepsByteProgress: a step that runs long says how far its bytes got,
// first after progressEvery and then at that pace, summed over its layers;
// a short step stays one line to start and one to finish.
func TestStepsByteProgress(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
	long, short := digest.FromString("export"), digest.FromString("copy")
	var got []string
	emit := func(p Progress) {
		s := p.Step
		if p.Done {
			s = "done " + s
		}
		if p.Message != "" {
			s += ": " + p.Message
		}
		got = append(got, s)
	}
	var st steps
	status := func(v digest.Digest, id string, cur, tot int64, d time.Duration) *client.VertexStatus {
		return &client.VertexStatus{ID: id, Vertex: v, Current: cur, Total: tot, Timestamp: t0.Add(d)}
	}
	st.update(&client.SolveStatus{Vertexes: []*client.Vertex{
		{Digest: long, Name: "exporting to image", Started: at(0)},
		{Digest: short, Name: "[2/2] COPY app /app", Started: at(0)},
	}}, emit)
	st.update(&client.SolveStatus{Statuses: []*client.VertexStatus{
		status(short, "copying", 5e6, 10e6, time.Second),
		status(long, "pushing layer a", 10e6, 100e6, time.Second),
	}}, emit)
	st.update(&client.SolveStatus{Vertexes: []*client.Vertex{{Digest: short, Name: "[2/2] COPY app /app", Started: at(0), Completed: at(1500 * time.Millisecond)}}}, emit)
	st.update(&client.SolveStatus{Statuses: []*client.VertexStatus{
		status(long, "pushing layer b", 20e6, 200e6, 2500*time.Millisecond),
		status(long, "pushing layer a", 60e6, 100e6, 3*time.Second), // under progressEvery since the last line
		status(long, "pushing layer b", 150e6, 200e6, 4600*time.Millisecond),
	}}, emit)
	st.update(&client.SolveStatus{Vertexes: []*client.Vertex{{Digest: long, Name: "exporting to image", Started: at(0), Completed: at(5 * time.Second)}}}, emit)
	want := []string{
		"exporting to image",
		"[2/2] COPY app /app",
		"done [2/2] COPY app /app",
		"exporting to image: pushing layer b: 30.0 MB of 300.0 MB",
		"exporting to image: pushing layer b: 210.0 MB of 300.0 MB",
		"done exporting to image",
	}
	if !slices.Equal(got, want) {
		t.Errorf("progress =\n%q\nwant\n%q", got, want)
	}
}
