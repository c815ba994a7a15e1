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
	pending := 0
	h.clock.mu.Lock()
	for _, tm := range h.clock.timers {
		if !tm.done {
			pending++
		}
	}
	h.clock.mu.Unlock()
	var queued int
	if err := h.m.Query(t.Context(), func() { queued = len(h.m.sockQueue) }); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d workers: %d goroutines more, %d timers pending, %d checks queued", n, grew, pending, queued)
	if grew > 10 {
		t.Errorf("%d workers waiting for their socket check cost %d goroutines, want a few for the whole manager", n, grew)
	}
	if pending != 1 || queued != n {
		t.Errorf("%d timers pending and %d checks queued, want 1 and %d", pending, queued, n)
	}
}
