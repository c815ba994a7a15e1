//go:build !unix

package metrics

import "syscall"

// reusePort does nothing where SO_REUSEPORT does not exist: an upgraded
// master's metrics server then fails to bind while the old one lives.
func reusePort(_, _ string, _ syscall.RawConn) error { return nil }
