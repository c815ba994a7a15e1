package logs

import (
	"bytes"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns both ends of a fresh pseudo-terminal, so the terminal path
// of auto format is tested on a real tty rather than assumed.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	rc, err := master.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ioctlErr error
	if err := rc.Control(func(fd uintptr) {
		if ioctlErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ioctlErr != nil {
			return
		}
		n, ioctlErr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
	}); err != nil {
		t.Fatal(err)
	}
	if ioctlErr != nil {
		t.Skipf("no pty: %v", ioctlErr)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return master, tty
}

func TestIsTerminal(t *testing.T) {
	_, tty := openPTY(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	if !IsTerminal(tty) {
		t.Error("IsTerminal(pty) = false")
	}
	if IsTerminal(w) {
		t.Error("IsTerminal(pipe) = true")
	}
	if IsTerminal(nil) {
		t.Error("IsTerminal(nil) = true")
	}
}

// TestNewAutoOnTerminal: auto picks the coloured console writer on a tty.
func TestNewAutoOnTerminal(t *testing.T) {
	master, tty := openPTY(t)
	log, _, err := New(Options{}, tty)
	if err != nil {
		t.Fatal(err)
	}
	log.Info().Str("event", "started").Msg("hello")

	if err := master.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	buf := make([]byte, 4096)
	for !bytes.Contains(got.Bytes(), []byte("\n")) {
		n, err := master.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("read pty: %v (got %q)", err, got.String())
		}
	}
	out := got.String()
	if json.Valid(got.Bytes()) || !strings.Contains(out, "hello") || !strings.Contains(out, "\x1b[") {
		t.Errorf("auto on a terminal wrote %q, want coloured console text", out)
	}
}
