//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The "cost as the work grows" scenario: one master at a time with N
// workers that do nothing (`sleep` behind pmux, unicorn's own workers
// behind unicorn), measured for what the master itself costs as N grows:
// its memory, its wakeups while idle, how fast it starts N workers and
// replaces them on a HUP, and (pmux) how fast it answers status and
// metrics with N workers.
var (
	scaleSizes        = []int{4, 16, 64, 256, 1024}
	unicornScaleSizes = []int{4, 64, 256}
)

// scaleBound bounds every wait of the scenario: a boot, a HUP, a stop.
const scaleBound = 120 * time.Second

// scaleRun is one master with n workers.
type scaleRun struct {
	name    string // "pmux" or "unicorn"
	n       int
	dir     string
	cmd     *exec.Cmd
	exited  chan struct{}
	pid     int
	metrics string // pmux's metrics address
	isWork  func(pid int) bool
}

// measureScale starts name's master with n idle workers, measures it and
// stops it; every figure goes to res under the scenario "scale".
func measureScale(e *env, c cfg, name string, n int, res *results, progress func(string, ...any)) error {
	m := res.rec("scale", name+" "+strconv.Itoa(n))
	s, err := startScale(e, name, n)
	if err != nil {
		return err
	}
	defer s.stop()
	began := time.Now()
	if !s.waitWorkers(func(ws []int) bool { return len(ws) >= n }) {
		return fmt.Errorf("%s: %d workers did not all start within %v", name, n, scaleBound)
	}
	up := time.Since(began)
	m.add("spawnRate", float64(n)/up.Seconds())
	if cpu, err := cpuTime(s.pid); err == nil {
		m.add("cpuPer", ms(cpu)/float64(n))
	}
	if name == "pmux" {
		var spawn []float64
		for _, ev := range (&server{logPath: filepath.Join(s.dir, "master.log")}).events("worker_spawned") {
			spawn = append(spawn, num(ev, "spawn_ms"))
		}
		m.add("spawnMs", medianOf(spawn))
	}
	// The runtime settles (a GC or two after the burst of starts) before
	// the memory is read.
	time.Sleep(2 * time.Second)
	rss, _ := rssKB(s.pid)
	anon, _ := statusKB(s.pid, "RssAnon")
	m.add("rss", float64(rss)/1024)
	m.add("anon", float64(anon)/1024)

	progress("  %s %d: idle %v", name, n, c.idle)
	w0, err0 := wakeups(s.pid)
	time.Sleep(c.idle)
	w1, err1 := wakeups(s.pid)
	if err0 == nil && err1 == nil {
		m.add("wakeups", float64(w1-w0))
	}

	if name == "pmux" {
		m.add("statusMs", timed(func() error {
			cmd := exec.Command(e.pmux, "status", "--json", "--pid", strconv.Itoa(s.pid))
			cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+s.dir) // where the master put its control socket
			out, err := cmd.Output()
			if err == nil && !bytes.Contains(out, []byte(`"pid"`)) {
				err = fmt.Errorf("pmux status --json: no worker in %.100q", out)
			}
			return err
		}, m))
		m.add("metricsMs", timed(func() error {
			resp, err := http.Get("http://" + s.metrics + "/metrics")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, err = io.Copy(io.Discard, resp.Body)
			return err
		}, m))
	}

	old := s.workers()
	t0 := time.Now()
	if err := syscall.Kill(s.pid, syscall.SIGHUP); err != nil {
		return err
	}
	if !s.waitWorkers(func(ws []int) bool {
		fresh := 0
		for _, w := range ws {
			if !slices.Contains(old, w) {
				fresh++
			}
		}
		if fresh < n {
			return false
		}
		for _, w := range old {
			if alive(w) {
				return false
			}
		}
		return true
	}) {
		m.add("hupMs", float64(scaleBound.Milliseconds()))
		m.note(fmt.Sprintf("HUP with %d workers: not all replaced within %v", n, scaleBound))
	} else {
		m.add("hupMs", ms(time.Since(t0)))
	}
	time.Sleep(2 * time.Second)
	if rss, err := rssKB(s.pid); err == nil {
		m.add("rssAfterHUP", float64(rss)/1024)
	}
	return nil
}

