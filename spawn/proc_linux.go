package spawn

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/pmux/pmux/internal/proc"
	"github.com/pmux/pmux/spawn/shim"
)

// SelfExecutable names the running binary for a re-exec of itself.
func SelfExecutable() (string, error) {
	// The link is resolved by the kernel in the child at exec time, so it
	// names the master's own binary even after a deploy replaced or removed
	// the file at the path the master was started from.
	return proc.SelfExe, nil
}

func sysProcAttr(spec Spec) *syscall.SysProcAttr {
	// A worker leads its own group so its whole tree can be signalled; a
	// new master stays in the old one's, as unicorn's does, so a terminal's
	// Ctrl-C reaches both.
	return &syscall.SysProcAttr{
		Setpgid:    !spec.Direct,
		Pdeathsig:  spec.ParentDeathSignal,
		Credential: spec.Credential,
	}
}

// SetSubreaper makes orphaned descendants of the master its children, so
// it reaps them (and can run as PID 1 in a container).
func SetSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become child subreaper: %w", err)
	}
	return nil
}

// RSS returns the resident set size of pid in bytes.
func RSS(pid int) (int64, error) { return proc.Default.RSS(pid) }

// CloseOnExecFrom marks every fd from first up close-on-exec, so nothing
// pmux inherited by accident reaches a worker or a new master.
func CloseOnExecFrom(first int) error { return shim.CloseOnExecFrom(first) }
