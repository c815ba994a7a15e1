package pmuxtest

import (
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/internal/proc"
)

// Alive reports whether pid is a live process; a zombie, which still
// answers kill(0), is dead for a test's purposes.
func Alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	st, err := proc.Default.Stat(pid)
	return err == nil && !st.Zombie()
}

// WaitGone waits for pid to be gone; one still alive after timeout is
// killed and fails the test (without stopping it).
func WaitGone(t *testing.T, pid int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for Alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("process %d still alive %v after its master stopped", pid, timeout)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitProcsGone waits until none of pids is a live process, or fails the
// test naming what they were.
func WaitProcsGone(t *testing.T, what string, pids []int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, pid := range pids {
		for Alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: process %d still alive after %v", what, pid, timeout)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// FDCount is how many descriptors pid has open.
func FDCount(t *testing.T, pid int) int {
	t.Helper()
	fds, err := proc.Default.FDs(pid)
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// Zombies lists the children of master that are dead but not reaped.
func Zombies(t *testing.T, master int) []int {
	t.Helper()
	pids, _ := proc.Default.Pids()
	var out []int
	for _, pid := range pids {
		if st, err := proc.Default.Stat(pid); err == nil && st.Zombie() && st.PPID == master {
			out = append(out, pid)
		}
	}
	return out
}
