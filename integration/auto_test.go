package integration_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/internal/pmuxtest"
	"github.com/pmux/pmux/status"
)

// pyWorker is the argv of the Python test worker, which serves on fd 3
// waiting as WAIT says and never sends READY=1.
func pyWorker(t *testing.T) []string {
	t.Helper()
	return []string{pmuxtest.RequireCommand(t, "python3"), "testdata/pyworker/worker.py"}
}

// eventIndex is the position of the first log entry of event for pid.
func eventIndex(logs []map[string]any, event string, pid int) int {
	for i, e := range logs {
		if e["event"] == event && pmuxtest.IntField(e, "pid") == pid {
			return i
		}
	}
	return -1
}

// getPid asks the Python worker at addr which pid served it.
func getPid(t *testing.T, addr string) int {
	t.Helper()
	resp, err := pmuxtest.NewClient("tcp", addr).Get("http://pmux/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(body)))
	if err != nil {
		t.Fatalf("worker said %q", body)
	}
	return pid
}

// With no hooks and no --ready, a worker counts as ready once it waits on
// its socket, whichever way it waits, and not while it boots: a reload
// under load stops the old worker only then, and drops nothing.
func TestAutoReadinessPerWaitStyle(t *testing.T) {
	for _, tc := range []struct{ name, wait, fork string }{
		{"accept", "accept", ""}, {"epoll", "epoll", ""}, {"poll", "poll", ""}, {"select", "select", ""},
		{"forked child selects", "select", "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const boot = 300 * time.Millisecond
			m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, append([]string{"run", "-w", "1", "-b", "127.0.0.1:0", "--worker-output", "inherit",
				"--env", "WAIT=" + tc.wait, "--env", "WORKER_FORK=" + tc.fork, "--env", "WORKER_BOOT_DELAY=" + fmt.Sprint(boot.Seconds()), "--"},
				pyWorker(t)...)...)
			first := m.ReadyWorkers(1)[0]
			old := pmuxtest.IntField(first, "pid")
			if b := time.Duration(first["boot_ms"].(float64)) * time.Millisecond; b < boot {
				t.Errorf("ready after %v, before the worker's %v boot ended", b, boot)
			}
			seen := m.WaitEvents("worker_seen_waiting", 1, 10*time.Second, nil)[0]
			if seen["wait"] != tc.wait || pmuxtest.IntField(seen, "pid") != old {
				t.Errorf("seen %v, want worker %d in %s", seen, old, tc.wait)
			}
			if forked := pmuxtest.IntField(seen, "in_pid") != old; forked != (tc.fork == "1") {
				t.Errorf("seen waiting in pid %d of worker %d; want a forked child: %v", pmuxtest.IntField(seen, "in_pid"), old, tc.fork == "1")
			}
			addr := m.Addr()
			if pid := getPid(t, addr); pid != pmuxtest.IntField(seen, "in_pid") {
				t.Errorf("served by %d, want %d", pid, pmuxtest.IntField(seen, "in_pid"))
			}

			load := pmuxtest.StartPacedLoad("tcp", addr, 2, 5*time.Millisecond, 5000)
			m.Signal(syscall.SIGHUP)
			next := m.ReadyWorkers(2)[1]
			m.WaitEvents("worker_exited", 1, 10*time.Second, func(e map[string]any) bool { return pmuxtest.IntField(e, "pid") == old })
			time.Sleep(100 * time.Millisecond) // load on the new worker alone
			load.Stop()
			t.Logf("%s: first ready after %v ms, reload's after %v ms; load %s", tc.name, first["boot_ms"], next["boot_ms"], load)
			if b := time.Duration(next["boot_ms"].(float64)) * time.Millisecond; b < boot {
				t.Errorf("the reload's worker ready after %v, before its %v boot ended", b, boot)
			}
			logs := m.Snapshot()
			if stop, ready := eventIndex(logs, "worker_stopping", old), eventIndex(logs, "worker_ready", pmuxtest.IntField(next, "pid")); stop < ready {
				t.Errorf("old worker stopped (log entry %d) before the new one was ready (%d)", stop, ready)
			}
			if load.Failed.Load() != 0 || load.OK.Load() == 0 {
				t.Errorf("load across the reload: %s", load)
			}
		})
	}
}

