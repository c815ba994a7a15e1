package integration_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/internal/pmuxtest"
	"github.com/pmux/pmux/internal/proc"
	"github.com/pmux/pmux/spawn/shim"
)

func TestWorkersGetSocketsAndEnvironment(t *testing.T) {
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Env: []string{"PMUX_SECRET_SETTING=1", "LISTEN_FDNAMES=stale"}},
		"run", "-w", "2", "-b", "127.0.0.1:0?name=http", "--", pmuxtest.Worker())
	addr := m.Addr()
	_, port, _ := net.SplitHostPort(addr)
	c := pmuxtest.NewClient("tcp", addr)
	reports := pmuxtest.ReportsFrom(t, c, 2)
	slots := map[string]bool{}
	for pid, r := range reports {
		env := r.Env
		if env["LISTEN_PID"] != strconv.Itoa(pid) {
			t.Errorf("worker %d: LISTEN_PID=%q, want its own pid", pid, env["LISTEN_PID"])
		}
		want := map[string]string{
			"LISTEN_FDS": "1", "LISTEN_FDNAMES": "http", "PMUX_GENERATION": "1",
			"PMUX_MASTER_PID": strconv.Itoa(m.Pid()), "PORT": port,
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("worker %d: %s=%q, want %q", pid, k, env[k], v)
			}
		}
		slots[env["PMUX_WORKER"]] = true
		for k := range env {
			if k == "NOTIFY_SOCKET" || strings.HasPrefix(k, "__PMUX") || (strings.HasPrefix(k, "PMUX_") && !slices.Contains([]string{"PMUX_WORKER", "PMUX_GENERATION", "PMUX_MASTER_PID"}, k)) {
				t.Errorf("worker %d: internal variable %s leaked", pid, k)
			}
		}
		// The worker's own Go runtime opens a few fds (cgroup files,
		// epoll) before main; anything else beyond 0-3 came from pmux.
		if !strings.HasPrefix(r.FDs[3], "socket:") {
			t.Errorf("worker %d: fd 3 is %q, want the listening socket", pid, r.FDs[3])
		}
		for fd, what := range r.FDs {
			runtimeOwn := strings.HasPrefix(what, "/sys/fs/cgroup/") || strings.HasPrefix(what, "anon_inode:")
			if fd > 3 && !runtimeOwn {
				t.Errorf("worker %d: fd %d (%s) leaked from the master", pid, fd, what)
			}
		}
		if r.Ppid != m.Pid() {
			t.Errorf("worker %d: parent %d, want the master %d", pid, r.Ppid, m.Pid())
		}
		if pgid, _ := syscall.Getpgid(pid); pgid != pid {
			t.Errorf("worker %d: process group %d, want its own", pid, pgid)
		}
	}
	if !slots["0"] || !slots["1"] {
		t.Errorf("slots %v, want 0 and 1", slots)
	}
	m.MustStop(syscall.SIGQUIT, 20*time.Second)
}

// The shim execs a worker's command from its package's init, before the
// CLI, metrics, HTTP and man page packages initialise, whose inits would
// cost every worker start milliseconds of CPU (seconds for a reload of a
// thousand workers). GODEBUG=inittrace=1 makes the runtime name each package
// it initialises: the shim's trace must stop short of those. A failed exec
// still reaches main, which says why, once.
func TestShimExecsBeforeHeavyInits(t *testing.T) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1)")
	}
	cmd := exec.Command(pmuxtest.Pmux())
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1", shim.PathVar+"="+truePath)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("shim running %s: %v\n%s", truePath, err, out)
	}
	if !strings.Contains(string(out), "init os @") {
		t.Fatalf("no init trace from the shim:\n%s", out)
	}
	for _, pkg := range []string{"github.com/urfave/cli", "github.com/prometheus/client_golang", "github.com/russross/blackfriday", "net/http"} {
		if strings.Contains(string(out), "init "+pkg) {
			t.Errorf("the shim initialised %s before it exec'd the command", pkg)
		}
	}

	missing := filepath.Join(t.TempDir(), "missing")
	cmd = exec.Command(pmuxtest.Pmux())
	cmd.Env = append(os.Environ(), shim.PathVar+"="+missing)
	out, _ = cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != shim.ExitCode {
		t.Errorf("a failed exec exits %d, want %d", code, shim.ExitCode)
	}
	if want := "pmux: exec " + missing + ": no such file or directory\n"; string(out) != want {
		t.Errorf("a failed exec says %q, want %q", out, want)
	}
}

