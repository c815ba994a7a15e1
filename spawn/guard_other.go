//go:build !linux

package spawn

import (
	"syscall"
	"time"
)

// The guard finds what its master started through /proc/<pid>/environ,
// which only Linux has: elsewhere no guard is started, and what a
// wrapper forked may outlive a master killed with SIGKILL.
func selfGuardInfo() (guardInfo, error) { return guardInfo{}, ErrNotSupported }

func runGuard(g guardInfo, fd, readyFd int) error { return ErrNotSupported }

func guardSysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

type guardHandle struct{}

func openGuardHandle(pid int) guardHandle  { return guardHandle{} }
func (guardHandle) signal(syscall.Signal)  {}
func (guardHandle) close()                 {}
func (guardHandle) waitExit(time.Duration) {}
