package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"

	"github.com/pmux/pmux/config"
	"github.com/pmux/pmux/logs"
	"github.com/pmux/pmux/manager"
	"github.com/pmux/pmux/pidfile"
	"github.com/pmux/pmux/signalmap"
	"github.com/pmux/pmux/sockets"
	"github.com/pmux/pmux/spawn"
)

func envVar(flag string) []string {
	return []string{"PMUX_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

func runFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "bind", Aliases: []string{"b"}, EnvVars: envVar("bind"), Usage: "`ADDR` to listen on (repeatable): HOST:PORT, unix:PATH, fd://N, systemd[:NAME]"},
		&cli.StringFlag{Name: "workers", Aliases: []string{"w"}, EnvVars: envVar("workers"), Value: "1", Usage: "worker count `N`, or auto for the CPU count"},
		&cli.StringFlag{Name: "signals", EnvVars: envVar("signals"), Value: "unicorn", Usage: "signal `PROFILE`: unicorn, gunicorn, puma, pitchfork"},
		&cli.StringFlag{Name: "pidfile", Aliases: []string{"p"}, EnvVars: envVar("pidfile"), Usage: "write the master's pid to `PATH`"},
		&cli.DurationFlag{Name: "graceful-timeout", EnvVars: envVar("graceful-timeout"), Value: 30 * time.Second, Usage: "graceful stop: KILL a worker after `DUR`"},
		&cli.DurationFlag{Name: "quick-timeout", EnvVars: envVar("quick-timeout"), Value: 5 * time.Second, Usage: "quick stop: KILL a worker after `DUR`"},
		&cli.StringFlag{Name: "stop-signal", EnvVars: envVar("stop-signal"), Value: "TERM", Usage: "`SIG` a worker gets for a graceful stop"},
		&cli.StringFlag{Name: "quick-signal", EnvVars: envVar("quick-signal"), Value: "INT", Usage: "`SIG` a worker gets for a quick stop"},
		&cli.StringFlag{Name: "ready", EnvVars: envVar("ready"), Value: "none", Usage: "readiness `MODE`: none, notify, delay=DUR"},
		&cli.DurationFlag{Name: "boot-timeout", EnvVars: envVar("boot-timeout"), Value: 60 * time.Second, Usage: "kill a worker not ready after `DUR`"},
		&cli.DurationFlag{Name: "watchdog", EnvVars: envVar("watchdog"), Usage: "kill a worker silent for `DUR` (it sends WATCHDOG=1)"},
		&cli.DurationFlag{Name: "max-lifetime", EnvVars: envVar("max-lifetime"), Usage: "replace a worker older than `DUR` (with jitter)"},
		&cli.StringSliceFlag{Name: "env", EnvVars: envVar("env"), Usage: "`K=V` for the workers' environment (repeatable)"},
		&cli.StringSliceFlag{Name: "env-file", EnvVars: envVar("env-file"), Usage: "read the workers' environment from `FILE` (repeatable)"},
		&cli.StringFlag{Name: "chdir", EnvVars: envVar("chdir"), Usage: "workers start in `DIR`"},
		&cli.StringFlag{Name: "user", EnvVars: envVar("user"), Usage: "workers run as `USER`"},
		&cli.StringFlag{Name: "group", EnvVars: envVar("group"), Usage: "workers run as `GROUP`"},
		&cli.StringFlag{Name: "umask", EnvVars: envVar("umask"), Usage: "workers' umask, octal `M`"},
		&cli.StringFlag{Name: "log-format", EnvVars: envVar("log-format"), Value: "auto", Usage: "`FORMAT` of pmux's log: auto, console, json"},
		&cli.StringFlag{Name: "log-level", EnvVars: envVar("log-level"), Value: "info", Usage: "`LEVEL`: trace, debug, info, warn, error"},
		&cli.StringFlag{Name: "log-file", EnvVars: envVar("log-file"), Usage: "write pmux's log to `FILE` (reopened on reopen_logs)"},
		&cli.StringFlag{Name: "worker-output", EnvVars: envVar("worker-output"), Value: "prefix", Usage: "worker stdout/stderr: prefix, inherit or a `FILE`"},
		&cli.StringSliceFlag{Name: "forward", EnvVars: envVar("forward"), Usage: "also forward `SIG` to every worker (repeatable)"},
		&cli.StringFlag{Name: "metrics", EnvVars: envVar("metrics"), Usage: "serve Prometheus metrics, /readyz and /livez on `ADDR` (loopback unless a host is given)"},
		&cli.StringSliceFlag{Name: "compat", EnvVars: envVar("compat"), Usage: "extra fd-passing convention `NAME`: einhorn, server-starter"},
	}
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a pool of workers",
		ArgsUsage: "-- CMD [ARG...]",
		Flags:     runFlags(),
		Action:    runAction,
	}
}

