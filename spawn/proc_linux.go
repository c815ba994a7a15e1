package spawn

import (
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pmux/pmux/internal/proc"
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

// kernelSigaction mirrors the kernel's struct sigaction. All zero means
// SIG_DFL with no flags and an empty mask, on every Linux architecture.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// resetSignals gives every signal its default disposition and empties the
// mask, bypassing the Go runtime, which keeps an inherited SIG_IGN.
func resetSignals() error {
	runtime.LockOSThread() // the mask set below must be the exec'ing thread's
	var dfl kernelSigaction
	for sig := 1; sig <= 64; sig++ {
		if sig == int(unix.SIGKILL) || sig == int(unix.SIGSTOP) {
			continue
		}
		// Signals 32 and 33 belong to glibc's threading and may refuse.
		_, _, _ = unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0)
	}
	var empty unix.Sigset_t
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &empty, nil); err != nil {
		return fmt.Errorf("clear signal mask: %w", err)
	}
	return nil
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
func CloseOnExecFrom(first int) error {
	err := unix.CloseRange(uint(first), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	// Kernels before 5.11 lack the flag: walk the fd table instead.
	fds, rerr := proc.Default.SelfFDs()
	if rerr != nil {
		return fmt.Errorf("mark inherited fds close-on-exec: %w", err)
	}
	for _, fd := range fds {
		if fd >= first {
			unix.CloseOnExec(fd)
		}
	}
	return nil
}
