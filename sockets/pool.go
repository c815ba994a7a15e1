package sockets

import (
	"context"
	"fmt"
	"sync"
)

// Pool holds a master's listening sockets by bind (Spec.String()), each
// with a count of its users, as caddy's listener pool does: a bind that a
// reload keeps is handed out again as it is (no re-bind, no refused
// connection), and a listener closes when its last user lets it go. The
// users are whatever must keep it open: the configuration of each pool
// that names the bind, and each live worker it was handed to.
//
// The lock is held for map and counter operations only, never across a
// bind or a host name lookup, so a Release on the manager's loop never
// waits on the network.
type Pool struct {
	mu    sync.Mutex
	byKey map[string][]*Listener
	users map[*Listener]int
	// started is set by Started: from then on a new systemd bind cannot
	// be adopted, as systemd passes sockets only at exec.
	started bool
	// keepPaths is asked at each close: true while another master (an
	// upgrade's partner) serves the same unix socket files.
	keepPaths func() bool
}

// NewPool returns an empty pool; keepPaths (nil: never) says at each close
// whether a unix socket file must stay.
func NewPool(keepPaths func() bool) *Pool {
	if keepPaths == nil {
		keepPaths = func() bool { return false }
	}
	return &Pool{byKey: map[string][]*Listener{}, users: map[*Listener]int{}, keepPaths: keepPaths}
}

// Acquire returns the listeners of each spec, in order, counting one user
// more of each: those the pool has for a bind, or new ones, opened with
// opts. On error nothing is counted and what this call opened is closed.
func (p *Pool) Acquire(ctx context.Context, specs []Spec, opts OpenOptions) ([]*Listener, error) {
	var got, opened []*Listener
	fail := func(err error) ([]*Listener, error) {
		p.Release(got)
		for _, l := range opened {
			l.Close()
		}
		return nil, err
	}
	for _, spec := range specs {
		key := spec.String()
		if ls := p.retain(key); ls != nil {
			got = append(got, ls...)
			continue
		}
		p.mu.Lock()
		started := p.started
		p.mu.Unlock()
		if spec.Kind == KindSystemd && started {
			return fail(fmt.Errorf("bind %s: systemd sockets are adopted only when pmux starts; restart pmux to add one", key))
		}
		bound, err := OpenContext(ctx, []Spec{spec}, opts)
		if err != nil {
			return fail(err)
		}
		opened = append(opened, bound...)
		p.mu.Lock()
		p.byKey[key] = bound
		for _, l := range bound {
			p.users[l] = 1
		}
		p.mu.Unlock()
		got = append(got, bound...)
	}
	return got, nil
}

// retain counts one user more of the listeners the pool has for key; nil
// when it has none.
func (p *Pool) retain(key string) []*Listener {
	p.mu.Lock()
	defer p.mu.Unlock()
	ls := p.byKey[key]
	for _, l := range ls {
		p.users[l]++
	}
	return ls
}

// Started marks the end of the start-up: no systemd bind is adopted later.
func (p *Pool) Started() {
	p.mu.Lock()
	p.started = true
	p.mu.Unlock()
}

// Retain counts one user more of each of ls, which the pool holds.
func (p *Pool) Retain(ls []*Listener) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range ls {
		p.users[l]++
	}
}

// Release counts one user fewer of each of ls, closing a listener whose
// last user this was.
func (p *Pool) Release(ls []*Listener) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range ls {
		if p.users[l]--; p.users[l] > 0 {
			continue
		}
		delete(p.users, l)
		key := l.Spec.String()
		kept := p.byKey[key][:0]
		for _, x := range p.byKey[key] {
			if x != l {
				kept = append(kept, x)
			}
		}
		if len(kept) == 0 {
			delete(p.byKey, key)
		} else {
			p.byKey[key] = kept
		}
		p.close(l)
	}
}

// All returns every open listener, for a successor in an upgrade.
func (p *Pool) All() []*Listener {
	p.mu.Lock()
	defer p.mu.Unlock()
	var all []*Listener
	for _, ls := range p.byKey {
		all = append(all, ls...)
	}
	return all
}

// Close closes every listener, whoever still uses it, at exit.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, ls := range p.byKey {
		for _, l := range ls {
			p.close(l)
			delete(p.users, l)
		}
		delete(p.byKey, key)
	}
}

func (p *Pool) close(l *Listener) {
	if p.keepPaths() {
		l.CloseKeepPath()
	} else {
		l.Close()
	}
}
