package pmuxtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Master is one pmux process under test, with its JSON log parsed as it
// comes and the workers' output (pmux's stdout) kept line by line.
type Master struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	cond *sync.Cond
	logs []map[string]any
	out  []string // worker output lines from stdout
	done chan struct{}
	err  error // Wait's result, once done is closed
}

// Opts are how StartMaster runs pmux, beyond its arguments.
type Opts struct {
	// Env is added to the test's environment.
	Env   []string
	Stdin io.Reader
	// Wrap runs pmux through this argv prefix (e.g. sh -c with traps).
	Wrap []string
	// ExtraFiles are inherited by pmux as fds 3, 4, …
	ExtraFiles []*os.File
}

// StartMaster runs pmux with args and the JSON log at debug level, and
// registers a cleanup that ends it and waits for every worker it reported
// to be gone.
func StartMaster(t *testing.T, o Opts, args ...string) *Master {
	t.Helper()
	return StartMasterAt(t, Pmux(), o, args...)
}

// StartMasterAt is StartMaster with the pmux binary at path.
func StartMasterAt(t *testing.T, path string, o Opts, args ...string) *Master {
	t.Helper()
	argv := append([]string{path}, args...)
	if len(o.Wrap) > 0 {
		argv = append(append([]string{}, o.Wrap...), argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "PMUX_LOG_FORMAT=json", "PMUX_LOG_LEVEL=debug")
	cmd.Env = append(cmd.Env, o.Env...)
	cmd.Stdin = o.Stdin
	cmd.ExtraFiles = o.ExtraFiles
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Plain pipes, not StdoutPipe: a new master of an upgrade inherits
	// them and outlives this process, and Wait must not wait for it.
	stderr, stderrW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, stdoutW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = stdoutW, stderrW
	m := &Master{t: t, cmd: cmd, done: make(chan struct{})}
	m.cond = sync.NewCond(&m.mu)
	err = cmd.Start()
	stderrW.Close()
	stdoutW.Close()
	if err != nil {
		stderr.Close()
		stdout.Close()
		t.Fatal(err)
	}
	go func() {
		defer stderr.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			var entry map[string]any
			if json.Unmarshal(line, &entry) != nil {
				entry = map[string]any{"event": "raw", "message": string(line)}
			}
			m.mu.Lock()
			m.logs = append(m.logs, entry)
			m.cond.Broadcast()
			m.mu.Unlock()
		}
	}()
	go func() {
		defer stdout.Close()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			m.mu.Lock()
			m.out = append(m.out, sc.Text())
			m.cond.Broadcast()
			m.mu.Unlock()
		}
	}()
	go func() {
		err := cmd.Wait()
		m.mu.Lock()
		m.err = err
		m.cond.Broadcast()
		m.mu.Unlock()
		close(m.done)
	}()
	t.Cleanup(m.cleanup)
	return m
}

// cleanup ends the master if the test left it running, then makes sure no
// worker it started survives it.
func (m *Master) cleanup() {
	select {
	case <-m.done:
	default:
		syscall.Kill(m.cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-m.done:
		case <-time.After(15 * time.Second):
			syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
			<-m.done
		}
	}
	for _, pid := range m.WorkerPids() {
		WaitGone(m.t, pid, 5*time.Second)
	}
}

// Pid is the master's process id.
func (m *Master) Pid() int { return m.cmd.Process.Pid }

// Signal sends sig to the master, or fails the test.
func (m *Master) Signal(sig syscall.Signal) {
	m.t.Helper()
	if err := syscall.Kill(m.Pid(), sig); err != nil {
		m.t.Fatalf("signal %v to pmux: %v", sig, err)
	}
}

// Wait waits for the master to exit and returns its exit code; a master
// still running after timeout fails the test.
func (m *Master) Wait(timeout time.Duration) int {
	m.t.Helper()
	select {
	case <-m.done:
	case <-time.After(timeout):
		m.t.Fatalf("pmux did not exit within %v; log:\n%s", timeout, m.Dump())
	}
	return m.cmd.ProcessState.ExitCode()
}

// Done is closed once the master has exited.
func (m *Master) Done() <-chan struct{} { return m.done }

// Events returns the log entries with the given event name.
func (m *Master) Events(name string) []map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []map[string]any
	for _, e := range m.logs {
		if e["event"] == name {
			out = append(out, e)
		}
	}
	return out
}

// Snapshot copies the log so far.
func (m *Master) Snapshot() []map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.logs)
}

// Output copies the workers' output lines so far.
func (m *Master) Output() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.out)
}

// Watch calls pred with the log and the output so far, at each new line
// and, when tick is not zero, every tick (for a pred that looks at more
// than the log), until it holds; it reports false if timeout passed first.
// pred runs with the master's lock held: it must not call m's methods, and
// must not keep the slices.
func (m *Master) Watch(timeout, tick time.Duration, pred func(logs []map[string]any, out []string) bool) bool {
	deadline := time.Now().Add(timeout)
	wake := func() {
		m.mu.Lock()
		m.cond.Broadcast()
		m.mu.Unlock()
	}
	timer := time.AfterFunc(timeout, wake)
	defer timer.Stop()
	if tick > 0 {
		ticker := time.NewTicker(tick)
		defer ticker.Stop()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-ticker.C:
					wake()
				}
			}
		}()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for !pred(m.logs, m.out) {
		if time.Now().After(deadline) {
			return false
		}
		m.cond.Wait()
	}
	return true
}

