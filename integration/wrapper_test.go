package integration_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/internal/pmuxtest"
)

// socketCheck starts one worker running argv and returns the master once
// pmux has checked whether the worker's group holds the socket.
func socketCheck(t *testing.T, ready string, extra []string, argv ...string) (*pmuxtest.Master, map[string]any) {
	t.Helper()
	args := append([]string{"run", "-w", "1", "-b", "127.0.0.1:0", "--ready", ready}, extra...)
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, append(append(args, "--"), argv...)...)
	// Runs before the harness stops pmux: a shell's background child
	// ignores INT (pmux's quick stop) and would outlive its group's leader,
	// so a test that fails before its QUIT ends the worker groups here,
	// while pmux still runs and reaps what they leave.
	t.Cleanup(func() {
		select {
		case <-m.Done():
		default:
			for _, pid := range m.WorkerPids() {
				syscall.Kill(-pid, syscall.SIGKILL)
			}
		}
	})
	pid := pmuxtest.IntField(m.ReadyWorkers(1)[0], "pid")
	checked := m.WaitEvents("worker_socket_checked", 1, 20*time.Second, nil)[0]
	if pmuxtest.IntField(checked, "pid") != pid {
		t.Errorf("checked pid %v, want the worker %d", checked["pid"], pid)
	}
	return m, checked
}

// A wrapper that closes fd 3 before the server starts leaves no process
// holding the socket: pmux says so, once, naming the fix.
func TestSocketLostWarning(t *testing.T) {
	for _, ready := range []string{"delay=500ms", "none"} {
		t.Run(ready, func(t *testing.T) {
			t.Parallel()
			m, checked := socketCheck(t, ready, nil, "sh", "-c", "exec 3>&-; exec sleep 1000")
			if checked["result"] != "lost" {
				t.Fatalf("check result %v, want lost; log:\n%s", checked["result"], m.Dump())
			}
			lost := m.Events("worker_socket_lost")
			if len(lost) != 1 {
				t.Fatalf("%d worker_socket_lost events, want 1", len(lost))
			}
			e := lost[0]
			if e["level"] != "warn" || e["pool"] != "web" || pmuxtest.IntField(e, "slot") != 0 || pmuxtest.IntField(e, "pid") != pmuxtest.IntField(checked, "pid") {
				t.Errorf("warning %v: want level warn with pool web, slot 0 and the worker's pid", e)
			}
			msg, _ := e["message"].(string)
			for _, want := range []string{"fd 3", "bundle exec --keep-file-descriptors", "exec"} {
				if !strings.Contains(msg, want) {
					t.Errorf("warning %q does not mention %q", msg, want)
				}
			}
			m.MustStop(syscall.SIGQUIT, 20*time.Second)
		})
	}
}

// Workers whose group holds the socket get no warning: the server itself,
// and a shell that forks its child instead of exec'ing (the shell and the
// child both inherit fd 3; LISTEN_PID is wrong, but nothing is lost).
func TestSocketLostNotForHealthyWorkers(t *testing.T) {
	cases := map[string][]string{
		"server":           {pmuxtest.Worker()},
		"forking wrapper":  {"sh", "-c", "sleep 1000; exit 0"},
		"child holds only": {"sh", "-c", "sleep 1000 & exec 3>&-; wait"},
	}
	for name, argv := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m, checked := socketCheck(t, "delay=300ms", nil, argv...)
			if checked["result"] != "held" {
				t.Errorf("check result %v, want held", checked["result"])
			}
			if lost := m.Events("worker_socket_lost"); len(lost) != 0 {
				t.Errorf("warned for a healthy worker: %v", lost)
			}
			m.MustStop(syscall.SIGQUIT, 20*time.Second)
		})
	}
}

// A pool without sockets has nothing to lose and is not checked.
func TestSocketLostNotForPoolsWithoutSockets(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pmux.toml")
	os.WriteFile(cfg, []byte("[[pool]]\nname = \"jobs\"\ncommand = [\"sleep\", \"1000\"]\nready = \"delay=100ms\"\n"+
		"[[pool]]\nname = \"web\"\ncommand = [\"sleep\", \"1000\"]\nbind = [\"127.0.0.1:0\"]\nready = \"delay=300ms\"\n"), 0o644)
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-c", cfg)
	m.ReadyWorkers(2)
	checked := m.WaitEvents("worker_socket_checked", 1, 20*time.Second, nil)
	for _, e := range checked {
		if e["pool"] != "web" {
			t.Errorf("checked a worker of pool %v, which has no sockets", e["pool"])
		}
	}
	if checked[0]["result"] != "held" {
		t.Errorf("sleep inherits fd 3: result %v, want held", checked[0]["result"])
	}
}

// Bundler's bundle exec keeps fds open by default (Bundler >= 2);
// --no-keep-file-descriptors closes them, as Bundler 1.x did by default,
// and pmux warns.
func TestWrapperBundleExec(t *testing.T) {
	bundle := pmuxtest.RequireCommand(t, "bundle")
	pmuxtest.RequireCommand(t, "ruby")
	for _, tc := range []struct {
		name   string
		flags  []string
		result string
	}{
		{"keeps fds", nil, "held"},
		{"no-keep-file-descriptors", []string{"--no-keep-file-descriptors"}, "lost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			gemfile := filepath.Join(dir, "Gemfile")
			if err := os.WriteFile(gemfile, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			argv := append(append([]string{bundle, "exec"}, tc.flags...), "sleep", "1000")
			// Bundler boots in a fraction of a second; be generous.
			m, checked := socketCheck(t, "delay=3s", []string{"--env", "BUNDLE_GEMFILE=" + gemfile, "--env", "HOME=" + dir}, argv...)
			if checked["result"] != tc.result {
				t.Errorf("bundle exec %v: check result %v, want %s; output:\n%s", tc.flags, checked["result"], tc.result, strings.Join(m.Output(), "\n"))
			}
			if want := map[string]int{"held": 0, "lost": 1}[tc.result]; len(m.Events("worker_socket_lost")) != want {
				t.Errorf("%d worker_socket_lost events, want %d", len(m.Events("worker_socket_lost")), want)
			}
		})
	}
}

// A worker that exits before it is checked lost nothing: its exit is
// reported as such, not as a lost socket.
func TestSocketLostNotForExitedWorker(t *testing.T) {
	t.Parallel()
	// Up past the 1 s a worker ready at exec must stay up to count as
	// booted, gone before the check 2 s after its start.
	m, checked := socketCheck(t, "none", nil, "sh", "-c", "exec 3>&-; exec sleep 1.3")
	if checked["result"] != "exited" {
		t.Errorf("check result %v, want exited", checked["result"])
	}
	if lost := m.Events("worker_socket_lost"); len(lost) != 0 {
		t.Errorf("warned for a worker that had exited: %v", lost)
	}
	m.MustStop(syscall.SIGQUIT, 20*time.Second)
}
