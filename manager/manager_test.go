package manager

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/internal/sdnotify"
	"github.com/pmux/pmux/signalmap"
	"github.com/pmux/pmux/spawn"
)

func envOf(c call) map[string]string {
	env := map[string]string{}
	for _, kv := range c.spec.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

func TestStartsEveryWorkerWithSlotAndGeneration(t *testing.T) {
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: 3, Args: []string{"app"}, Env: []string{"PMUX_WORKER=stale", "A=1"}})
	slots := map[string]bool{}
	for i := 0; i < 3; i++ {
		c := h.expectStart()
		env := envOf(c)
		slots[env["PMUX_WORKER"]] = true
		if env["PMUX_GENERATION"] != "1" || env["PMUX_MASTER_PID"] != "1" || env["A"] != "1" {
			t.Errorf("env %v", c.spec.Env)
		}
		if n := strings.Count(strings.Join(c.spec.Env, "\n"), "PMUX_WORKER="); n != 1 {
			t.Errorf("PMUX_WORKER appears %d times", n)
		}
		if c.spec.ParentDeathSignal != syscall.SIGTERM {
			t.Errorf("parent-death signal %v, want the stop signal", c.spec.ParentDeathSignal)
		}
	}
	if len(slots) != 3 || !slots["0"] || !slots["2"] {
		t.Errorf("slots %v", slots)
	}
	h.expectQuiet()
}

// TestReadyAtExecStartsInALoop: a worker ready at exec makes the pool start
// the next one, and that is done from one loop, not from inside the last
// start: the spawner is asked at the same depth for the 300th worker as for
// the first, at boot and in a reload, so a big pool costs the master no
// deeper stack.
func TestReadyAtExecStartsInALoop(t *testing.T) {
	const n = 300
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: n, Ready: ReadyAtExec})
	starts := func() (pids []int) {
		first := 0
		for i := range n {
			c := h.expectStart()
			if i == 0 {
				first = c.depth
			} else if c.depth != first {
				t.Fatalf("start %d asked %d frames deep, the first %d", i+1, c.depth, first)
			}
			pids = append(pids, c.pid)
		}
		return pids
	}
	old := starts()
	h.signals <- syscall.SIGHUP
	starts()
	for range old {
		if c := h.next(); c.start || c.signal != syscall.SIGTERM {
			t.Fatalf("after the reload's starts: %+v, want a TERM to an old worker", c)
		}
	}
	h.expectQuiet()
}

func TestCrashRespawnsWithBackoff(t *testing.T) {
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: 1})
	pid := h.expectStart().pid
	h.advance(bootGrace) // it booted: its crashes are no failed start
	// First crash: at once.
	h.sp.exit(pid, 1, 0)
	pid = h.expectStart().pid
	for _, delay := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		h.sp.exit(pid, 1, 0)
		h.expectQuiet()
		h.advance(delay - time.Millisecond)
		h.expectQuiet()
		h.advance(time.Millisecond)
		pid = h.expectStart().pid
	}
	// A worker that stayed up past healthyUptime resets the backoff.
	h.advance(healthyUptime)
	h.sp.exit(pid, 1, 0)
	pid = h.expectStart().pid
	h.sp.exit(pid, 1, 0)
	h.expectQuiet()
	h.advance(firstBackoff)
	h.expectStart()
	if st := h.status(); st.Pools[0].Workers[0].Restarts != 6 {
		t.Errorf("restarts %d, want 6", st.Pools[0].Workers[0].Restarts)
	}
}

func TestBackoffCapsAtThirtySeconds(t *testing.T) {
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: 1})
	pid := h.expectStart().pid
	h.advance(bootGrace)
	var last time.Duration
	for i := 0; i < 12; i++ {
		h.sp.exit(pid, 1, 0)
		h.sync()
		var waited time.Duration
		for {
			select {
			case c := <-h.sp.calls:
				pid = c.pid
			default:
				h.advance(100 * time.Millisecond)
				h.sync()
				waited += 100 * time.Millisecond
				continue
			}
			break
		}
		last = waited
	}
	if last > maxBackoff+100*time.Millisecond || last < maxBackoff {
		t.Errorf("last backoff %v, want %v", last, maxBackoff)
	}
}

