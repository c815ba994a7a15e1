//go:build !linux

package spawn

import (
	"fmt"
	"os"
	"syscall"
)

// SelfExecutable names the running binary. Elsewhere there is no /proc/self/exe: a binary replaced at the start path
// is what the shim runs, which is harmless since the shim's protocol is
// stable across versions.
func SelfExecutable() (string, error) {
	path, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find own executable: %w", err)
	}
	return path, nil
}

// There is no parent-death signal outside Linux: a SIGKILLed master
// orphans its workers there.
func sysProcAttr(spec Spec) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: !spec.Direct, Credential: spec.Credential}
}

// resetSignals cannot bypass the runtime portably; exec resets every signal
// the runtime handles, and only inherited SIG_IGN dispositions survive.
func resetSignals() error { return nil }

// SetSubreaper is Linux-only.
func SetSubreaper() error { return ErrNotSupported }

// RSS is read from /proc, which only Linux has.
func RSS(pid int) (int64, error) { return 0, ErrNotSupported }

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
