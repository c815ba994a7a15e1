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

// upgradeRig is a master started from a path the test can replace, as a
// deploy does, with a load running against it.
type upgradeRig struct {
	t       *testing.T
	dir     string
	path    string // the start path
	pidfile string
	sock    string
	m       *pmuxtest.Master
	loads   map[string]*pmuxtest.Load
}

func newUpgradeRig(t *testing.T, profile string, extra ...string) *upgradeRig {
	dir := t.TempDir()
	r := &upgradeRig{t: t, dir: dir, path: filepath.Join(dir, "pmux"), pidfile: filepath.Join(dir, "pmux.pid"),
		sock: filepath.Join(dir, "web.sock")}
	pmuxtest.CopyFile(t, pmuxtest.Pmux(), r.path)
	args := append([]string{"run", "-w", "2", "--signals", profile, "-p", r.pidfile, "-b", "127.0.0.1:0", "-b", "unix:" + r.sock,
		"--ready", "notify", "--worker-output", "inherit"}, extra...)
	args = append(args, "--", pmuxtest.Worker())
	r.m = pmuxtest.StartMasterAt(t, r.path, pmuxtest.Opts{}, args...)
	r.m.WaitEvents("worker_ready", 2, 20*time.Second, nil)
	t.Cleanup(r.cleanup)
	return r
}

func (r *upgradeRig) startLoad() {
	addr := r.m.Addr()
	r.loads = map[string]*pmuxtest.Load{"tcp": pmuxtest.StartLoad("tcp", addr, 4), "unix": pmuxtest.StartLoad("unix", r.sock, 4)}
}

// stopLoad ends the load and asserts every request was answered.
func (r *upgradeRig) stopLoad() {
	r.t.Helper()
	for _, load := range r.loads {
		load.Stop()
	}
	for name, load := range r.loads {
		if load.Failed.Load() != 0 {
			r.t.Errorf("%s: %d of %d requests failed: %v", name, load.Failed.Load(), load.Failed.Load()+load.OK.Load(), load.Errors())
		}
		if load.OK.Load() < 50 {
			r.t.Errorf("%s: only %d requests answered; the load did not run", name, load.OK.Load())
		}
	}
}

// usr2 replaces the binary, sends USR2 and returns the new master's pid
// once its workers are ready.
func (r *upgradeRig) usr2(newBinary string) int {
	r.t.Helper()
	pmuxtest.CopyFile(r.t, newBinary, r.path)
	r.m.Signal(syscall.SIGUSR2)
	child := pmuxtest.IntField(r.m.WaitEvents("upgrade_started", 1, 10*time.Second, nil)[0], "child")
	r.m.WaitEvents("worker_ready", 2, 30*time.Second, pmuxtest.MasterIs(child))
	starting := r.m.WaitEvents("master_starting", 1, 10*time.Second, pmuxtest.MasterIs(child))
	if starting[0]["version"] != "upgrade-v2" && newBinary == pmuxtest.PmuxV2() {
		r.t.Errorf("new master runs version %v, want the replaced binary's upgrade-v2", starting[0]["version"])
	}
	return child
}

func (r *upgradeRig) pidfileHolds(path string, pid int) {
	r.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil || string(data) != strconv.Itoa(pid)+"\n" {
		r.t.Errorf("%s holds %q (%v), want %d", filepath.Base(path), data, err, pid)
	}
}

func (r *upgradeRig) absent(path string) {
	r.t.Helper()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		r.t.Errorf("%s exists, want it gone", filepath.Base(path))
	}
}

// waitOldWorkersGone waits for every worker of master pid to exit.
func (r *upgradeRig) waitWorkersGone(pid int) {
	r.t.Helper()
	r.m.WaitFor("the old master's workers to stop", 30*time.Second, func(logs []map[string]any) bool {
		for _, e := range pmuxtest.LiveWorkers(logs) {
			if pmuxtest.IntField(e, "master") == pid {
				return false
			}
		}
		return true
	})
}

