//go:build unix

package sockets

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// stalledDNS is a resolver whose DNS server, on loopback, reads every
// query and answers none; asked receives once it was queried.
func stalledDNS(t *testing.T) (*net.Resolver, <-chan struct{}) {
	t.Helper()
	dns, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dns.Close() })
	asked := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 512)
		for {
			if _, _, err := dns.ReadFrom(buf); err != nil {
				return
			}
			select {
			case asked <- struct{}{}:
			default:
			}
		}
	}()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", dns.LocalAddr().String())
	}}, asked
}

// A DNS server that never answers: the bind of a host name fails once the
// lookup timeout has passed, with one line that says so, instead of
// holding up a start or a reload for good.
func TestLookupOfAHostNameHasADeadline(t *testing.T) {
	resolver, asked := stalledDNS(t)
	const timeout = 300 * time.Millisecond
	began := time.Now()
	_, err := Open(specs(t, "tcp://never-answered.pmux.test:0"), OpenOptions{Resolver: resolver, LookupTimeout: timeout})
	took := time.Since(began)
	var be *BindError
	if !errors.As(err, &be) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Open = %v, want a *BindError for the lookup's deadline", err)
	}
	for _, want := range []string{"bind tcp://never-answered.pmux.test:0", "no answer within 300ms", "bind an IP address"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	select {
	case <-asked:
	default:
		t.Errorf("the stalled DNS server was never asked; the error came from elsewhere: %v", err)
	}
	t.Logf("bind failed after %v (lookup timeout %v): %v", took.Round(time.Millisecond), timeout, err)
}

// The lookup also ends with OpenContext's context: a master that stops
// while a reload waits on DNS does not wait for the lookup's deadline.
func TestLookupEndsWithTheContext(t *testing.T) {
	resolver, asked := stalledDNS(t)
	ctx, cancel := context.WithCancel(context.Background())
	binds := specs(t, "tcp://never-answered.pmux.test:0")
	done := make(chan error, 1)
	go func() {
		_, err := OpenContext(ctx, binds, OpenOptions{Resolver: resolver, LookupTimeout: time.Minute})
		done <- err
	}()
	<-asked
	began := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("OpenContext = %v, want the cancellation", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the lookup went on after its context ended")
	}
	t.Logf("bind gave up %v after the cancel", time.Since(began).Round(time.Millisecond))
}
