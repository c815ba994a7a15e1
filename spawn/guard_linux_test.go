package spawn

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/internal/proc"
)

// The test binary is the guard's binary too (StartGuard re-executes
// /proc/self/exe), as pmux is in production.
func TestMain(m *testing.M) {
	if IsGuard() {
		if err := RunGuard(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// tagVar tags every process a test starts, with a value of its own, so a
// scan of /proc finds them all wherever they went (another group, another
// session, a cleared environment that kept the tag).
const tagVar = "GUARDTEST_TAG"

func newTag() string { return strconv.FormatUint(rand.Uint64(), 36) }

// tagged lists the live processes that carry tag.
func tagged(tag string) []int {
	want := []byte("\x00" + tagVar + "=" + tag + "\x00")
	return pidsWhere(func(pid int) bool {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		return err == nil && bytes.Contains(append([]byte{0}, data...), want)
	})
}

// startTagged runs script under sh as the leader of a new process group,
// with master in MasterPIDVar (none if 0) and tag in tagVar. Whatever the
// test's outcome, every process with the tag is killed when it ends.
func startTagged(t *testing.T, master int, masterValue, tag, script string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, MasterPIDVar+"=") && !strings.HasPrefix(kv, tagVar+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, tagVar+"="+tag)
	switch {
	case masterValue != "":
		cmd.Env = append(cmd.Env, MasterPIDVar+"="+masterValue)
	case master != 0:
		cmd.Env = append(cmd.Env, MasterPIDVar+"="+strconv.Itoa(master))
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, pid := range tagged(tag) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		cmd.Wait()
	})
	return cmd
}

// awaitCount waits for n processes with tag and returns them.
func awaitCount(t *testing.T, tag string, n int) []int {
	t.Helper()
	var pids []int
	waitUntil(t, fmt.Sprintf("%d processes tagged %s", n, tag), func() bool {
		pids = tagged(tag)
		return len(pids) == n
	})
	return pids
}

// deadMaster is a master that has come and gone: a process that ran, so
// its pid and start time are real, and was reaped.
func deadMaster(t *testing.T) guardInfo {
	t.Helper()
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	st, err := proc.Default.Stat(cmd.Process.Pid)
	cmd.Process.Kill()
	cmd.Wait()
	if err != nil {
		t.Fatal(err)
	}
	return guardInfo{pid: cmd.Process.Pid, pgid: syscall.Getpgrp(), start: st.StartTime}
}

// What a wrapper forks: a child in its group, one that leaves the group
// (setsid), one that clears its environment but stays in the group, and
// one that clears it in the group of one that left. Every one is killed,
// nothing of another master is.
func TestSweepKillsWhatTheMasterStartedAndTheirGroups(t *testing.T) {
	g := deadMaster(t)
	tag, other := newTag(), newTag()
	startTagged(t, g.pid, "", tag, `
		sleep 100 &
		setsid sleep 100 &
		env -i `+tagVar+`=`+tag+` sleep 100 &
		setsid sh -c 'env -i `+tagVar+`=`+tag+` sleep 100 & wait' &
		wait`)
	// Another master's, whose pid the first one's is a prefix of; and one
	// with no master at all.
	startTagged(t, 0, strconv.Itoa(g.pid)+"0", other, "sleep 100 & wait")
	startTagged(t, 0, "", other, "sleep 100 & wait")
	pids := awaitCount(t, tag, 6)
	awaitCount(t, other, 4)

	began := time.Now()
	n := newTargets(g).sweep(sweepFor)
	swept := time.Since(began)
	// The shell, its sleep, the setsid sleep and the setsid shell carry
	// the variable (and a shell's child between fork and exec); the two
	// env -i sleeps go with their groups, and so may some of the others
	// before the scan reaches them.
	if n == 0 {
		t.Errorf("sweep signalled no process")
	}
	waitUntil(t, "every process of the master's to be gone", func() bool {
		for _, pid := range pids {
			if alive(pid) {
				return false
			}
		}
		return true
	})
	t.Logf("sweep signalled %d processes in %v; all %d gone %v after it began", n, swept, len(pids), time.Since(began))
	if left := tagged(other); len(left) != 4 {
		t.Errorf("processes of no or another master: %d left of 4", len(left))
	}
}

// A number in MasterPIDVar names this master only for what started after
// it, and before anything that took its pid after it died.
func TestSweepSparesWhatIsNotTheMasters(t *testing.T) {
	t.Run("older than the master", func(t *testing.T) {
		g := deadMaster(t)
		tag := newTag()
		startTagged(t, g.pid, "", tag, "sleep 100 & wait")
		awaitCount(t, tag, 2)
		g.start += 1e9 // the master started after them
		if n := newTargets(g).sweep(sweepFor); n != 0 {
			t.Errorf("sweep signalled %d processes that started before the master", n)
		}
		awaitCount(t, tag, 2)
	})
	t.Run("the master's pid taken again", func(t *testing.T) {
		// A new process at the dead master's pid, with workers of its own
		// that carry the same number.
		reborn := exec.Command("sleep", "100")
		if err := reborn.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { reborn.Process.Kill(); reborn.Wait() }()
		st, err := proc.Default.Stat(reborn.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		g := guardInfo{pid: reborn.Process.Pid, pgid: syscall.Getpgrp(), start: st.StartTime - 1}
		tag := newTag()
		startTagged(t, g.pid, "", tag, "sleep 100 & wait")
		awaitCount(t, tag, 2)
		if n := newTargets(g).sweep(sweepFor); n != 0 {
			t.Errorf("sweep signalled %d processes of the process that took the master's pid", n)
		}
		awaitCount(t, tag, 2)
		if !alive(reborn.Process.Pid) {
			t.Error("the process at the master's pid was killed")
		}
	})
}

// After a clean exit the guard waits for what is still draining, and no
// longer than that.
func TestLingerWaitsForTheMastersProcesses(t *testing.T) {
	g := deadMaster(t)
	tag := newTag()
	// The shell exits at once; what it forked finishes a little later, and
	// forks once more before it does.
	startTagged(t, g.pid, "", tag, "(sleep 0.3; sleep 0.2) &")
	waitUntil(t, "the drainer to start", func() bool { return len(tagged(tag)) > 0 })
	const grace = 20 * time.Second
	began := time.Now()
	newTargets(g).linger(grace)
	took := time.Since(began)
	if left := tagged(tag); len(left) != 0 {
		t.Errorf("linger returned with %v still running", left)
	}
	if took >= grace {
		t.Errorf("linger waited the whole grace (%v), not for the processes", took)
	}
	t.Logf("linger returned %v after it began, once the processes had exited", took)

	// One that does not finish: linger gives up at the grace.
	tag = newTag()
	startTagged(t, g.pid, "", tag, "sleep 100 & wait")
	pids := awaitCount(t, tag, 2)
	newTargets(g).linger(100 * time.Millisecond)
	for _, pid := range pids {
		if !alive(pid) {
			t.Errorf("linger killed %d", pid)
		}
	}
}

// The guard itself, started as pmux starts it: stopped while it waits,
// deaf to the signals a terminal or a supervisor sends, in a group of its
// own, reported by Reap to its own callback only, and sweeping once the
// master is done.
func TestStartGuard(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	exited := make(chan Exit, 1)
	pid, err := s.StartGuard(func(e Exit) { exited <- e })
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	tag := newTag()
	startTagged(t, os.Getpid(), "", tag, "sleep 100 & setsid sleep 100 & wait")
	pids := awaitCount(t, tag, 3)
	waitUntil(t, "the guard to run", func() bool {
		cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		return bytes.HasPrefix(cmdline, []byte("pmux: guard of master "))
	})
	if pgid, _ := syscall.Getpgid(pid); pgid != pid {
		t.Errorf("guard in group %d, want its own (%d)", pgid, pid)
	}
	// Stopped once ready, so that nothing runs while it waits.
	waitUntil(t, "the guard to be stopped", func() bool {
		st, err := proc.Default.Stat(pid)
		return err == nil && st.State == 'T'
	})
	deaf := []syscall.Signal{syscall.SIGINT, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGPIPE}
	for _, sig := range deaf {
		if !sigIgnored(pid, sig) {
			t.Errorf("the guard does not ignore %v", sig)
		}
	}
	// Discarded as they are sent; had one killed the guard, nothing below
	// would be swept and it would not exit 0.
	for _, sig := range deaf {
		syscall.Kill(pid, sig)
	}
	for _, e := range s.Reap() {
		if e.Pid == pid {
			t.Errorf("Reap returned the guard's exit (%s)", e.Describe())
		}
	}
	select {
	case e := <-exited:
		t.Fatalf("the guard exited while its master lives: %s", e.Describe())
	default:
	}
	if left := tagged(tag); len(left) != 3 {
		t.Errorf("the guard acted while its master lives: %d of 3 processes left", len(left))
	}

	began := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "every process of the master's to be gone", func() bool {
		for _, p := range append(pids, pid) {
			if alive(p) {
				return false
			}
		}
		return true
	})
	t.Logf("the guard and %d processes gone %v after the pipe closed", len(pids), time.Since(began))
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
		t.Errorf("guard: %v, %s; want exit 0", err, Exit{pid, ws}.Describe())
	}
}

