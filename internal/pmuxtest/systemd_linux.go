package pmuxtest

import (
	"net"

	"golang.org/x/sys/unix"
)

var credSpace = unix.CmsgSpace(unix.SizeofUcred)

// passCred asks the kernel for each datagram's sender.
func passCred(conn *net.UnixConn) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	if cerr := raw.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) }); cerr != nil {
		return cerr
	}
	return err
}

// senderPid is the pid of a datagram's SCM_CREDENTIALS, or 0.
func senderPid(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) == 0 {
		return 0
	}
	cred, err := unix.ParseUnixCredentials(&msgs[0])
	if err != nil {
		return 0
	}
	return int(cred.Pid)
}
