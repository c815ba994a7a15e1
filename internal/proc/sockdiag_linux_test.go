//go:build linux

package proc

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A listener nobody accepts on shows each connection made to it as
// queued, for TCP and unix sockets alike.
func TestListenQueuesCountsUnacceptedConnections(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	sock := filepath.Join(t.TempDir(), "q.sock")
	ux, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ux.Close()
	for _, tc := range []struct {
		ln net.Listener
		n  int
	}{{tcp, 3}, {ux, 2}} {
		for range tc.n {
			c, err := net.Dial(tc.ln.Addr().Network(), tc.ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
		}
	}
	got, err := ListenQueues()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ln net.Listener
		n  int
	}{{tcp, 3}, {ux, 2}} {
		ino := listenerInode(t, tc.ln)
		if q := got[ino]; q.Queued != tc.n || q.Backlog == 0 {
			t.Errorf("%s listener (inode %d): %+v, want %d queued", tc.ln.Addr().Network(), ino, q, tc.n)
		}
	}
}

func listenerInode(t *testing.T, ln net.Listener) uint64 {
	t.Helper()
	f, err := ln.(interface{ File() (*os.File, error) }).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}