func TestReloadIsSurgeFirst(t *testing.T) {
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: 2, Ready: ReadyNotify})
	a, b := h.expectStart().pid, h.expectStart().pid
	h.ready(a)
	h.ready(b)
	h.expectQuiet()
	h.signals <- syscall.SIGHUP
	c, d := h.expectStart(), h.expectStart()
	if envOf(c)["PMUX_GENERATION"] != "2" {
		t.Errorf("new worker generation %s", envOf(c)["PMUX_GENERATION"])
	}
	// Nothing old stops before its replacement is ready.
	h.expectQuiet()
	h.ready(c.pid)
	old := a
	if envOf(c)["PMUX_WORKER"] == "1" {
		old = b
	}
	h.expectSignal(old, syscall.SIGTERM)
	h.expectQuiet()
	h.ready(d.pid)
	other := a + b - old
	h.expectSignal(other, syscall.SIGTERM)
	h.sp.exit(a, 0, 0)
	h.sp.exit(b, 0, 0)
	h.expectQuiet()
	st := h.status()
	if len(st.Pools[0].Workers) != 2 || st.Pools[0].Generation != 2 {
		t.Errorf("status %+v", st)
	}
}

func TestRollingRestartReplacesOneSlotAtATime(t *testing.T) {
	h := newHarness(t, signalmap.Puma, PoolConfig{Workers: 3, Ready: ReadyNotify})
	var pids []int
	for i := 0; i < 3; i++ {
		pids = append(pids, h.expectStart().pid)
		h.ready(pids[i])
	}
	h.expectQuiet()
	h.signals <- syscall.SIGUSR1 // puma: rolling_restart
	for i := 0; i < 3; i++ {
		n := h.expectStart()
		h.expectQuiet() // the next slot waits for this one
		h.ready(n.pid)
		c := h.next()
		if c.signal != syscall.SIGTERM || !slices.Contains(pids, c.pid) {
			t.Fatalf("got %+v, want an old worker stopped", c)
		}
	}
	h.expectQuiet()
}

func TestFailedBootDuringReloadKeepsOldWorker(t *testing.T) {
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: 1, Ready: ReadyNotify, BootTimeout: time.Second})
	old := h.expectStart().pid
	h.ready(old)
	h.signals <- syscall.SIGHUP
	n := h.expectStart().pid
	h.advance(time.Second)
	h.expectSignal(n, syscall.SIGKILL)
	h.sp.exit(n, 0, syscall.SIGKILL)
	// The slot backs off and retries; the old worker is never touched.
	h.expectStart()
	st := h.status()
	if st.Pools[0].Workers[0].Pid != old || st.Pools[0].Workers[0].State != "ready" {
		t.Errorf("old worker not serving: %+v", st.Pools[0].Workers)
	}
}

func TestIncrDecrRespectFloor(t *testing.T) {
	for _, tc := range []struct {
		profile signalmap.Profile
		floor   int
	}{{signalmap.Unicorn, 0}, {signalmap.Gunicorn, 1}} {
		t.Run(string(tc.profile), func(t *testing.T) {
			h := newHarness(t, tc.profile, PoolConfig{Workers: 1})
			first := h.expectStart().pid
			h.signals <- syscall.SIGTTIN
			second := h.expectStart()
			if envOf(second)["PMUX_WORKER"] != "1" {
				t.Errorf("TTIN started slot %s, want 1", envOf(second)["PMUX_WORKER"])
			}
			h.signals <- syscall.SIGTTOU
			h.expectSignal(second.pid, syscall.SIGTERM)
			h.sp.exit(second.pid, 0, 0)
			h.signals <- syscall.SIGTTOU
			if tc.floor == 0 {
				h.expectSignal(first, syscall.SIGTERM)
				h.sp.exit(first, 0, 0)
			}
			h.signals <- syscall.SIGTTOU
			h.expectQuiet()
			if got := h.status().Pools[0].Target; got != tc.floor {
				t.Errorf("target %d, want the floor %d", got, tc.floor)
			}
		})
	}
}

func TestGracefulStopEscalatesToKill(t *testing.T) {
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: 1, GracefulTimeout: 3 * time.Second})
	pid := h.expectStart().pid
	h.signals <- syscall.SIGQUIT
	h.expectSignal(pid, syscall.SIGTERM)
	h.advance(3 * time.Second)
	h.expectSignal(pid, syscall.SIGKILL)
	h.sp.exit(pid, 0, syscall.SIGKILL)
	if err := h.finished(); err != nil {
		t.Fatal(err)
	}
}

