package manager

import (
	"context"
	"os"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pmux/pmux/internal/sdnotify"
	"github.com/pmux/pmux/signalmap"
	"github.com/pmux/pmux/spawn"
	"github.com/pmux/pmux/status"
)

// fakeClock fires timers only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	clock *fakeClock
	at    time.Time
	f     func()
	done  bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clock: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// Advance moves time forward, firing due timers in order.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		sort.SliceStable(c.timers, func(i, j int) bool { return c.timers[i].at.Before(c.timers[j].at) })
		var next *fakeTimer
		for _, t := range c.timers {
			if !t.done && !t.at.After(end) {
				next = t
				break
			}
		}
		if next == nil {
			break
		}
		next.done = true
		c.now = next.at
		c.mu.Unlock()
		next.f()
		c.mu.Lock()
	}
	c.now = end
	c.mu.Unlock()
}

// call is one thing the manager asked of the fake spawner.
type call struct {
	start  bool
	pid    int
	spec   spawn.Spec
	signal syscall.Signal
	depth  int // how many frames deep the manager asked for a start
}

type fakeSpawner struct {
	mu      sync.Mutex
	nextPid int
	exits   []spawn.Exit
	failing bool
	// failWith, when set, fails every start once okStarts have succeeded;
	// attempts counts every start asked for, failed or not.
	failWith error
	okStarts int
	attempts int
	live     map[int]bool
	// output is what each worker writes to its stdout as it starts.
	output string
	calls  chan call
	child  chan os.Signal
}

func newFakeSpawner() *fakeSpawner {
	return &fakeSpawner{nextPid: 1000, live: map[int]bool{}, calls: make(chan call, 1024), child: make(chan os.Signal, 1)}
}

func (f *fakeSpawner) Start(spec spawn.Spec) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.failing {
		return 0, syscall.ENOENT
	}
	if f.failWith != nil && f.okStarts <= 0 {
		return 0, f.failWith
	}
	f.okStarts--
	if f.output != "" && spec.Stdout != nil {
		spec.Stdout.Write([]byte(f.output))
	}
	f.nextPid++
	f.live[f.nextPid] = true
	f.calls <- call{start: true, pid: f.nextPid, spec: spec, depth: runtime.Callers(0, make([]uintptr, 1<<16))}
	return f.nextPid, nil
}

func (f *fakeSpawner) Signal(pid int, sig syscall.Signal) error {
	f.calls <- call{pid: pid, signal: sig}
	return nil
}

func (f *fakeSpawner) Reap() []spawn.Exit {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.exits
	f.exits = nil
	return e
}

// exit makes pid exit with an exit code (or a signal when sig != 0).
func (f *fakeSpawner) exit(pid, code int, sig syscall.Signal) {
	ws := syscall.WaitStatus(code << 8)
	if sig != 0 {
		ws = syscall.WaitStatus(sig)
	}
	f.mu.Lock()
	delete(f.live, pid)
	f.exits = append(f.exits, spawn.Exit{Pid: pid, Status: ws})
	f.mu.Unlock()
	select {
	case f.child <- syscall.SIGCHLD:
	default:
	}
}

// harness runs a Manager over the fakes.
type harness struct {
	t       *testing.T
	m       *Manager
	sp      *fakeSpawner
	clock   *fakeClock
	signals chan os.Signal
	notify  chan sdnotify.Message
	done    chan struct{} // closed when Run returns
	err     error         // Run's result, once done is closed
	sup     chan string
}

func newHarness(t *testing.T, profile signalmap.Profile, pools ...PoolConfig) *harness {
	t.Helper()
	return newHarnessWith(t, newFakeSpawner(), profile, pools...)
}

// newHarnessWith runs the Manager over sp, set up by the test beforehand.
func newHarnessWith(t *testing.T, sp *fakeSpawner, profile signalmap.Profile, pools ...PoolConfig) *harness {
	t.Helper()
	return newHarnessOpts(t, sp, profile, nil, pools...)
}

