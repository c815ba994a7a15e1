//go:build !linux

package shim

import "syscall"

// resetSignals cannot bypass the runtime portably; exec resets every signal
// the runtime handles, and only inherited SIG_IGN dispositions survive.
func resetSignals() error { return nil }

// CloseOnExecFrom marks fds from first up to the soft limit close-on-exec.
func CloseOnExecFrom(first int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	// Rlimit.Cur is a uint64 on darwin and an int64 on the BSDs; the
	// conversion serves both, and RLIM_INFINITY (-1 on the BSDs) becomes
	// the largest value, so the fixed bound below still ends the loop.
	for fd := first; uint64(fd) < uint64(lim.Cur) && fd < 1<<16; fd++ {
		syscall.CloseOnExec(fd)
	}
	return nil
}
