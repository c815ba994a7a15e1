package integration_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/control"
	"github.com/pmux/pmux/internal/pmuxtest"
	"github.com/pmux/pmux/status"
)

// ctlStatus asks the master for its status through the control package.
func ctlStatus(t *testing.T, pid int) (status.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := control.Dial(ctx, pid)
	if err != nil {
		return status.Status{}, err
	}
	defer c.Close()
	resp, err := c.Do(ctx, control.Request{Cmd: control.CmdStatus})
	if err != nil {
		return status.Status{}, err
	}
	return *resp.Status, nil
}

// waitStatus polls the status until pred holds.
func waitStatus(t *testing.T, pid int, what string, pred func(status.Status) bool) status.Status {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := ctlStatus(t, pid)
		if err == nil && pred(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last status %+v, %v", what, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settled: every pool at its target, all workers ready and of the current
// generation, nothing else alive.
func settled(st status.Status) bool {
	if control.CheckReady(st) != nil {
		return false
	}
	for _, p := range st.Pools {
		if len(p.Workers) != p.Target {
			return false
		}
	}
	return true
}

func TestControlSocketServesAndIsRemovedAtExit(t *testing.T) {
	rt, env := pmuxtest.RuntimeDir(t)
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Env: []string{env}}, "run", "-w", "1", "-b", "127.0.0.1:0", "--", pmuxtest.Worker())
	path := m.WaitEvents("control_listening", 1, 10*time.Second, nil)[0]["path"].(string)
	if want := filepath.Join(rt, "pmux", strconv.Itoa(m.Pid())+".sock"); path != want {
		t.Errorf("control socket at %s, want %s", path, want)
	}
	for p, want := range map[string]fs.FileMode{filepath.Dir(path): fs.ModeDir | 0o700, path: fs.ModeSocket | 0o600} {
		if fi, err := os.Lstat(p); err != nil || fi.Mode() != want {
			t.Errorf("%s: %v %v, want mode %v", p, fi.Mode(), err, want)
		}
	}
	m.ReadyWorkers(1)

	// A client that connects and says nothing, and one that sends
	// garbage, hold nothing up.
	stalled, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	garbage, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer garbage.Close()
	fmt.Fprintf(garbage, "GET / HTTP/1.1\r\n{\"cmd\":\"launch\"}\n%s\n{\"cmd\":\"status\"}\n", strings.Repeat("{", 1000))
	garbage.SetReadDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(garbage)
	for i, want := range []string{"bad request: invalid character 'G'", `bad request: unknown cmd "launch"`, "bad request: "} {
		line, err := r.ReadBytes('\n')
		var resp control.Response
		if err != nil || json.Unmarshal(line, &resp) != nil || resp.OK || !strings.HasPrefix(resp.Error, want) {
			t.Errorf("garbage line %d answered %q (%v), want an error starting %q", i, line, err, want)
		}
	}
	line, err := r.ReadBytes('\n')
	var resp control.Response
	if err != nil || json.Unmarshal(line, &resp) != nil || !resp.OK || resp.Status.MasterPID != m.Pid() {
		t.Errorf("status after garbage: %q %v", line, err)
	}
	pmuxtest.Ctl(t, []string{env}, "status", pmuxtest.PidArg(m.Pid())).Expect(t, "status beside a stalled client", 0, "")

	m.MustStop(syscall.SIGQUIT, 30*time.Second)
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("control socket left behind at exit: %v", err)
	}
}

// maskStatus hides what changes from run to run in `pmux status` output:
// pids, ages (of the worker and of what it does), sizes and the ports
// bound to :0. Those columns are right-aligned with fixed minimum widths
// (7, 5, 6 and 5), which a test's values never exceed, so each cell is
// the width ending where its header does.
func maskStatus(out string) string {
	pids := regexp.MustCompile(`pmux \d+`)
	ports := regexp.MustCompile(`127\.0\.0\.1:[1-9]\d*`)
	var spans [][2]int
	var b strings.Builder
	for _, line := range strings.SplitAfter(out, "\n") {
		line = pids.ReplaceAllString(line, "pmux <pid>")
		line = ports.ReplaceAllString(line, "127.0.0.1:<port>")
		switch {
		case strings.HasPrefix(line, "POOL "):
			spans = nil
			for name, width := range map[string]int{" PID ": 7, " FOR ": 5, " AGE ": 6, " RSS ": 5} {
				end := strings.Index(line, name) + len(name) - 1
				spans = append(spans, [2]int{end - width, end})
			}
		case strings.TrimSpace(line) == "":
			spans = nil
		default:
			r := []rune(line)
			for _, s := range spans {
				for i := s[0]; i < s[1] && i < len(r); i++ {
					r[i] = '#'
				}
			}
			line = string(r)
		}
		b.WriteString(line)
	}
	return b.String()
}