// A shell's `&` starts pmux with INT and QUIT ignored; Go keeps an ignored
// disposition across exec, so a worker would inherit it without the shim.
func TestWorkerSignalStateIsDefaultEvenWhenMasterIgnoresSignals(t *testing.T) {
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Wrap: []string{"sh", "-c", `trap "" INT QUIT HUP; exec "$0" "$@"`}},
		"run", "-w", "1", "--ready", "none", "-b", "127.0.0.1:0", "--", "sleep", "1000")
	pid := pmuxtest.IntField(m.ReadyWorkers(1)[0], "pid")
	// Ready at exec means the shim's exec: look once sleep itself runs.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if exe, _ := proc.Default.Exe(pid); strings.HasSuffix(exe, "/sleep") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker %d never became sleep", pid)
		}
	}
	status, err := proc.Default.Status(pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"SigIgn", "SigBlk"} {
		mask, ok := status[field]
		if !ok {
			t.Fatalf("no %s in /proc/%d/status", field, pid)
		}
		if v, err := strconv.ParseUint(mask, 16, 64); err != nil || v != 0 {
			t.Errorf("worker %s = %s, want 0 (default dispositions, empty mask)", field, mask)
		}
	}
	// sleep opens locale files while it starts: an fd pmux leaked is one
	// that stays.
	var fds []int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if fds, err = proc.Default.FDs(pid); err != nil {
			t.Fatal(err)
		}
		slices.Sort(fds)
		if slices.Equal(fds, []int{0, 1, 2, 3}) || time.Now().After(deadline) {
			break
		}
	}
	if !slices.Equal(fds, []int{0, 1, 2, 3}) {
		t.Errorf("worker fds %v, want exactly 0 1 2 3", fds)
	}
	// The listener is handed over in blocking mode, as systemd does. (A Go
	// worker makes it non-blocking itself, for every worker sharing it:
	// O_NONBLOCK belongs to the open file description, which all share.)
	fdinfo, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/3", pid))
	if err != nil {
		t.Fatal(err)
	}
	flags := regexp.MustCompile(`flags:\s*([0-7]+)`).FindSubmatch(fdinfo)
	if flags == nil {
		t.Fatalf("no flags in fdinfo: %s", fdinfo)
	}
	if v, _ := strconv.ParseUint(string(flags[1]), 8, 64); v&syscall.O_NONBLOCK != 0 {
		t.Errorf("fd 3 flags %s: non-blocking, want blocking", flags[1])
	}
	// INT is ignored by the wrapper's trap, so stop through QUIT's graceful
	// path would be ignored too: TERM is the unicorn profile's quick stop.
	m.MustStop(syscall.SIGTERM, 20*time.Second)
}

func TestUnixSocketModeStaleAndLive(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "web.sock")
	// A stale socket file: bound once, its listener closed without unlink.
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()

	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "2", "-b", "unix:"+path+"?mode=0660", "--", pmuxtest.Worker())
	m.ReadyWorkers(2)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket mode %v, want a 0660 socket", fi.Mode())
	}
	r := pmuxtest.GetReport(t, pmuxtest.NewClient("unix", path))
	if r.Env["PORT"] != "" {
		t.Errorf("PORT=%q for a unix-only pool, want unset", r.Env["PORT"])
	}

	// A second master on the same live path must refuse and leave it alone.
	out, code := pmuxtest.RunPmux(t, "run", "-b", "unix:"+path, "--", pmuxtest.Worker())
	if code != 1 || !strings.Contains(out, path) || !strings.Contains(out, "live") {
		t.Errorf("second master on a live socket: exit %d, output %q; want exit 1 naming the path", code, out)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the refused master removed the live socket: %v", err)
	}

	m.MustStop(syscall.SIGQUIT, 20*time.Second)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left behind after stop: %v", err)
	}
}

func TestAdoptsInheritedFD(t *testing.T) {
	f, addr := pmuxtest.ListenerFile(t)
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{ExtraFiles: []*os.File{f}}, "run", "-w", "2", "-b", "fd://3", "--", pmuxtest.Worker())
	f.Close()
	m.ReadyWorkers(2)
	pmuxtest.ReportsFrom(t, pmuxtest.NewClient("tcp", addr), 2)
}