// WaitFor waits until pred holds over the log, or fails the test with the
// log.
func (m *Master) WaitFor(what string, timeout time.Duration, pred func(logs []map[string]any) bool) {
	m.t.Helper()
	if !m.Watch(timeout, 0, func(logs []map[string]any, _ []string) bool { return pred(logs) }) {
		m.t.Fatalf("timed out after %v waiting for %s; log:\n%s", timeout, what, m.Dump())
	}
}

// WaitOutput waits until pred holds over the workers' output lines, or
// fails the test with the log.
func (m *Master) WaitOutput(what string, timeout time.Duration, pred func(out []string) bool) {
	m.t.Helper()
	if !m.Watch(timeout, 0, func(_ []map[string]any, out []string) bool { return pred(out) }) {
		m.t.Fatalf("timed out after %v waiting for %s; log:\n%s", timeout, what, m.Dump())
	}
}

// WaitEvents waits for at least n entries of event matching match (nil
// matches all) and returns them.
func (m *Master) WaitEvents(event string, n int, timeout time.Duration, match func(map[string]any) bool) []map[string]any {
	m.t.Helper()
	var found []map[string]any
	m.WaitFor(fmt.Sprintf("%d × %s", n, event), timeout, func(logs []map[string]any) bool {
		found = found[:0]
		for _, e := range logs {
			if e["event"] == event && (match == nil || match(e)) {
				found = append(found, e)
			}
		}
		return len(found) >= n
	})
	return found
}

// Dump is the log so far, one JSON entry a line, for failure messages.
func (m *Master) Dump() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b []byte
	for _, e := range m.logs {
		line, _ := json.Marshal(e)
		b = append(append(b, line...), '\n')
	}
	return string(b)
}

// Addr returns the first address pmux reported listening on.
func (m *Master) Addr() string {
	m.t.Helper()
	e := m.WaitEvents("listening", 1, 10*time.Second, nil)[0]
	return e["addr"].(string)
}

// WorkerPids lists every worker pid pmux reported spawning.
func (m *Master) WorkerPids() []int {
	return PidsOf(m.Events("worker_spawned"))
}

// ReadyWorkers waits for n worker_ready events (in total) and returns them.
func (m *Master) ReadyWorkers(n int) []map[string]any {
	m.t.Helper()
	return m.WaitEvents("worker_ready", n, 20*time.Second, nil)
}

// LivePids returns the workers pmux has started and not yet seen exit.
func (m *Master) LivePids() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var pids []int
	for pid := range LiveWorkers(m.logs) {
		pids = append(pids, pid)
	}
	return pids
}

// WaitExited waits until pmux has logged the exit of every pid.
func (m *Master) WaitExited(pids []int, timeout time.Duration) {
	m.t.Helper()
	m.WaitFor(fmt.Sprintf("workers %v to exit", pids), timeout, func(logs []map[string]any) bool {
		live := LiveWorkers(logs)
		for _, pid := range pids {
			if live[pid] != nil {
				return false
			}
		}
		return true
	})
}

// StopWorkerForTheWatchdog SIGSTOPs a worker and waits until the watchdog
// has killed it.
func (m *Master) StopWorkerForTheWatchdog(pid int) {
	m.t.Helper()
	syscall.Kill(pid, syscall.SIGSTOP)
	m.WaitEvents("worker_watchdog_timeout", 1, 10*time.Second, func(e map[string]any) bool { return IntField(e, "pid") == pid })
	exited := m.WaitEvents("worker_exited", 1, 10*time.Second, func(e map[string]any) bool { return IntField(e, "pid") == pid })[0]
	if exited["status"] != "signal KILL" {
		m.t.Errorf("stopped worker exited with %v, want signal KILL", exited["status"])
	}
}

// AwaitSettled waits until the master's pool has Settled, initial being its
// configured worker count.
func (m *Master) AwaitSettled(initial int, timeout time.Duration) {
	m.t.Helper()
	m.WaitFor(fmt.Sprintf("the workers to settle (target %d at start)", initial), timeout, func(logs []map[string]any) bool {
		return Settled(logs, initial)
	})
}

// MustExit waits up to timeout for the master to exit with code want; a
// master that exits otherwise fails the test (which goes on), one still
// running after timeout stops it.
func (m *Master) MustExit(want int, timeout time.Duration) {
	m.t.Helper()
	if code := m.Wait(timeout); code != want {
		m.t.Errorf("pmux exit %d, want %d; log:\n%s", code, want, m.Dump())
	}
}

// MustStop sends sig, one that stops the master, and waits up to timeout
// for it to exit 0 (see MustExit).
func (m *Master) MustStop(sig syscall.Signal, timeout time.Duration) {
	m.t.Helper()
	m.Signal(sig)
	if code := m.Wait(timeout); code != 0 {
		m.t.Errorf("pmux exit %d after %v, want 0; log:\n%s", code, sig, m.Dump())
	}
}
