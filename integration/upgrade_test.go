package integration_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/internal/pmuxtest"
)

func TestUpgradeCommitUnicorn(t *testing.T) {
	r := pmuxtest.NewUpgradeRig(t, "unicorn")
	old := r.M.Pid()
	r.StartLoad()
	child := r.USR2(pmuxtest.PmuxV2())
	r.PidfileHolds(r.Pidfile, child)
	r.PidfileHolds(r.Pidfile+".oldbin", old)
	// A second USR2 during the upgrade is ignored.
	r.M.Signal(syscall.SIGUSR2)
	r.M.WaitEvents("upgrade_ignored", 1, 10*time.Second, nil)
	r.M.Signal(syscall.SIGWINCH)
	r.WaitWorkersGone(old)
	r.M.MustStop(syscall.SIGQUIT, 30*time.Second)
	r.M.WaitEvents("upgrade_committed", 1, 10*time.Second, nil)
	r.StopLoad()
	r.PidfileHolds(r.Pidfile, child)
	r.Absent(r.Pidfile + ".oldbin")
	if _, err := os.Stat(r.Sock); err != nil {
		t.Errorf("unix socket gone after the old master left: %v", err)
	}
	pmuxtest.GetReport(t, pmuxtest.NewClient("unix", r.Sock))
	// The new master, stopped for good, cleans up after itself.
	syscall.Kill(child, syscall.SIGQUIT)
	pmuxtest.WaitGone(t, child, 30*time.Second)
	r.Absent(r.Pidfile)
	r.Absent(r.Sock)
}

func TestUpgradeRollbackUnicorn(t *testing.T) {
	r := pmuxtest.NewUpgradeRig(t, "unicorn")
	old := r.M.Pid()
	r.StartLoad()
	child := r.USR2(pmuxtest.PmuxV2())
	r.M.Signal(syscall.SIGWINCH)
	r.WaitWorkersGone(old)
	// Rollback: HUP brings the old workers back, QUIT the new master.
	r.M.Signal(syscall.SIGHUP)
	r.M.WaitEvents("worker_ready", 4, 30*time.Second, pmuxtest.MasterIs(old))
	syscall.Kill(child, syscall.SIGQUIT)
	r.M.WaitEvents("upgrade_rolled_back", 1, 30*time.Second, nil)
	pmuxtest.WaitGone(t, child, 10*time.Second)
	r.StopLoad()
	r.PidfileHolds(r.Pidfile, old)
	r.Absent(r.Pidfile + ".oldbin")
	if _, err := os.Stat(r.Sock); err != nil {
		t.Errorf("the new master removed the shared unix socket: %v", err)
	}
	pmuxtest.GetReport(t, pmuxtest.NewClient("unix", r.Sock))
	// No upgrade is left in progress: another USR2 starts one.
	r.M.Signal(syscall.SIGUSR2)
	r.M.WaitEvents("upgrade_started", 2, 10*time.Second, nil)
}

func TestUpgradeCommitGunicorn(t *testing.T) {
	r := pmuxtest.NewUpgradeRig(t, "gunicorn")
	old := r.M.Pid()
	r.StartLoad()
	child := r.USR2(pmuxtest.PmuxV2())
	r.PidfileHolds(r.Pidfile, old)
	r.PidfileHolds(r.Pidfile+".2", child)
	r.M.Signal(syscall.SIGWINCH)
	r.WaitWorkersGone(old)
	r.M.MustStop(syscall.SIGTERM, 30*time.Second) // gunicorn's graceful stop
	r.M.WaitEvents("upgrade_committed", 1, 10*time.Second, nil)
	r.StopLoad()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if data, _ := os.ReadFile(r.Pidfile); string(data) == strconv.Itoa(child)+"\n" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.PidfileHolds(r.Pidfile, child)
	r.Absent(r.Pidfile + ".2")
}

