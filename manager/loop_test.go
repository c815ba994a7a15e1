package manager

import (
	"context"
	"errors"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/internal/sdnotify"
	"github.com/pmux/pmux/signalmap"
	"github.com/pmux/pmux/sockets"
	"github.com/pmux/pmux/status"
)

func (h *harness) ping(pid int) {
	h.notify <- sdnotify.Message{Pid: pid, Fields: map[string]string{"WATCHDOG": "1"}}
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

// supState waits for the next state the manager tells its supervisor.
func (h *harness) supState() string {
	h.t.Helper()
	select {
	case s := <-h.sup:
		return s
	case <-time.After(5 * time.Second):
		h.t.Fatal("no state sent to the supervisor")
		return ""
	}
}

// The new master of an upgrade says READY=1 and STATUS= again once it is
// the supervisor's main pid: what it sent before, systemd dropped.
func TestNewMasterTellsSupervisorAgainAfterTheHandOver(t *testing.T) {
	for _, tc := range []struct {
		name        string
		readyBefore bool // the new master's worker is ready before the old master exits
	}{
		{"ready before the hand-over", true},
		{"ready after the hand-over", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parentExited := make(chan struct{})
			h := newHarnessOpts(t, newFakeSpawner(), signalmap.Unicorn, func(o *Options) {
				o.Upgrade = &UpgradeOptions{Handover: &fakeHandover{}, Parent: 99, ParentExited: parentExited}
			}, PoolConfig{Workers: 1, Ready: ReadyNotify})
			pid := h.expectStart().pid
			const status = "STATUS=web: 1 workers, generation 1"
			if tc.readyBefore {
				h.ready(pid)
				if s := h.supState(); s != "READY=1\n"+status {
					t.Fatalf("state %q before the hand-over, want READY=1 and %s", s, status)
				}
			}
			close(parentExited)
			if s := h.supState(); s != "MAINPID=1" {
				t.Fatalf("first state after the hand-over %q, want MAINPID=1", s)
			}
			if tc.readyBefore {
				if s := h.supState(); s != "READY=1\n"+status {
					t.Fatalf("state %q after MAINPID=, want READY=1 and %s again", s, status)
				}
			} else {
				if s := h.supState(); s != status {
					t.Fatalf("state %q after MAINPID=, want %s (not ready yet)", s, status)
				}
				h.ready(pid)
				if s := h.supState(); s != "READY=1\n"+status {
					t.Fatalf("state %q once ready, want READY=1 and %s", s, status)
				}
			}
			h.sync()
			select {
			case s := <-h.sup:
				t.Errorf("unexpected state %q", s)
			default:
			}
		})
	}
}

// A new master that feeds systemd's watchdog pings as it becomes the main
// pid: the pings it sent before were dropped under NotifyAccess=main.
func TestNewMasterPingsTheWatchdogAsItTakesOver(t *testing.T) {
	parentExited := make(chan struct{})
	h := newHarnessOpts(t, newFakeSpawner(), signalmap.Unicorn, func(o *Options) {
		o.Upgrade = &UpgradeOptions{Handover: &fakeHandover{}, Parent: 99, ParentExited: parentExited}
		o.SupervisorWatchdog = 2 * time.Second
	}, PoolConfig{Workers: 1})
	h.expectStart()
	if s := h.supState(); s != "WATCHDOG=1" {
		t.Fatalf("first state %q, want the start's WATCHDOG=1", s)
	}
	close(parentExited)
	if s := h.supState(); s != "MAINPID=1\nWATCHDOG=1" {
		t.Fatalf("first state after the hand-over %q, want MAINPID=1 with WATCHDOG=1", s)
	}
}

// procRead is one hanging /proc read of the fake RSS reader: it returns
// once the test closes gate.
type procRead struct {
	pid  int
	gate chan struct{}
}

// /proc reads for a status never run on the loop: while they hang, the
// loop handles TTIN and TTOU, and the master stops without waiting for a
// status request that is still reading.
func TestStatusReadsProcOffTheLoop(t *testing.T) {
	reads := make(chan procRead, 16)
	h := newHarnessOpts(t, newFakeSpawner(), signalmap.Unicorn, func(o *Options) {
		o.RSS = func(pid int) (int64, error) {
			r := procRead{pid, make(chan struct{})}
			reads <- r
			<-r.gate
			return 4096, nil
		}
	}, PoolConfig{Workers: 1})
	first := h.expectStart().pid
	nextRead := func(what string) procRead {
		t.Helper()
		select {
		case r := <-reads:
			return r
		case <-time.After(5 * time.Second):
			t.Fatalf("%s never read a worker's size", what)
			return procRead{}
		}
	}
	// status_dump (PWR): its read hangs, the loop goes on.
	if err := h.m.Do(context.Background(), signalmap.StatusDump); err != nil {
		t.Fatal(err)
	}
	dump := nextRead("status_dump")
	h.signals <- syscall.SIGTTIN
	second := h.expectStart().pid
	// A status request: its read hangs too, on the caller's goroutine.
	got := make(chan status.Status, 1)
	go func() {
		st, err := h.m.Status(context.Background())
		if err != nil {
			t.Errorf("Status: %v", err)
		}
		got <- st
	}()
	status := nextRead("the status request")
	h.signals <- syscall.SIGTTOU
	h.expectSignal(second, syscall.SIGTERM)
	h.sp.exit(second, 0, 0)
	// The dump ends (the loop joins it as it returns); the status request
	// still hangs while the master stops.
	close(dump.gate)
	h.signals <- syscall.SIGINT
	h.expectSignal(first, syscall.SIGINT)
	h.sp.exit(first, 0, 0)
	if err := h.finished(); err != nil {
		t.Fatal(err)
	}
	close(status.gate)
	close(nextRead("the status request's second worker").gate)
	st := <-got
	if ws := st.Pools[0].Workers; len(ws) != 2 || ws[0].RSS != 4096 || ws[1].RSS != 4096 {
		t.Errorf("status workers %+v, want both with the size read off the loop", ws)
	}
}