// cleanup stops every master the rig started, by pid.
func (r *upgradeRig) cleanup() {
	for _, e := range r.m.Events("upgrade_started") {
		pid := pmuxtest.IntField(e, "child")
		if pmuxtest.Alive(pid) {
			syscall.Kill(pid, syscall.SIGINT)
			pmuxtest.WaitGone(r.t, pid, 20*time.Second)
		}
	}
}

func TestUpgradeCommitUnicorn(t *testing.T) {
	r := newUpgradeRig(t, "unicorn")
	old := r.m.Pid()
	r.startLoad()
	child := r.usr2(pmuxtest.PmuxV2())
	r.pidfileHolds(r.pidfile, child)
	r.pidfileHolds(r.pidfile+".oldbin", old)
	// A second USR2 during the upgrade is ignored.
	r.m.Signal(syscall.SIGUSR2)
	r.m.WaitEvents("upgrade_ignored", 1, 10*time.Second, nil)
	r.m.Signal(syscall.SIGWINCH)
	r.waitWorkersGone(old)
	r.m.MustStop(syscall.SIGQUIT, 30*time.Second)
	r.m.WaitEvents("upgrade_committed", 1, 10*time.Second, nil)
	r.stopLoad()
	r.pidfileHolds(r.pidfile, child)
	r.absent(r.pidfile + ".oldbin")
	if _, err := os.Stat(r.sock); err != nil {
		t.Errorf("unix socket gone after the old master left: %v", err)
	}
	pmuxtest.GetReport(t, pmuxtest.NewClient("unix", r.sock))
	// The new master, stopped for good, cleans up after itself.
	syscall.Kill(child, syscall.SIGQUIT)
	pmuxtest.WaitGone(t, child, 30*time.Second)
	r.absent(r.pidfile)
	r.absent(r.sock)
}

func TestUpgradeRollbackUnicorn(t *testing.T) {
	r := newUpgradeRig(t, "unicorn")
	old := r.m.Pid()
	r.startLoad()
	child := r.usr2(pmuxtest.PmuxV2())
	r.m.Signal(syscall.SIGWINCH)
	r.waitWorkersGone(old)
	// Rollback: HUP brings the old workers back, QUIT the new master.
	r.m.Signal(syscall.SIGHUP)
	r.m.WaitEvents("worker_ready", 4, 30*time.Second, pmuxtest.MasterIs(old))
	syscall.Kill(child, syscall.SIGQUIT)
	r.m.WaitEvents("upgrade_rolled_back", 1, 30*time.Second, nil)
	pmuxtest.WaitGone(t, child, 10*time.Second)
	r.stopLoad()
	r.pidfileHolds(r.pidfile, old)
	r.absent(r.pidfile + ".oldbin")
	if _, err := os.Stat(r.sock); err != nil {
		t.Errorf("the new master removed the shared unix socket: %v", err)
	}
	pmuxtest.GetReport(t, pmuxtest.NewClient("unix", r.sock))
	// No upgrade is left in progress: another USR2 starts one.
	r.m.Signal(syscall.SIGUSR2)
	r.m.WaitEvents("upgrade_started", 2, 10*time.Second, nil)
}

func TestUpgradeCommitGunicorn(t *testing.T) {
	r := newUpgradeRig(t, "gunicorn")
	old := r.m.Pid()
	r.startLoad()
	child := r.usr2(pmuxtest.PmuxV2())
	r.pidfileHolds(r.pidfile, old)
	r.pidfileHolds(r.pidfile+".2", child)
	r.m.Signal(syscall.SIGWINCH)
	r.waitWorkersGone(old)
	r.m.MustStop(syscall.SIGTERM, 30*time.Second) // gunicorn's graceful stop
	r.m.WaitEvents("upgrade_committed", 1, 10*time.Second, nil)
	r.stopLoad()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if data, _ := os.ReadFile(r.pidfile); string(data) == strconv.Itoa(child)+"\n" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.pidfileHolds(r.pidfile, child)
	r.absent(r.pidfile + ".2")
}

