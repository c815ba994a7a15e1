package integration_test

// The fault suite: what pmux does when things go wrong around it. A short
// form runs in `make test`; `make faults` sets PMUX_FAULTS=long, which
// repeats each fault more. Every fault test runs in both forms: a bug is
// fixed, never skipped. Wall-clock figures are logged, never asserted. Elsewhere, already: a worker crash replaced in its slot
// and the crash-loop backoff (run_test.go), a new binary that crashes or
// cannot run during USR2 (TestUpgradeFailuresLeaveOldMasterServing in
// upgrade_test.go), a signal storm of HUP/TTIN/TTOU (signals_test.go).

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pmux/pmux/internal/pmuxtest"
	"github.com/pmux/pmux/internal/proc"
)

// faultsLong is the long form of the suite.
var faultsLong = os.Getenv("PMUX_FAULTS") == "long"

// long picks the long form's figure or the short one's.
func long[T any](short, longer T) T {
	if faultsLong {
		return longer
	}
	return short
}

// SIGKILL the master under load: every worker goes with it (pmux gives
// each a parent-death signal), at once, with nobody to wait for.
func TestFaultMasterSIGKILLUnderLoad(t *testing.T) {
	t.Parallel()
	for i := range long(1, 5) {
		m := pmuxtest.StartMaster(t, pmuxtest.Opts{Env: []string{"XDG_RUNTIME_DIR=" + t.TempDir()}},
			"run", "-w", "4", "-b", "127.0.0.1:0", "--worker-output", "inherit", "--", pmuxtest.Worker())
		workers := pmuxtest.PidsOf(m.ReadyWorkers(4))
		load := pmuxtest.StartLoad("tcp", m.Addr(), 4)
		time.Sleep(200 * time.Millisecond)
		began := time.Now()
		m.Signal(syscall.SIGKILL)
		var left []int
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			left = left[:0]
			for _, pid := range workers {
				if pmuxtest.Alive(pid) {
					left = append(left, pid)
				}
			}
			if len(left) == 0 {
				break
			}
		}
		took := time.Since(began)
		load.Stop()
		if len(left) > 0 {
			t.Fatalf("run %d: workers %v still alive 10 s after the master's SIGKILL", i, left)
		}
		t.Logf("run %d: 4 workers gone %v after the master's SIGKILL (load: %v)", i, took.Round(100*time.Microsecond), load)
		m.Wait(5 * time.Second)
	}
}

// treeVar tags a test's master, and so everything it starts, which
// inherits it (a PMUX_ name would be kept from the workers): a scan of
// /proc finds them all, wherever they went.
const treeVar = "FAULT_TREE"

