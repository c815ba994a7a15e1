package command

import (
	"context"
	"fmt"
	"maps"
	"os"
	"sync"

	"github.com/pmux/pmux/manager"
	"github.com/pmux/pmux/sockets"
)

// listenerSet holds every listening socket of the master, by bind, so a
// reload reuses the sockets of binds it keeps (no re-bind, no lost
// connection) and opens only new ones. Its methods are called from the
// start-up path, the reload goroutine and the manager's loop, hence the
// lock, which is held for map operations only: never across a bind or a
// host name lookup, so the loop's release never waits on the network.
type listenerSet struct {
	mu     sync.Mutex
	bySpec map[string][]*sockets.Listener
	// keepPaths is asked at close: true while another master (an upgrade's
	// partner) serves the same unix socket files.
	keepPaths func() bool
	// started is set once the start-up open is done: from then on a new
	// systemd bind cannot be adopted, as systemd passes sockets only at exec.
	started bool
}

func newListenerSet() *listenerSet {
	return &listenerSet{bySpec: map[string][]*sockets.Listener{}, keepPaths: func() bool { return false }}
}

// open gives every pool its listeners, in bind order: the set's own for a
// bind it already has, new ones otherwise. The adoptable files (a previous
// master's, systemd's) are only used at start. On error, what this call
// opened is closed again and the set is unchanged.
//
// The manager releases no listener while a reload is being read, so one
// found here stays open until the reload is applied.
func (s *listenerSet) open(ctx context.Context, pools []*resolvedPool, opts sockets.OpenOptions) error {
	s.mu.Lock()
	have := maps.Clone(s.bySpec)
	started := s.started
	s.mu.Unlock()
	var opened []*sockets.Listener
	fail := func(err error) error {
		for _, l := range opened {
			l.Close()
		}
		return err
	}
	fresh := map[string][]*sockets.Listener{}
	for _, p := range pools {
		var ls []*sockets.Listener
		for _, spec := range p.binds {
			key := spec.String()
			if kept, ok := have[key]; ok {
				ls = append(ls, kept...)
				continue
			}
			// At start, sockets says why none was passed.
			if spec.Kind == sockets.KindSystemd && started {
				return fail(fmt.Errorf("bind %s: systemd sockets are adopted only when pmux starts; restart pmux to add one", key))
			}
			bound, err := sockets.OpenContext(ctx, []sockets.Spec{spec}, opts)
			if err != nil {
				return fail(err)
			}
			opened = append(opened, bound...)
			fresh[key] = bound
			have[key] = bound // a later pool naming the same bind gets it too
			ls = append(ls, bound...)
		}
		p.manager.Listeners = ls
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = true
	for key, ls := range fresh {
		s.bySpec[key] = ls
	}
	return nil
}

// release closes l, which no pool or worker uses any more.
func (s *listenerSet) release(l *sockets.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := l.Spec.String()
	kept := s.bySpec[key][:0]
	for _, x := range s.bySpec[key] {
		if x != l {
			kept = append(kept, x)
		}
	}
	if len(kept) == 0 {
		delete(s.bySpec, key)
	} else {
		s.bySpec[key] = kept
	}
	s.closeOne(l)
}

// closeAll closes every listener, at exit.
func (s *listenerSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, ls := range s.bySpec {
		for _, l := range ls {
			s.closeOne(l)
		}
		delete(s.bySpec, key)
	}
}

func (s *listenerSet) closeOne(l *sockets.Listener) {
	if s.keepPaths() {
		l.CloseKeepPath()
	} else {
		l.Close()
	}
}

// activation is pmux's own socket activation, read once at start.
type activation struct {
	files []sockets.NamedFile
	err   error // reported when the master opens its sockets, not before
}

// readActivation reads pmux's own socket activation and clears its
// variables so they reach no worker. It must run before anything marks
// inherited descriptors close-on-exec: that flag is how ListenFDs tells the
// sockets passed to pmux from files the Go runtime opened itself.
func readActivation() activation {
	files, err := sockets.ListenFDs(os.Getenv, os.Getpid())
	for _, k := range []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
		os.Unsetenv(k)
	}
	return activation{files: files, err: err}
}

// startupOptions are the adoptable files of a start. The returned cleanup
// closes the originals, which Open duplicates.
func startupOptions(inherited map[string]*os.File, act activation) (sockets.OpenOptions, func(), error) {
	if act.err != nil {
		return sockets.OpenOptions{}, func() {}, act.err
	}
	cleanup := func() {
		for _, nf := range act.files {
			nf.File.Close()
		}
	}
	return sockets.OpenOptions{Systemd: act.files, Inherited: inherited}, cleanup, nil
}

// reloadConfig reads the configuration anew for a reload and opens the
// sockets of new binds. Settings of the master itself (pidfile, log,
// worker output, metrics, daemon) keep their start-up values.
func reloadConfig(ctx context.Context, setup masterSetup, listeners *listenerSet) (*manager.Reloaded, error) {
	cfg, err := setup.rebuild()
	if err != nil {
		return nil, err
	}
	if err := validateResolved(cfg); err != nil {
		return nil, err
	}
	_, sigmap, err := resolveSignals(cfg)
	if err != nil {
		return nil, err
	}
	pools, err := setup.resolve(cfg)
	if err != nil {
		return nil, err
	}
	if err := listeners.open(ctx, pools, sockets.OpenOptions{}); err != nil {
		return nil, err
	}
	r := &manager.Reloaded{Signals: sigmap}
	for _, p := range pools {
		r.Pools = append(r.Pools, p.manager)
	}
	return r, nil
}