// A guard that dies while its master lives is told to the callback.
func TestGuardExitGoesToItsCallback(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	exited := make(chan Exit, 1)
	pid, err := s.StartGuard(func(e Exit) { exited <- e })
	if err != nil {
		t.Fatal(err)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	var got Exit
	waitUntil(t, "the guard's exit", func() bool {
		for _, e := range s.Reap() {
			if e.Pid == pid {
				t.Errorf("Reap returned the guard's exit")
			}
		}
		select {
		case got = <-exited:
			return true
		default:
			return false
		}
	})
	if got.Pid != pid || got.Describe() != "signal KILL" {
		t.Errorf("callback got %d %s, want %d signal KILL", got.Pid, got.Describe(), pid)
	}
}

func TestReleaseMessage(t *testing.T) {
	for _, d := range []time.Duration{0, time.Millisecond, 30 * time.Second} {
		msg := releaseMsg + strconv.FormatInt(int64(d), 10) + "\n"
		if got, ok := parseRelease([]byte(msg)); !ok || got != d {
			t.Errorf("parseRelease(%q) = %v, %v", msg, got, ok)
		}
	}
	for _, msg := range []string{"", "release", "release -1\n", "release x\n", "30s"} {
		if _, ok := parseRelease([]byte(msg)); ok {
			t.Errorf("parseRelease(%q) accepted", msg)
		}
	}
	g := guardInfo{pid: 1234, pgid: 1200, start: 987654}
	if got, err := parseGuardInfo(g.String()); err != nil || got != g {
		t.Errorf("parseGuardInfo(%q) = %+v, %v", g.String(), got, err)
	}
	for _, s := range []string{"", "1,2", "1234,1,5", "1234,x,5", "0,0,0"} {
		if _, err := parseGuardInfo(s); err == nil {
			t.Errorf("parseGuardInfo(%q) accepted", s)
		}
	}
}

// alive reports whether pid runs: a zombie has exited.
func alive(pid int) bool {
	st, err := proc.Default.Stat(pid)
	return err == nil && st.State != 'Z' && st.State != 'X'
}

// sigIgnored reads from /proc whether pid ignores sig.
func sigIgnored(pid int, sig syscall.Signal) bool {
	data, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<(uint(sig)-1)) != 0
		}
	}
	return false
}