func TestAdoptsSystemdSockets(t *testing.T) {
	f, addr := pmuxtest.ListenerFile(t)
	// $$ is the shell's pid, which exec hands on to pmux, as systemd does.
	wrap := pmuxtest.SocketActivated(1, "web")
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Wrap: wrap, ExtraFiles: []*os.File{f}}, "run", "-w", "1", "-b", "systemd:web", "--", pmuxtest.Worker())
	f.Close()
	r := pmuxtest.GetReport(t, pmuxtest.NewClient("tcp", addr))
	if r.Env["LISTEN_FDNAMES"] != "web" || r.Env["LISTEN_PID"] != strconv.Itoa(r.Pid) {
		t.Errorf("worker env LISTEN_FDNAMES=%q LISTEN_PID=%q", r.Env["LISTEN_FDNAMES"], r.Env["LISTEN_PID"])
	}
	m.MustStop(syscall.SIGQUIT, 20*time.Second)
}

func TestCrashedWorkerIsReplacedInItsSlot(t *testing.T) {
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "2", "-b", "127.0.0.1:0", "--", pmuxtest.Worker())
	ready := m.ReadyWorkers(2)
	victim := pmuxtest.IntField(ready[0], "pid")
	slot := pmuxtest.IntField(ready[0], "slot")
	syscall.Kill(victim, syscall.SIGKILL)
	exited := m.WaitEvents("worker_exited", 1, 10*time.Second, func(e map[string]any) bool { return pmuxtest.IntField(e, "pid") == victim })[0]
	if exited["status"] != "signal KILL" {
		t.Errorf("exit status %v, want signal KILL", exited["status"])
	}
	again := m.WaitEvents("worker_ready", 3, 10*time.Second, nil)[2]
	if pmuxtest.IntField(again, "slot") != slot {
		t.Errorf("replacement in slot %d, want %d", pmuxtest.IntField(again, "slot"), slot)
	}
	pmuxtest.ReportsFrom(t, pmuxtest.NewClient("tcp", m.Addr()), 2)
}

// A slot whose worker keeps crashing after its pool booted respawns at
// once, then backs off 100 ms doubling.
func TestCrashLoopBacksOff(t *testing.T) {
	crash := filepath.Join(t.TempDir(), "crash")
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "1", "-b", "127.0.0.1:0", "--env", "WORKER_CRASH_IF="+crash, "--", pmuxtest.Worker())
	pid := pmuxtest.IntField(m.ReadyWorkers(1)[0], "pid")
	m.WaitEvents("pool_booted", 1, 10*time.Second, nil)
	if err := os.WriteFile(crash, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	exits := m.WaitEvents("worker_exited", 5, 20*time.Second, nil)
	var delays []float64
	for i, e := range exits[:5] {
		if want := "exit 3"; i > 0 && e["status"] != want {
			t.Errorf("status %v, want %s", e["status"], want)
		}
		delays = append(delays, e["respawn_in_ms"].(float64))
	}
	// The first crash of a slot is answered at once, then 100 ms doubling.
	want := []float64{0, 100, 200, 400, 800}
	if !slices.Equal(delays, want) {
		t.Errorf("respawn delays %v ms, want %v", delays, want)
	}
	select {
	case <-m.Done():
		t.Errorf("the master exited: a pool that booted once never fails the start; log:\n%s", m.Dump())
	default:
	}
}

func TestMasterKilledTakesWorkersWithIt(t *testing.T) {
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "4", "-b", "127.0.0.1:0", "--", pmuxtest.Worker())
	ready := m.ReadyWorkers(4)
	m.Signal(syscall.SIGKILL)
	m.Wait(5 * time.Second)
	for _, e := range ready {
		pmuxtest.WaitGone(t, pmuxtest.IntField(e, "pid"), 5*time.Second)
	}
}

func TestQuitWaitsForInflightRequests(t *testing.T) {
	pidPath := filepath.Join(t.TempDir(), "pmux.pid")
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "1", "-b", "127.0.0.1:0", "-p", pidPath, "--", pmuxtest.Worker())
	m.ReadyWorkers(1)
	if data, err := os.ReadFile(pidPath); err != nil || string(data) != strconv.Itoa(m.Pid())+"\n" {
		t.Fatalf("pidfile %q (%v), want %d", data, err, m.Pid())
	}
	result := pmuxtest.InflightSleep(t, m, 1500)
	m.Signal(syscall.SIGQUIT)
	if err := <-result; err != nil {
		t.Errorf("in-flight request failed during graceful stop: %v", err)
	}
	m.MustExit(0, 20*time.Second)
	if _, err := os.Stat(pidPath); !os.IsNotExist(err) {
		t.Errorf("pidfile left behind: %v", err)
	}
}

