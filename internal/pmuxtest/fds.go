package pmuxtest

import (
	"net"
	"os"
	"strconv"
	"testing"
)

// ListenerFile opens a TCP listener on a free loopback port and returns it
// as a file, to pass to pmux in Opts.ExtraFiles (fd 3, 4, …), with its
// address. The listener itself is closed: the socket lives on in the file,
// and in pmux once the test closes its copy. The file is closed at the end
// of the test in any case.
func ListenerFile(t *testing.T) (*os.File, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, ln.Addr().String()
}

// SocketActivated is the Opts.Wrap that starts pmux as systemd's socket
// activation does: LISTEN_FDS=n, LISTEN_FDNAMES=names (colon-separated)
// and LISTEN_PID set to pmux's own pid (the shell's, which exec hands on).
func SocketActivated(n int, names string) []string {
	return []string{"sh", "-c", "LISTEN_PID=$$ LISTEN_FDS=" + strconv.Itoa(n) + " LISTEN_FDNAMES=" + names + ` exec "$0" "$@"`}
}
