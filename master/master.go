package master

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/pmux/pmux/config"
	"github.com/pmux/pmux/detach"
	"github.com/pmux/pmux/handover"
	"github.com/pmux/pmux/internal/fault"
	"github.com/pmux/pmux/internal/sdnotify"
	"github.com/pmux/pmux/logs"
	"github.com/pmux/pmux/manager"
	"github.com/pmux/pmux/signalmap"
	"github.com/pmux/pmux/sockets"
	"github.com/pmux/pmux/spawn"
	"github.com/rs/zerolog"
)

// Setup is what a master is started from.
type Setup struct {
	// Config is the configuration read at start; Source reads it anew at
	// each reload.
	Config *config.Config
	Source Source
	// Prefix tags a pool's worker output; nil uses the default tags.
	Prefix func(pool string) func(slot, pid int) string
	// Escalate: a second graceful stop signal hurries the stop (Procfile
	// mode's Ctrl-C twice).
	Escalate bool
	// Activation: the sockets pmux was passed by systemd, read first thing.
	Activation Activation
	// Origin: where this master was started from, which an upgrade runs again.
	Origin handover.Origin
	// Daemon: the launcher's pipe when this master was started by -D, else nil.
	Daemon *detach.Pipe
	// Version is what the master logs it runs.
	Version string
}

// Source is where a master's configuration comes from, as data: Load reads
// and validates it, at start and again at each reload, off the manager's
// loop.
type Source interface {
	Load() (*config.Config, error)
}

// resolve turns cfg's pools into what the manager runs.
func (setup Setup) resolve(cfg *config.Config) ([]*resolvedPool, error) {
	pools, err := resolvePools(cfg)
	if err != nil {
		return nil, err
	}
	if setup.Prefix != nil {
		for _, p := range pools {
			p.manager.Prefix = setup.Prefix(p.manager.Name)
		}
	}
	return pools, nil
}

// Run starts the master for setup and runs it until it stops. Whatever it
// opened is released on every path out: no socket file, pidfile or worker
// is left behind by a failed start.
func Run(setup Setup, signals, children chan os.Signal) (err error) {
	cfg := setup.Config
	if err := validateMasterSettings(cfg); err != nil {
		return fault.OfInput(err)
	}
	profile, sigmap, err := resolveSignals(cfg)
	if err != nil {
		return fault.OfInput(err)
	}
	log, logFile, err := logs.New(logs.Options(cfg.Log), os.Stderr)
	if err != nil {
		return fault.OfMachine(err)
	}
	if logFile != nil {
		defer logFile.Close()
	}
	// Two masters share one log during an upgrade: every line names its own.
	log = log.With().Int("master", os.Getpid()).Logger()

	pools, err := setup.resolve(cfg)
	if err != nil {
		return err
	}

	inherited, err := handover.Take()
	if err != nil {
		return fault.OfMachine(err)
	}
	// A master whose partner in an upgrade still serves must leave the
	// unix socket files in place; mgr is set once the manager exists.
	var mgr *manager.Manager
	listeners := sockets.NewPool(func() bool { return mgr != nil && mgr.HandedOff() })
	openOpts, closeAdopted, err := startupOptions(inherited.Files, setup.Activation)
	if err == nil {
		err = openPools(context.Background(), listeners, pools, openOpts)
	}
	closeAdopted()
	inherited.Close()
	if err != nil {
		return fault.OfMachine(err)
	}
	listeners.Started()
	defer listeners.Close()

	pid := os.Getpid()
	upgrades := &handover.Master{Origin: setup.Origin, PID: pid, Pidfile: cfg.Pidfile, Style: handover.Oldbin}
	if profile == signalmap.Gunicorn {
		upgrades.Style = handover.Next
	}
	stale, releasePidfile, err := upgrades.ClaimPidfile(inherited.Parent)
	if err != nil {
		return fault.OfMachine(err)
	}
	defer releasePidfile()
	if stale != 0 {
		log.Warn().Str("event", "pidfile_stale").Str("path", cfg.Pidfile).Int("pid", stale).Msg("replaced a stale pidfile")
	}
	// Logged once nothing can fail any more, so a failed start prints one
	// line: its error.
	log.Info().Str("event", "master_starting").Str("version", setup.Version).Msg("pmux starting")
	for _, p := range pools {
		for _, l := range p.manager.Listeners {
			log.Info().Str("event", "listening").Str("pool", p.manager.Name).Str("addr", l.Addr()).
				Str("bind", l.Spec.String()).Bool("inherited", l.Inherited).Msg("listening")
		}
	}
	upgrade := &manager.UpgradeOptions{
		Handover: upgrades,
		Binary:   setup.Origin.Path, Args: setup.Origin.Args, Dir: setup.Origin.Dir,
		Parent: inherited.Parent,
	}
	if inherited.Parent != 0 {
		exited, watch, err := spawn.WatchExit(inherited.Parent)
		if err != nil {
			log.Warn().Str("event", "parent_watch_failed").Err(err).Msg("will not notice when the old master leaves")
		} else {
			defer watch.Close()
			upgrade.ParentExited = exited
		}
	}

	control, err := newControlPlane(cfg, log)
	if err != nil {
		return fault.OfMachine(err)
	}
	output, outputFile, err := workerOutput(cfg.WorkerOutput, log, control.OutputDropped())
	if err != nil {
		return fault.OfMachine(err)
	}
	if outputFile != nil {
		defer outputFile.Close()
	}

	// Closed after the manager returns: it flushes the last states (an old
	// master's MAINPID=) before this process exits, within a bound.
	supervisor := sdnotify.NewNotifier(os.Getenv("NOTIFY_SOCKET"), log)
	defer supervisor.Close()
	opts := manager.Options{
		Log:                  log,
		Signals:              sigmap,
		MasterPID:            pid,
		ChildExited:          children,
		Supervisor:           supervisor.Func(),
		SupervisorWatchdog:   sdnotify.WatchdogPeriod(os.Getenv, os.Getpid(), os.Getppid()),
		Output:               output,
		ReopenLogs:           reopener(logFile, outputFile),
		Upgrade:              upgrade,
		Listeners:            listeners,
		StopWorkersAllowed:   !logs.IsTerminal(os.Stdin),
		EscalateRepeatedStop: setup.Escalate,
	}
	for _, p := range pools {
		opts.Pools = append(opts.Pools, p.manager)
	}
	opts.Supervisor = setup.Daemon.Supervisor(opts.Supervisor)
	if cfg.File != "" && setup.Source != nil {
		opts.Reload = func(ctx context.Context) (*manager.Reloaded, error) { return reloadConfig(ctx, setup, listeners) }
	}
	if needsNotify(opts.Pools) {
		ns, err := sdnotify.Listen()
		if err != nil {
			return fault.OfMachine(err)
		}
		defer ns.Close()
		opts.Notify, opts.NotifySocket = ns.Messages(), ns.Addr()
	}

	if err := spawn.SetSubreaper(); err != nil && !errors.Is(err, spawn.ErrNotSupported) {
		log.Warn().Str("event", "subreaper_failed").Err(err).Msg("orphaned grandchildren will not be reaped by pmux")
	}
	spawner, err := spawn.New()
	if err != nil {
		return fault.OfMachine(err)
	}
	defer spawner.Close()
	opts.Spawner = spawner
	startGuard(spawner, log)
	// Before Close: what a wrapper left still draining gets the workers' time.
	defer spawner.ReleaseGuard(longestGrace(opts.Pools))

	opts.Observer = control.Observer()
	mgr = manager.New(opts)
	if err := control.Start(mgr); err != nil {
		return fault.OfMachine(err)
	}
	defer control.Stop()
	stopWatching, err := watchPools(cfg, mgr)
	if err != nil {
		return fault.OfMachine(err)
	}
	defer stopWatching()
	trimResidentBinary()
	if err := mgr.Run(context.Background(), signals); err != nil {
		return fault.OfMachine(err)
	}
	return nil
}

