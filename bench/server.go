//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pmux/pmux/internal/proc"
	"github.com/pmux/pmux/spawn"
)

// flavor is one way of serving the trivial app with 4 workers.
type flavor struct {
	name string   // as the tables show it
	pmux bool     // pmux is the master
	peer string   // "gunicorn" or "unicorn": the master, or the server pmux runs
	app  string   // go, wsgi or rack
	args []string // extra pmux flags
	// ready is pmux's --ready: "" is notify, with the hooks of
	// bench/apps/*-pmux.conf.*; plain runs gunicorn and unicorn with one
	// worker and no config at all, no hook, no preload.
	ready string
	plain bool
}

var (
	pmuxGo   = flavor{name: "pmux + Go", pmux: true, app: "go"}
	pmuxWSGI = flavor{name: "pmux + gunicorn(1)", pmux: true, peer: "gunicorn", app: "wsgi"}
	pmuxRack = flavor{name: "pmux + unicorn(1)", pmux: true, peer: "unicorn", app: "rack"}
	gunicorn = flavor{name: "gunicorn", peer: "gunicorn", app: "wsgi"}
	unicorn  = flavor{name: "unicorn", peer: "unicorn", app: "rack"}
	// unicorn writes an access-log line per request to stderr; behind
	// pmux with --worker-output inherit, those lines bypass pmux, as they
	// do with unicorn alone.
	pmuxRackInherit = flavor{name: "pmux + unicorn(1), output inherited", pmux: true, peer: "unicorn", app: "rack", args: []string{"--worker-output", "inherit"}}

	// The same servers with no cooperation at all: the Go example sends
	// READY=1 only when it has a NOTIFY_SOCKET, which --ready auto and
	// none do not give; gunicorn and unicorn run with no config file.
	pmuxGoAuto   = flavor{name: "pmux + Go (--ready auto)", pmux: true, app: "go", ready: "auto"}
	pmuxGoNone   = flavor{name: "pmux + Go (--ready none)", pmux: true, app: "go", ready: "none"}
	pmuxWSGIAuto = flavor{name: "pmux + gunicorn(1) no hooks (--ready auto)", pmux: true, peer: "gunicorn", app: "wsgi", ready: "auto", plain: true}
	pmuxRackAuto = flavor{name: "pmux + unicorn(1) no hooks (--ready auto)", pmux: true, peer: "unicorn", app: "rack", ready: "auto", plain: true}
)

// env is what the runner found: binaries, app files, a scratch directory.
type env struct {
	root    string // repository root
	pmux    string // the pmux binary under test
	goApp   string // examples/go, built
	scratch string
	workers int
}