// tree lists the live processes tagged tag, but the master's.
func tree(tag string, master int) []int {
	want := treeVar + "=" + tag
	pids, _ := proc.Default.Pids()
	var out []int
	for _, pid := range pids {
		if pid == master {
			continue
		}
		env, err := proc.Default.Environ(pid)
		if err == nil && slices.Contains(env, want) && pmuxtest.Alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// stateOf is the state of pid in /proc/<pid>/stat ("R", "S", "T", …), or ""
// once it is gone.
func stateOf(pid int) string {
	st, err := proc.Default.Stat(pid)
	if err != nil {
		return ""
	}
	return string(st.State)
}

// startTree starts a master tagged with a fresh tag and returns both;
// whatever the test's outcome, nothing tagged outlives it.
func startTree(t *testing.T, args ...string) (*pmuxtest.Master, string) {
	t.Helper()
	tag := strconv.FormatUint(rand.Uint64(), 36)
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Env: []string{"XDG_RUNTIME_DIR=" + t.TempDir(), treeVar + "=" + tag}}, args...)
	t.Cleanup(func() {
		for _, pid := range tree(tag, m.Pid()) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return m, tag
}

// A worker that is a wrapper (a shell that forks the app, npm, a script)
// leads a process group; pmux signals the group, so the app gets the
// signal too. When the master is SIGKILLed only the wrapper gets the
// parent-death signal; the master's guard kills the rest: the app, and a
// child that left the group (setsid) too.
func TestFaultMasterSIGKILLLeavesNoWrapperChild(t *testing.T) {
	t.Parallel()
	for i := range long(1, 5) {
		m, tag := startTree(t, "run", "-w", "2", "-b", "127.0.0.1:0", "--worker-output", "inherit", "--",
			"/bin/sh", "-c", `setsid sleep 1000 & "$0"; exit $?`, pmuxtest.Worker())
		m.ReadyWorkers(2)
		pmuxtest.ReportsFrom(t, pmuxtest.NewClient("tcp", m.Addr()), 2) // the apps below the shells serve
		guard := pmuxtest.IntField(m.WaitEvents("guard_started", 1, 10*time.Second, nil)[0], "pid")
		// Per worker the shell, the app and the setsid sleep; and the guard.
		var procs []int
		for deadline := time.Now().Add(10 * time.Second); len(procs) != 7; time.Sleep(5 * time.Millisecond) {
			if procs = tree(tag, m.Pid()); time.Now().After(deadline) {
				t.Fatalf("run %d: %d processes below the master, want 7 (2 × shell, app, setsid sleep; the guard)", i, len(procs))
			}
		}
		if !slices.Contains(procs, guard) {
			t.Fatalf("run %d: guard %d not among the master's processes %v", i, guard, procs)
		}
		// Stopped while it waits: it must be woken, not just find EOF.
		for deadline := time.Now().Add(10 * time.Second); stateOf(guard) != "T"; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("run %d: guard %d in state %q, want T (stopped) while the master lives", i, guard, stateOf(guard))
			}
		}
		started := slices.DeleteFunc(slices.Clone(procs), func(pid int) bool { return pid == guard })
		for _, pid := range started {
			if pgid, _ := syscall.Getpgid(pid); pgid == guard || pgid == m.Pid() {
				t.Errorf("run %d: process %d in group %d, shared with the guard or the master", i, pid, pgid)
			}
		}

		began := time.Now()
		m.Signal(syscall.SIGKILL)
		var left []int
		var took, guardTook time.Duration
		for deadline := began.Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Microsecond) {
			left = left[:0]
			for _, pid := range procs {
				if pmuxtest.Alive(pid) {
					left = append(left, pid)
				}
			}
			if took == 0 && !slices.ContainsFunc(left, func(pid int) bool { return pid != guard }) {
				took = time.Since(began)
			}
			if len(left) == 0 {
				guardTook = time.Since(began)
				break
			}
		}
		if len(left) == 0 {
			left = tree(tag, m.Pid()) // nothing forked while the guard worked either
		}
		if len(left) > 0 {
			t.Fatalf("run %d: processes %v of the master's outlived its SIGKILL by 5 s (orphans)", i, left)
		}
		// A -race build of the guard sleeps a second at exit (GORACE
		// atexit_sleep_ms), after its work is done.
		t.Logf("run %d: all %d processes gone %v after the master's SIGKILL; the guard exited after %v",
			i, len(started), took.Round(10*time.Microsecond), guardTook.Round(10*time.Microsecond))
		m.Wait(5 * time.Second)
	}
}

// A graceful stop with a wrapper that dies at the stop signal (sh does)
// while the app it forked still finishes a request: the master exits
// once the shell has, and the guard lets the app drain before anything is
// killed.
func TestFaultGracefulStopLetsAWrapperChildDrain(t *testing.T) {
	t.Parallel()
	m, tag := startTree(t, "run", "-w", "1", "-b", "127.0.0.1:0", "--worker-output", "inherit", "--",
		"/bin/sh", "-c", `"$0"; exit $?`, pmuxtest.Worker())
	m.ReadyWorkers(1)
	guard := pmuxtest.IntField(m.WaitEvents("guard_started", 1, 10*time.Second, nil)[0], "pid")
	result := pmuxtest.InflightSleep(t, m, 1500)
	m.MustStop(syscall.SIGQUIT, 20*time.Second)
	exited := time.Now()
	draining := slices.ContainsFunc(tree(tag, m.Pid()), func(pid int) bool { return pid != guard })
	if err := <-result; err != nil {
		t.Fatalf("the request in flight in the app below the shell failed once the master exited: %v", err)
	}
	if !draining {
		t.Fatal("the app finished its request before the master exited: nothing was left for the guard to spare")
	}
	t.Logf("the app answered %v after the master exited", time.Since(exited).Round(time.Millisecond))
	var left []int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if left = tree(tag, m.Pid()); len(left) == 0 {
			return
		}
	}
	t.Errorf("processes %v outlived the drain by 10 s", left)
}

// A master SIGKILLed during an upgrade: its guard kills what it started,
// never the new master (which shares its process group) nor what the new
// master started.
func TestFaultOldMasterSIGKILLSparesTheNewMaster(t *testing.T) {
	t.Parallel()
	r := pmuxtest.NewUpgradeRig(t, "unicorn")
	old := r.M.Pid()
	oldProcs := pmuxtest.PidsOf(r.M.WaitEvents("worker_ready", 2, 10*time.Second, pmuxtest.MasterIs(old)))
	oldProcs = append(oldProcs, pmuxtest.PidsOf(r.M.WaitEvents("guard_started", 1, 10*time.Second, pmuxtest.MasterIs(old)))...)
	child := r.USR2(pmuxtest.PmuxV2())
	newProcs := pmuxtest.PidsOf(r.M.WaitEvents("worker_ready", 2, 10*time.Second, pmuxtest.MasterIs(child)))
	newProcs = append(newProcs, pmuxtest.PidsOf(r.M.WaitEvents("guard_started", 1, 10*time.Second, pmuxtest.MasterIs(child)))...)
	newProcs = append(newProcs, child)

	r.M.Signal(syscall.SIGKILL)
	r.M.Wait(5 * time.Second)
	pmuxtest.WaitProcsGone(t, "the old master's workers and guard", oldProcs, 5*time.Second)
	for _, pid := range newProcs {
		if !pmuxtest.Alive(pid) {
			t.Errorf("process %d of the new master (%d) died with the old one; new: %v", pid, child, newProcs)
		}
	}
	pmuxtest.GetReport(t, pmuxtest.NewClient("unix", r.Sock))
	for _, e := range r.M.Events("worker_exited") {
		if pmuxtest.MasterIs(child)(e) {
			t.Errorf("a worker of the new master exited: %v", e)
		}
	}
}