func TestQuickStopHurriesGracefulStop(t *testing.T) {
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: 1})
	pid := h.expectStart().pid
	h.signals <- syscall.SIGQUIT
	h.expectSignal(pid, syscall.SIGTERM)
	h.signals <- syscall.SIGINT
	h.expectSignal(pid, syscall.SIGINT)
	h.advance(5 * time.Second)
	h.expectSignal(pid, syscall.SIGKILL)
	h.sp.exit(pid, 0, syscall.SIGKILL)
	h.finished()
}

func TestNoRespawnWhileStopping(t *testing.T) {
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: 2})
	a, b := h.expectStart().pid, h.expectStart().pid
	h.signals <- syscall.SIGQUIT
	h.next()
	h.next()
	h.sp.exit(a, 1, 0)
	h.expectQuiet()
	h.sp.exit(b, 0, 0)
	h.finished()
}

func TestStartFailureBacksOff(t *testing.T) {
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: 1})
	pid := h.expectStart().pid
	h.advance(bootGrace)
	h.sp.mu.Lock()
	h.sp.failing = true
	h.sp.mu.Unlock()
	h.sp.exit(pid, 1, 0)
	h.sync()
	h.sp.mu.Lock()
	h.sp.failing = false
	h.sp.mu.Unlock()
	h.expectQuiet()
	h.advance(firstBackoff)
	h.expectStart()
}

func TestWatchdogKillsSilentWorkerButForgivesLateMaster(t *testing.T) {
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: 1, Ready: ReadyNotify, Watchdog: 2 * time.Second})
	pid := h.expectStart().pid
	h.ready(pid)
	h.sync()
	h.notify <- sdnotify.Message{Pid: pid, Fields: map[string]string{"WATCHDOG": "1"}}
	h.sync()
	h.advance(1900 * time.Millisecond)
	h.expectQuiet()
	// Jumping far past the deadline is what a suspended master sees.
	h.advance(10 * time.Second)
	h.expectQuiet()
	h.advance(2 * time.Second)
	h.expectSignal(pid, syscall.SIGKILL)
	h.sp.exit(pid, 0, syscall.SIGKILL)
	h.expectStart()
}

func TestNotifyFromStrangerIgnored(t *testing.T) {
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: 1, Ready: ReadyNotify})
	pid := h.expectStart().pid
	h.notify <- sdnotify.Message{Pid: pid + 100, Fields: map[string]string{"READY": "1"}}
	h.sync()
	if st := h.status(); st.Pools[0].Workers[0].State != "starting" {
		t.Errorf("state %s after a stranger's READY=1, want starting", st.Pools[0].Workers[0].State)
	}
}

func TestStopWorkersThenReloadBringsThemBack(t *testing.T) {
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: 2})
	a, b := h.expectStart().pid, h.expectStart().pid
	h.signals <- syscall.SIGWINCH
	h.next()
	h.next()
	h.sp.exit(a, 0, 0)
	h.sp.exit(b, 0, 0)
	h.expectQuiet()
	if n := len(h.status().Pools[0].Workers); n != 0 {
		t.Fatalf("%d workers after WINCH", n)
	}
	h.signals <- syscall.SIGHUP
	h.expectStart()
	h.expectStart()
}

func TestSupervisorNotifications(t *testing.T) {
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: 1, Ready: ReadyNotify})
	pid := h.expectStart().pid
	h.ready(pid)
	if s := <-h.sup; !strings.HasPrefix(s, "READY=1") {
		t.Errorf("first state %q, want READY=1", s)
	}
	h.signals <- syscall.SIGHUP
	n := h.expectStart().pid
	if s := <-h.sup; !strings.HasPrefix(s, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Errorf("state %q, want RELOADING=1 with MONOTONIC_USEC", s)
	}
	h.ready(n)
	h.expectSignal(pid, syscall.SIGTERM)
	h.sp.exit(pid, 0, 0)
	if s := <-h.sup; !strings.HasPrefix(s, "READY=1") {
		t.Errorf("state %q after reload, want READY=1", s)
	}
	h.signals <- syscall.SIGQUIT
	if s := <-h.sup; s != "STOPPING=1" {
		t.Errorf("state %q, want STOPPING=1", s)
	}
}

