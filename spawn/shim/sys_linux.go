package shim

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pmux/pmux/internal/proc"
)

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
