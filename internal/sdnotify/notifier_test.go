package sdnotify

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// listenSupervisor is a fake supervisor's notify socket, at a short path
// (a socket address holds 108 bytes, less than some test temp dirs).
func listenSupervisor(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "pmux-sup-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, path
}

// fillSupervisorQueue sends datagrams to path until its receive queue is
// full (a write would block), as if the supervisor had stopped reading.
func fillSupervisorQueue(t *testing.T, path string) int {
	t.Helper()
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for n := 0; n < 100000; n++ {
		c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.Write([]byte("FILL")); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("the socket's queue never filled")
	return 0
}

// readDatagram reads one datagram, failing the test after 10 s.
func readDatagram(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("read the supervisor socket: %v", err)
	}
	return string(buf[:n])
}

// A supervisor that does not read: Send never waits, the queue keeps the
// latest states in order (pings collapsed), and they all arrive once the
// supervisor reads again; Close flushes what is left.
func TestSupervisorNotifierNeverBlocksOnAFullSocket(t *testing.T) {
	conn, path := listenSupervisor(t)
	fill := fillSupervisorQueue(t, path)
	n := NewNotifier(path, zerolog.New(zerolog.NewTestWriter(t)))
	defer n.Close()
	const states = 200
	began := time.Now()
	for i := 1; i <= states; i++ {
		n.Send("WATCHDOG=1")
		n.Send("STATUS=" + strconv.Itoa(i))
	}
	t.Logf("%d sends to a full socket (%d datagrams queued) took %v", 2*states, fill, time.Since(began))
	for range fill {
		if s := readDatagram(t, conn); s != "FILL" {
			t.Fatalf("got %q before the filler was read", s)
		}
	}
	var got []string
	last := 0
	for last != states {
		s := readDatagram(t, conn)
		got = append(got, s)
		if s == "WATCHDOG=1" {
			continue
		}
		i, err := strconv.Atoi(strings.TrimPrefix(s, "STATUS="))
		if err != nil || i <= last {
			t.Fatalf("got %q after STATUS=%d: states out of order or unknown (all: %q)", s, last, got)
		}
		last = i
	}
	if len(got) > supervisorQueue+1 {
		t.Errorf("%d states delivered after the stall, want at most the queue (%d) and the one in flight", len(got), supervisorQueue)
	}
	if pings := strings.Count(strings.Join(got, ","), "WATCHDOG=1"); pings > 2 {
		t.Errorf("pings not collapsed: %q", got)
	}
	n.Send("MAINPID=7")
	n.Close()
	if s := readDatagram(t, conn); s != "MAINPID=7" {
		t.Errorf("after Close got %q, want the flushed MAINPID=7", s)
	}
}

// Close gives up on a supervisor that never reads, after its flush bound.
func TestSupervisorNotifierCloseIsBoundedWhenStalled(t *testing.T) {
	_, path := listenSupervisor(t)
	fillSupervisorQueue(t, path)
	n := NewNotifier(path, zerolog.New(zerolog.NewTestWriter(t)))
	n.Send("READY=1")
	n.Send("STOPPING=1")
	began := time.Now()
	closed := make(chan struct{})
	go func() { n.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(20 * supervisorFlushTimeout):
		t.Fatal("Close did not return while the supervisor did not read")
	}
	t.Logf("Close with a stalled supervisor took %v (flush bound %v)", time.Since(began).Round(time.Millisecond), supervisorFlushTimeout)
	if d := n.dropped.Load(); d != 2 {
		t.Errorf("%d states counted as dropped, want the 2 sent", d)
	}
}

func TestSendSaysWhatHappened(t *testing.T) {
	if sent, err := Send("", "READY=1"); sent || err != nil {
		t.Errorf("Send without a socket = %v, %v; want false, nil", sent, err)
	}
	conn, path := listenSupervisor(t)
	if sent, err := Send(path, "READY=1\nSTATUS=up"); !sent || err != nil {
		t.Fatalf("Send = %v, %v; want true, nil", sent, err)
	}
	if got := readDatagram(t, conn); got != "READY=1\nSTATUS=up" {
		t.Errorf("supervisor read %q", got)
	}
	if sent, err := Send(path+".gone", "READY=1"); sent || err == nil {
		t.Errorf("Send to a socket nobody listens on = %v, %v; want false and the error", sent, err)
	}
}