// A guard killed while its master lives is reaped and said once, as a
// warning; it is not a worker, and the master goes on serving.
func TestFaultGuardKilledIsSaidOnce(t *testing.T) {
	t.Parallel()
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Env: []string{"XDG_RUNTIME_DIR=" + t.TempDir()}},
		"run", "-w", "1", "-b", "127.0.0.1:0", "--", pmuxtest.Worker())
	m.ReadyWorkers(1)
	guard := pmuxtest.IntField(m.WaitEvents("guard_started", 1, 10*time.Second, nil)[0], "pid")
	syscall.Kill(guard, syscall.SIGKILL)
	e := m.WaitEvents("guard_exited", 1, 10*time.Second, nil)[0]
	if e["level"] != "warn" || pmuxtest.IntField(e, "pid") != guard || e["status"] != "signal KILL" {
		t.Errorf("guard_exited %v, want a warning for pid %d, signal KILL", e, guard)
	}
	pmuxtest.GetReport(t, pmuxtest.NewClient("tcp", m.Addr()))
	for _, name := range []string{"orphan_reaped", "worker_exited"} {
		for _, e := range m.Events(name) {
			if pmuxtest.IntField(e, "pid") == guard {
				t.Errorf("the guard's exit also logged as %s: %v", name, e)
			}
		}
	}
	if n := len(m.Events("guard_exited")); n != 1 {
		t.Errorf("%d guard_exited events, want 1", n)
	}
}

// A master that stops of its own accord exits after its guard, which has
// nothing left to spare: under systemd's KillMode=mixed whatever outlives
// the main process is SIGKILLed at once, the guard included.
func TestFaultGuardExitsBeforeItsMasterAtAStop(t *testing.T) {
	t.Parallel()
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Env: []string{"XDG_RUNTIME_DIR=" + t.TempDir()}},
		"run", "-w", "1", "-b", "127.0.0.1:0", "--", pmuxtest.Worker())
	m.ReadyWorkers(1)
	guard := pmuxtest.IntField(m.WaitEvents("guard_started", 1, 10*time.Second, nil)[0], "pid")
	m.MustStop(syscall.SIGQUIT, 20*time.Second)
	if pmuxtest.Alive(guard) {
		t.Errorf("guard %d still running once its master had exited", guard)
	}
}

// SIGKILL random workers under load: only requests the killed worker had
// accepted may fail (at most one per client, since each client has one
// request outstanding); none is refused, the socket never goes away; each
// slot gets its replacement.
func TestFaultSIGKILLRandomWorkersUnderLoad(t *testing.T) {
	t.Parallel()
	const clients = 8
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "4", "-b", "127.0.0.1:0", "--worker-output", "inherit", "--", pmuxtest.Worker())
	m.ReadyWorkers(4)
	load := pmuxtest.StartLoad("tcp", m.Addr(), clients)
	rng := rand.New(rand.NewPCG(8, 2))
	kills := long(5, 40)
	for i := 0; i < kills; i++ {
		time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
		live := pmuxtest.LiveWorkers(m.Snapshot())
		var pids []int
		for pid := range live {
			pids = append(pids, pid)
		}
		if len(pids) == 0 {
			t.Fatalf("no live worker to kill; log:\n%s", m.Dump())
		}
		victim := pids[rng.IntN(len(pids))]
		readyBefore := len(m.Events("worker_ready"))
		syscall.Kill(victim, syscall.SIGKILL)
		exited := m.WaitEvents("worker_exited", 1, 10*time.Second, func(e map[string]any) bool { return pmuxtest.IntField(e, "pid") == victim })[0]
		// A slot killed again within 10 s of its last start backs off (100 ms
		// doubling): the long form gets there.
		backoff := time.Duration(pmuxtest.IntField(exited, "respawn_in_ms")+pmuxtest.IntField(exited, "respawn_in")) * time.Millisecond
		m.WaitEvents("worker_ready", readyBefore+1, backoff+10*time.Second, nil)
	}
	time.Sleep(300 * time.Millisecond)
	load.Stop()
	t.Logf("%d workers killed under load: %v", kills, load)
	if n := load.Refused.Load(); n != 0 {
		t.Errorf("%d connections refused: the socket must stay open whatever happens to workers", n)
	}
	if n := load.Failed.Load(); n > int64(kills*clients) {
		t.Errorf("%d requests failed for %d kills: more than the killed workers can have had in flight (%d clients)", n, kills, clients)
	}
	if load.OK.Load() < 100 {
		t.Errorf("only %d requests answered: the load did not run", load.OK.Load())
	}
	if live := pmuxtest.LiveWorkers(m.Snapshot()); len(live) != 4 {
		t.Errorf("%d live workers after the kills, want 4", len(live))
	}
}

