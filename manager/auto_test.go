package manager

import (
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/internal/proc"
	"github.com/pmux/pmux/signalmap"
)

// fakeGroups stands in for /proc: the test says which worker groups wait
// on their sockets, and counts the looks.
type fakeGroups struct {
	mu      sync.Mutex
	waiting map[int]bool
	looks   map[int]int
	sockets map[int]map[uint64]bool
}

func newFakeGroups() *fakeGroups {
	return &fakeGroups{waiting: map[int]bool{}, looks: map[int]int{}, sockets: map[int]map[uint64]bool{}}
}

func (f *fakeGroups) set(pgid int, waiting bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waiting[pgid] = waiting
}

func (f *fakeGroups) lookCount(pgid int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.looks[pgid]
}

func (f *fakeGroups) install(o *Options) {
	o.NewGroup = func(pgid int, inodes []uint64) GroupProbe {
		if len(inodes) == 0 {
			panic("a probe without sockets")
		}
		return fakeGroup{f, pgid}
	}
}

type fakeGroup struct {
	f    *fakeGroups
	pgid int
}

func (g fakeGroup) Waiting() (proc.Wait, error) {
	g.f.mu.Lock()
	defer g.f.mu.Unlock()
	g.f.looks[g.pgid]++
	if g.f.waiting[g.pgid] {
		return proc.Wait{Kind: proc.WaitAccept, Pid: g.pgid, Tid: g.pgid}, nil
	}
	return proc.Wait{}, nil
}

func (g fakeGroup) Rescan(bool) error { return nil }

func (g fakeGroup) Sockets() map[uint64]bool {
	g.f.mu.Lock()
	defer g.f.mu.Unlock()
	return g.f.sockets[g.pgid]
}

// step advances the fake clock by d, n times, letting the loop handle each
// look (and arm the next) in between.
func (h *harness) step(d time.Duration, n int) {
	h.t.Helper()
	for range n {
		h.advance(d)
	}
	h.sync()
}

func autoPool(t *testing.T, workers int) PoolConfig {
	return PoolConfig{Workers: workers, Ready: ReadyAuto, BootTimeout: 10 * time.Second, Listeners: openListeners(t, 1)}
}

func stateOf(h *harness, pid int) string {
	for _, p := range h.status().Pools {
		for _, w := range p.Workers {
			if w.Pid == pid {
				return w.State
			}
		}
	}
	return "gone"
}

// A worker is ready once seen waiting, and from then on nothing looks at
// it: the probe runs only while a worker boots.
func TestAutoReadyOnceSeenWaitingThenNoMoreLooks(t *testing.T) {
	g := newFakeGroups()
	h := newHarnessOpts(t, newFakeSpawner(), signalmap.Unicorn, g.install, autoPool(t, 1))
	pid := h.expectStart().pid
	h.step(10*time.Millisecond, 100) // a second of booting
	if st := stateOf(h, pid); st != "starting" {
		t.Fatalf("state before it waits = %s, want starting", st)
	}
	booting := g.lookCount(pid)
	// 5 ms growing by half to 50 ms: about 25 looks in the first second.
	if booting < 10 || booting > 40 {
		t.Errorf("%d looks in a second of boot, want the 5 ms..50 ms back-off's ~25", booting)
	}
	t.Logf("looks in the first second of a boot: %d", booting)
	g.set(pid, true)
	h.step(10*time.Millisecond, 6)
	if st := stateOf(h, pid); st != "ready" {
		t.Fatalf("state once it waits = %s, want ready", st)
	}
	after := g.lookCount(pid)
	h.step(time.Second, 30)
	if n := g.lookCount(pid); n != after {
		t.Errorf("%d looks at a ready worker over 30 s, want none", n-after)
	}
	h.expectQuiet()
}