// A worker that boots for a second and says nothing, under load: a HUP
// drops no request, and none waits for the boot (the old workers serve
// until the new ones wait on the socket).
func TestAutoReloadUnderLoadWithASlowBoot(t *testing.T) {
	t.Parallel()
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "2", "-b", "127.0.0.1:0", "--worker-output", "inherit",
		"--env", "WORKER_BOOT_DELAY=1s", "--", pmuxtest.Worker())
	old := pmuxtest.PidsOf(m.ReadyWorkers(2))
	load := pmuxtest.StartLoad("tcp", m.Addr(), 4)
	time.Sleep(200 * time.Millisecond)
	began := time.Now()
	m.Signal(syscall.SIGHUP)
	fresh := m.ReadyWorkers(4)[2:]
	for _, pid := range old {
		m.WaitEvents("worker_exited", 1, 20*time.Second, func(e map[string]any) bool { return pmuxtest.IntField(e, "pid") == pid })
	}
	took := time.Since(began)
	time.Sleep(200 * time.Millisecond)
	load.Stop()
	t.Logf("HUP with a 1 s boot: new workers ready after %v and %v ms, old ones gone %v after the HUP; load %s",
		fresh[0]["boot_ms"], fresh[1]["boot_ms"], took.Round(time.Millisecond), load)
	for _, e := range fresh {
		if b := e["boot_ms"].(float64); b < 1000 {
			t.Errorf("worker %d ready after %v ms, before its 1 s boot ended", pmuxtest.IntField(e, "pid"), b)
		}
	}
	if load.Failed.Load() != 0 || load.OK.Load() == 0 {
		t.Errorf("load across the reload: %s", load)
	}
}

// A server pmux cannot see wait (sleep holds the socket, never accepts):
// at the boot timeout its workers count as ready, not as failed boots, and
// pmux says once what to do.
func TestAutoUnseenServerIsReadyAtTheBootTimeout(t *testing.T) {
	t.Parallel()
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "2", "--boot-timeout", "700ms", "-b", "127.0.0.1:0", "--", "sleep", "1000")
	ready := m.ReadyWorkers(2)
	for _, e := range ready {
		if b := e["boot_ms"].(float64); b < 700 {
			t.Errorf("worker %d ready after %v ms, before the boot timeout", pmuxtest.IntField(e, "pid"), b)
		}
	}
	said := m.Events("ready_auto_unseen")
	if len(said) != 1 {
		t.Fatalf("%d ready_auto_unseen events, want 1; log:\n%s", len(said), m.Dump())
	}
	msg, _ := said[0]["message"].(string)
	for _, want := range []string{"--ready notify", "--ready delay=DUR", "io_uring"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not name %q", msg, want)
		}
	}
	if n := len(m.Events("worker_boot_timeout")); n != 0 {
		t.Errorf("%d workers killed for their boot", n)
	}
}

// The default is auto for a pool with sockets and none for one without,
// and pmux check prints which.
func TestAutoIsTheDefaultWithSockets(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pmux.toml"), []byte("[[pool]]\nname = \"web\"\ncommand = [\"sleep\", \"1\"]\nbind = [\"127.0.0.1:0\"]\n"+
		"[[pool]]\nname = \"jobs\"\ncommand = [\"sleep\", \"1\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := pmuxtest.RunPmuxIn(t, dir, "check", "-c", "pmux.toml")
	if code != 0 {
		t.Fatalf("check exit %d: %s", code, stderr)
	}
	web, jobs, _ := strings.Cut(out, "name = \"jobs\"")
	if !strings.Contains(web, "ready = \"auto\"") || !strings.Contains(jobs, "ready = \"none\"") {
		t.Errorf("check output, want ready auto for web and none for jobs:\n%s", out)
	}
}

// --timeout: a single-threaded worker stuck in one request is killed and
// replaced; one serving requests shorter than the timeout back to back,
// never waiting in accept (a second client's connection is always queued),
// is not.
func TestTimeoutKillsTheStuckWorkerOnly(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, append([]string{"run", "-w", "1", "-b", "127.0.0.1:0", "--timeout", timeout.String(),
		"--worker-output", "inherit", "--env", "WAIT=accept", "--"}, pyWorker(t)...)...)
	first := pmuxtest.IntField(m.ReadyWorkers(1)[0], "pid")
	addr := m.Addr()

	busyFor := 3 * timeout
	stop := time.Now().Add(busyFor)
	done := make(chan int, 2)
	for range 2 {
		go func() {
			c, served := pmuxtest.NewClient("tcp", addr), 0
			for time.Now().Before(stop) {
				resp, err := c.Get("http://pmux/sleep?ms=300")
				if err != nil {
					break
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				served++
			}
			done <- served
		}()
	}
	served := <-done + <-done
	t.Logf("requests of 300 ms back to back for %v under --timeout %v: %d served", busyFor, timeout, served)
	if n := len(m.Events("worker_timeout")); n != 0 || served < 10 {
		t.Fatalf("%d worker_timeout events, %d requests served; log:\n%s", n, served, m.Dump())
	}

	stuck := pmuxtest.InflightSleep(t, m, 100000)
	began := time.Now()
	e := m.WaitEvents("worker_timeout", 1, 10*time.Second, nil)[0]
	t.Logf("stuck worker killed %v after its request began (busy_ms %v, timeout %v)", time.Since(began).Round(time.Millisecond), e["busy_ms"], timeout)
	if pmuxtest.IntField(e, "pid") != first || e["level"] != "warn" {
		t.Errorf("worker_timeout %v, want a warning for worker %d", e, first)
	}
	if busy := time.Duration(e["busy_ms"].(float64)) * time.Millisecond; busy < timeout {
		t.Errorf("killed after %v busy, before the %v timeout", busy, timeout)
	}
	if err := <-stuck; err == nil {
		t.Error("the stuck request was answered")
	}
	exited := m.WaitEvents("worker_exited", 1, 10*time.Second, func(e map[string]any) bool { return pmuxtest.IntField(e, "pid") == first })[0]
	if exited["status"] != "signal KILL" {
		t.Errorf("stuck worker exit %v, want signal KILL", exited["status"])
	}
	m.ReadyWorkers(2)
	if pid := getPid(t, addr); pid == first {
		t.Errorf("served by the killed worker %d", pid)
	}
}