// SIGSTOP a worker under load with --watchdog: it is killed (not left
// stopped) and replaced; only the requests it had accepted fail.
func TestFaultStoppedWorkerIsReplacedByTheWatchdog(t *testing.T) {
	t.Parallel()
	const clients = 8
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "2", "--ready", "notify", "--watchdog", "500ms", "-b", "127.0.0.1:0",
		"--env", "WORKER_WATCHDOG=1", "--worker-output", "inherit", "--", pmuxtest.Worker())
	ready := m.ReadyWorkers(2)
	load := pmuxtest.StartLoad("tcp", m.Addr(), clients)
	for i := range long(1, 4) {
		victim := pmuxtest.IntField(ready[i%2], "pid")
		if i > 0 {
			// Stop the replacement of the last round, or a first-generation worker.
			live := pmuxtest.LiveWorkers(m.Snapshot())
			for pid := range live {
				victim = pid
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
		readyBefore := len(m.Events("worker_ready"))
		began := time.Now()
		m.StopWorkerForTheWatchdog(victim)
		m.WaitEvents("worker_ready", readyBefore+1, 10*time.Second, nil)
		t.Logf("stopped worker %d killed and replaced after %v", victim, time.Since(began).Round(time.Millisecond))
	}
	time.Sleep(300 * time.Millisecond)
	load.Stop()
	t.Logf("load: %v", load)
	if load.Refused.Load() != 0 {
		t.Errorf("connections refused: %v", load)
	}
	if n := load.Failed.Load(); n > int64(long(1, 4)*clients) {
		t.Errorf("%d requests failed: more than the stopped worker can have accepted", n)
	}
}

// A crash-looping pool next to a healthy one: the healthy one serves on
// untouched, and the crash loop backs off instead of burning the CPU or
// flooding the log. The crashy pool boots first and crashes from then on:
// one that never boots fails the whole start instead (TestFirstBoot*).
func TestFaultCrashLoopingPoolBesideAHealthyOne(t *testing.T) {
	t.Parallel()
	const watch = 3 * time.Second
	dir := t.TempDir()
	crash := filepath.Join(dir, "crash")
	path := filepath.Join(dir, "pmux.toml")
	toml := fmt.Sprintf(`[[pool]]
name = "web"
command = [%q]
workers = 2
bind = ["tcp://127.0.0.1:0"]

[[pool]]
name = "crashy"
command = [%q]
workers = 2
env = { WORKER_CRASH_IF = %q }
`, pmuxtest.Worker(), pmuxtest.Worker(), crash)
	if err := os.WriteFile(path, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-c", path, "--worker-output", "inherit")
	isHealthy := func(e map[string]any) bool { return e["pool"] == "web" }
	before := pmuxtest.PidsOf(m.WaitEvents("worker_ready", 2, 20*time.Second, isHealthy))
	m.WaitEvents("pool_booted", 2, 20*time.Second, nil)
	if err := os.WriteFile(crash, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, e := range m.Events("worker_spawned") {
		if !isHealthy(e) {
			syscall.Kill(pmuxtest.IntField(e, "pid"), syscall.SIGKILL)
		}
	}
	load := pmuxtest.StartLoad("tcp", m.Addr(), 4)
	cpu0 := cpuTicks(t, m.Pid())
	lines0 := len(m.Snapshot())
	time.Sleep(watch)
	cpu := time.Duration(cpuTicks(t, m.Pid())-cpu0) * 10 * time.Millisecond
	lines := len(m.Snapshot()) - lines0
	load.Stop()

	if load.Failed.Load() != 0 || load.OK.Load() < 50 {
		t.Errorf("healthy pool under load: %v, want every request answered", load)
	}
	for _, pid := range before {
		if !pmuxtest.Alive(pid) {
			t.Errorf("healthy worker %d was touched", pid)
		}
	}
	crashes := 0
	for _, e := range m.Events("worker_exited") {
		if !isHealthy(e) {
			crashes++
		}
	}
	// Backoff 0, 100, 200, 400, 800, 1600 ms: about 6 exits per slot in 3 s.
	if crashes < 2*3 || crashes > 2*8 {
		t.Errorf("%d crashes in %v for 2 slots, want the backoff's 6 to 16", crashes, watch)
	}
	if cpu > watch/10 {
		t.Errorf("the master used %v of CPU in %v", cpu, watch)
	}
	if lines > 10*crashes+20 {
		t.Errorf("%d log lines for %d crashes: the crash loop floods the log", lines, crashes)
	}
	select {
	case <-m.Done():
		t.Errorf("the master exited: a pool that booted never fails the start; log:\n%s", m.Dump())
	default:
	}
	t.Logf("%d crashes in %v, master CPU %v, %d log lines", crashes, watch, cpu, lines)
}

// cpuTicks is the user+system time of pid in clock ticks (1/100 s).
func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	st, err := proc.Default.Stat(pid)
	if err != nil {
		t.Fatal(err)
	}
	return int64(st.UTime + st.STime)
}

// A config file replaced by garbage, then HUP: the old workers keep
// serving, the error is logged, no generation starts.
func TestFaultGarbageConfigThenHUP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "pmux.toml")
	good := fmt.Sprintf("[[pool]]\nname = \"web\"\ncommand = [%q]\nworkers = 2\nbind = [\"tcp://127.0.0.1:0\"]\n", pmuxtest.Worker())
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-c", path, "--worker-output", "inherit")
	workers := pmuxtest.PidsOf(m.ReadyWorkers(2))
	load := pmuxtest.StartLoad("tcp", m.Addr(), 4)
	for _, garbage := range []string{"[[pool\nname = ", "\x00\xff\xfe garbage", "[[pool]]\nname = \"web\"\nworkers = -3\n"} {
		if err := os.WriteFile(path, []byte(garbage), 0o644); err != nil {
			t.Fatal(err)
		}
		errorsBefore := countLevel(m.Snapshot(), "error")
		m.Signal(syscall.SIGHUP)
		m.WaitFor("the bad config to be reported", 10*time.Second, func(logs []map[string]any) bool {
			return countLevel(logs, "error") > errorsBefore
		})
	}
	time.Sleep(300 * time.Millisecond)
	load.Stop()
	if n := len(m.Events("generation_started")); n != 0 {
		t.Errorf("%d generations started from a broken config", n)
	}
	for _, pid := range workers {
		if !pmuxtest.Alive(pid) {
			t.Errorf("worker %d stopped after a broken config", pid)
		}
	}
	if load.Failed.Load() != 0 {
		t.Errorf("load: %v, want every request answered", load)
	}
	// A good config again reloads.
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	m.Signal(syscall.SIGHUP)
	m.WaitEvents("generation_started", 1, 10*time.Second, nil)
}

