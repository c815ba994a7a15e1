package command

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pmux/pmux/sockets"
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
func TestLoopListenerReleaseNeverWaitsOnALookup(t *testing.T) {
	parse := func(s string) []sockets.Spec {
		spec, err := sockets.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return []sockets.Spec{spec}
	}
	set := newListenerSet()
	defer set.closeAll()
	first := &resolvedPool{binds: parse("127.0.0.1:0")}
	if err := set.open(context.Background(), []*resolvedPool{first}, sockets.OpenOptions{}); err != nil {
		t.Fatal(err)
	}
	unused := first.manager.Listeners[0]
	dns := stuckResolver{asked: make(chan string, 1), release: make(chan struct{})}
	reload := &resolvedPool{binds: parse("tcp://stuck.pmux.test:0")}
	opened := make(chan error, 1)
	go func() {
		opened <- set.open(context.Background(), []*resolvedPool{reload}, sockets.OpenOptions{Resolver: dns, LookupTimeout: time.Minute})
	}()
	<-dns.asked
	began := time.Now()
	released := make(chan struct{})
	go func() { set.release(unused); close(released) }()
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
}
