package integration_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/internal/pmuxtest"
	"github.com/pmux/pmux/internal/proc"
)

func TestMain(m *testing.M) {
	os.Exit(pmuxtest.Main(m))
}

// master is one pmux process under test, with its log parsed as it comes.
type master struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	cond *sync.Cond
	logs []map[string]any
	out  []string // worker output lines from stdout
	done chan struct{}
	err  error // Wait's result, once done is closed
}

type startOpts struct {
	env   []string
	stdin io.Reader
	// wrap runs pmux through this argv prefix (e.g. sh -c with traps).
	wrap []string
	// extraFiles are inherited by pmux as fds 3, 4, …
	extraFiles []*os.File
}

// startMaster runs pmux with args and the JSON log, and registers a
// cleanup that ends it and every worker it reported.
func startMaster(t *testing.T, o startOpts, args ...string) *master {
	t.Helper()
	return startMasterAt(t, pmuxtest.Pmux(), o, args...)
}

// startMasterAt runs the pmux binary at path.
func startMasterAt(t *testing.T, path string, o startOpts, args ...string) *master {
	t.Helper()
	argv := append([]string{path}, args...)
	if len(o.wrap) > 0 {
		argv = append(append([]string{}, o.wrap...), argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "PMUX_LOG_FORMAT=json", "PMUX_LOG_LEVEL=debug")
	cmd.Env = append(cmd.Env, o.env...)
	cmd.Stdin = o.stdin
	cmd.ExtraFiles = o.extraFiles
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
	m := &master{t: t, cmd: cmd, done: make(chan struct{})}
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
func (m *master) cleanup() {
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
	for _, pid := range m.workerPids() {
		waitGone(m.t, pid, 5*time.Second)
	}
}

func (m *master) pid() int { return m.cmd.Process.Pid }

func (m *master) signal(sig syscall.Signal) {
	m.t.Helper()
	if err := syscall.Kill(m.pid(), sig); err != nil {
		m.t.Fatalf("signal %v to pmux: %v", sig, err)
	}
}

// wait waits for the master to exit and returns its exit code.
func (m *master) wait(timeout time.Duration) int {
	m.t.Helper()
	select {
	case <-m.done:
	case <-time.After(timeout):
		m.t.Fatalf("pmux did not exit within %v; log:\n%s", timeout, m.dump())
	}
	return m.cmd.ProcessState.ExitCode()
}

// events returns the log entries with the given event name.
func (m *master) events(name string) []map[string]any {
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

// waitFor waits until pred holds over the log, or fails the test.
func (m *master) waitFor(what string, timeout time.Duration, pred func(logs []map[string]any) bool) {
	m.t.Helper()
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		m.mu.Lock()
		m.cond.Broadcast()
		m.mu.Unlock()
	})
	defer timer.Stop()
	m.mu.Lock()
	defer m.mu.Unlock()
	for !pred(m.logs) {
		if time.Now().After(deadline) {
			m.mu.Unlock()
			dump := m.dump()
			m.mu.Lock()
			m.t.Fatalf("timed out after %v waiting for %s; log:\n%s", timeout, what, dump)
		}
		m.cond.Wait()
	}
}

// waitEvents waits for at least n entries of event matching match.
func (m *master) waitEvents(event string, n int, timeout time.Duration, match func(map[string]any) bool) []map[string]any {
	m.t.Helper()
	var found []map[string]any
	m.waitFor(fmt.Sprintf("%d × %s", n, event), timeout, func(logs []map[string]any) bool {
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

func (m *master) dump() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	for _, e := range m.logs {
		line, _ := json.Marshal(e)
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// addr returns the first address pmux reported listening on.
func (m *master) addr() string {
	m.t.Helper()
	e := m.waitEvents("listening", 1, 10*time.Second, nil)[0]
	return e["addr"].(string)
}

// workerPids lists every worker pid pmux reported spawning.
func (m *master) workerPids() []int {
	var pids []int
	for _, e := range m.events("worker_spawned") {
		pids = append(pids, intField(e, "pid"))
	}
	return pids
}

// readyWorkers waits for n worker_ready events (in total) and returns them.
func (m *master) readyWorkers(n int) []map[string]any {
	m.t.Helper()
	return m.waitEvents("worker_ready", n, 20*time.Second, nil)
}

func intField(e map[string]any, key string) int {
	switch v := e[key].(type) {
	case float64:
		return int(v)
	case string:
		n, _ := strconv.Atoi(v)
		return n
	}
	return 0
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if err != nil {
		return false
	}
	// A zombie still answers kill(0); it is dead for our purposes.
	st, err := proc.Default.Stat(pid)
	return err == nil && !st.Zombie()
}

func waitGone(t *testing.T, pid int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("process %d still alive %v after its master stopped", pid, timeout)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// report is what the test worker answers with.
type report struct {
	Pid         int               `json:"pid"`
	Ppid        int               `json:"ppid"`
	Env         map[string]string `json:"env"`
	FDs         map[int]string    `json:"fds"`
	FD3Blocking bool              `json:"fd3_blocking"`
	Uid         int               `json:"uid"`
	Gid         int               `json:"gid"`
	Cwd         string            `json:"cwd"`
}

// client makes every request on a new connection, so successive requests
// are spread over the workers by the kernel.
func newClient(network, addr string) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
		},
	}
}

func getReport(t *testing.T, c *http.Client) report {
	t.Helper()
	resp, err := c.Get("http://pmux/")
	if err != nil {
		t.Fatalf("GET /: %v", err)
	}
	defer resp.Body.Close()
	var r report
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("decode report: %v", err)
	}
	return r
}

// reportsFrom asks until it has heard from n distinct workers.
func reportsFrom(t *testing.T, c *http.Client, n int) map[int]report {
	t.Helper()
	seen := map[int]report{}
	for i := 0; i < 400 && len(seen) < n; i++ {
		r := getReport(t, c)
		seen[r.Pid] = r
	}
	if len(seen) < n {
		t.Fatalf("heard from %d workers, want %d", len(seen), n)
	}
	return seen
}
