//go:build !linux

package control

import "net"

func peerCredSupported() error { return ErrNotSupported }

func peerCred(*net.UnixConn) (uid, pid int, err error) { return -1, 0, ErrNotSupported }