// reloadAfterSeen starts one auto worker, lets it be seen waiting, sends
// HUP and returns the old worker and the new one, booting.
func reloadAfterSeen(t *testing.T) (h *harness, g *fakeGroups, old, n int) {
	t.Helper()
	g = newFakeGroups()
	h = newHarnessOpts(t, newFakeSpawner(), signalmap.Unicorn, g.install, autoPool(t, 1))
	old = h.expectStart().pid
	g.set(old, true)
	h.step(10*time.Millisecond, 5)
	h.signals <- syscall.SIGHUP
	return h, g, old, h.expectStart().pid
}

// A reload under auto is surge-first: the old worker is stopped only once
// the new one was seen waiting.
func TestAutoReloadStopsOldWorkerOnlyOnceNewOneWaits(t *testing.T) {
	h, g, old, n := reloadAfterSeen(t)
	h.step(50*time.Millisecond, 20)
	h.expectQuiet() // the old one serves on while the new one boots
	g.set(n, true)
	h.step(10*time.Millisecond, 6)
	h.expectSignal(old, syscall.SIGTERM)
}

// A server pmux cannot see: at the boot timeout the worker counts as
// ready, not as a failed boot, since no worker of the pool was ever seen.
func TestAutoNeverSeenCountsAsReadyAtBootTimeout(t *testing.T) {
	g := newFakeGroups()
	h := newHarnessOpts(t, newFakeSpawner(), signalmap.Unicorn, g.install, autoPool(t, 2))
	a, b := h.expectStart().pid, h.expectStart().pid
	h.step(100*time.Millisecond, 99)
	if stateOf(h, a) != "starting" || stateOf(h, b) != "starting" {
		t.Fatalf("ready before the boot timeout: %+v", h.status().Pools[0].Workers)
	}
	h.step(100*time.Millisecond, 2)
	if stateOf(h, a) != "ready" || stateOf(h, b) != "ready" {
		t.Fatalf("not ready at the boot timeout: %+v", h.status().Pools[0].Workers)
	}
	if got := <-h.sup; !strings.HasPrefix(got, "READY=1\n") {
		t.Errorf("supervisor told %q, want READY=1", got)
	}
	h.expectQuiet()
}

// Once a worker of the pool was seen, one that is not by the boot timeout
// failed its boot, as with notify; the old worker keeps serving.
func TestAutoUnseenAfterSeenIsAFailedBoot(t *testing.T) {
	h, _, old, n := reloadAfterSeen(t)
	h.step(100*time.Millisecond, 101)
	h.expectSignal(n, syscall.SIGKILL)
	h.sp.exit(n, 0, syscall.SIGKILL)
	h.sync()
	if stateOf(h, old) != "ready" {
		t.Errorf("old worker not serving: %+v", h.status().Pools[0].Workers)
	}
}

// A pool without sockets has nothing to wait on: ready at exec.
func TestAutoWithoutSocketsIsReadyAtExec(t *testing.T) {
	g := newFakeGroups()
	h := newHarnessOpts(t, newFakeSpawner(), signalmap.Unicorn, g.install, PoolConfig{Workers: 1, Ready: ReadyAuto, BootTimeout: time.Second})
	pid := h.expectStart().pid
	h.sync()
	if st := stateOf(h, pid); st != "ready" {
		t.Errorf("state = %s, want ready at exec", st)
	}
}

func (f *fakeGroups) setSockets(pgid int, inodes ...uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	set := map[uint64]bool{}
	for _, ino := range inodes {
		set[ino] = true
	}
	f.sockets[pgid] = set
}

// timeoutHarness runs one auto worker with a 4 s --timeout, seen waiting
// and ready.
func timeoutHarness(t *testing.T) (*harness, *fakeGroups, int) {
	t.Helper()
	g := newFakeGroups()
	cfg := autoPool(t, 1)
	cfg.Timeout = 4 * time.Second
	h := newHarnessOpts(t, newFakeSpawner(), signalmap.Unicorn, g.install, cfg)
	pid := h.expectStart().pid
	g.set(pid, true)
	h.step(10*time.Millisecond, 5)
	if st := stateOf(h, pid); st != "ready" {
		t.Fatalf("state %s, want ready", st)
	}
	return h, g, pid
}