func TestStatusCommand(t *testing.T) {
	_, env := pmuxtest.RuntimeDir(t)
	pidfile := filepath.Join(t.TempDir(), "pmux.pid")
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Env: []string{env}}, "run", "-w", "3", "-b", "127.0.0.1:0", "-p", pidfile, "--", pmuxtest.Worker())
	m.ReadyWorkers(3)
	waitStatus(t, m.Pid(), "3 ready workers", settled)

	table := pmuxtest.Ctl(t, []string{env}, "status", "--pidfile", pidfile)
	table.Expect(t, "status", 0, "")
	pmuxtest.Golden(t, "status.golden", maskStatus(table.Stdout))
	for _, line := range strings.Split(table.Stdout, "\n") {
		if n := len([]rune(line)); n > 80 {
			t.Errorf("status line of %d columns: %q", n, line)
		}
	}

	// --json is the manager's Status, with documented field names.
	js := pmuxtest.Ctl(t, []string{env}, "status", "--json", pmuxtest.PidArg(m.Pid()))
	js.Expect(t, "status --json", 0, "")
	var st status.Status
	if err := json.Unmarshal([]byte(js.Stdout), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, js.Stdout)
	}
	spawned := map[int]bool{}
	for _, pid := range m.WorkerPids() {
		spawned[pid] = true
	}
	if st.MasterPID != m.Pid() || st.Phase != "running" || len(st.Pools) != 1 || st.Pools[0].Name != "web" || st.Pools[0].Target != 3 || len(st.Pools[0].Workers) != 3 {
		t.Fatalf("status --json: %+v", st)
	}
	for i, w := range st.Pools[0].Workers {
		if w.Slot != i || !spawned[w.Pid] || w.Generation != 1 || w.State != "ready" || w.RSS <= 0 || w.AgeSeconds <= 0 || w.Started.IsZero() {
			t.Errorf("worker %d: %+v", i, w)
		}
	}
	var raw map[string]any
	json.Unmarshal([]byte(js.Stdout), &raw)
	worker := raw["pools"].([]any)[0].(map[string]any)["workers"].([]any)[0].(map[string]any)
	for _, k := range []string{"slot", "pid", "generation", "state", "started", "age_seconds", "restarts", "rss_bytes"} {
		if _, ok := worker[k]; !ok {
			t.Errorf("worker JSON has no %q: %v", k, worker)
		}
	}
	listener := raw["pools"].([]any)[0].(map[string]any)["listeners"].([]any)[0].(map[string]any)
	for _, k := range []string{"bind", "addr", "queued", "backlog"} {
		if _, ok := listener[k]; !ok {
			t.Errorf("listener JSON has no %q: %v", k, listener)
		}
	}

	check := pmuxtest.Ctl(t, []string{env}, "status", "--check", pmuxtest.PidArg(m.Pid()))
	check.Expect(t, "status --check", 0, "")
	if check.Stdout != fmt.Sprintf("pmux %d: ready\n", m.Pid()) {
		t.Errorf("status --check printed %q", check.Stdout)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// Workers that are not ready until the test opens a gate: /readyz and
// `status --check` say not ready with the reason, then ready; the metrics
// follow.
func TestMetricsReadinessAndScrape(t *testing.T) {
	_, env := pmuxtest.RuntimeDir(t)
	gate := filepath.Join(t.TempDir(), "gate")
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Env: []string{env}}, "run", "-w", "2", "-b", "127.0.0.1:0", "--ready", "notify",
		"--metrics", "127.0.0.1:0", "--worker-output", "inherit", "--",
		"sh", "-c", `while [ ! -e "$0" ]; do sleep 0.02; done; exec "$1"`, gate, pmuxtest.Worker())
	addr := m.WaitEvents("metrics_listening", 1, 10*time.Second, nil)[0]["addr"].(string)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("metrics on %s", addr)
	}
	m.WaitEvents("worker_spawned", 2, 20*time.Second, nil)

	if code, body := httpGet(t, "http://"+addr+"/livez"); code != 200 || body != "ok\n" {
		t.Errorf("/livez while booting: %d %q", code, body)
	}
	if code, body := httpGet(t, "http://"+addr+"/readyz"); code != 503 || !strings.Contains(body, "pool web has 0 of 2 workers of generation 1 ready") {
		t.Errorf("/readyz while booting: %d %q", code, body)
	}
	pmuxtest.Ctl(t, []string{env}, "status", "--check", pmuxtest.PidArg(m.Pid())).Expect(t, "status --check while booting", 1, "not ready: pool web has 0 of 2")
	fams := pmuxtest.ScrapeMetrics(t, addr)
	if got := pmuxtest.MetricValue(fams, "pmux_workers", "pool=web,state=starting"); got != 2 {
		t.Errorf("pmux_workers{starting} = %v while booting", got)
	}

	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	m.ReadyWorkers(2)
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := httpGet(t, "http://"+addr+"/readyz")
		if code == 200 && body == "ok\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d %q", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	pmuxtest.Ctl(t, []string{env}, "status", "--check", pmuxtest.PidArg(m.Pid())).Expect(t, "status --check once ready", 0, "")

	// A reload: a new generation, the old one stopped.
	m.Signal(syscall.SIGHUP)
	m.ReadyWorkers(4)
	st := waitStatus(t, m.Pid(), "the reload to settle", func(st status.Status) bool { return settled(st) && st.Pools[0].Generation == 2 })
	fams = pmuxtest.ScrapeMetrics(t, addr)
	for _, tc := range []struct {
		name, labels string
		want         float64
	}{
		{"pmux_master_responsive", "", 1},
		{"pmux_workers", "pool=web,state=ready", 2},
		{"pmux_workers", "pool=web,state=starting", 0},
		{"pmux_pool_target_workers", "pool=web", 2},
		{"pmux_pool_generation", "pool=web", float64(st.Pools[0].Generation)},
		{"pmux_worker_spawns_total", "pool=web", 4},
		{"pmux_worker_spawn_duration_seconds", "pool=web", 4},
		{"pmux_worker_exits_total", "cause=stopped,pool=web", 2},
		{"pmux_reloads_total", "kind=reload,pool=web", 1},
		{"pmux_upgrades_total", "", 0},
	} {
		if got := pmuxtest.MetricValue(fams, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s{%s} = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	for _, name := range []string{"process_resident_memory_bytes", "process_open_fds", "go_goroutines"} {
		if pmuxtest.MetricValue(fams, name, "") <= 0 {
			t.Errorf("%s missing or zero", name)
		}
	}
	if got := pmuxtest.MetricValue(fams, "process_resident_memory_bytes", ""); got <= 0 {
		t.Errorf("the master's resident memory: %v", got)
	}

	m.MustStop(syscall.SIGQUIT, 30*time.Second)
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("metrics still served after the master exited")
	}
}

