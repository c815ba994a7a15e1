package pmuxtest

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FakeSystemd is a supervisor's notify socket (NOTIFY_SOCKET) that records
// each datagram in order with who sent it (SCM_CREDENTIALS), as systemd
// checks the sender against NotifyAccess=.
type FakeSystemd struct {
	// Path is the socket's path, for NOTIFY_SOCKET.
	Path   string
	t      *testing.T
	states chan Notification
	seen   []Notification
}

// Notification is one datagram to a FakeSystemd.
type Notification struct {
	Pid   int    // the sender, as the kernel vouched for it
	State string // the datagram: lines of KEY=VALUE
}

// notifyTimeout bounds each wait for a datagram.
const notifyTimeout = 60 * time.Second

// listenNotify opens a unixgram socket in a new temporary directory.
func listenNotify(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	return conn, path
}

// NewFakeSystemd listens until the end of the test.
func NewFakeSystemd(t *testing.T) *FakeSystemd {
	t.Helper()
	conn, path := listenNotify(t)
	if err := passCred(conn); err != nil {
		t.Fatal(err)
	}
	s := &FakeSystemd{t: t, Path: path, states: make(chan Notification, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		oob := make([]byte, credSpace)
		for {
			n, noob, _, _, err := conn.ReadMsgUnix(buf, oob)
			if err != nil {
				return
			}
			select {
			case s.states <- Notification{senderPid(oob[:noob]), string(buf[:n])}:
			default: // the test stopped listening
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return s
}

// StalledSystemd is a supervisor's notify socket that nobody reads, open
// until the end of the test; it returns the socket's path.
func StalledSystemd(t *testing.T) string {
	t.Helper()
	conn, path := listenNotify(t)
	t.Cleanup(func() { conn.Close() })
	return path
}

// Env is the NOTIFY_SOCKET setting that points pmux at s.
func (s *FakeSystemd) Env() string { return "NOTIFY_SOCKET=" + s.Path }

// Next returns the next datagram, or fails the test if none comes.
func (s *FakeSystemd) Next() Notification {
	s.t.Helper()
	select {
	case st := <-s.states:
		s.seen = append(s.seen, st)
		return st
	case <-time.After(notifyTimeout):
		s.t.Fatalf("no notification within %v; got %+v", notifyTimeout, s.seen)
		return Notification{}
	}
}

// Await reads the datagrams in order until one from pid (any sender when
// pid is 0) has a line starting with prefix, and returns it; it fails the
// test if none comes.
func (s *FakeSystemd) Await(pid int, prefix string) string {
	s.t.Helper()
	timeout := time.After(notifyTimeout)
	for {
		select {
		case st := <-s.states:
			s.seen = append(s.seen, st)
			if pid != 0 && st.Pid != pid {
				continue
			}
			for _, line := range strings.Split(st.State, "\n") {
				if strings.HasPrefix(line, prefix) {
					return st.State
				}
			}
		case <-timeout:
			s.t.Fatalf("no %q from pid %d within %v; got %+v", prefix, pid, notifyTimeout, s.seen)
			return ""
		}
	}
}

// Seen is every datagram Next and Await have read, in order.
func (s *FakeSystemd) Seen() []Notification { return s.seen }