func TestConfigReloadAddsRemovesAndReleases(t *testing.T) {
	reloads := make(chan *Reloaded, 1)
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Name: "web", Workers: 1}, PoolConfig{Name: "jobs", Workers: 1})
	h.m.opts.Reload = func(context.Context) (*Reloaded, error) { return <-reloads, nil }
	web, jobs := h.expectStart().pid, h.expectStart().pid
	reloads <- &Reloaded{Signals: signalmap.For(signalmap.Unicorn), Pools: []PoolConfig{
		{Name: "web", Workers: 2, StopSignal: syscall.SIGQUIT, QuickSignal: syscall.SIGINT, GracefulTimeout: time.Minute, QuickTimeout: time.Second},
		{Name: "extra", Workers: 1, StopSignal: syscall.SIGTERM, QuickSignal: syscall.SIGINT, GracefulTimeout: time.Minute, QuickTimeout: time.Second},
	}}
	h.signals <- syscall.SIGHUP
	// jobs is stopped with its own (old) stop signal; web's old worker too,
	// once its replacement is ready.
	var started, stopped []int
	for len(started) < 3 || len(stopped) < 2 {
		c := h.next()
		if c.start {
			started = append(started, c.pid)
			continue
		}
		if c.signal != syscall.SIGTERM {
			t.Errorf("worker %d stopped with %v, want its own config's TERM", c.pid, c.signal)
		}
		stopped = append(stopped, c.pid)
	}
	if !slices.Contains(stopped, web) || !slices.Contains(stopped, jobs) {
		t.Errorf("stopped %v, want %d and %d", stopped, web, jobs)
	}
	h.sp.exit(jobs, 0, 0)
	h.sp.exit(web, 0, 0)
	h.sync()
	st := h.status()
	var names []string
	for _, p := range st.Pools {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"web", "extra"}) {
		t.Errorf("pools %v after reload, want web and extra (jobs dropped once empty)", names)
	}
}

func TestFailedConfigReloadChangesNothing(t *testing.T) {
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: 1})
	h.m.opts.Reload = func(context.Context) (*Reloaded, error) { return nil, syscall.EINVAL }
	h.expectStart()
	h.advance(bootGrace) // under --ready none, READY=1 waits until the worker stayed up that long
	if s := h.supState(); !strings.HasPrefix(s, "READY=1") {
		t.Fatalf("state %q, want READY=1", s)
	}
	h.signals <- syscall.SIGHUP
	if s := <-h.sup; !strings.HasPrefix(s, "RELOADING=1") {
		t.Errorf("state %q, want RELOADING=1", s)
	}
	if s := <-h.sup; !strings.HasPrefix(s, "READY=1") {
		t.Errorf("state %q, want READY=1 after the failed reload", s)
	}
	h.expectQuiet()
	if g := h.status().Pools[0].Generation; g != 1 {
		t.Errorf("generation %d after a failed reload, want 1", g)
	}
}