func TestScaleCommand(t *testing.T) {
	_, env := pmuxtest.RuntimeDir(t)
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Env: []string{env}}, "run", "-w", "2", "-b", "127.0.0.1:0", "--worker-output", "inherit", "--", pmuxtest.Worker())
	m.ReadyWorkers(2)
	count := func(n int) func(status.Status) bool {
		return func(st status.Status) bool { return settled(st) && st.Pools[0].Target == n }
	}
	for _, tc := range []struct {
		args []string
		out  string
		n    int
	}{
		{[]string{"scale", pmuxtest.PidArg(m.Pid()), "web=4"}, "pool web: 2 → 4 workers", 4},
		// Flags after the argument work too.
		{[]string{"scale", "web=-1", pmuxtest.PidArg(m.Pid())}, "pool web: 4 → 3 workers", 3},
		{[]string{"scale", pmuxtest.PidArg(m.Pid()), "web=+2"}, "pool web: 3 → 5 workers", 5},
		{[]string{"scale", pmuxtest.PidArg(m.Pid()), "web=0"}, "pool web: 5 → 0 workers", 0},
	} {
		r := pmuxtest.Ctl(t, []string{env}, tc.args...)
		r.Expect(t, strings.Join(tc.args, " "), 0, "")
		if !strings.Contains(r.Stdout, tc.out) {
			t.Errorf("%v printed %q, want %q", tc.args, r.Stdout, tc.out)
		}
		waitStatus(t, m.Pid(), fmt.Sprintf("%d workers", tc.n), count(tc.n))
	}
	// The unicorn profile's floor is 0.
	pmuxtest.Ctl(t, []string{env}, "scale", pmuxtest.PidArg(m.Pid()), "web=-1").Expect(t, "scale below the floor", 1, "below the signal profile's minimum (0): it keeps 0 workers")
	pmuxtest.Ctl(t, []string{env}, "scale", pmuxtest.PidArg(m.Pid()), "api=2").Expect(t, "scale an unknown pool", 1, "scale api: no such pool (this master runs: web)")
	pmuxtest.Ctl(t, []string{env}, "scale", pmuxtest.PidArg(m.Pid()), "web=lots").Expect(t, "scale to nonsense", 2, `scale "web=lots": want POOL=N`)
	pmuxtest.Ctl(t, []string{env}, "scale", pmuxtest.PidArg(m.Pid()), "web=5000").Expect(t, "scale too far", 2, "out of range")
	pmuxtest.Ctl(t, []string{env}, "scale", pmuxtest.PidArg(m.Pid())).Expect(t, "scale nothing", 2, "which pool?")
	pmuxtest.Ctl(t, []string{env}, "scale", pmuxtest.PidArg(m.Pid()), "web=1").Expect(t, "scale back up", 0, "")
	waitStatus(t, m.Pid(), "1 worker", count(1))
}