func countLevel(logs []map[string]any, level string) int {
	n := 0
	for _, e := range logs {
		if e["level"] == level {
			n++
		}
	}
	return n
}

// startUnix starts pmux on a unix socket, so that a master whose log goes
// nowhere can be reached without its "listening" event.
func startUnix(t *testing.T, args ...string) (*pmuxtest.Master, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "web.sock")
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, append([]string{"run", "-w", "2", "-b", "unix:" + sock}, args...)...)
	return m, sock
}

// waitServing asks until n distinct workers of generation gen answered.
func waitServing(t *testing.T, network, addr string, n int, gen string) {
	t.Helper()
	c := pmuxtest.NewClient(network, addr)
	seen := map[int]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for len(seen) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d workers of generation %s answered", len(seen), gen)
		}
		resp, err := c.Get("http://pmux/")
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		var r pmuxtest.Report
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err == nil && r.Env["PMUX_GENERATION"] == gen {
			seen[r.Pid] = true
		}
	}
}

// pmux's own log on a full disk: it keeps serving and reloading, and says
// that its log cannot be written (on stderr, the one place left).
func TestFaultLogFileOnFullDisk(t *testing.T) {
	t.Parallel()
	m, sock := startUnix(t, "--log-file", "/dev/full", "--worker-output", "inherit", "--", pmuxtest.Worker())
	waitServing(t, "unix", sock, 2, "1")
	m.Signal(syscall.SIGHUP)
	waitServing(t, "unix", sock, 2, "2")
	m.Signal(syscall.SIGUSR1) // reopen: /dev/full again
	m.WaitFor("pmux to say its log cannot be written", 10*time.Second, func(logs []map[string]any) bool {
		for _, e := range logs {
			if msg, _ := e["message"].(string); strings.Contains(msg, "no space left on device") {
				return true
			}
		}
		return false
	})
	m.MustStop(syscall.SIGQUIT, 20*time.Second)
}

