package main

import (
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// heldListener hands out each connection it accepts only once release is
// closed: the moment between accept(2) and Serve counting the connection,
// which a busy machine opens now and then, held open.
type heldListener struct {
	net.Listener
	accepted chan struct{} // closed once a connection is accepted
	release  chan struct{}
	once     sync.Once
}

func (l *heldListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.once.Do(func() { close(l.accepted) })
		<-l.release
	}
	return c, err
}

// A graceful stop that begins while a connection is accepted but not yet
// counted still answers it before drain returns (and the process exits).
func TestDrainAnswersAConnectionAcceptedAsItBegins(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := &heldListener{Listener: ln, accepted: make(chan struct{}), release: make(chan struct{})}
	var answered atomic.Bool
	srv := newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hello(w, r)
		answered.Store(true)
	}))
	listeners := []net.Listener{held}
	srv.serve(listeners, make(chan error, len(listeners)))

	result := make(chan error, 1)
	go func() {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + ln.Addr().String() + "/")
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		result <- err
	}()
	<-held.accepted

	drained := make(chan bool, 1)
	go func() {
		srv.drain(listeners)
		drained <- answered.Load()
	}()
	// Correct code cannot return before the release; the window only
	// gives broken code the time to show it.
	select {
	case <-drained:
		t.Fatal("drain returned while a connection it had accepted was still to be answered")
	case <-time.After(300 * time.Millisecond):
	}
	close(held.release)
	if !<-drained {
		t.Error("drain returned before the accepted connection was answered")
	}
	if err := <-result; err != nil {
		t.Errorf("the request: %v", err)
	}
}