// Stuck in one request (busy, the same connection at every look): killed
// once busy for the timeout, and replaced.
func TestTimeoutKillsAWorkerStuckInOneRequest(t *testing.T) {
	h, g, pid := timeoutHarness(t)
	h.step(time.Second, 3) // idle: seen waiting
	g.set(pid, false)
	g.setSockets(pid, 77)
	h.step(time.Second, 3)
	h.expectQuiet() // busy 3 s of 4
	h.step(time.Second, 2)
	h.expectSignal(pid, syscall.SIGKILL)
	h.sp.exit(pid, 0, syscall.SIGKILL)
	h.expectStart()
}

// Busy at every look but on a new connection each time (a saturated
// server that never blocks in accept), or waiting now and then: never
// touched.
func TestTimeoutSparesABusyWorkerThatServes(t *testing.T) {
	h, g, pid := timeoutHarness(t)
	g.set(pid, false)
	for i := range 20 {
		g.setSockets(pid, uint64(100+i))
		h.step(time.Second, 1)
	}
	for i := range 20 {
		g.set(pid, i%3 == 0)
		h.step(time.Second, 1)
	}
	h.expectQuiet()
	if st := stateOf(h, pid); st != "ready" {
		t.Errorf("state %s, want ready", st)
	}
}

// A worker never seen waiting (a server pmux cannot read) is never timed
// out: stuck and busy look the same there.
func TestTimeoutSparesAWorkerNeverSeenWaiting(t *testing.T) {
	g := newFakeGroups()
	cfg := autoPool(t, 1)
	cfg.Ready, cfg.Timeout = ReadyNotify, 4*time.Second
	h := newHarnessOpts(t, newFakeSpawner(), signalmap.Unicorn, g.install, cfg)
	pid := h.expectStart().pid
	h.ready(pid)
	g.setSockets(pid, 5)
	h.step(time.Second, 30)
	h.expectQuiet()
}

func activityOf(h *harness, pid int) (string, float64) {
	for _, p := range h.status().Pools {
		for _, w := range p.Workers {
			if w.Pid == pid {
				return w.Activity, w.ActivitySeconds
			}
		}
	}
	return "gone", 0
}

// Status says what each worker does: booting, then waiting or busy, and
// how long it has been so, from one status to the next.
func TestStatusShowsBootingWaitingBusy(t *testing.T) {
	g := newFakeGroups()
	h := newHarnessOpts(t, newFakeSpawner(), signalmap.Unicorn, g.install, autoPool(t, 1))
	pid := h.expectStart().pid
	h.step(100*time.Millisecond, 10)
	if a, secs := activityOf(h, pid); a != "booting" || secs < 0.9 {
		t.Errorf("booting worker: %s for %vs, want booting for 1s", a, secs)
	}
	g.set(pid, true)
	h.step(50*time.Millisecond, 2)
	h.step(time.Second, 2)
	if a, secs := activityOf(h, pid); a != "waiting" || secs < 1.9 {
		t.Errorf("idle worker: %s for %vs, want waiting since it was seen, 2s ago", a, secs)
	}
	g.set(pid, false)
	g.setSockets(pid, 9)
	if a, _ := activityOf(h, pid); a != "busy" {
		t.Errorf("serving worker: %s, want busy", a)
	}
	h.step(time.Second, 3)
	if a, secs := activityOf(h, pid); a != "busy" || secs < 3 {
		t.Errorf("serving worker 3s later: %s for %vs, want busy for 3s or more", a, secs)
	}
	g.set(pid, true)
	if a, secs := activityOf(h, pid); a != "waiting" || secs != 0 {
		t.Errorf("worker done serving: %s for %vs, want waiting for 0s", a, secs)
	}
}