func TestControlReloadRollingRestartReopenLogs(t *testing.T) {
	_, env := pmuxtest.RuntimeDir(t)
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Env: []string{env}}, "run", "-w", "2", "-b", "127.0.0.1:0", "--worker-output", "inherit", "--", pmuxtest.Worker())
	m.ReadyWorkers(2)
	for i, tc := range []struct {
		cmd, out string
		effect   string
		match    func(map[string]any) bool
	}{
		{"reload", "reload requested", "generation_started", func(e map[string]any) bool { return e["rolling"] == false }},
		{"rolling-restart", "rolling restart requested", "generation_started", func(e map[string]any) bool { return e["rolling"] == true }},
		{"reopen-logs", "log reopening requested", "logs_reopened", nil},
	} {
		r := pmuxtest.Ctl(t, []string{env}, tc.cmd, pmuxtest.PidArg(m.Pid()))
		r.Expect(t, tc.cmd, 0, "")
		if r.Stdout != fmt.Sprintf("pmux %d: %s\n", m.Pid(), tc.out) {
			t.Errorf("%s printed %q", tc.cmd, r.Stdout)
		}
		m.WaitEvents(tc.effect, 1, 20*time.Second, tc.match)
		m.WaitEvents("control_action", i+1, 5*time.Second, nil)
	}
	st := waitStatus(t, m.Pid(), "the restarts to settle", func(st status.Status) bool { return settled(st) && st.Pools[0].Generation == 3 })
	for _, w := range st.Pools[0].Workers {
		if w.Generation != 3 {
			t.Errorf("worker %+v after a reload and a rolling restart", w)
		}
	}
}