// newHarnessOpts is newHarnessWith with adjust applied to the options
// before the manager is created.
func newHarnessOpts(t *testing.T, sp *fakeSpawner, profile signalmap.Profile, adjust func(*Options), pools ...PoolConfig) *harness {
	t.Helper()
	h := &harness{
		t:       t,
		sp:      sp,
		clock:   &fakeClock{now: time.Unix(1_000_000, 0)},
		signals: make(chan os.Signal, 16),
		notify:  make(chan sdnotify.Message, 16),
		done:    make(chan struct{}),
		sup:     make(chan string, 64),
	}
	for i := range pools {
		if pools[i].StopSignal == 0 {
			pools[i].StopSignal = syscall.SIGTERM
		}
		if pools[i].QuickSignal == 0 {
			pools[i].QuickSignal = syscall.SIGINT
		}
		if pools[i].GracefulTimeout == 0 {
			pools[i].GracefulTimeout = 30 * time.Second
		}
		if pools[i].QuickTimeout == 0 {
			pools[i].QuickTimeout = 5 * time.Second
		}
		if pools[i].Name == "" {
			pools[i].Name = "web"
		}
	}
	opts := Options{
		Log:                zerolog.New(zerolog.NewTestWriter(t)),
		Spawner:            h.sp,
		Clock:              h.clock,
		Signals:            signalmap.For(profile),
		Pools:              pools,
		MasterPID:          1,
		ChildExited:        h.sp.child,
		Notify:             h.notify,
		NotifySocket:       "@test",
		Supervisor:         func(s string) { h.sup <- s },
		StopWorkersAllowed: true,
	}
	if adjust != nil {
		adjust(&opts)
	}
	h.m = New(opts)
	go func() {
		h.err = h.m.Run(context.Background(), h.signals)
		close(h.done)
	}()
	t.Cleanup(func() {
		select {
		case <-h.done:
		default:
			h.signals <- syscall.SIGINT
			h.sync()
			h.sp.mu.Lock()
			var live []int
			for pid := range h.sp.live {
				live = append(live, pid)
			}
			h.sp.mu.Unlock()
			for _, pid := range live {
				h.sp.exit(pid, 0, 0)
			}
			select {
			case <-h.done:
			case <-time.After(10 * time.Second):
				t.Error("manager did not stop")
			}
		}
	})
	return h
}

// next returns the manager's next call to the spawner.
func (h *harness) next() call {
	h.t.Helper()
	select {
	case c := <-h.sp.calls:
		return c
	case <-time.After(5 * time.Second):
		h.t.Fatal("timed out waiting for the manager to start or signal a worker")
		return call{}
	}
}

func (h *harness) expectStart() call {
	h.t.Helper()
	c := h.next()
	if !c.start {
		h.t.Fatalf("got signal %v to %d, want a start", c.signal, c.pid)
	}
	return c
}

func (h *harness) expectSignal(pid int, sig syscall.Signal) {
	h.t.Helper()
	c := h.next()
	if c.start || c.pid != pid || c.signal != sig {
		h.t.Fatalf("got %+v, want signal %v to %d", c, sig, pid)
	}
}

// expectQuiet asserts the manager asks nothing more once it has drained
// every pending event.
func (h *harness) expectQuiet() {
	h.t.Helper()
	h.sync()
	select {
	case c := <-h.sp.calls:
		h.t.Fatalf("unexpected call %+v", c)
	default:
	}
}

// sync waits until the loop has handled everything sent so far (signals and
// exits go through channels the loop selects on in any order, so this
// repeats a no-op query until those channels are drained).
func (h *harness) sync() {
	h.t.Helper()
	for i := 0; i < 100; i++ {
		if err := h.m.Query(context.Background(), func() {}); err != nil {
			return
		}
		if len(h.signals) == 0 && len(h.sp.child) == 0 && len(h.notify) == 0 && len(h.m.events) == 0 {
			if err := h.m.Query(context.Background(), func() {}); err != nil {
				return
			}
			return
		}
	}
}

func (h *harness) status() status.Status {
	h.t.Helper()
	st, err := h.m.Status(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

func (h *harness) ready(pid int) {
	h.notify <- sdnotify.Message{Pid: pid, Fields: map[string]string{"READY": "1"}}
}

func (h *harness) finished() error {
	h.t.Helper()
	select {
	case <-h.done:
		return h.err
	case <-time.After(5 * time.Second):
		h.t.Fatal("manager did not return")
		return nil
	}
}

// advance moves the fake clock once the loop has armed every timer the
// events so far ask for.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.sync()
	h.clock.Advance(d)
}