func TestUpgradeRollbackGunicorn(t *testing.T) {
	r := pmuxtest.NewUpgradeRig(t, "gunicorn")
	old := r.M.Pid()
	r.StartLoad()
	child := r.USR2(pmuxtest.PmuxV2())
	syscall.Kill(child, syscall.SIGTERM) // gunicorn's graceful stop, to the new master
	r.M.WaitEvents("upgrade_rolled_back", 1, 30*time.Second, nil)
	r.StopLoad()
	r.PidfileHolds(r.Pidfile, old)
	r.Absent(r.Pidfile + ".2")
}

func TestUpgradeFailuresLeaveOldMasterServing(t *testing.T) {
	crash := filepath.Join(t.TempDir(), "crash")
	os.WriteFile(crash, []byte("#!/bin/sh\necho new binary is broken >&2\nexit 3\n"), 0o755)
	notExec := filepath.Join(t.TempDir(), "noexec")
	os.WriteFile(notExec, []byte("not a program"), 0o644)
	for _, tc := range []struct {
		name   string
		binary string
		event  string
	}{
		{"exits at once", crash, "upgrade_rolled_back"},
		{"not executable", notExec, "upgrade_failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := pmuxtest.NewUpgradeRig(t, "unicorn")
			r.StartLoad()
			data, _ := os.ReadFile(tc.binary)
			tmp := r.Path + ".tmp"
			mode := os.FileMode(0o755)
			if tc.binary == notExec {
				mode = 0o644
			}
			os.WriteFile(tmp, data, mode)
			os.Chmod(tmp, mode)
			os.Rename(tmp, r.Path)
			r.M.Signal(syscall.SIGUSR2)
			r.M.WaitEvents(tc.event, 1, 20*time.Second, nil)
			time.Sleep(500 * time.Millisecond) // the old master serves on
			r.StopLoad()
			r.PidfileHolds(r.Pidfile, r.M.Pid())
			r.Absent(r.Pidfile + ".oldbin")
		})
	}
}

func TestUpgradeTellsSystemdTheNewMainPid(t *testing.T) {
	sd := pmuxtest.NewFakeSystemd(t)
	bin := filepath.Join(t.TempDir(), "pmux")
	pmuxtest.CopyFile(t, pmuxtest.Pmux(), bin)
	m := pmuxtest.StartMasterAt(t, bin, pmuxtest.Opts{Env: []string{sd.Env()}}, "run", "-w", "1", "--ready", "notify",
		"-b", "127.0.0.1:0", "--worker-output", "inherit", "--", pmuxtest.Worker())
	sd.Await(0, "READY=1")
	m.Signal(syscall.SIGUSR2)
	child := m.AwaitUpgrade()
	sd.Await(0, "READY=1") // the new master's
	m.Signal(syscall.SIGQUIT)
	sd.Await(0, "MAINPID=")
	m.Wait(30 * time.Second)
	var states []string
	for _, st := range sd.Seen() {
		states = append(states, strings.SplitN(st.State, "\n", 2)[0])
	}
	want := []string{"READY=1", fmt.Sprintf("STATUS=upgrading: new master %d started; web: 1 workers, generation 1", child),
		"READY=1", "MAINPID=" + strconv.Itoa(child)}
	if strings.Join(states, ",") != strings.Join(want, ",") {
		t.Errorf("notify states %q, want %q (never STOPPING=1 during the hand-over)", states, want)
	}
}