// pmux reload --wait returns once the new generation serves alone (each
// worker here takes 600 ms to count as ready), and a broken config is
// reported with exit 1 while the workers keep serving.
func TestReloadWait(t *testing.T) {
	_, env := pmuxtest.RuntimeDir(t)
	path := filepath.Join(t.TempDir(), "pmux.toml")
	good := fmt.Sprintf("[[pool]]\nname = \"web\"\ncommand = [%q]\nworkers = 2\nready = \"delay=600ms\"\nbind = [\"tcp://127.0.0.1:0\"]\n", pmuxtest.Worker())
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Env: []string{env}}, "run", "-c", path, "--worker-output", "inherit")
	m.ReadyWorkers(2)
	for gen := 2; gen <= 3; gen++ {
		start := time.Now()
		r := pmuxtest.Ctl(t, []string{env}, "reload", "--wait", pmuxtest.PidArg(m.Pid()))
		took := time.Since(start)
		r.Expect(t, "reload --wait", 0, "")
		if want := fmt.Sprintf("pmux %d: reloaded: web generation %d serves\n", m.Pid(), gen); r.Stdout != want {
			t.Errorf("reload --wait printed %q, want %q", r.Stdout, want)
		}
		st, err := ctlStatus(t, m.Pid())
		if err != nil {
			t.Fatal(err)
		}
		if !settled(st) || st.Pools[0].Generation != gen {
			t.Fatalf("status right after reload --wait returned: %+v, want generation %d alone, ready", st.Pools, gen)
		}
		t.Logf("reload --wait to generation %d returned after %v", gen, took.Round(time.Millisecond))
	}
	if err := os.WriteFile(path, []byte("[[pool]]\nname = \"web\"\nworkers = -3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := pmuxtest.Ctl(t, []string{env}, "reload", "--wait", pmuxtest.PidArg(m.Pid()))
	r.Expect(t, "reload --wait of a broken config", 1, "nothing changed, the workers keep serving")
	if !strings.Contains(r.Stderr, path) {
		t.Errorf("reload --wait of a broken config said %q, want the file named", r.Stderr)
	}
	if st, err := ctlStatus(t, m.Pid()); err != nil || !settled(st) || st.Pools[0].Generation != 3 {
		t.Errorf("after the broken config: %+v, %v; want generation 3 serving", st, err)
	}
	pmuxtest.Ctl(t, []string{env}, "reload", "--wait", "--timeout", "0s", pmuxtest.PidArg(m.Pid())).Expect(t, "reload --wait --timeout 0s", 2, "positive duration")
}

func TestStopCommand(t *testing.T) {
	rt, env := pmuxtest.RuntimeDir(t)
	pidfile := filepath.Join(t.TempDir(), "pmux.pid")
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Env: []string{env}}, "run", "-w", "2", "-b", "127.0.0.1:0", "-p", pidfile, "--", pmuxtest.Worker())
	workers := m.ReadyWorkers(2)
	r := pmuxtest.Ctl(t, []string{env}, "stop", "--pidfile", pidfile)
	r.Expect(t, "stop", 0, "")
	if r.Stdout != fmt.Sprintf("pmux %d: stopped\n", m.Pid()) {
		t.Errorf("stop printed %q", r.Stdout)
	}
	if pmuxtest.Alive(m.Pid()) {
		t.Error("pmux stop returned while the master still ran")
	}
	m.MustExit(0, 5*time.Second)
	m.WaitEvents("control_action", 1, time.Second, func(e map[string]any) bool { return e["action"] == "graceful_stop" })
	for _, w := range workers {
		if pmuxtest.Alive(pmuxtest.IntField(w, "pid")) {
			t.Errorf("worker %d outlived its master", pmuxtest.IntField(w, "pid"))
		}
	}
	for _, p := range []string{pidfile, filepath.Join(rt, "pmux", strconv.Itoa(m.Pid())+".sock")} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", p, err)
		}
	}
	pmuxtest.Ctl(t, []string{env}, "stop", "--pidfile", pidfile).Expect(t, "stop again", 1, "no such file")
}

// A graceful stop waits for workers that take their time; --timeout bounds
// the wait, and a quick stop then hurries them.
func TestStopTimeoutThenQuick(t *testing.T) {
	_, env := pmuxtest.RuntimeDir(t)
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Env: []string{env, "WORKER_IGNORE_TERM=1"}},
		"run", "-w", "1", "-b", "127.0.0.1:0", "--graceful-timeout", "60s", "--worker-output", "inherit", "--ready", "notify", "--", pmuxtest.Worker())
	// Ready on notify: by then the worker ignores TERM.
	m.ReadyWorkers(1)
	pmuxtest.Ctl(t, []string{env}, "stop", "--timeout", "300ms", pmuxtest.PidArg(m.Pid())).Expect(t, "stop that times out", 1, "still running after 300ms")
	r := pmuxtest.Ctl(t, []string{env}, "stop", "--quick", pmuxtest.PidArg(m.Pid()))
	r.Expect(t, "stop --quick", 0, "")
	m.MustExit(0, 5*time.Second)
	m.WaitEvents("control_action", 1, time.Second, func(e map[string]any) bool { return e["action"] == "quick_stop" })
}