// openListeners binds n loopback listeners, closed when the test ends.
func openListeners(t *testing.T, n int) []*sockets.Listener {
	t.Helper()
	var specs []sockets.Spec
	for i := range n {
		spec, err := sockets.Parse("127.0.0.1:0?name=l" + strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, spec)
	}
	ls, err := sockets.Open(specs, sockets.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, l := range ls {
			l.Close()
		}
	})
	return ls
}

// A listener closes with its last user: a bind a reload drops stays open
// while the worker that had it drains, and closes when it exits; a reload
// read meanwhile that names the bind again keeps it (no re-bind), even
// when that worker exits before the reload applies.
func TestListenerClosesWithItsLastUser(t *testing.T) {
	sp := sockets.NewPool(nil)
	t.Cleanup(sp.Close)
	spec := func(name string) sockets.Spec {
		s, err := sockets.Parse("127.0.0.1:0?name=" + name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := spec("a"), spec("b")
	acquire := func(specs ...sockets.Spec) []*sockets.Listener {
		ls, err := sp.Acquire(context.Background(), specs, sockets.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return ls
	}
	open := func(l *sockets.Listener) bool {
		c, err := net.DialTimeout("tcp", l.Addr(), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	old := acquire(a)[0]
	reloads := make(chan *Reloaded)
	h := newHarnessOpts(t, newFakeSpawner(), signalmap.Unicorn, func(o *Options) {
		o.Reload = func(context.Context) (*Reloaded, error) { return <-reloads, nil }
		o.Listeners = sp
	}, PoolConfig{Workers: 1, Listeners: []*sockets.Listener{old}})
	pool := func(listeners []*sockets.Listener) *Reloaded {
		return &Reloaded{Signals: signalmap.For(signalmap.Unicorn), Pools: []PoolConfig{{Name: "web", Workers: 1,
			StopSignal: syscall.SIGTERM, QuickSignal: syscall.SIGINT, GracefulTimeout: time.Minute, QuickTimeout: time.Second,
			Listeners: listeners}}}
	}
	first := h.expectStart().pid
	// A reload drops a's bind: the first worker, the last to use it, stops.
	h.signals <- syscall.SIGHUP
	reloads <- pool(acquire(b))
	second := h.expectStart().pid
	h.expectSignal(first, syscall.SIGTERM)
	h.sync()
	if !open(old) {
		t.Fatal("a closed while the worker that has it drains")
	}
	// Another reload, naming a again, is read; the first worker exits
	// before it applies.
	h.signals <- syscall.SIGHUP
	next := pool(acquire(a, b))
	h.sp.exit(first, 0, 0)
	h.sync()
	if !open(old) {
		t.Fatal("a closed while a reload that names it was read")
	}
	reloads <- next
	third := h.expectStart()
	if n := len(third.spec.Files); n != 2 || next.Pools[0].Listeners[0] != old {
		t.Fatalf("new worker got %d listeners, a reused: %v; want 2, the same a", n, next.Pools[0].Listeners[0] == old)
	}
	h.expectSignal(second, syscall.SIGTERM)
	h.sp.exit(second, 0, 0)
	// A last reload drops a for good: it closes once its worker is gone.
	h.signals <- syscall.SIGHUP
	reloads <- pool(acquire(b))
	h.expectStart()
	h.expectSignal(third.pid, syscall.SIGTERM)
	h.sync()
	if !open(old) {
		t.Fatal("a closed while its last worker drains")
	}
	h.sp.exit(third.pid, 0, 0)
	h.sync()
	if open(old) {
		t.Error("a still open after its last worker exited and no pool names it")
	}
}

// A reload stuck off the loop (its DNS lookup never answers) holds up
// neither signals nor the exit: the loop handles TTIN meanwhile, and a
// stop ends the reload's context, so Run returns at once.
func TestStuckReloadHoldsUpNeitherSignalsNorExit(t *testing.T) {
	asked := make(chan struct{})
	gaveUp := make(chan error, 1)
	h := newHarnessOpts(t, newFakeSpawner(), signalmap.Unicorn, func(o *Options) {
		o.Reload = func(ctx context.Context) (*Reloaded, error) {
			close(asked)
			<-ctx.Done()
			gaveUp <- ctx.Err()
			return nil, ctx.Err()
		}
	}, PoolConfig{Workers: 1})
	first := h.expectStart().pid
	h.signals <- syscall.SIGHUP
	<-asked
	h.signals <- syscall.SIGTTIN
	second := h.expectStart().pid
	h.signals <- syscall.SIGINT
	for range 2 {
		c := h.next()
		if c.start || c.signal != syscall.SIGINT || (c.pid != first && c.pid != second) {
			t.Fatalf("got %+v, want INT to a worker", c)
		}
	}
	h.sp.exit(first, 0, 0)
	h.sp.exit(second, 0, 0)
	if err := h.finished(); err != nil {
		t.Fatal(err)
	}
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Errorf("the reload's context ended with %v, want it cancelled by the stop", err)
	}
}