// A reload is finished when its new generation serves alone, or when its
// configuration fails; until the configuration is read, the old generation
// serving is not its end (no READY=1 to systemd, nothing finished).
func TestReloadIsFinishedWhenItsGenerationServesOrItFails(t *testing.T) {
	reloads := make(chan error, 1)
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Name: "web", Workers: 1, Ready: ReadyNotify})
	h.m.opts.Reload = func(context.Context) (*Reloaded, error) {
		if err := <-reloads; err != nil {
			return nil, err
		}
		return &Reloaded{Signals: signalmap.For(signalmap.Unicorn), Pools: []PoolConfig{
			{Name: "web", Workers: 1, Ready: ReadyNotify, StopSignal: syscall.SIGTERM, QuickSignal: syscall.SIGINT, GracefulTimeout: time.Minute, QuickTimeout: time.Second},
		}}, nil
	}
	old := h.expectStart().pid
	h.ready(old)
	<-h.sup // READY=1

	if err := h.m.Do(context.Background(), signalmap.Reload); err != nil {
		t.Fatal(err)
	}
	if s := <-h.sup; !strings.HasPrefix(s, "RELOADING=1") {
		t.Fatalf("state %q, want RELOADING=1", s)
	}
	h.sync()
	select {
	case s := <-h.sup:
		t.Fatalf("state %q while the configuration is still being read, want none", s)
	default:
	}
	if r := h.status().Reload; r.Started != 1 || r.Finished != 0 {
		t.Fatalf("reload %+v while being read, want started 1, finished 0", r)
	}
	reloads <- nil
	n := h.expectStart().pid
	if r := h.status().Reload; r.Finished != 0 {
		t.Fatalf("reload %+v before the new generation is ready, want finished 0", r)
	}
	h.ready(n)
	h.expectSignal(old, syscall.SIGTERM)
	h.sp.exit(old, 0, 0)
	if s := <-h.sup; !strings.HasPrefix(s, "READY=1") {
		t.Fatalf("state %q once generation 2 serves alone, want READY=1", s)
	}
	if r := h.status().Reload; r.Started != 1 || r.Finished != 1 || r.Error != "" {
		t.Fatalf("reload %+v after it served, want started 1, finished 1, no error", r)
	}

	h.signals <- syscall.SIGHUP
	<-h.sup // RELOADING=1
	reloads <- errors.New("config pmux.toml: line 3: bad")
	if s := <-h.sup; !strings.HasPrefix(s, "READY=1") {
		t.Fatalf("state %q after the failed reload, want READY=1", s)
	}
	if r := h.status().Reload; r.Started != 2 || r.Finished != 2 || r.Error != "config pmux.toml: line 3: bad" {
		t.Fatalf("reload %+v after a failed one, want started 2, finished 2 and its error", r)
	}
}

// batchSpawner is a fakeSpawner that also starts workers in batches, as
// the real one does on several threads, and says each batch's size.
type batchSpawner struct {
	*fakeSpawner
	batches chan int
}

func (b *batchSpawner) StartAll(specs []spawn.Spec) []spawn.Started {
	b.batches <- len(specs)
	out := make([]spawn.Started, len(specs))
	for i, spec := range specs {
		out[i].Pid, out[i].Err = b.Start(spec)
	}
	return out
}

// TestReloadStartsItsWorkersInOneBatch: a boot and a reload hand all their
// workers to the spawner at once, so they fork side by side and none waits
// behind a slow one; a rolling restart still starts one slot at a time.
func TestReloadStartsItsWorkersInOneBatch(t *testing.T) {
	const n = 8
	start := func(profile signalmap.Profile) (*harness, *batchSpawner) {
		sp := &batchSpawner{newFakeSpawner(), make(chan int, 64)}
		return newHarnessOpts(t, sp.fakeSpawner, profile, func(o *Options) { o.Spawner = sp },
			PoolConfig{Workers: n, Ready: ReadyNotify}), sp
	}
	batch := func(h *harness, sp *batchSpawner, want int) []int {
		t.Helper()
		select {
		case got := <-sp.batches:
			if got != want {
				t.Fatalf("a batch of %d starts, want %d", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no batch of %d starts", want)
		}
		var pids []int
		for range want {
			pids = append(pids, h.expectStart().pid)
		}
		for _, pid := range pids {
			h.ready(pid)
		}
		return pids
	}

	h, sp := start(signalmap.Unicorn)
	old := batch(h, sp, n)
	h.expectQuiet()
	h.signals <- syscall.SIGHUP
	batch(h, sp, n)
	for range old {
		if c := h.next(); c.start || c.signal != syscall.SIGTERM || !slices.Contains(old, c.pid) {
			t.Fatalf("got %+v, want an old worker stopped", c)
		}
	}
	h.expectQuiet()

	h, sp = start(signalmap.Puma)
	old = batch(h, sp, n)
	h.expectQuiet()
	h.signals <- syscall.SIGUSR1 // puma: rolling_restart
	for range n {
		c := h.expectStart()
		h.expectQuiet() // the next slot waits for this one
		h.ready(c.pid)
		if c := h.next(); c.signal != syscall.SIGTERM || !slices.Contains(old, c.pid) {
			t.Fatalf("got %+v, want an old worker stopped", c)
		}
	}
	if len(sp.batches) != 0 {
		t.Errorf("the rolling restart started %d workers at once", <-sp.batches)
	}
}
