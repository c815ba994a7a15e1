package integration_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pmux/pmux/internal/pmuxtest"
	"github.com/pmux/pmux/internal/proc"
)

func TestDaemonDetachesAndServes(t *testing.T) {
	dir := t.TempDir()
	pidPath := filepath.Join(dir, "pmux.pid")
	logPath := filepath.Join(dir, "pmux.log")
	sock := filepath.Join(dir, "web.sock")
	cmd := exec.Command(pmuxtest.Pmux(), "run", "-D", "-w", "2", "-p", pidPath, "--log-file", logPath, "--log-format", "json",
		"-b", "unix:"+sock, "--", pmuxtest.Worker())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("launcher: %v\n%s", err, out)
	}
	data, err := os.ReadFile(pidPath)
	if err != nil {
		t.Fatalf("no pidfile once the launcher returned: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	t.Cleanup(func() {
		if pmuxtest.Alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	// Serving already: the launcher returned only once it did.
	pmuxtest.ReportsFrom(t, pmuxtest.NewClient("unix", sock), 2)
	if st, err := proc.Default.Stat(pid); err != nil {
		t.Errorf("daemon %d: %v", pid, err)
	} else if st.PPID == os.Getpid() {
		t.Errorf("daemon's parent is the test: it did not detach")
	}
	if sid, _ := unix.Getsid(pid); sid != pid {
		t.Errorf("daemon session %d, want its own (%d)", sid, pid)
	}
	// WINCH applies to a daemon: workers stop, the socket stays.
	syscall.Kill(pid, syscall.SIGWINCH)
	deadline := time.Now().Add(20 * time.Second)
	for {
		log, _ := os.ReadFile(logPath)
		if strings.Count(string(log), `"event":"worker_exited"`) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers did not stop on WINCH:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGQUIT)
	pmuxtest.WaitGone(t, pid, 20*time.Second)
	if _, err := os.Stat(pidPath); !os.IsNotExist(err) {
		t.Errorf("pidfile left behind")
	}
}

func TestDaemonStartFailureIsReported(t *testing.T) {
	out, code := pmuxtest.RunPmux(t, "run", "-D", "-b", "127.0.0.1:0", "--", "no-such-command-xyz")
	if code != 1 || !strings.Contains(out, "no-such-command-xyz") {
		t.Errorf("exit %d, output %q; want exit 1 naming the command", code, out)
	}
}

func TestWatchRestartsPool(t *testing.T) {
	dir := t.TempDir()
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "2", "-b", "127.0.0.1:0", "--watch", dir, "--", pmuxtest.Worker())
	m.ReadyWorkers(2)
	os.WriteFile(filepath.Join(dir, ".app.rb.swp"), []byte("editor noise"), 0o644)
	os.WriteFile(filepath.Join(dir, "app.rb"), []byte("puts 1"), 0o644)
	m.WaitEvents("watch_restart", 1, 10*time.Second, nil)
	e := m.WaitEvents("generation_started", 1, 10*time.Second, nil)[0]
	if e["rolling"] != true {
		t.Errorf("watch started a %v restart, want rolling", e)
	}
	m.AwaitSettled(2, 20*time.Second)
	// Well past the 300 ms debounce a change gets before its restart.
	time.Sleep(600 * time.Millisecond)
	if n := len(m.Events("watch_restart")); n != 1 {
		t.Errorf("%d restarts for one change (the swap file must be ignored)", n)
	}
}

func TestWatchOfMissingPathFailsStart(t *testing.T) {
	out, code := pmuxtest.RunPmux(t, "run", "-b", "127.0.0.1:0", "--watch", "/no/such/dir", "--", pmuxtest.Worker())
	if code != 1 || !strings.Contains(out, "/no/such/dir") {
		t.Errorf("exit %d, output %q", code, out)
	}
}

func TestWorkersDropPrivileges(t *testing.T) {
	uid, gid := pmuxtest.Nobody(t, "to change the workers' user")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	sock := filepath.Join(dir, "web.sock")
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "1", "--user", "nobody", "--umask", "0077",
		"-b", "unix:"+sock+"?mode=0666", "--", pmuxtest.Worker())
	m.ReadyWorkers(1)
	r := pmuxtest.GetReport(t, pmuxtest.NewClient("unix", sock))
	if r.Uid != uid || r.Gid != gid {
		t.Errorf("worker uid %d gid %d, want nobody's %d %d", r.Uid, r.Gid, uid, gid)
	}
	status, err := proc.Default.Status(r.Pid)
	if err != nil || status["Umask"] != "0077" {
		t.Errorf("worker umask %q (%v), want 0077", status["Umask"], err)
	}
	if m.Pid() == r.Pid {
		t.Fatal("report from the master?")
	}
}