// Worker output to a full disk: pmux keeps serving, says that output is
// lost (once, then at most once per 10 s), and counts every byte it drops
// in pmux_worker_output_dropped_bytes_total.
func TestFaultWorkerOutputOnFullDisk(t *testing.T) {
	t.Parallel()
	const lines = 2000
	began := time.Now()
	m, sock := startUnix(t, "--worker-output", "/dev/full", "--metrics", "127.0.0.1:0",
		"--env", "WORKER_OUTPUT_LINES="+strconv.Itoa(lines), "--", pmuxtest.Worker())
	waitServing(t, "unix", sock, 2, "1")
	m.Signal(syscall.SIGHUP)
	waitServing(t, "unix", sock, 2, "2")

	// What the four workers wrote, as pmux tags it: all of it is lost.
	var want float64
	for _, e := range m.WaitEvents("worker_spawned", 4, 10*time.Second, nil) {
		pid, prefix := pmuxtest.IntField(e, "pid"), fmt.Sprintf("web.%d %d | ", pmuxtest.IntField(e, "slot"), pmuxtest.IntField(e, "pid"))
		for i := range lines {
			want += float64(len(prefix) + len(fmt.Sprintf("line %d of %d from %d %s\n", i, lines, pid, strings.Repeat("x", i%200))))
		}
	}
	addr := m.WaitEvents("metrics_listening", 1, 10*time.Second, nil)[0]["addr"].(string)
	var got float64
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if got = pmuxtest.MetricValue(pmuxtest.ScrapeMetrics(t, addr), "pmux_worker_output_dropped_bytes_total", "pool=web"); got == want || time.Now().After(deadline) {
			break
		}
	}
	if got != want {
		t.Errorf("pmux_worker_output_dropped_bytes_total{pool=web} = %v, want the %v bytes the workers wrote", got, want)
	}

	warnings := m.WaitEvents("worker_output_dropped", 1, 10*time.Second, nil)
	said := 0.0
	for _, e := range warnings {
		msg, _ := e["message"].(string)
		if e["level"] != "warn" || e["destination"] != "/dev/full" || !strings.HasPrefix(msg, "worker output to /dev/full: ") ||
			!strings.Contains(msg, " bytes dropped: ") || !strings.Contains(fmt.Sprint(e["error"]), "no space left on device") {
			t.Errorf("warning %v: want a warn naming /dev/full, the bytes and the cause", e)
		}
		said += e["bytes"].(float64)
	}
	if said <= 0 || said > got {
		t.Errorf("the warnings say %v bytes were dropped, the metric %v", said, got)
	}
	elapsed := time.Since(began)
	if limit := 1 + int(elapsed/(10*time.Second)); len(warnings) > limit {
		t.Errorf("%d warnings in %v, want at most one per 10 s", len(warnings), elapsed)
	}
	t.Logf("%v bytes dropped, %d warnings saying %v of them in %v", got, len(warnings), said, elapsed.Round(time.Millisecond))
}

// Worker output to a pipe nobody reads any more (pmux run … | head, and
// head is gone): each write fails with EPIPE instead of SIGPIPE killing the
// master and, with it, its workers. pmux keeps serving and says output is
// lost.
func TestFaultWorkerOutputToABrokenPipe(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	t.Cleanup(func() { w.Close() })
	sock := filepath.Join(t.TempDir(), "web.sock")
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{ExtraFiles: []*os.File{w}, Wrap: []string{"sh", "-c", `exec 1>&3 3>&-; exec "$0" "$@"`}},
		"run", "-w", "2", "-b", "unix:"+sock, "--env", "WORKER_OUTPUT_LINES=100", "--", pmuxtest.Worker())
	waitServing(t, "unix", sock, 2, "1")
	e := m.WaitEvents("worker_output_dropped", 1, 10*time.Second, nil)[0]
	if e["destination"] != "stdout" || !strings.Contains(fmt.Sprint(e["error"]), "broken pipe") {
		t.Errorf("warning %v: want stdout and the cause (broken pipe)", e)
	}
	m.Signal(syscall.SIGHUP)
	waitServing(t, "unix", sock, 2, "2")
	m.MustStop(syscall.SIGQUIT, 20*time.Second)
}