func TestControlClientErrors(t *testing.T) {
	_, env := pmuxtest.RuntimeDir(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pid")
	os.WriteFile(garbage, []byte("not a pid\n"), 0o644)
	// A pid that surely exited: a child of ours, reaped.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "stale.pid")
	os.WriteFile(stale, []byte(strconv.Itoa(dead.Process.Pid)+"\n"), 0o644)
	// A live process that is no pmux.
	other := exec.Command("sleep", "1000")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	notPmux := filepath.Join(dir, "other.pid")
	os.WriteFile(notPmux, []byte(strconv.Itoa(other.Process.Pid)+"\n"), 0o644)

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"status"}, 2, "status: which master? give --pidfile PATH or --pid N"},
		{[]string{"status", "--pid", "1", "--pidfile", garbage}, 2, "not both"},
		{[]string{"status", "--pid", "-4"}, 2, "not a process id"},
		{[]string{"status", "--pid", "1", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"reload", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"status", "--pidfile", filepath.Join(dir, "missing.pid")}, 1, "no such file or directory: is pmux running with --pidfile"},
		{[]string{"status", "--pidfile", garbage}, 1, "malformed content"},
		{[]string{"status", "--pidfile", stale}, 1, "is not a running pmux: the master is gone (remove the stale pidfile)"},
		{[]string{"stop", "--pidfile", notPmux}, 1, "is not a running pmux"},
		{[]string{"status", pmuxtest.PidArg(dead.Process.Pid)}, 1, "no such process: the master is not running"},
		{[]string{"reload", pmuxtest.PidArg(other.Process.Pid)}, 1, "no control socket at"},
	} {
		pmuxtest.Ctl(t, []string{env}, tc.args...).Expect(t, strings.Join(tc.args, " "), tc.code, tc.want)
	}
}

// Another user is turned away with a line that says who may: by the
// client's own check, and, for a pidfile it may not read, by the file
// system. (control's unit tests show the socket itself refusing a peer of
// another uid through SO_PEERCRED.)
func TestControlRefusesAnotherUser(t *testing.T) {
	uid, gid := pmuxtest.Nobody(t, "to run a client as nobody")
	_, env := pmuxtest.RuntimeDir(t)
	pidfile := filepath.Join(t.TempDir(), "pmux.pid")
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Env: []string{env}}, "run", "-w", "1", "-b", "127.0.0.1:0", "-p", pidfile, "--", pmuxtest.Worker())
	m.ReadyWorkers(1)
	// pmuxtest.Pmux()'s directory is private: nobody runs a copy.
	bin := filepath.Join(pmuxtest.PublicTempDir(t), "pmux")
	pmuxtest.CopyFile(t, pmuxtest.Pmux(), bin)
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	pmuxtest.CtlAt(t, bin, cred, []string{env}, "status", pmuxtest.PidArg(m.Pid())).
		Expect(t, "status as nobody", 1, fmt.Sprintf("pmux %d: runs as uid 0 and you are uid %d: only its own user may control it (run this as user root)", m.Pid(), uid))
	pmuxtest.CtlAt(t, bin, cred, []string{env}, "stop", "--pidfile", pidfile).Expect(t, "stop as nobody", 1, "permission denied")
	// The master is untouched.
	pmuxtest.Ctl(t, []string{env}, "status", "--check", pmuxtest.PidArg(m.Pid())).Expect(t, "status --check as root", 0, "")
}