func TestGracefulStopKillsAfterTimeout(t *testing.T) {
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "1", "-b", "127.0.0.1:0", "--graceful-timeout", "300ms",
		"--env", "WORKER_IGNORE_TERM=1", "--", pmuxtest.Worker())
	pmuxtest.GetReport(t, pmuxtest.NewClient("tcp", m.Addr())) // serving, so its TERM handling is in place
	m.MustStop(syscall.SIGQUIT, 20*time.Second)
	if len(m.Events("worker_kill")) != 1 {
		t.Errorf("want one worker_kill event; log:\n%s", m.Dump())
	}
}

func TestQuickStopSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "2", "-b", "127.0.0.1:0", "--", pmuxtest.Worker())
			m.ReadyWorkers(2)
			m.MustStop(sig, 20*time.Second)
			for _, e := range m.Events("worker_stopping") {
				if e["signal"] != "INT" {
					t.Errorf("worker got %v on a quick stop, want INT", e["signal"])
				}
			}
		})
	}
}

func TestPidfileHeldByLiveMasterRefusesStart(t *testing.T) {
	pidPath := filepath.Join(t.TempDir(), "pmux.pid")
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-b", "127.0.0.1:0", "-p", pidPath, "--", pmuxtest.Worker())
	m.ReadyWorkers(1)
	out, code := pmuxtest.RunPmux(t, "run", "-b", "127.0.0.1:0", "-p", pidPath, "--", pmuxtest.Worker())
	if code != 1 || !strings.Contains(out, strconv.Itoa(m.Pid())) {
		t.Errorf("exit %d, output %q; want exit 1 naming pid %d", code, out, m.Pid())
	}
	if data, _ := os.ReadFile(pidPath); string(data) != strconv.Itoa(m.Pid())+"\n" {
		t.Errorf("pidfile now %q, want it untouched", data)
	}
}

func TestStalePidfileIsReplaced(t *testing.T) {
	pidPath := filepath.Join(t.TempDir(), "pmux.pid")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(pidPath, []byte(strconv.Itoa(dead.Process.Pid)+"\n"), 0o644)
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-b", "127.0.0.1:0", "-p", pidPath, "--", pmuxtest.Worker())
	m.WaitEvents("pidfile_stale", 1, 10*time.Second, nil)
	m.ReadyWorkers(1)
	if data, _ := os.ReadFile(pidPath); string(data) != strconv.Itoa(m.Pid())+"\n" {
		t.Errorf("pidfile %q, want our pid", data)
	}
}