// server is one running master and its workers.
type server struct {
	f       flavor
	e       *env
	port    int
	addr    string
	dir     string
	pidfile string
	logPath string
	extra   []string // extra environment (APP_BOOT_DELAY)
	cmd     *exec.Cmd
	exited  chan struct{}
	master  int // the master in charge now; changes with an upgrade
	target  int
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServer starts f and waits until every worker has answered.
func startServer(e *env, f flavor, extraEnv ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(e.scratch, "srv-")
	if err != nil {
		return nil, err
	}
	s := &server{f: f, e: e, port: port, addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir,
		pidfile: filepath.Join(dir, "master.pid"), logPath: filepath.Join(dir, "master.log"),
		extra: extraEnv, exited: make(chan struct{}), target: e.workers}
	apps := filepath.Join(e.root, "bench", "apps")
	workers := strconv.Itoa(e.workers)
	var argv []string
	if f.pmux {
		ready := f.ready
		if ready == "" {
			ready = "notify"
		}
		argv = append([]string{e.pmux, "run", "-w", workers, "-b", s.addr, "-p", s.pidfile, "--ready", ready}, f.args...)
		switch {
		case f.app == "go":
			argv = append(argv, "--", e.goApp)
		case f.app == "wsgi" && f.plain:
			argv = append(argv, "--", "gunicorn", "-w", "1", "--chdir", apps, "app:app")
		case f.app == "wsgi":
			argv = append(argv, "--", "gunicorn", "-c", filepath.Join(apps, "gunicorn-pmux.conf.py"))
		case f.app == "rack" && f.plain:
			// unicorn's defaults: one worker, no preload; it adopts
			// pmux's socket through LISTEN_FDS.
			argv = append(argv, "--stop-signal", "QUIT", "--", "unicorn", filepath.Join(apps, "config.ru"))
		case f.app == "rack":
			argv = append(argv, "--stop-signal", "QUIT", "--", "unicorn", "-c", filepath.Join(apps, "unicorn-pmux.conf.rb"), filepath.Join(apps, "config.ru"))
		}
	} else {
		switch f.peer {
		case "gunicorn":
			argv = []string{"gunicorn", "-w", workers, "-b", s.addr, "-p", s.pidfile, "--chdir", apps, "app:app"}
		case "unicorn":
			argv = []string{"unicorn", "-c", filepath.Join(apps, "unicorn.conf.rb"), filepath.Join(apps, "config.ru")}
		}
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PMUX_LOG_FORMAT=json", "BENCH_PORT="+strconv.Itoa(port), "BENCH_PIDFILE="+s.pidfile,
		"BENCH_WORKERS="+workers, "XDG_RUNTIME_DIR="+dir)
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own group, so a terminal's Ctrl-C reaches the runner only, which
	// then stops every server by pid.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", f.name, err)
	}
	track(cmd.Process.Pid, true)
	s.cmd, s.master = cmd, cmd.Process.Pid
	go func() {
		cmd.Wait()
		track(cmd.Process.Pid, false)
		close(s.exited)
	}()
	if err := s.settle(60 * time.Second); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// owned tracks the pids os/exec waits for, so reapOrphans leaves them be.
var owned = struct {
	sync.Mutex
	pids map[int]bool
}{pids: map[int]bool{}}

func track(pid int, on bool) {
	owned.Lock()
	defer owned.Unlock()
	if on {
		owned.pids[pid] = true
	} else {
		delete(owned.pids, pid)
	}
}

func isOwned(pid int) bool {
	owned.Lock()
	defer owned.Unlock()
	return owned.pids[pid]
}

// workers lists the master's worker processes: its children, less a new
// master it started for an upgrade.
func (s *server) workers() []int {
	return s.workersOf(s.master)
}

func (s *server) workersOf(master int) []int {
	var out []int
	for _, c := range children(master) {
		if !s.isNewMaster(c) && !isGuard(c) {
			out = append(out, c)
		}
	}
	return out
}

// isGuard tells pmux's guard, the child that outlives its master only to
// kill the workers, from a worker.
func isGuard(pid int) bool {
	args, err := proc.Default.Cmdline(pid)
	return err == nil && len(args) > 0 && strings.HasPrefix(args[0], spawn.GuardTitle)
}

// isNewMaster tells a new master, re-executed for an upgrade, from a
// worker: by its command line for pmux and unicorn (which retitles its
// processes); a gunicorn master has the same command line as its workers
// but, unlike a sync worker, children of its own.
func (s *server) isNewMaster(pid int) bool {
	args, err := proc.Default.Cmdline(pid)
	if err != nil {
		return false
	}
	switch {
	case s.f.pmux:
		return len(args) > 1 && args[1] == "run"
	case s.f.peer == "unicorn":
		return len(args) > 0 && strings.HasPrefix(args[0], "unicorn master")
	default:
		return len(children(pid)) > 0
	}
}

// served reports whether every worker, or a process below it, has
// answered: a worker that is a server of its own (gunicorn, unicorn behind
// pmux) answers from its child.
func served(workers []int, responders map[int]bool) bool {
	for _, w := range workers {
		if responders[w] {
			continue
		}
		ok := false
		for _, d := range descendants(w) {
			if responders[d] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// settle waits until the master has its target of workers and each has
// answered a request, probing with bursts of concurrent requests.
func (s *server) settle(bound time.Duration) error {
	deadline := time.Now().Add(bound)
	responders := map[int]bool{}
	var last []int
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			if s.master == s.cmd.Process.Pid {
				return fmt.Errorf("%s exited while starting; its log:\n%s", s.f.name, s.tail(20))
			}
		default:
		}
		ws := s.workers()
		if !sameSet(ws, last) {
			responders = map[int]bool{}
			last = ws
		}
		if len(ws) == s.target {
			for pid := range probe(s.addr, 16) {
				responders[pid] = true
			}
			if served(ws, responders) {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s: workers %v did not all serve within %v; its log:\n%s", s.f.name, last, bound, s.tail(20))
}

// probe sends n concurrent requests and returns who answered.
func probe(addr string, n int) map[int]bool {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[int]bool{}
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if pid, err := get(addr, 2*time.Second); err == nil {
				mu.Lock()
				out[pid] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

func sameSet(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[int]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}

func (s *server) signal(sig syscall.Signal) error {
	return syscall.Kill(s.master, sig)
}

// gracefulStop is QUIT for unicorn and pmux's unicorn profile, TERM for
// gunicorn.
func (s *server) gracefulStop() syscall.Signal {
	if !s.f.pmux && s.f.peer == "gunicorn" {
		return syscall.SIGTERM
	}
	return syscall.SIGQUIT
}

// stop ends the master in charge and every process below it, by pid.
func (s *server) stop() {
	all := append(descendants(s.master), s.master)
	syscall.Kill(s.master, s.gracefulStop())
	if _, left := waitGoneFast(all, time.Now(), 30*time.Second); len(left) > 0 {
		for _, p := range left {
			syscall.Kill(p, syscall.SIGKILL)
		}
		waitGoneFast(left, time.Now(), 5*time.Second)
	}
	if s.master == s.cmd.Process.Pid {
		<-s.exited
	}
	reapOrphans(isOwned)
	os.RemoveAll(s.dir)
}

// tail returns the last n lines of the master's log.
func (s *server) tail(n int) string {
	data, _ := os.ReadFile(s.logPath)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// events parses pmux's JSON log (pmux flavors only).
func (s *server) events(name string) []map[string]any {
	f, err := os.Open(s.logPath)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) == nil && e["event"] == name {
			out = append(out, e)
		}
	}
	return out
}

func num(e map[string]any, key string) float64 {
	switch v := e[key].(type) {
	case float64:
		return v
	case string:
		f, _ := strconv.ParseFloat(v, 64)
		return f
	}
	return 0
}

// readPidfile reads a pidfile, 0 when absent or malformed.
func readPidfile(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// newMasterPidfile is where the new master of an upgrade writes its pid:
// the pidfile itself (unicorn, and pmux's unicorn profile) or P.2
// (gunicorn 20).
func (s *server) newMasterPidfile() string {
	if !s.f.pmux && s.f.peer == "gunicorn" {
		return s.pidfile + ".2"
	}
	return s.pidfile
}
