package sdnotify

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// Workers keep sending while the loop has stopped reading (the master is
// on its way out): Close still returns, since the reader gives up both a
// blocked read and a blocked hand-over to the loop.
func TestNotifySocketCloseWhileNobodyReads(t *testing.T) {
	ns, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: ns.Addr(), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// More than the reader can hand over (its channel holds 64), until the
	// socket's own queue is full too.
	sent := 0
	for ; sent < 1000; sent++ {
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Write([]byte("WATCHDOG=1")); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
			break
		}
	}
	if sent <= cap(ns.messages) {
		t.Fatalf("only %d datagrams got in; the reader never blocked on the loop", sent)
	}
	began := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- ns.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return while the reader was blocked on a loop that had stopped")
	}
	t.Logf("Close returned in %v after %d datagrams nobody read", time.Since(began), sent)
	// The channel is closed once the reader has gone.
	for range ns.Messages() {
	}
}