// EMFILE on the master: with its open-files limit lowered at runtime to
// what it holds, the workers TTIN asks for cannot start. pmux says why,
// naming the limit and how to raise it, once per backoff step of each slot
// (never at once again, never in a tight loop), keeps serving with the
// workers it has, and once the limit is back starts what was missing.
func TestFaultEMFILEOnTheMaster(t *testing.T) {
	t.Parallel()
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "2", "-b", "127.0.0.1:0", "--", pmuxtest.Worker())
	m.ReadyWorkers(2)
	addr := m.Addr()
	pid := m.Pid()
	// The lowest free descriptor is the next one the master would get: a
	// soft limit there makes every new descriptor fail with EMFILE.
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	used := map[int]bool{}
	for _, f := range fds {
		n, _ := strconv.Atoi(f.Name())
		used[n] = true
	}
	lowest := 0
	for used[lowest] {
		lowest++
	}
	var old unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &old); err != nil {
		t.Fatal(err)
	}
	// Lowering another process's soft limit needs the same user (or
	// CAP_SYS_RESOURCE): refused only in an odd sandbox.
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: uint64(lowest), Max: old.Max}, nil); err != nil {
		t.Skipf("cannot lower the master's open-files limit: %v", err)
	}
	// One at a time: two pending TTINs are one signal to the kernel.
	for i := 1; i <= 2; i++ {
		m.Signal(syscall.SIGTTIN)
		m.WaitEvents("pool_scaled", i, 10*time.Second, nil)
	}
	// Three failures per missing slot show the backoff at work.
	failed := m.WaitEvents("worker_start_failed", 6, 10*time.Second, nil)
	wantMsg := []string{"too many open files", fmt.Sprintf("open-files limit (%d)", lowest), "ulimit -n", "LimitNOFILE="}
	for _, msg := range wantMsg {
		if got := fmt.Sprint(failed[0]["error"]); !strings.Contains(got, msg) {
			t.Errorf("start failure says %q, want %q in it", got, msg)
		}
	}
	// Each failure of a slot comes no sooner than the backoff the one
	// before it announced; the log's times are to the millisecond.
	last := map[int]map[string]any{}
	for _, e := range failed {
		if pmuxtest.IntField(e, "respawn_in_ms") <= 0 {
			t.Errorf("start failure retried at once: %v", e)
		}
		slot := pmuxtest.IntField(e, "slot")
		if prev := last[slot]; prev != nil {
			gap := logTime(t, e).Sub(logTime(t, prev))
			if wait := time.Duration(pmuxtest.IntField(prev, "respawn_in_ms")) * time.Millisecond; gap < wait-time.Millisecond {
				t.Errorf("slot %d failed again %v after announcing a %v backoff", slot, gap, wait)
			}
		}
		last[slot] = e
	}
	pmuxtest.ReportsFrom(t, pmuxtest.NewClient("tcp", addr), 2) // still serving with what it has
	if !pmuxtest.Alive(pid) {
		t.Fatalf("the master died of EMFILE; log:\n%s", m.Dump())
	}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &old, nil); err != nil {
		t.Fatal(err)
	}
	m.WaitFor("the missing workers once the limit is back", 40*time.Second, func(logs []map[string]any) bool {
		return len(pmuxtest.LiveWorkers(logs)) == 4
	})
	m.ReadyWorkers(4)
	pmuxtest.ReportsFrom(t, pmuxtest.NewClient("tcp", addr), 4)
	t.Logf("%d start failures while at the limit", len(m.Events("worker_start_failed")))
}

// logTime is when a log entry was written.
func logTime(t *testing.T, e map[string]any) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(e["time"]))
	if err != nil {
		t.Fatalf("log entry %v: time: %v", e, err)
	}
	return at
}

// EMFILE at start: more workers than the open-files limit leaves room for
// fail the start (exit 1) with one line naming the limit and how to raise
// it; the workers already started are stopped, nothing is retried, and no
// pidfile or socket file is left. "At start" is the first generation of
// the master's start.
func TestFaultEMFILEAtStartFailsTheStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock, pidfile := filepath.Join(dir, "web.sock"), filepath.Join(dir, "pmux.pid")
	// A worker costs the master at least its output pipe: 32 of them
	// cannot fit under 24 descriptors.
	limited := pmuxtest.Opts{Wrap: []string{"/bin/sh", "-c", `ulimit -n 24 && exec "$0" "$@"`}}
	m := pmuxtest.StartMaster(t, limited, "run", "-w", "32", "-b", "unix:"+sock, "-p", pidfile, "--", pmuxtest.Worker())
	m.MustExit(1, 60*time.Second)
	raw := m.Events("raw")
	if len(raw) != 1 {
		t.Fatalf("want one error line, got %d; log:\n%s", len(raw), m.Dump())
	}
	msg := fmt.Sprint(raw[0]["message"])
	for _, want := range []string{"pmux: ", "too many open files", "open-files limit (24)", "ulimit -n", "LimitNOFILE="} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if n := len(m.Events("worker_start_failed")); n != 0 {
		t.Errorf("%d start failures logged for retry, want none: the start failed", n)
	}
	started := m.WorkerPids()
	for _, pid := range started {
		pmuxtest.WaitGone(t, pid, 5*time.Second)
	}
	for _, left := range []string{sock, pidfile} {
		if _, err := os.Stat(left); !os.IsNotExist(err) {
			t.Errorf("%s left behind", left)
		}
	}
	t.Logf("%d of 32 workers had started before the limit; %s", len(started), msg)
}

