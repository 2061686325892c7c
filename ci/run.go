package ci

import (
	"context"
	"fmt"
	"time"

	"github.com/devloop-dev/devloop/engine"
)

// Source is what Run follows: the engine's views and logs (*engine.Engine).
type Source interface {
	Subscribe(ctx context.Context) <-chan engine.View
	Logs(resource string, after uint64, limit int) []engine.LogLine
}

// Observer sees what Run sees, to show progress; nil fields are skipped.
type Observer struct {
	// Line is called with each log line, in order.
	Line func(engine.LogLine)
	// View is called with each view, after its log lines.
	View func(engine.View)
}

// logBatch is how many log lines Run reads per call: the engine copies them
// under its lock, so a bounded batch keeps writers from waiting long.
const logBatch = 1000

// Run follows src until the outcome is decided and returns it. It returns
// ctx's error (and the outcome so far) when ctx ends first, and a failed
// Result when the engine stops before an outcome. Every wait has a
// deadline: the global timeout bounds the run.
func Run(ctx context.Context, src Source, cfg Config, obs Observer) (Result, error) {
	j := newJudge(cfg, time.Now())
	views := src.Subscribe(ctx)
	var cursor uint64
	drain := func() {
		for {
			lines := src.Logs("", cursor, logBatch)
			if len(lines) == 0 {
				return
			}
			for _, l := range lines {
				j.Log(l)
				if obs.Line != nil {
					obs.Line(l)
				}
			}
			cursor = lines[len(lines)-1].Seq
		}
	}
	timer := time.NewTimer(time.Until(j.Next(time.Now())))
	defer timer.Stop()
	for {
		select {
		case v, ok := <-views:
			if !ok {
				drain()
				if err := ctx.Err(); err != nil {
					r := j.Decide(time.Now())
					if r.Outcome == Running {
						r.Reason = "interrupted"
					}
					return r, fmt.Errorf("devloop ci interrupted: %w", err)
				}
				r := j.Decide(time.Now())
				r.Outcome, r.Reason = Failed, "the engine stopped before every resource was ready"
				return r, nil
			}
			drain()
			j.Observe(v, time.Now())
			if obs.View != nil {
				obs.View(v)
			}
		case <-timer.C:
			drain()
		case <-ctx.Done():
			drain()
			r := j.Decide(time.Now())
			if r.Outcome == Running {
				r.Reason = "interrupted"
			}
			return r, fmt.Errorf("devloop ci interrupted: %w", ctx.Err())
		}
		now := time.Now()
		if r := j.Decide(now); r.Outcome != Running {
			return r, nil
		}
		timer.Reset(j.Next(now).Sub(now))
	}
}