// A pool without sockets cannot be timed out: one line, exit 2.
func TestTimeoutWithoutSocketsIsAConfigError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pmux.toml"), []byte("[[pool]]\nname = \"jobs\"\ncommand = [\"sleep\", \"1\"]\ntimeout = \"30s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := pmuxtest.RunPmuxIn(t, dir, "check", "-c", "pmux.toml")
	if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "timeout") || !strings.Contains(stderr, "bind") {
		t.Errorf("exit %d, stderr %q; want 2 and one line naming timeout and bind", code, stderr)
	}
}

// pmux status and the metrics say which worker waits and which is busy:
// an idle single-threaded worker waits; one in a request is busy, counted
// by pmux_workers_busy, and the table shows it.
func TestStatusShowsWaitingAndBusyWorkers(t *testing.T) {
	_, env := pmuxtest.RuntimeDir(t)
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Env: []string{env}}, append([]string{"run", "-w", "2", "-b", "127.0.0.1:0",
		"--metrics", "127.0.0.1:0", "--worker-output", "inherit", "--env", "WAIT=poll", "--"}, pyWorker(t)...)...)
	m.ReadyWorkers(2)
	metrics := m.WaitEvents("metrics_listening", 1, 10*time.Second, nil)[0]["addr"].(string)
	activities := func(st status.Status) map[string]int {
		n := map[string]int{}
		for _, w := range st.Pools[0].Workers {
			n[w.Activity]++
		}
		return n
	}
	waitStatus(t, m.Pid(), "two waiting workers", func(st status.Status) bool { return activities(st)["waiting"] == 2 })
	if got := pmuxtest.MetricValue(pmuxtest.ScrapeMetrics(t, metrics), "pmux_workers_busy", "pool=web"); got != 0 {
		t.Errorf("pmux_workers_busy = %v with both idle, want 0", got)
	}

	pmuxtest.InflightSleep(t, m, 5000)
	st := waitStatus(t, m.Pid(), "one busy worker", func(st status.Status) bool {
		a := activities(st)
		return a["busy"] == 1 && a["waiting"] == 1
	})
	for _, w := range st.Pools[0].Workers {
		if w.State != "ready" {
			t.Errorf("worker %d state %s, want ready (it is only busy)", w.Pid, w.State)
		}
	}
	if got := pmuxtest.MetricValue(pmuxtest.ScrapeMetrics(t, metrics), "pmux_workers_busy", "pool=web"); got != 1 {
		t.Errorf("pmux_workers_busy = %v with one in a request, want 1", got)
	}
	table := pmuxtest.Ctl(t, []string{env}, "status", pmuxtest.PidArg(m.Pid()))
	table.Expect(t, "status", 0, "")
	if !strings.Contains(table.Stdout, " busy ") || !strings.Contains(table.Stdout, " waiting ") || !strings.Contains(table.Stdout, " FOR ") {
		t.Errorf("status table shows no busy and waiting worker:\n%s", table.Stdout)
	}
	js := pmuxtest.Ctl(t, []string{env}, "status", "--json", pmuxtest.PidArg(m.Pid()))
	js.Expect(t, "status --json", 0, "")
	if !strings.Contains(js.Stdout, `"activity":"busy"`) && !strings.Contains(js.Stdout, `"activity": "busy"`) {
		t.Errorf("status --json has no busy worker:\n%s", js.Stdout)
	}
}
