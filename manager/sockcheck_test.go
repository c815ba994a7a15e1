package manager

import (
	"runtime"
	"testing"

	"github.com/pmux/pmux/signalmap"
)

// TestSocketChecksWaitInOneQueue: the socket checks of a pool of workers
// ready at exec wait out their settle in one queue under one timer, not in
// a goroutine and a timer each, so a reload of a thousand workers does not
// cost the master a thousand stacks.
func TestSocketChecksWaitInOneQueue(t *testing.T) {
	const n = 200
	ls := openListeners(t, 1)
	before := runtime.NumGoroutine()
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: n, Ready: ReadyAtExec, Listeners: ls})
	for range n {
		h.expectStart()
	}
	h.sync()
	grew := runtime.NumGoroutine() - before
	var queued int
	var timer bool
	if err := h.m.Query(t.Context(), func() { queued, timer = len(h.m.sockQueue), h.m.sockTimer != nil }); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d workers: %d goroutines more, %d checks queued", n, grew, queued)
	if grew > 10 {
		t.Errorf("%d workers waiting for their socket check cost %d goroutines, want a few for the whole manager", n, grew)
	}
	if queued != n || !timer {
		t.Errorf("%d checks queued (timer set: %v), want %d under one timer", queued, timer, n)
	}
}
