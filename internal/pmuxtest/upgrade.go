package pmuxtest

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// AwaitUpgrade waits for the master to start the new master of a binary
// upgrade (USR2) and returns its pid; a cleanup stops the new master,
// which outlives the old one, and waits for it to be gone.
func (m *Master) AwaitUpgrade() int {
	m.t.Helper()
	child := IntField(m.WaitEvents("upgrade_started", 1, 10*time.Second, nil)[0], "child")
	t := m.t
	t.Cleanup(func() { syscall.Kill(child, syscall.SIGINT); WaitGone(t, child, 20*time.Second) })
	return child
}

// UpgradeRig is a master started from a path the test can replace, as a
// deploy does, with a pidfile, a TCP and a unix socket, and a load to run
// against it.
type UpgradeRig struct {
	M       *Master
	Dir     string
	Path    string // the start path, the binary USR2 re-executes
	Pidfile string
	Sock    string // the unix socket

	t     *testing.T
	loads map[string]*Load
}

// NewUpgradeRig starts 2 workers under the signal profile with extra flags
// and waits for them to be ready; a cleanup stops every new master the rig
// started.
func NewUpgradeRig(t *testing.T, profile string, extra ...string) *UpgradeRig {
	t.Helper()
	dir := t.TempDir()
	r := &UpgradeRig{t: t, Dir: dir, Path: filepath.Join(dir, "pmux"), Pidfile: filepath.Join(dir, "pmux.pid"),
		Sock: filepath.Join(dir, "web.sock")}
	CopyFile(t, Pmux(), r.Path)
	args := append([]string{"run", "-w", "2", "--signals", profile, "-p", r.Pidfile, "-b", "127.0.0.1:0", "-b", "unix:" + r.Sock,
		"--ready", "notify", "--worker-output", "inherit"}, extra...)
	args = append(args, "--", Worker())
	r.M = StartMasterAt(t, r.Path, Opts{}, args...)
	r.M.WaitEvents("worker_ready", 2, 20*time.Second, nil)
	t.Cleanup(r.cleanup)
	return r
}

// StartLoad runs a load on both sockets.
func (r *UpgradeRig) StartLoad() {
	addr := r.M.Addr()
	r.loads = map[string]*Load{"tcp": StartLoad("tcp", addr, 4), "unix": StartLoad("unix", r.Sock, 4)}
}

// StopLoad ends the load and fails the test unless every request was
// answered.
func (r *UpgradeRig) StopLoad() {
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

// USR2 replaces the binary with newBinary, sends USR2 and returns the new
// master's pid once its workers are ready.
func (r *UpgradeRig) USR2(newBinary string) int {
	r.t.Helper()
	CopyFile(r.t, newBinary, r.Path)
	r.M.Signal(syscall.SIGUSR2)
	child := IntField(r.M.WaitEvents("upgrade_started", 1, 10*time.Second, nil)[0], "child")
	r.M.WaitEvents("worker_ready", 2, 30*time.Second, MasterIs(child))
	starting := r.M.WaitEvents("master_starting", 1, 10*time.Second, MasterIs(child))
	if starting[0]["version"] != V2Version && newBinary == PmuxV2() {
		r.t.Errorf("new master runs version %v, want the replaced binary's %s", starting[0]["version"], V2Version)
	}
	return child
}

// PidfileHolds checks that the file at path holds pid.
func (r *UpgradeRig) PidfileHolds(path string, pid int) {
	r.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil || string(data) != strconv.Itoa(pid)+"\n" {
		r.t.Errorf("%s holds %q (%v), want %d", filepath.Base(path), data, err, pid)
	}
}

// Absent checks that path does not exist.
func (r *UpgradeRig) Absent(path string) {
	r.t.Helper()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		r.t.Errorf("%s exists, want it gone", filepath.Base(path))
	}
}

// WaitWorkersGone waits for every worker of master pid to exit.
func (r *UpgradeRig) WaitWorkersGone(pid int) {
	r.t.Helper()
	r.M.WaitFor("the old master's workers to stop", 30*time.Second, func(logs []map[string]any) bool {
		for _, e := range LiveWorkers(logs) {
			if IntField(e, "master") == pid {
				return false
			}
		}
		return true
	})
}

// cleanup stops every master the rig started, by pid.
func (r *UpgradeRig) cleanup() {
	for _, e := range r.M.Events("upgrade_started") {
		pid := IntField(e, "child")
		if Alive(pid) {
			syscall.Kill(pid, syscall.SIGINT)
			WaitGone(r.t, pid, 20*time.Second)
		}
	}
}
