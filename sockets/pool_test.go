package sockets

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// stuckResolver is a DNS resolver that answers nobody: each lookup says it
// was asked, then waits for the test or its deadline.
type stuckResolver struct {
	asked   chan string
	release chan struct{}
}

func (r stuckResolver) LookupNetIP(ctx context.Context, _, host string) ([]netip.Addr, error) {
	r.asked <- host
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-r.release:
		return nil, errors.New("no such host")
	}
}

// A reload that opens a new bind may wait seconds on its host name lookup;
// the loop's release of an unused listener never waits for it.
func TestPoolReleaseNeverWaitsOnALookup(t *testing.T) {
	parse := func(s string) []Spec {
		spec, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return []Spec{spec}
	}
	pool := NewPool(nil)
	defer pool.Close()
	unused, err := pool.Acquire(context.Background(), parse("127.0.0.1:0"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dns := stuckResolver{asked: make(chan string, 1), release: make(chan struct{})}
	opened := make(chan error, 1)
	go func() {
		_, err := pool.Acquire(context.Background(), parse("tcp://stuck.pmux.test:0"), OpenOptions{Resolver: dns, LookupTimeout: time.Minute})
		opened <- err
	}()
	<-dns.asked
	began := time.Now()
	released := make(chan struct{})
	go func() { pool.Release(unused); close(released) }()
	select {
	case <-released:
	case <-time.After(10 * time.Second):
		t.Fatal("release waited on a reload's DNS lookup")
	}
	t.Logf("release took %v while a lookup hung", time.Since(began))
	close(dns.release)
	if err := <-opened; err == nil || !strings.Contains(err.Error(), "stuck.pmux.test") {
		t.Errorf("open with a failed lookup = %v, want the bind's error", err)
	}
	if n := len(pool.All()); n != 0 {
		t.Errorf("%d listeners left open, want none", n)
	}
}

// A bind acquired again is the same listener, counted once more; it closes
// with its last user, and a failed Acquire counts nothing.
func TestPoolCountsUsers(t *testing.T) {
	pool := NewPool(nil)
	defer pool.Close()
	specs := func(ss ...string) []Spec {
		var out []Spec
		for _, s := range ss {
			spec, err := Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, spec)
		}
		return out
	}
	first, err := pool.Acquire(context.Background(), specs("127.0.0.1:0?name=a"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	again, err := pool.Acquire(context.Background(), specs("127.0.0.1:0?name=a"), OpenOptions{})
	if err != nil || again[0] != first[0] {
		t.Fatalf("second Acquire of the bind = %v, %v; want the same listener", again, err)
	}
	// The second bind fails (a live unix socket is not replaced): the
	// first is not counted for this call.
	dir := t.TempDir()
	busy, err := pool.Acquire(context.Background(), specs("unix:"+dir+"/s"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other := NewPool(nil)
	defer other.Close()
	if _, err := other.Acquire(context.Background(), specs("127.0.0.1:0?name=a", "unix:"+dir+"/s"), OpenOptions{}); err == nil {
		t.Fatal("bound a unix socket another listener serves")
	}
	pool.Release(busy)
	pool.Release(first)
	if n := len(pool.All()); n != 1 {
		t.Fatalf("%d listeners open after one of two users went, want 1", n)
	}
	pool.Release(again)
	if n := len(pool.All()); n != 0 {
		t.Fatalf("%d listeners open after the last user went, want 0", n)
	}
	if c, err := net.Dial("tcp", first[0].Addr()); err == nil {
		c.Close()
		t.Error("the listener still accepts after its last user went")
	}
}
