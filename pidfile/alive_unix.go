//go:build unix

package pidfile

import (
	"errors"
	"math"
	"syscall"
)

// Alive reports whether a process with this pid exists: kill(pid, 0)
// succeeds, or fails only because the process belongs to another user. A
// zombie counts as alive. pid must be 1..MaxInt32; anything else is false
// rather than a probe of a process group.
func Alive(pid int) bool {
	// kill(0, 0) and kill(-n, 0) address process groups, and the kernel
	// would truncate a pid beyond pid_t to some other, real pid.
	if pid <= 0 || pid > math.MaxInt32 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func supported() error { return nil }
