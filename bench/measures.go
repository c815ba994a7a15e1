//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pmux/pmux/internal/proc"
)

// idle measures every server at once, each left alone: the master's RSS,
// the PSS of its whole tree, and the master's CPU time and wakeups (the
// voluntary and involuntary context switches of all its threads) in
// segments of a third of the idle time each.
func measureIdle(c cfg, servers []*server, res *results) {
	const segments = 3
	type snap struct {
		wake int64
		cpu  time.Duration
	}
	take := func(s *server) snap {
		w, _ := wakeups(s.master)
		cpu, _ := cpuTime(s.master)
		return snap{w, cpu}
	}
	seg := c.idle / segments
	prev := make([]snap, len(servers))
	for i, s := range servers {
		prev[i] = take(s)
	}
	for range segments {
		time.Sleep(seg)
		for i, s := range servers {
			now := take(s)
			m := res.rec("idle", s.f.name)
			m.add("wakeups", float64(now.wake-prev[i].wake)/seg.Seconds())
			m.add("cpu", ms(now.cpu-prev[i].cpu)/seg.Seconds())
			prev[i] = now
		}
	}
	for _, s := range servers {
		m := res.rec("idle", s.f.name)
		rss, _ := rssKB(s.master)
		total, _ := proc.Default.PSS(s.master)
		for _, d := range descendants(s.master) {
			r, _ := proc.Default.PSS(d)
			total += r
		}
		m.add("rss", float64(rss)/1024)
		for key, name := range map[string]string{"RssAnon": "rssAnon", "RssFile": "rssFile"} {
			if kb, err := statusKB(s.master, key); err == nil {
				m.add(name, float64(kb)/1024)
			}
		}
		m.add("totalPSS", float64(total)/1024)
		tasks, _ := proc.Default.Tasks(s.master)
		m.add("threads", float64(len(tasks)))
	}
}

// idleMark is a master's counters when the long idle measurement began.
type idleMark struct {
	at   time.Time
	wake int64
	cpu  time.Duration
}

func markIdle(servers []*server) []idleMark {
	out := make([]idleMark, len(servers))
	for i, s := range servers {
		w, _ := wakeups(s.master)
		cpu, _ := cpuTime(s.master)
		out[i] = idleMark{time.Now(), w, cpu}
	}
	return out
}

// measureLongIdle reads the masters left alone since marks were taken: the
// whole benchmark session, long enough to include what a Go runtime does
// every minute or two (sysmon's idle check, the forced GC).
func measureLongIdle(servers []*server, marks []idleMark, res *results) {
	for i, s := range servers {
		w, _ := wakeups(s.master)
		cpu, _ := cpuTime(s.master)
		d := time.Since(marks[i].at)
		m := res.rec("idle", s.f.name)
		m.add("longWakeups", float64(w-marks[i].wake)/d.Seconds())
		m.add("longCPU", ms(cpu-marks[i].cpu)/d.Seconds())
		m.add("longSeconds", d.Seconds())
	}
}

// masterKill SIGKILLs the master of each server and measures the time until
// the last process below it is gone. The servers are killed together and
// watched in parallel: a peer's orphans take seconds, which would otherwise
// be waited for one after the other. bound caps the wait; what is left
// then is killed by pid and reported.
func measureMasterKill(servers []*server, res *results, bound time.Duration) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, s := range servers {
		below := descendants(s.master)
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			syscall.Kill(s.master, syscall.SIGKILL)
			last, left := waitGoneFast(below, t0, bound)
			mu.Lock()
			defer mu.Unlock()
			m := res.rec("masterkill", s.f.name)
			if len(left) > 0 {
				m.add("gone", math.Inf(1))
				m.add("orphans", float64(len(left)))
				m.note(fmt.Sprintf("%d of %d processes still alive %v after the master's SIGKILL (then killed by the benchmark)", len(left), len(below), bound))
				for _, p := range left {
					syscall.Kill(p, syscall.SIGKILL)
				}
				waitGoneFast(left, time.Now(), 5*time.Second)
			} else {
				m.add("gone", ms(last))
				m.add("orphans", 0)
			}
		}()
	}
	wg.Wait()
	for _, s := range servers {
		<-s.exited
		os.RemoveAll(s.dir)
	}
	reapOrphans(isOwned)
}