// startGuard starts the process that kills what this master started once
// it is gone, even by SIGKILL. Without one pmux still runs: only what a
// wrapper forks may then outlive a master killed with SIGKILL.
func startGuard(spawner *spawn.Spawner, log zerolog.Logger) {
	pid, err := spawner.StartGuard(func(e spawn.Exit) {
		log.Warn().Str("event", "guard_exited").Int("pid", e.Pid).Str("status", e.Describe()).
			Msg("the guard is gone: if this master is now killed with SIGKILL, what a worker's wrapper forked may outlive it; restart pmux to get one again")
	})
	switch {
	case err == nil:
		log.Debug().Str("event", "guard_started").Int("pid", pid).Msg("guard started")
	case !errors.Is(err, spawn.ErrNotSupported):
		log.Warn().Str("event", "guard_failed").Err(err).Msg("what a worker's wrapper forks may outlive a master killed with SIGKILL")
	}
}

// longestGrace is the longest a worker of pools may take to stop gracefully.
func longestGrace(pools []manager.PoolConfig) time.Duration {
	var d time.Duration
	for _, p := range pools {
		d = max(d, p.GracefulTimeout)
	}
	return d
}

func needsNotify(pools []manager.PoolConfig) bool {
	for _, p := range pools {
		if p.Ready == manager.ReadyNotify || p.Watchdog > 0 {
			return true
		}
	}
	return false
}

// workerOutput returns the sink for worker output and, when pmux writes it
// to a file of its own, that file. Output the destination refuses is
// warned about on log and counted by dropped (nil: not counted).
func workerOutput(mode string, log zerolog.Logger, dropped func(pool string, n int)) (*logs.Sink, *logs.File, error) {
	opts := logs.SinkOptions{Name: "stdout", Log: log, Dropped: dropped}
	switch mode {
	case "inherit":
		return nil, nil, nil
	case "prefix", "":
		return logs.NewSink(os.Stdout, opts), nil, nil
	}
	f, err := logs.OpenFile(mode)
	if err != nil {
		return nil, nil, fmt.Errorf("--worker-output %s: %w", mode, err)
	}
	opts.Name = f.Path()
	return logs.NewSink(f, opts), f, nil
}

// reopener reopens every file pmux owns, or is nil when it owns none.
func reopener(files ...*logs.File) func() error {
	var owned []*logs.File
	for _, f := range files {
		if f != nil {
			owned = append(owned, f)
		}
	}
	if len(owned) == 0 {
		return nil
	}
	return func() error {
		var errs []error
		for _, f := range owned {
			errs = append(errs, f.Reopen())
		}
		return errors.Join(errs...)
	}
}