// pmux started by systemd socket activation keeps the inherited socket
// through an upgrade: the new master adopts it from the old, not from
// LISTEN_FDS, which named the old master's pid.
func TestUpgradeKeepsSystemdSockets(t *testing.T) {
	f, addr := pmuxtest.ListenerFile(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "pmux")
	pmuxtest.CopyFile(t, pmuxtest.Pmux(), bin)
	wrap := pmuxtest.SocketActivated(1, "http")
	m := pmuxtest.StartMasterAt(t, bin, pmuxtest.Opts{Wrap: wrap, ExtraFiles: []*os.File{f}}, "run", "-w", "2", "-b", "systemd",
		"--worker-output", "inherit", "--", pmuxtest.Worker())
	f.Close()
	m.ReadyWorkers(2)
	load := pmuxtest.StartLoad("tcp", addr, 4)
	pmuxtest.CopyFile(t, pmuxtest.PmuxV2(), bin)
	m.Signal(syscall.SIGUSR2)
	child := m.AwaitUpgrade()
	m.WaitEvents("listening", 1, 20*time.Second, func(e map[string]any) bool {
		return pmuxtest.IntField(e, "master") == child && e["inherited"] == true && e["addr"] == addr
	})
	m.WaitEvents("worker_ready", 2, 30*time.Second, pmuxtest.MasterIs(child))
	m.MustStop(syscall.SIGQUIT, 30*time.Second)
	time.Sleep(300 * time.Millisecond) // the new master serves alone
	load.Stop()
	if load.Failed.Load() != 0 || load.OK.Load() == 0 {
		t.Errorf("%d failed, %d ok: %v", load.Failed.Load(), load.OK.Load(), load.Errors())
	}
	r := pmuxtest.GetReport(t, pmuxtest.NewClient("tcp", addr))
	if r.Env["LISTEN_FDNAMES"] != "http" || r.Env["PMUX_MASTER_PID"] != strconv.Itoa(child) {
		t.Errorf("after the upgrade: LISTEN_FDNAMES=%q master %s, want http and %d", r.Env["LISTEN_FDNAMES"], r.Env["PMUX_MASTER_PID"], child)
	}
}

func TestUpgradeCommand(t *testing.T) {
	r := pmuxtest.NewUpgradeRig(t, "unicorn")
	old := r.M.Pid()
	r.StartLoad()
	pmuxtest.CopyFile(t, pmuxtest.PmuxV2(), r.Path)
	out, err := exec.Command(pmuxtest.Pmux(), "upgrade", "--pidfile", r.Pidfile, "--timeout", "60s").CombinedOutput()
	if err != nil {
		t.Fatalf("pmux upgrade: %v\n%s", err, out)
	}
	child := pmuxtest.IntField(r.M.WaitEvents("upgrade_started", 1, 10*time.Second, nil)[0], "child")
	if !strings.Contains(string(out), fmt.Sprintf("pmux %d serves alone", child)) {
		t.Errorf("output %q does not report the new master", out)
	}
	r.M.Wait(10 * time.Second) // the old master is gone
	r.StopLoad()
	r.PidfileHolds(r.Pidfile, child)
	if pmuxtest.Alive(old) {
		t.Errorf("old master %d still running", old)
	}
}

func TestUpgradeCommandRollsBack(t *testing.T) {
	r := pmuxtest.NewUpgradeRig(t, "unicorn")
	r.StartLoad()
	broken := "#!/bin/sh\ncase \"$1\" in version) echo pmux broken; exit 0;; check) exit 0;; esac\necho cannot start >&2\nexit 3\n"
	tmp := r.Path + ".tmp"
	os.WriteFile(tmp, []byte(broken), 0o755)
	os.Rename(tmp, r.Path)
	cmd := exec.Command(pmuxtest.Pmux(), "upgrade", "--pidfile", r.Pidfile, "--timeout", "5s")
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "rolled back") || !strings.Contains(string(out), "step") {
		t.Errorf("exit %d, output %q; want 1 naming the step and the rollback", code, out)
	}
	time.Sleep(300 * time.Millisecond)
	r.StopLoad()
	r.PidfileHolds(r.Pidfile, r.M.Pid())

	// A binary that fails its own check is refused before anything moves.
	os.WriteFile(tmp, []byte("#!/bin/sh\necho no such thing >&2\nexit 2\n"), 0o755)
	os.Rename(tmp, r.Path)
	cmd = exec.Command(pmuxtest.Pmux(), "upgrade", "--pidfile", r.Pidfile)
	out, _ = cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "step 1") || !strings.Contains(string(out), "nothing was changed") {
		t.Errorf("exit %d, output %q", code, out)
	}
	if n := len(r.M.Events("upgrade_started")); n > 1 {
		t.Errorf("a refused binary was started")
	}
}
