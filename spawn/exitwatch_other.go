//go:build !linux

package spawn

import "os"

// WatchExit needs pidfds, which only Linux has; elsewhere a new master
// does not notice the old one leaving and keeps the upgrade pidfile name.
func WatchExit(pid int) (<-chan struct{}, *os.File, error) { return nil, nil, ErrNotSupported }