// Bad input fails with one line and an exit code that says whose fault it
// is (2: the input, 1: this machine), and leaves nothing behind. check
// resolves a configuration as run does and must exit with the same code
// for it (it binds nothing, so a busy port is run's alone).
func TestBadInputFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	notExec := filepath.Join(dir, "script")
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
	badConfig := filepath.Join(dir, "bad.toml")
	os.WriteFile(badConfig, []byte("[[pool]]\nname = \"web\"\ncommand = [\"sleep\"]\nworkers = \"many\"\n"), 0o644)
	private := privateProgram(t)
	sock := filepath.Join(dir, "ok.sock")
	pid := filepath.Join(dir, "pmux.pid")
	cases := []struct {
		name    string
		args    []string
		code    int
		says    string
		runOnly bool
		asRoot  bool // needs root, to hand the workers to nobody
	}{
		{"bad bind", []string{"-b", "tcp://nowhere:port"}, 2, "nowhere:port", false, false},
		{"port in use", []string{"-b", busy.Addr().String()}, 1, "address already in use", true, false},
		{"not socket-activated", []string{"-b", "systemd"}, 1, "pmux was not socket-activated", true, false},
		{"missing command", []string{"--", "no-such-command-xyz"}, 1, "no-such-command-xyz", false, false},
		{"missing program", []string{"--", filepath.Join(dir, "nothing-here")}, 1, "nothing-here: no such file", false, false},
		{"not executable", []string{"--", notExec}, 1, "not executable", false, false},
		{"permission denied", []string{"--user", "nobody", "--", private}, 1, "command " + private + ": permission denied", false, true},
		{"unreadable env file", []string{"--env-file", filepath.Join(dir, "missing.env")}, 1, "missing.env", false, false},
		{"missing working directory", []string{"--chdir", filepath.Join(dir, "nowhere")}, 1, "--chdir " + filepath.Join(dir, "nowhere") + ": no such file", false, false},
		{"working directory out of reach", []string{"--user", "nobody", "--chdir", filepath.Dir(private)}, 1, "--chdir " + filepath.Dir(private) + ": permission denied", false, true},
		{"bad duration", []string{"--graceful-timeout", "soon"}, 2, "graceful-timeout", false, false},
		{"bad signal", []string{"--stop-signal", "SIGNOPE"}, 2, "NOPE", false, false},
		{"bad workers", []string{"-w", "many"}, 2, "many", false, false},
		{"bad profile", []string{"--signals", "nginx"}, 2, "nginx", false, false},
		{"bad config file", []string{"-c", badConfig}, 2, "workers", false, false},
		{"no command", nil, 2, "no command", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.asRoot && private == "" {
				t.Skip("needs root and a user nobody (run the suite as root)")
			}
			commands := []string{"run", "check"}
			if tc.runOnly {
				commands = commands[:1]
			}
			for _, command := range commands {
				args := []string{command, "-b", "unix:" + sock, "-p", pid}
				cmdGiven := slices.Contains(tc.args, "--")
				args = append(args, tc.args...)
				if !cmdGiven && tc.name != "no command" && tc.name != "bad config file" {
					args = append(args, "--", pmuxtest.Worker())
				}
				out, code := pmuxtest.RunPmux(t, args...)
				if code != tc.code {
					t.Errorf("pmux %s: exit %d, want %d; output %q", command, code, tc.code, out)
				}
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if len(lines) != 1 || !strings.Contains(lines[0], tc.says) {
					t.Errorf("pmux %s: want one line mentioning %q, got %q", command, tc.says, out)
				}
				if strings.Contains(out, "panic") || strings.Contains(out, "goroutine") {
					t.Errorf("pmux %s panicked: %s", command, out)
				}
				for _, left := range []string{sock, pid} {
					if _, err := os.Stat(left); !os.IsNotExist(err) {
						t.Errorf("pmux %s left %s behind", command, left)
						os.Remove(left)
					}
				}
			}
		})
	}
}

// --user and a program that user cannot run: run, start (a Procfile entry
// run through sh) and check refuse it at once with exit 1, naming it, as
// they refuse a program no one can run; a reload that brings one in is
// refused and the workers keep serving. Before, the workers crash-looped
// with exit 127.
func TestCommandOutOfTheWorkersUsersReach(t *testing.T) {
	private := privateProgram(t)
	if private == "" {
		t.Skip("needs root and a user nobody (run the suite as root)")
	}
	// A program nobody may not execute, in a directory anyone may search.
	ownerOnly := filepath.Join(pmuxtest.PublicTempDir(t), "app")
	pmuxtest.CopyFile(t, pmuxtest.Worker(), ownerOnly)
	if err := os.Chmod(ownerOnly, 0o700); err != nil {
		t.Fatal(err)
	}
	procfile := filepath.Join(t.TempDir(), "Procfile")
	os.WriteFile(procfile, []byte("web: "+private+" --flag\n"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"run, a directory it cannot search", []string{"run", "--user", "nobody", "-b", "127.0.0.1:0", "--", private}, "cannot search"},
		{"run, a file it cannot execute", []string{"run", "--user", "nobody", "-b", "127.0.0.1:0", "--", ownerOnly}, "cannot execute it"},
		{"check", []string{"check", "--user", "nobody", "--", private}, "cannot search"},
		{"start", []string{"start", "-f", procfile, "--user", "nobody", "-b", "127.0.0.1:0"}, "cannot search"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := pmuxtest.RunPmux(t, tc.args...)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if code != 1 || len(lines) != 1 || !strings.Contains(lines[0], ": permission denied: user nobody "+tc.says) {
				t.Errorf("exit %d, output %q; want exit 1 and one line: permission denied, user nobody %s", code, out, tc.says)
			}
		})
	}

	t.Run("reload", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "pmux.toml")
		pool := "[[pool]]\nname = \"web\"\ncommand = [%q]\nworkers = 2\nuser = \"nobody\"\nbind = [\"tcp://127.0.0.1:0\"]\n"
		pmuxtest.WriteFile(t, path, fmt.Sprintf(pool, pmuxtest.Worker()))
		m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-c", path)
		workers := pmuxtest.PidsOf(m.ReadyWorkers(2))
		pmuxtest.WriteFile(t, path, fmt.Sprintf(pool, private))
		m.Signal(syscall.SIGHUP)
		failed := m.WaitEvents("config_reload_failed", 1, 10*time.Second, nil)[0]
		if msg := fmt.Sprint(failed["error"]); !strings.Contains(msg, "command "+private+": permission denied") {
			t.Errorf("reload refused with %q, want the command named and permission denied", msg)
		}
		if n := len(m.Events("generation_started")); n != 0 {
			t.Errorf("%d generations started from a command nobody cannot run", n)
		}
		pmuxtest.ReportsFrom(t, pmuxtest.NewClient("tcp", m.Addr()), 2)
		for _, pid := range workers {
			if !pmuxtest.Alive(pid) {
				t.Errorf("worker %d stopped after a refused reload", pid)
			}
		}
	})
}

