package master

import (
	"context"
	"os"

	"github.com/pmux/pmux/manager"
	"github.com/pmux/pmux/sockets"
)

// openPools gives every pool its listeners, in bind order, each pool
// counted as one user of them in the master's socket pool: the pool's own
// for a bind it already has, new ones otherwise. The adoptable files (a
// previous master's, systemd's) are only used at start. On error nothing
// is counted and what this call opened is closed again.
func openPools(ctx context.Context, sp *sockets.Pool, pools []*resolvedPool, opts sockets.OpenOptions) error {
	for i, p := range pools {
		ls, err := sp.Acquire(ctx, p.binds, opts)
		if err != nil {
			for _, opened := range pools[:i] {
				sp.Release(opened.manager.Listeners)
			}
			return err
		}
		p.manager.Listeners = ls
	}
	return nil
}

// Activation is pmux's own socket activation, read once at start.
type Activation struct {
	files []sockets.NamedFile
	err   error // reported when the master opens its sockets, not before
}

// ReadActivation reads pmux's own socket activation and clears its
// variables so they reach no worker. It must run before anything marks
// inherited descriptors close-on-exec: that flag is how ListenFDs tells the
// sockets passed to pmux from files the Go runtime opened itself.
func ReadActivation() Activation {
	files, err := sockets.ListenFDs(os.Getenv, os.Getpid())
	for _, k := range []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
		os.Unsetenv(k)
	}
	return Activation{files: files, err: err}
}

// startupOptions are the adoptable files of a start. The returned cleanup
// closes the originals, which Open duplicates.
func startupOptions(inherited map[string]*os.File, act Activation) (sockets.OpenOptions, func(), error) {
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
func reloadConfig(ctx context.Context, setup Setup, sp *sockets.Pool) (*manager.Reloaded, error) {
	cfg, err := setup.Source.Load()
	if err != nil {
		return nil, err
	}
	// Resolved once: the same checks as Validate's, with what they make.
	if err := validateMasterSettings(cfg); err != nil {
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
	if err := openPools(ctx, sp, pools, sockets.OpenOptions{}); err != nil {
		return nil, err
	}
	r := &manager.Reloaded{Signals: sigmap}
	for _, p := range pools {
		r.Pools = append(r.Pools, p.manager)
	}
	return r, nil
}
