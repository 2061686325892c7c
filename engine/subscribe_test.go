package engine

import (
	"context"
	"testing"
	"testing/synctest"
)

func TestSubscribeLatestOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, nil)
		h.run.exits["a"] = nil
		h.with(model(local("a", "", "a-serve")))
		ctx, cancel := context.WithCancel(context.Background())
		sub := h.e.Subscribe(ctx)
		h.batch(proj + "/a/x") // no deps: no change, no new view
		if err := h.e.SetEnabled(context.Background(), "a", false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		v := <-sub
		if want := h.e.Snapshot().Seq; v.Seq != want {
			t.Errorf("Subscribe: first unread view Seq = %d, want the latest %d", v.Seq, want)
		}
		cancel()
		synctest.Wait()
		if _, ok := <-sub; ok {
			t.Error("Subscribe: channel open after ctx was cancelled")
		}
		h.stop()
	})
}
