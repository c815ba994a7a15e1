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