// timed runs f and returns how long it took in ms, noting its error.
func timed(f func() error, m metrics) float64 {
	t := time.Now()
	if err := f(); err != nil {
		m.note(err.Error())
	}
	return ms(time.Since(t))
}

func startScale(e *env, name string, n int) (*scaleRun, error) {
	dir, err := os.MkdirTemp(e.scratch, "scale-")
	if err != nil {
		return nil, err
	}
	s := &scaleRun{name: name, n: n, dir: dir, exited: make(chan struct{})}
	var argv, env []string
	switch name {
	case "pmux":
		sleepPath, err := exec.LookPath("sleep")
		if err != nil {
			return nil, err
		}
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s.metrics = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		// Ready at exec, said explicitly whatever the default: the HUP
		// figure is then pmux's own spawning, not a worker's boot.
		argv = []string{e.pmux, "run", "-w", strconv.Itoa(n), "-b", "127.0.0.1:0", "--ready", "none",
			"--metrics", s.metrics, "--", sleepPath, "100000"}
		env = []string{"PMUX_LOG_FORMAT=json", "XDG_RUNTIME_DIR=" + dir}
		s.isWork = func(pid int) bool { return comm(pid) == "sleep" }
	case "unicorn":
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		apps := filepath.Join(e.root, "bench", "apps")
		argv = []string{"unicorn", "-c", filepath.Join(apps, "unicorn.conf.rb"), filepath.Join(apps, "config.ru")}
		env = []string{"BENCH_PORT=" + strconv.Itoa(port), "BENCH_PIDFILE=" + filepath.Join(dir, "master.pid"),
			"BENCH_WORKERS=" + strconv.Itoa(n)}
		s.isWork = func(int) bool { return true }
	default:
		return nil, fmt.Errorf("scale: no master %q", name)
	}
	logf, err := os.Create(filepath.Join(dir, "master.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	track(cmd.Process.Pid, true)
	s.cmd, s.pid = cmd, cmd.Process.Pid
	go func() {
		cmd.Wait()
		track(cmd.Process.Pid, false)
		close(s.exited)
	}()
	return s, nil
}

// workers lists the master's live worker processes, from the children
// files of its threads (cheaper than a walk of /proc, which the poll
// would otherwise repeat with a thousand processes).
func (s *scaleRun) workers() []int {
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(s.pid) + "/task")
	var out []int
	for _, t := range tasks {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(s.pid) + "/task/" + t.Name() + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil && alive(pid) && s.isWork(pid) {
				out = append(out, pid)
			}
		}
	}
	return out
}

// waitWorkers polls the workers until ok holds, the master exits or the
// bound passes. It polls every 100 ms: a faster poll of a thousand
// processes would take the CPU the master needs to start them.
func (s *scaleRun) waitWorkers(ok func([]int) bool) bool {
	deadline := time.Now().Add(scaleBound)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return false
		default:
		}
		if ok(s.workers()) {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// stop ends the master and everything below it, by pid: a graceful stop
// first, then KILL to the process group and to any process left below.
func (s *scaleRun) stop() {
	all := append(descendants(s.pid), s.pid)
	syscall.Kill(s.pid, syscall.SIGQUIT)
	if _, left := waitGoneFast(all, time.Now(), 30*time.Second); len(left) > 0 {
		syscall.Kill(-s.pid, syscall.SIGKILL)
		for _, p := range left {
			syscall.Kill(p, syscall.SIGKILL)
		}
		waitGoneFast(left, time.Now(), 5*time.Second)
	}
	<-s.exited
	reapOrphans(isOwned)
	os.RemoveAll(s.dir)
}

// raiseFileLimit lifts the soft open-file limit to the hard one: a master
// with 1024 workers holds a pipe per worker, two during a reload.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}