func TestUpgradeRollbackGunicorn(t *testing.T) {
	r := newUpgradeRig(t, "gunicorn")
	old := r.m.Pid()
	r.startLoad()
	child := r.usr2(pmuxtest.PmuxV2())
	syscall.Kill(child, syscall.SIGTERM) // gunicorn's graceful stop, to the new master
	r.m.WaitEvents("upgrade_rolled_back", 1, 30*time.Second, nil)
	r.stopLoad()
	r.pidfileHolds(r.pidfile, old)
	r.absent(r.pidfile + ".2")
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
			r := newUpgradeRig(t, "unicorn")
			r.startLoad()
			data, _ := os.ReadFile(tc.binary)
			tmp := r.path + ".tmp"
			mode := os.FileMode(0o755)
			if tc.binary == notExec {
				mode = 0o644
			}
			os.WriteFile(tmp, data, mode)
			os.Chmod(tmp, mode)
			os.Rename(tmp, r.path)
			r.m.Signal(syscall.SIGUSR2)
			r.m.WaitEvents(tc.event, 1, 20*time.Second, nil)
			time.Sleep(500 * time.Millisecond) // the old master serves on
			r.stopLoad()
			r.pidfileHolds(r.pidfile, r.m.Pid())
			r.absent(r.pidfile + ".oldbin")
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
	child := pmuxtest.IntField(m.WaitEvents("upgrade_started", 1, 10*time.Second, nil)[0], "child")
	t.Cleanup(func() { syscall.Kill(child, syscall.SIGINT); pmuxtest.WaitGone(t, child, 20*time.Second) })
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
	child := pmuxtest.IntField(m.WaitEvents("upgrade_started", 1, 10*time.Second, nil)[0], "child")
	t.Cleanup(func() { syscall.Kill(child, syscall.SIGINT); pmuxtest.WaitGone(t, child, 20*time.Second) })
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
	r := newUpgradeRig(t, "unicorn")
	old := r.m.Pid()
	r.startLoad()
	pmuxtest.CopyFile(t, pmuxtest.PmuxV2(), r.path)
	out, err := exec.Command(pmuxtest.Pmux(), "upgrade", "--pidfile", r.pidfile, "--timeout", "60s").CombinedOutput()
	if err != nil {
		t.Fatalf("pmux upgrade: %v\n%s", err, out)
	}
	child := pmuxtest.IntField(r.m.WaitEvents("upgrade_started", 1, 10*time.Second, nil)[0], "child")
	if !strings.Contains(string(out), fmt.Sprintf("pmux %d serves alone", child)) {
		t.Errorf("output %q does not report the new master", out)
	}
	r.m.Wait(10 * time.Second) // the old master is gone
	r.stopLoad()
	r.pidfileHolds(r.pidfile, child)
	if pmuxtest.Alive(old) {
		t.Errorf("old master %d still running", old)
	}
}

func TestUpgradeCommandRollsBack(t *testing.T) {
	r := newUpgradeRig(t, "unicorn")
	r.startLoad()
	broken := "#!/bin/sh\ncase \"$1\" in version) echo pmux broken; exit 0;; check) exit 0;; esac\necho cannot start >&2\nexit 3\n"
	tmp := r.path + ".tmp"
	os.WriteFile(tmp, []byte(broken), 0o755)
	os.Rename(tmp, r.path)
	cmd := exec.Command(pmuxtest.Pmux(), "upgrade", "--pidfile", r.pidfile, "--timeout", "5s")
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "rolled back") || !strings.Contains(string(out), "step") {
		t.Errorf("exit %d, output %q; want 1 naming the step and the rollback", code, out)
	}
	time.Sleep(300 * time.Millisecond)
	r.stopLoad()
	r.pidfileHolds(r.pidfile, r.m.Pid())

	// A binary that fails its own check is refused before anything moves.
	os.WriteFile(tmp, []byte("#!/bin/sh\necho no such thing >&2\nexit 2\n"), 0o755)
	os.Rename(tmp, r.path)
	cmd = exec.Command(pmuxtest.Pmux(), "upgrade", "--pidfile", r.pidfile)
	out, _ = cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "step 1") || !strings.Contains(string(out), "nothing was changed") {
		t.Errorf("exit %d, output %q", code, out)
	}
	if n := len(r.m.Events("upgrade_started")); n > 1 {
		t.Errorf("a refused binary was started")
	}
}