// wrk runs wrk against addr and returns requests per second.
func runWrk(addr string, d time.Duration, conns int, close bool) (float64, error) {
	args := []string{"-t2", "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(int(d.Seconds())) + "s"}
	if close {
		args = append(args, "-H", "Connection: close")
	}
	args = append(args, "http://"+addr+"/")
	out, err := exec.Command("wrk", args...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk: %w: %s", err, out)
	}
	mm := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`).FindSubmatch(out)
	if mm == nil {
		return 0, fmt.Errorf("wrk: no Requests/sec in %s", out)
	}
	rps, _ := strconv.ParseFloat(string(mm[1]), 64)
	if bytes.Contains(out, []byte("Non-2xx")) || bytes.Contains(out, []byte("Socket errors")) {
		return rps, fmt.Errorf("wrk reported errors: %s", out)
	}
	return rps, nil
}

// bareGroup is the Go app alone: the same 4 processes on one socket the
// benchmark binds, as pmux hands it (fd 3, LISTEN_FDS, LISTEN_PID), but
// with no master at all. LISTEN_PID must be the app's own pid, which only
// a process that execs in place can know: sh sets it to $$ and execs.
type bareGroup struct {
	addr  string
	procs []*exec.Cmd
}

// listenRaw binds 127.0.0.1:0 as pmux does (SO_REUSEADDR, backlog 1024)
// with plain system calls. A Go listener would sit in the runner's own
// epoll set, and every connection to the apps would wake the runner too: a
// cost on the measured side that a master which never polls its sockets,
// as pmux, does not have.
func listenRaw() (*os.File, string, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, "", err
	}
	f := os.NewFile(uintptr(fd), "bare listener")
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		f.Close()
		return nil, "", err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		f.Close()
		return nil, "", err
	}
	if err := unix.Listen(fd, 1024); err != nil {
		f.Close()
		return nil, "", err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		f.Close()
		return nil, "", err
	}
	return f, fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port), nil
}

func startBare(app string, n int) (*bareGroup, error) {
	f, addr, err := listenRaw()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	g := &bareGroup{addr: addr}
	for i := range n {
		cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0"`, app)
		cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "LISTEN_FDNAMES=http", "PMUX_WORKER="+strconv.Itoa(i))
		cmd.ExtraFiles = []*os.File{f}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
		if err := cmd.Start(); err != nil {
			g.stop()
			return nil, err
		}
		track(cmd.Process.Pid, true)
		g.procs = append(g.procs, cmd)
	}
	// Ready when every process answered.
	seen := map[int]bool{}
	if !pollUntil(20*time.Second, func() bool {
		for pid := range probe(g.addr, 16) {
			seen[pid] = true
		}
		for _, p := range g.procs {
			if !seen[p.Process.Pid] {
				return false
			}
		}
		return true
	}) {
		g.stop()
		return nil, fmt.Errorf("the bare app group did not serve")
	}
	return g, nil
}

func (g *bareGroup) stop() {
	for _, p := range g.procs {
		p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range g.procs {
		p.Wait()
		track(p.Process.Pid, false)
	}
}

// emitter is the worker of the output benchmark: the benchmark binary
// itself, run with BENCH_EMIT=<bytes>, writes that many bytes of 100-byte
// lines to stdout, then waits to be stopped.
func emitter() bool {
	v := os.Getenv("BENCH_EMIT")
	if v == "" {
		return false
	}
	n, _ := strconv.Atoi(v)
	line := []byte(strings.Repeat("x", 99) + "\n")
	buf := bytes.Repeat(line, 640) // 64 000 bytes per write
	w := bufio.NewWriterSize(os.Stdout, len(buf))
	for n > 0 {
		chunk := buf[:min(n, len(buf))]
		w.Write(chunk)
		n -= len(chunk)
	}
	w.Flush()
	sigs := make(chan os.Signal, 1)
	signalNotify(sigs)
	<-sigs
	return true
}

// measureOutput runs 4 emitters under pmux with the given --worker-output
// and returns the rate at which their output reached pmux's stdout, from
// the first byte to the last, in MB/s of worker output.
func measureOutput(e *env, mode string, perWorker int) (float64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp(e.scratch, "out-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	cmd := exec.Command(e.pmux, "run", "-w", strconv.Itoa(e.workers), "-b", "127.0.0.1:0", "--worker-output", mode, "--", self)
	cmd.Env = append(os.Environ(), "BENCH_EMIT="+strconv.Itoa(perWorker), "PMUX_LOG_FORMAT=json", "XDG_RUNTIME_DIR="+dir)
	cmd.Stdout = w
	cmd.Stderr = io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return 0, err
	}
	w.Close()
	track(cmd.Process.Pid, true)
	defer func() {
		cmd.Process.Signal(syscall.SIGQUIT)
		done := make(chan struct{})
		go func() { io.Copy(io.Discard, r); close(done) }()
		cmd.Wait()
		track(cmd.Process.Pid, false)
		<-done
	}()
	// Every line arrives whole, so counting newlines counts lines; with a
	// prefix each line is longer than the 100 bytes the worker wrote.
	want := e.workers * perWorker / 100
	buf := make([]byte, 1<<20)
	var first time.Time
	lines := 0
	deadline := time.Now().Add(60 * time.Second)
	for lines < want {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("only %d of %d lines arrived", lines, want)
		}
		r.SetReadDeadline(deadline)
		n, err := r.Read(buf)
		if n > 0 && first.IsZero() {
			first = time.Now()
		}
		lines += bytes.Count(buf[:n], []byte{'\n'})
		if err != nil {
			return 0, err
		}
	}
	took := time.Since(first)
	return float64(e.workers*perWorker) / 1e6 / took.Seconds(), nil
}