// 100 clients ask for the status at once while HUPs rain on the master:
// every one is answered, and the master settles with no connection left
// open.
func TestControlConcurrentStatusDuringHUPStorm(t *testing.T) {
	_, env := pmuxtest.RuntimeDir(t)
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Env: []string{env}}, "run", "-w", "3", "-b", "127.0.0.1:0", "--worker-output", "inherit", "--", pmuxtest.Worker())
	m.ReadyWorkers(3)
	// Counted before any client has connected, so no connection is in it.
	fdsBefore := pmuxtest.FDCount(t, m.Pid())

	stormDone := make(chan struct{})
	var storm sync.WaitGroup
	storm.Add(1)
	go func() {
		defer storm.Done()
		for i := 0; i < 200; i++ {
			select {
			case <-stormDone:
				return
			default:
			}
			syscall.Kill(m.Pid(), syscall.SIGHUP)
			time.Sleep(5 * time.Millisecond)
		}
	}()

	const clients = 100
	errs := make(chan error, clients+8)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := ctlStatus(t, m.Pid())
			switch {
			case err != nil:
				errs <- fmt.Errorf("client %d: %w", i, err)
			case st.MasterPID != m.Pid() || len(st.Pools) != 1 || st.Pools[0].Target != 3:
				errs <- fmt.Errorf("client %d: status %+v", i, st)
			default:
				for _, w := range st.Pools[0].Workers {
					if w.Generation > st.Pools[0].Generation {
						errs <- fmt.Errorf("client %d: worker of generation %d in pool generation %d", i, w.Generation, st.Pools[0].Generation)
					}
				}
			}
		}()
	}
	// And a few through the real client, whose output must parse.
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(pmuxtest.Pmux(), "status", "--json", pmuxtest.PidArg(m.Pid()))
			cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0", env)
			out, err := cmd.Output()
			var st status.Status
			if err != nil || json.Unmarshal(out, &st) != nil || st.MasterPID != m.Pid() {
				errs <- fmt.Errorf("pmux status %d: %v: %s", i, err, out)
			}
		}()
	}
	wg.Wait()
	close(stormDone)
	storm.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	m.Signal(syscall.SIGHUP)
	waitStatus(t, m.Pid(), "the storm to settle", settled)
	deadline := time.Now().Add(30 * time.Second)
	for pmuxtest.FDCount(t, m.Pid()) != fdsBefore {
		if time.Now().After(deadline) {
			t.Fatalf("master holds %d fds after the storm, %d before", pmuxtest.FDCount(t, m.Pid()), fdsBefore)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A child that exits just now is a zombie until its SIGCHLD is
	// handled; one that stays is not reaped.
	z := pmuxtest.Zombies(t, m.Pid())
	for deadline := time.Now().Add(5 * time.Second); len(z) != 0 && time.Now().Before(deadline); z = pmuxtest.Zombies(t, m.Pid()) {
		time.Sleep(20 * time.Millisecond)
	}
	if len(z) != 0 {
		t.Errorf("zombies: %v", z)
	}
}

// Both masters of a binary upgrade answer on their own sockets, and share
// the --metrics address instead of the new one failing to bind it.
func TestControlAndMetricsDuringUpgrade(t *testing.T) {
	// A free port, named explicitly so both masters use the same one.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r := pmuxtest.NewUpgradeRig(t, "unicorn", "--metrics", addr)
	old := r.M.Pid()
	child := r.USR2(pmuxtest.Pmux())
	for _, pid := range []int{old, child} {
		st, err := ctlStatus(t, pid)
		if err != nil || st.MasterPID != pid {
			t.Errorf("status of pmux %d during the upgrade: %+v, %v", pid, st, err)
		}
	}
	st, _ := ctlStatus(t, child)
	if st.UpgradeParent != old {
		t.Errorf("new master's status names parent %d, want %d", st.UpgradeParent, old)
	}
	if events := r.M.Events("metrics_listening"); len(events) != 2 {
		t.Errorf("%d masters serve metrics, want both", len(events))
	}
	// Commit: the old master goes, and with it its socket.
	r.M.MustStop(syscall.SIGQUIT, 30*time.Second)
	if _, err := os.Lstat(control.SocketPath(old)); !os.IsNotExist(err) {
		t.Errorf("old master's socket after it exited: %v", err)
	}
	if code, body := httpGet(t, "http://"+addr+"/livez"); code != 200 {
		t.Errorf("/livez after the commit: %d %q", code, body)
	}
	if _, err := ctlStatus(t, child); err != nil {
		t.Errorf("new master after the commit: %v", err)
	}
}

// A control socket that cannot be made fails the start, before any worker,
// with one line naming the directory and the fix, and leaves no pidfile.
func TestControlSocketFailureFailsStartCleanly(t *testing.T) {
	rt, env := pmuxtest.RuntimeDir(t)
	if err := os.Mkdir(filepath.Join(rt, "pmux"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(rt, "pmux"), 0o755)
	pidfile := filepath.Join(t.TempDir(), "pmux.pid")
	r := pmuxtest.Ctl(t, []string{env, "PMUX_LOG_FORMAT=json"}, "run", "-b", "127.0.0.1:0", "-p", pidfile, "--", pmuxtest.Worker())
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	last := lines[len(lines)-1]
	want := fmt.Sprintf("pmux: control socket directory %s/pmux: not a private directory: mode 0755, want 0700 (chmod 700 %s/pmux)", rt, rt)
	if r.Code != 1 || last != want {
		t.Errorf("start with an unsafe socket directory: exit %d, last line %q; want 1 and %q", r.Code, last, want)
	}
	if strings.Contains(r.Stderr, "worker_spawned") {
		t.Error("a worker was started")
	}
	if _, err := os.Stat(pidfile); !os.IsNotExist(err) {
		t.Errorf("pidfile left behind: %v", err)
	}
}