// privateProgram copies the test worker into a directory only root may
// search, and returns its path; "" unless the tests run as root and the
// machine has a user nobody, who then cannot run it.
func privateProgram(t *testing.T) string {
	t.Helper()
	if os.Getuid() != 0 {
		return ""
	}
	if _, err := user.Lookup("nobody"); err != nil {
		return ""
	}
	dir := filepath.Join(t.TempDir(), "private")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "app")
	pmuxtest.CopyFile(t, pmuxtest.Worker(), path)
	return path
}

func TestEnvChdirAndEnvFile(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, "app.env")
	os.WriteFile(envFile, []byte("# settings\nFROM_FILE=file\nexport BOTH=file\n"), 0o644)
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-b", "127.0.0.1:0", "--env-file", envFile,
		"--env", "BOTH=flag", "--env", "FROM_FLAG=flag", "--chdir", dir, "--", pmuxtest.Worker())
	r := pmuxtest.GetReport(t, pmuxtest.NewClient("tcp", m.Addr()))
	for k, v := range map[string]string{"FROM_FILE": "file", "BOTH": "flag", "FROM_FLAG": "flag"} {
		if r.Env[k] != v {
			t.Errorf("%s=%q, want %q", k, r.Env[k], v)
		}
	}
	if r.Cwd != dir {
		t.Errorf("cwd %q, want %q", r.Cwd, dir)
	}
}

func TestSubreaperReapsOrphans(t *testing.T) {
	// The subshell starts a sleep and exits, orphaning it to pmux.
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-b", "127.0.0.1:0", "--", "sh", "-c", "(sleep 0.2 &); exec sleep 1000")
	e := m.WaitEvents("orphan_reaped", 1, 10*time.Second, nil)[0]
	if e["status"] != "exit 0" {
		t.Errorf("orphan status %v, want exit 0", e["status"])
	}
}

func TestWorkerOutputIsPrefixedWholeLines(t *testing.T) {
	const lines = 20000
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "2", "-b", "127.0.0.1:0",
		"--env", "WORKER_OUTPUT_LINES="+strconv.Itoa(lines), "--", pmuxtest.Worker())
	ready := m.ReadyWorkers(2)
	line := regexp.MustCompile(`^web\.(\d) (\d+) \| line (\d+) of 20000 from (\d+) (x*)$`)
	// Short of them all, the counts below say what is missing.
	m.Watch(30*time.Second, 0, func(_ []map[string]any, out []string) bool { return len(out) >= 2*lines })
	out := m.Output()
	counts := map[string]int{}
	for _, l := range out {
		mm := line.FindStringSubmatch(l)
		if mm == nil {
			t.Fatalf("torn or unprefixed line: %q", l)
		}
		i, _ := strconv.Atoi(mm[3])
		if mm[2] != mm[4] || len(mm[5]) != i%200 {
			t.Fatalf("line mangled: %q", l)
		}
		counts[mm[2]]++
	}
	for _, e := range ready {
		if got := counts[strconv.Itoa(pmuxtest.IntField(e, "pid"))]; got != lines {
			t.Errorf("worker %v: %d lines, want %d", e["pid"], got, lines)
		}
	}
}
