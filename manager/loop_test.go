package manager

import (
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/signalmap"
)

func (h *harness) ping(pid int) {
	h.notify <- NotifyMessage{Pid: pid, Fields: map[string]string{"WATCHDOG": "1"}}
}

// --watchdog works with every readiness mode: the worker gets the notify
// socket and WATCHDOG_USEC, is ready as its mode says, is kept while it
// pings and killed one period after readiness once it does not.
func TestWatchdogWithoutNotifyReadiness(t *testing.T) {
	const period = 2 * time.Second
	for _, tc := range []struct {
		name  string
		ready ReadyMode
		delay time.Duration
	}{
		{"none", ReadyAtExec, 0},
		{"delay", ReadyDelay, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: 1, Ready: tc.ready, ReadyDelay: tc.delay, Watchdog: period})
			c := h.expectStart()
			env := envOf(c)
			if env["NOTIFY_SOCKET"] != "@test" || env["WATCHDOG_USEC"] != "2000000" {
				t.Fatalf("worker env NOTIFY_SOCKET=%q WATCHDOG_USEC=%q, want @test and 2000000", env["NOTIFY_SOCKET"], env["WATCHDOG_USEC"])
			}
			pid := c.pid
			// Ready as the mode says, not on READY=1 (which it never sends).
			h.advance(tc.delay)
			if st := h.status().Pools[0].Workers[0].State; st != "ready" {
				t.Fatalf("state %s after the mode's delay, want ready", st)
			}
			// Pings keep it, for many periods.
			for range 5 {
				h.advance(period / 2)
				h.ping(pid)
			}
			h.expectQuiet()
			// Silence kills it one period after the last ping.
			h.advance(period - time.Millisecond)
			h.expectQuiet()
			h.advance(time.Millisecond)
			h.expectSignal(pid, syscall.SIGKILL)
			h.sp.exit(pid, 0, syscall.SIGKILL)
			next := h.expectStart().pid
			// The replacement never pings: it goes one period after readiness.
			h.advance(tc.delay)
			h.advance(period - time.Millisecond)
			h.expectQuiet()
			h.advance(time.Millisecond)
			h.expectSignal(next, syscall.SIGKILL)
		})
	}
}
