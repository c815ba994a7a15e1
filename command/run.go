package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/pmux/pmux/config"
	"github.com/pmux/pmux/detach"
	"github.com/pmux/pmux/handover"
	"github.com/pmux/pmux/internal/fault"
	"github.com/pmux/pmux/internal/sdnotify"
	"github.com/pmux/pmux/logs"
	"github.com/pmux/pmux/manager"
	"github.com/pmux/pmux/signalmap"
	"github.com/pmux/pmux/spawn"
)

func runCommand(signals Signals) *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a pool of workers",
		ArgsUsage: "-- CMD [ARG...]",
		Flags:     runFlags(),
		Action: func(c *cli.Context) error {
			return bootMaster(signals, func() (*config.Config, error) { return buildConfig(c) }, func(setup *masterSetup) {})
		},
	}
}

// Signals are the channels main registered a master's signals on, first
// thing, so one sent while pmux starts is queued, not fatal (a storm may be
// coalesced, which the signal table allows).
type Signals struct {
	Actions chan os.Signal // every signal the signal table maps
	// Children has SIGCHLD alone, so a storm of the others never crowds
	// out a reap.
	Children chan os.Signal
}

// bootMaster is the beginning shared by run and start: the configuration,
// then serve.
func bootMaster(signals Signals, build func() (*config.Config, error), adjust func(*masterSetup)) (err error) {
	origin := handover.StartedFrom()
	act := readActivation()
	// A daemonized master that fails to start tells its launcher why.
	daemon := detach.Take()
	defer func() {
		if err != nil {
			daemon.Failed(describe(err))
		}
	}()
	if err := spawn.CloseOnExecFrom(3); err != nil {
		return fault.OfMachine(err)
	}
	cfg, err := build()
	if err != nil {
		return err // unmarked: a usage error, unless it says otherwise
	}
	setup := masterSetup{cfg: cfg, rebuild: build, activation: act, origin: origin, daemon: daemon}
	adjust(&setup)
	return serve(setup, signals.Actions, signals.Children)
}

// serve starts the master for cfg and runs it until it stops. Whatever it
// opened is released on every path out: no socket file, pidfile or worker
// is left behind by a failed start.
// masterSetup is what a master is started from.
type masterSetup struct {
	cfg     *config.Config
	rebuild func() (*config.Config, error) // reads the configuration anew, for reloads
	// prefix tags a pool's worker output; nil uses the default tags.
	prefix func(pool string) func(slot, pid int) string
	// escalate: a second graceful stop signal hurries the stop (Procfile
	// mode's Ctrl-C twice).
	escalate bool
	// activation: the sockets pmux was passed by systemd, read first thing.
	activation activation
	// origin: where this master was started from, which an upgrade runs again.
	origin handover.Origin
	// daemon: the launcher's pipe when this master was started by -D, else nil.
	daemon *detach.Pipe
}

// resolve turns cfg's pools into what the manager runs.
func (setup masterSetup) resolve(cfg *config.Config) ([]*resolvedPool, error) {
	pools, err := resolvePools(cfg)
	if err != nil {
		return nil, err
	}
	if setup.prefix != nil {
		for _, p := range pools {
			p.manager.Prefix = setup.prefix(p.manager.Name)
		}
	}
	return pools, nil
}

func serve(setup masterSetup, signals, children chan os.Signal) (err error) {
	cfg := setup.cfg
	if cfg.Daemon && setup.daemon == nil && !handover.Pending() {
		return launchDaemon(cfg)
	}
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
	listeners := newListenerSet()
	openOpts, closeAdopted, err := startupOptions(inherited.Files, setup.activation)
	if err == nil {
		err = listeners.open(context.Background(), pools, openOpts)
	}
	closeAdopted()
	inherited.Close()
	if err != nil {
		return fault.OfMachine(err)
	}
	// Set once the manager exists: a master whose partner in an upgrade
	// still serves must leave the unix socket files in place.
	var mgr *manager.Manager
	listeners.keepPaths = func() bool { return mgr != nil && mgr.HandedOff() }
	defer listeners.closeAll()

	pid := os.Getpid()
	upgrades := &handover.Master{Origin: setup.origin, PID: pid, Pidfile: cfg.Pidfile, Style: handover.Oldbin}
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
	log.Info().Str("event", "master_starting").Str("version", pmuxVersion()).Msg("pmux starting")
	for _, p := range pools {
		for _, l := range p.manager.Listeners {
			log.Info().Str("event", "listening").Str("pool", p.manager.Name).Str("addr", l.Addr()).
				Str("bind", l.Spec.String()).Bool("inherited", l.Inherited).Msg("listening")
		}
	}
	upgrade := &manager.UpgradeOptions{
		Handover: upgrades,
		Binary:   setup.origin.Path, Args: setup.origin.Args, Dir: setup.origin.Dir,
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
		ReleaseListener:      listeners.release,
		StopWorkersAllowed:   !logs.IsTerminal(os.Stdin),
		EscalateRepeatedStop: setup.escalate,
	}
	for _, p := range pools {
		opts.Pools = append(opts.Pools, p.manager)
	}
	opts.Supervisor = setup.daemon.Supervisor(opts.Supervisor)
	if cfg.File != "" {
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
