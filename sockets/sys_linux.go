package sockets

import "golang.org/x/sys/unix"

// abstractSockets says whether '@' paths name abstract sockets; a Linux
// feature.
const abstractSockets = true

// newSocket creates a stream socket that is close-on-exec from birth, so
// a concurrent fork-exec can never inherit it.
func newSocket(family int) (int, error) {
	return unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
}

// dupCloexec duplicates fd atomically close-on-exec, at 3 or above so a
// later re-open of stdio (daemon mode) can never clobber it.
func dupCloexec(fd int) (int, error) {
	return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
}