// 10,000 signals in random order (HUP, TTIN, TTOU, USR1, PWR): whatever
// the kernel coalesces, the master ends consistent: the target count, one
// generation, no zombie, no descriptor gained or lost.
func TestFaultTenThousandSignals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "3", "-b", "127.0.0.1:0", "--worker-output", filepath.Join(dir, "workers.log"), "--", pmuxtest.Worker())
	m.ReadyWorkers(3)
	pid := m.Pid()
	// The idle count is the least of a few reads: a socket check of a new
	// worker holds a /proc directory open for a moment.
	fdsBefore := pmuxtest.FDCount(t, pid)
	for range 10 {
		time.Sleep(20 * time.Millisecond)
		fdsBefore = min(fdsBefore, pmuxtest.FDCount(t, pid))
	}
	sigs := []syscall.Signal{syscall.SIGHUP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGUSR1, syscall.SIGPWR}
	rng := rand.New(rand.NewPCG(10, 000))
	began := time.Now()
	for i := 0; i < 10000; i++ {
		if err := syscall.Kill(pid, sigs[rng.IntN(len(sigs))]); err != nil {
			t.Fatalf("signal %d: %v", i, err)
		}
		// Pauses let the master act on a share of them, not only coalesce.
		if i%long(200, 20) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	sent := time.Since(began)
	// Let the master drain what it queued (os/signal drops what does not
	// fit its channel), then one last HUP restores the configured count
	// whatever the storm did.
	for quiet := 0; quiet < 5; {
		before := len(m.Events("signal_received"))
		time.Sleep(100 * time.Millisecond)
		if len(m.Events("signal_received")) == before {
			quiet++
		} else {
			quiet = 0
		}
	}
	gens := len(m.Events("generation_started"))
	m.Signal(syscall.SIGHUP)
	m.WaitEvents("generation_started", gens+1, 10*time.Second, nil)
	m.AwaitSettled(3, 60*time.Second)
	if n := pmuxtest.TargetFromLog(m.Snapshot(), 3); n != 3 {
		t.Errorf("target %d after the last HUP, want the configured 3", n)
	}
	handled := len(m.Events("signal_received"))
	t.Logf("10000 signals sent in %v; the master handled %d (the kernel coalesces pending signals, os/signal drops what its channel cannot hold)", sent.Round(time.Millisecond), handled)
	if z := pmuxtest.Zombies(t, pid); len(z) != 0 {
		t.Errorf("zombies left: %v", z)
		for _, e := range m.Snapshot() {
			for _, zp := range z {
				if pmuxtest.IntField(e, "pid") == zp {
					t.Logf("zombie %d in the log: %v", zp, e)
				}
			}
		}
	}
	// Output pumps close their pipes as the last workers' output drains
	// (slowly on a loaded machine: the bound only matters on failure).
	var fds int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if fds = pmuxtest.FDCount(t, pid); fds == fdsBefore {
			break
		}
	}
	if fds != fdsBefore {
		t.Errorf("master holds %d descriptors after the storm, %d before", fds, fdsBefore)
	}
	pmuxtest.ReportsFrom(t, pmuxtest.NewClient("tcp", m.Addr()), 3)
	m.MustStop(syscall.SIGQUIT, 30*time.Second)
}

// A socket-activation environment whose LISTEN_FDS claims more than was
// passed, absurdly more or just one more, is bad input: one line naming
// the first fd missing and exit 1, never a crash of the runtime. The Go
// runtime opens files of its own before main (cgroup limits) at the
// numbers a short count leaves free; they must not pass for sockets.
func TestFaultHugeListenFDsIsAnError(t *testing.T) {
	t.Parallel()
	sock, _ := pmuxtest.ListenerFile(t)
	for _, tc := range []struct {
		name, fds string
		passed    []*os.File
		says      string
	}{
		{"huge, none passed", "2147483645", nil, "LISTEN_FDS=2147483645: fd 3 is not open"},
		{"a billion, one passed", "1000000000", []*os.File{sock}, "LISTEN_FDS=1000000000: fd 4 is not open"},
		{"one more than passed", "2", []*os.File{sock}, "LISTEN_FDS=2: fd 4 is not open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=$2 exec "$0" run -b systemd -- "$1"`, pmuxtest.Pmux(), pmuxtest.Worker(), tc.fds)
			cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+t.TempDir())
			cmd.ExtraFiles = tc.passed
			out, _ := cmd.CombinedOutput()
			code := cmd.ProcessState.ExitCode()
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if code != 1 || len(lines) != 1 || !strings.Contains(lines[0], tc.says) {
				t.Errorf("exit %d, output:\n%.600s\nwant exit 1 and one line saying %q", code, out, tc.says)
			}
		})
	}
}
