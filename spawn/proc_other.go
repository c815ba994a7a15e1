//go:build !linux

package spawn

import (
	"fmt"
	"os"
	"syscall"

	"github.com/pmux/pmux/spawn/shim"
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

// SetSubreaper is Linux-only.
func SetSubreaper() error { return ErrNotSupported }

// RSS is read from /proc, which only Linux has.
func RSS(pid int) (int64, error) { return 0, ErrNotSupported }

// CloseOnExecFrom marks fds from first up to the soft limit close-on-exec.
func CloseOnExecFrom(first int) error { return shim.CloseOnExecFrom(first) }