// spawnResult is one start and stop of n workers of `sleep`.
type spawnResult struct {
	spawnMs   []float64 // pmux's spawn_ms of each worker
	upPer     float64   // ms per worker from master_started to all of them running sleep
	stopMs    float64   // from the graceful stop signal to the master's exit
	rssMB     float64   // master RSS with n workers
	cpuPer    float64   // the master's own CPU ms per worker, to start them
	bareMs    []float64 // bare fork+exec of sleep, each
	barePerMs float64   // bare: total / n
}

func measureSpawn(e *env, n int) (spawnResult, error) {
	var r spawnResult
	dir, err := os.MkdirTemp(e.scratch, "spawn-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	logPath := filepath.Join(dir, "master.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return r, err
	}
	sleepPath, err := exec.LookPath("sleep")
	if err != nil {
		return r, err
	}
	cmd := exec.Command(e.pmux, "run", "-w", strconv.Itoa(n), "-b", "127.0.0.1:0", "--worker-output", "inherit", "--", sleepPath, "1000")
	cmd.Env = append(os.Environ(), "PMUX_LOG_FORMAT=json", "XDG_RUNTIME_DIR="+dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return r, err
	}
	logf.Close()
	track(cmd.Process.Pid, true)
	exited := make(chan struct{})
	go func() { cmd.Wait(); track(cmd.Process.Pid, false); close(exited) }()
	pid := cmd.Process.Pid
	var upAt time.Time
	ok := pollUntil(60*time.Second, func() bool {
		kids := children(pid)
		if len(kids) < n {
			return false
		}
		for _, k := range kids {
			if comm(k) != "sleep" {
				return false
			}
		}
		upAt = time.Now()
		return true
	})
	srv := &server{logPath: logPath}
	if !ok {
		syscall.Kill(pid, syscall.SIGINT)
		<-exited
		return r, fmt.Errorf("%d workers did not start; log:\n%s", n, srv.tail(10))
	}
	r.rssMB = func() float64 { v, _ := rssKB(pid); return float64(v) / 1024 }()
	if cpu, err := cpuTime(pid); err == nil {
		r.cpuPer = ms(cpu) / float64(n)
	}
	for _, ev := range srv.events("worker_spawned") {
		r.spawnMs = append(r.spawnMs, num(ev, "spawn_ms"))
	}
	if st := srv.events("master_started"); len(st) > 0 {
		if t, err := time.Parse(time.RFC3339Nano, fmt.Sprint(st[0]["time"])); err == nil {
			r.upPer = ms(upAt.Sub(t)) / float64(n)
		}
	}
	t0 := time.Now()
	syscall.Kill(pid, syscall.SIGQUIT)
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
		return r, fmt.Errorf("pmux with %d workers did not stop in 60 s", n)
	}
	r.stopMs = ms(time.Since(t0))

	// The bare baseline: fork+exec the same command from Go, as pmux's
	// spawner does (own process group, parent-death signal), one after the
	// other.
	pids := make([]int, 0, n)
	begin := time.Now()
	for range n {
		t := time.Now()
		p, err := syscall.ForkExec(sleepPath, []string{"sleep", "1000"}, &syscall.ProcAttr{
			Env:   os.Environ(),
			Files: []uintptr{0, 1, 2},
			Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM},
		})
		if err != nil {
			break
		}
		r.bareMs = append(r.bareMs, ms(time.Since(t)))
		pids = append(pids, p)
	}
	r.barePerMs = ms(time.Since(begin)) / float64(n)
	for _, p := range pids {
		syscall.Kill(p, syscall.SIGKILL)
	}
	for _, p := range pids {
		var ws syscall.WaitStatus
		syscall.Wait4(p, &ws, 0, nil)
	}
	if len(pids) < n {
		return r, fmt.Errorf("bare fork+exec failed after %d", len(pids))
	}
	return r, nil
}

func medianOf(v []float64) float64 { return dist(v).median() }

func percentileOf(v []float64, p float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}
