//go:build !linux

package spawn

// The guard finds what its master started through /proc/<pid>/environ,
// which only Linux has: elsewhere no guard is started, and what a
// wrapper forked may outlive a master killed with SIGKILL.
func selfGuardInfo() (guardInfo, error) { return guardInfo{}, ErrNotSupported }

func runGuard(g guardInfo, fd int) error { return ErrNotSupported }
