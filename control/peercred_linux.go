package control

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

func peerCredSupported() error { return nil }

// peerCred returns the uid and pid of the process at the other end of
// conn, as the kernel recorded them at connect (SO_PEERCRED); uid is -1
// when they cannot be read.
func peerCred(conn *net.UnixConn) (uid, pid int, err error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return -1, 0, fmt.Errorf("read peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, 0, fmt.Errorf("read peer credentials: %w", err)
	}
	if credErr != nil {
		return -1, 0, fmt.Errorf("read peer credentials: %w", credErr)
	}
	return int(cred.Uid), int(cred.Pid), nil
}
