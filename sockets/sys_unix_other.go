//go:build unix && !linux

package sockets

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// abstractSockets is false: outside Linux a leading '@' would silently be
// an ordinary file name, so bindUnix refuses it with ErrNotSupported.
const abstractSockets = false

// newSocket creates a close-on-exec stream socket. Without SOCK_CLOEXEC the
// flag is set under syscall.ForkLock, which os/exec holds across fork, so
// no child inherits the socket in between.
func newSocket(family int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fd, err := unix.Socket(family, unix.SOCK_STREAM, 0)
	if err != nil {
		return -1, err
	}
	unix.CloseOnExec(fd)
	return fd, nil
}

// dupCloexec duplicates fd close-on-exec (under ForkLock, as newSocket), at
// 3 or above so a later re-open of stdio (daemon mode) can never clobber it.
func dupCloexec(fd int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD, 3)
	if err != nil {
		return -1, err
	}
	unix.CloseOnExec(nfd)
	return nfd, nil
}
