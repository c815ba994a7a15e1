//go:build !unix

package pidfile

// Alive always reports false: this system has no kill(pid, 0). Acquire
// fails with ErrNotSupported rather than replace a live master's pidfile.
func Alive(pid int) bool { return false }

func supported() error { return ErrNotSupported }