func runAction(c *cli.Context) error {
	// Signals first: from here on, one sent while pmux starts is queued,
	// not fatal. The channel is buffered; a storm may be coalesced, which
	// SPEC §4 allows.
	signals := make(chan os.Signal, 64)
	for _, sig := range signalmap.For(signalmap.Unicorn).Signals() {
		signal.Notify(signals, sig)
	}
	children := make(chan os.Signal, 1)
	signal.Notify(children, syscall.SIGCHLD)

	startPath, startDir = resolveStart()
	if err := spawn.CloseOnExecFrom(3); err != nil {
		return runtimeError(err)
	}
	cfg, err := configFromFlags(c)
	if err != nil {
		return usageError(err)
	}
	return serve(cfg, signals, children)
}

// configFromFlags builds the single pool of `pmux run -- CMD`.
func configFromFlags(c *cli.Context) (*config.Config, error) {
	if c.NArg() == 0 {
		return nil, errors.New("run: no command given: write it after --, as in pmux run -w 4 -- ruby app.rb")
	}
	cfg := config.Default()
	cfg.Pidfile = c.String("pidfile")
	cfg.Signals = c.String("signals")
	cfg.Log = config.Log{Format: c.String("log-format"), Level: c.String("log-level"), File: c.String("log-file")}
	cfg.WorkerOutput = c.String("worker-output")
	cfg.Metrics = c.String("metrics")

	p := config.DefaultPool()
	p.Name = "web"
	p.Command = c.Args().Slice()
	workers, err := parseWorkers(c.String("workers"))
	if err != nil {
		return nil, err
	}
	p.Workers = workers
	p.Bind = c.StringSlice("bind")
	if len(p.Bind) == 0 {
		p.Bind = []string{defaultBind()}
	}
	if err := p.Ready.UnmarshalText([]byte(c.String("ready"))); err != nil {
		return nil, fmt.Errorf("--ready %q: %w", c.String("ready"), err)
	}
	p.BootTimeout = config.Duration(c.Duration("boot-timeout"))
	p.GracefulTimeout = config.Duration(c.Duration("graceful-timeout"))
	p.QuickTimeout = config.Duration(c.Duration("quick-timeout"))
	p.Watchdog = config.Duration(c.Duration("watchdog"))
	p.MaxLifetime = config.Duration(c.Duration("max-lifetime"))
	p.StopSignal = c.String("stop-signal")
	p.QuickSignal = c.String("quick-signal")
	p.EnvFile = c.StringSlice("env-file")
	p.Env = make(map[string]string)
	for _, kv := range c.StringSlice("env") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--env %q: not KEY=VALUE: write it as --env NAME=value", kv)
		}
		p.Env[k] = v
	}
	p.Chdir = c.String("chdir")
	p.User = c.String("user")
	p.Group = c.String("group")
	p.Umask = c.String("umask")
	p.Forward = c.StringSlice("forward")
	p.Compat = c.StringSlice("compat")
	cfg.Pools = []config.Pool{p}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func parseWorkers(s string) (int, error) {
	if s == "auto" {
		return runtime.NumCPU(), nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 1024 {
		return 0, fmt.Errorf("--workers %q: not a count from 0 to 1024: give a number, or auto for the CPU count", s)
	}
	return n, nil
}

func defaultBind() string {
	if port := os.Getenv("PORT"); port != "" {
		return "0.0.0.0:" + port
	}
	return "127.0.0.1:8000"
}

// serve starts the master for cfg and runs it until it stops. Whatever it
// opened is released on every path out: no socket file, pidfile or worker
// is left behind by a failed start.
func serve(cfg *config.Config, signals, children chan os.Signal) (err error) {
	if err := logs.ValidateOptions(logs.Options(cfg.Log)); err != nil {
		return usageError(err)
	}
	profile, err := signalmap.ParseProfile(cfg.Signals)
	if err != nil {
		return usageError(err)
	}
	sigmap, err := signalmap.For(profile).With(cfg.SignalOverrides)
	if err != nil {
		return usageError(err)
	}
	log, logFile, err := logs.New(logs.Options(cfg.Log), os.Stderr)
	if err != nil {
		return runtimeError(err)
	}
	if logFile != nil {
		defer logFile.Close()
	}
	// Two masters share one log during an upgrade: every line names its own.
	log = log.With().Int("master", os.Getpid()).Logger()
	log.Info().Str("event", "master_starting").Str("version", version).Msg("pmux starting")

	pools, err := resolvePools(cfg)
	if err != nil {
		return err
	}

	handover, err := takeUpgradeHandover()
	if err != nil {
		return runtimeError(err)
	}
	listeners, err := openListeners(pools, handover.files)
	handover.close()
	if err != nil {
		return runtimeError(err)
	}
	// Set once the manager exists: a master whose partner in an upgrade
	// still serves must leave the unix socket files in place.
	var mgr *manager.Manager
	defer func() {
		for _, l := range listeners {
			if mgr != nil && mgr.HandedOff() {
				l.CloseKeepPath()
			} else {
				l.Close()
			}
		}
	}()
	for _, l := range listeners {
		log.Info().Str("event", "listening").Str("addr", l.Addr()).Str("bind", l.Spec.String()).Bool("inherited", l.Inherited).Msg("listening")
	}

	pid := os.Getpid()
	style := manager.OldbinStyle
	if profile == signalmap.Gunicorn {
		style = manager.NextStyle
	}
	if cfg.Pidfile != "" {
		path := cfg.Pidfile
		if handover.parent != 0 && style == manager.NextStyle {
			path = pidfile.Next(cfg.Pidfile)
		}
		stale, err := pidfile.Acquire(path, pid)
		if err != nil {
			return runtimeError(err)
		}
		if stale != 0 {
			log.Warn().Str("event", "pidfile_stale").Str("path", path).Int("pid", stale).Msg("replaced a stale pidfile")
		}
		defer pidfile.Remove(cfg.Pidfile, pid)
		defer pidfile.Remove(pidfile.Next(cfg.Pidfile), pid)
	}
	upgrade := &manager.UpgradeOptions{
		Path: startPath, Args: os.Args, Dir: startDir,
		Listeners: listeners, Pidfile: cfg.Pidfile, Style: style,
		Parent: handover.parent,
	}
	if handover.parent != 0 {
		exited, watch, err := spawn.WatchExit(handover.parent)
		if err != nil {
			log.Warn().Str("event", "parent_watch_failed").Err(err).Msg("will not notice when the old master leaves")
		} else {
			defer watch.Close()
			upgrade.ParentExited = exited
		}
	}

	output, outputFile, err := workerOutput(cfg.WorkerOutput)
	if err != nil {
		return runtimeError(err)
	}
	if outputFile != nil {
		defer outputFile.Close()
	}

	opts := manager.Options{
		Log:                log,
		Signals:            sigmap,
		MasterPID:          pid,
		ChildExited:        children,
		Supervisor:         manager.SupervisorNotifier(os.Getenv("NOTIFY_SOCKET")),
		Output:             output,
		ReopenLogs:         reopener(logFile, outputFile),
		Upgrade:            upgrade,
		StopWorkersAllowed: !isatty.IsTerminal(os.Stdin.Fd()),
	}
	for _, p := range pools {
		opts.Pools = append(opts.Pools, p.manager)
	}
	if needsNotify(opts.Pools) {
		ns, err := manager.ListenNotify()
		if err != nil {
			return runtimeError(err)
		}
		defer ns.Close()
		opts.Notify, opts.NotifySocket = ns.Messages(), ns.Addr()
	}

	if err := spawn.SetSubreaper(); err != nil && !errors.Is(err, spawn.ErrNotSupported) {
		log.Warn().Str("event", "subreaper_failed").Err(err).Msg("orphaned grandchildren will not be reaped by pmux")
	}
	spawner, err := spawn.New()
	if err != nil {
		return runtimeError(err)
	}
	defer spawner.Close()
	opts.Spawner = spawner

	control, err := newControlPlane(cfg, log)
	if err != nil {
		return runtimeError(err)
	}
	opts.Observer = control.Observer()
	mgr = manager.New(opts)
	if err := control.Start(mgr); err != nil {
		return runtimeError(err)
	}
	defer control.Stop()
	return mgr.Run(context.Background(), signals)
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
// to a file of its own, that file.
func workerOutput(mode string) (*logs.Sink, *logs.File, error) {
	switch mode {
	case "inherit":
		return nil, nil, nil
	case "prefix", "":
		return logs.NewSink(os.Stdout), nil, nil
	}
	f, err := logs.OpenFile(mode)
	if err != nil {
		return nil, nil, fmt.Errorf("--worker-output %s: %w", mode, err)
	}
	return logs.NewSink(f), f, nil
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

// openListeners binds or adopts every pool's sockets, each pool's in bind
// order, and hands them to the pools.
func openListeners(pools []*resolvedPool, inherited map[string]*os.File) ([]*sockets.Listener, error) {
	systemd, err := sockets.ListenFDs(os.Getenv, os.Getpid())
	if err != nil {
		return nil, err
	}
	// Open works on duplicates; the originals are ours to close.
	defer func() {
		for _, nf := range systemd {
			nf.File.Close()
		}
	}()
	// pmux's own activation variables are consumed here, never passed on.
	for _, k := range []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
		os.Unsetenv(k)
	}
	var all []*sockets.Listener
	for _, p := range pools {
		ls, err := sockets.Open(p.binds, sockets.OpenOptions{Systemd: systemd, Inherited: inherited})
		if err != nil {
			for _, l := range all {
				l.Close()
			}
			return nil, err
		}
		p.manager.Listeners = ls
		all = append(all, ls...)
	}
	return all, nil
}
