package command

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pmux/pmux/config"
)

func envVar(flag string) []string {
	return []string{"PMUX_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

// masterFlags are settings of the master as a whole.
func masterFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, EnvVars: envVar("config"), Usage: "read the pools and settings from the TOML `FILE`"},
		&cli.StringFlag{Name: "signals", EnvVars: envVar("signals"), Value: "unicorn", Usage: "signal `PROFILE`: unicorn, gunicorn, puma, pitchfork"},
		&cli.StringFlag{Name: "pidfile", Aliases: []string{"p"}, EnvVars: envVar("pidfile"), Usage: "write the master's pid to `PATH`"},
		&cli.StringFlag{Name: "log-format", EnvVars: envVar("log-format"), Value: "auto", Usage: "`FORMAT` of pmux's log: auto, console, json"},
		&cli.StringFlag{Name: "log-level", EnvVars: envVar("log-level"), Value: "info", Usage: "`LEVEL`: trace, debug, info, warn, error"},
		&cli.StringFlag{Name: "log-file", EnvVars: envVar("log-file"), Usage: "write pmux's log to `FILE` (reopened on reopen_logs)"},
		&cli.StringFlag{Name: "worker-output", EnvVars: envVar("worker-output"), Value: "prefix", Usage: "worker stdout/stderr: prefix, inherit or a `FILE`"},
		&cli.BoolFlag{Name: "daemon", Aliases: []string{"D"}, EnvVars: envVar("daemon"), Usage: "detach once the master serves"},
		&cli.StringFlag{Name: "metrics", EnvVars: envVar("metrics"), Usage: "serve Prometheus metrics, /readyz and /livez on `ADDR` (loopback unless a host is given)"},
	}
}

// poolFlag is a flag that sets a key of every pool: value reads what was
// given, once, and set applies it to a pool, at start and at each reload.
type poolFlag struct {
	flag  cli.Flag
	value func(c *cli.Context, name string) flagValue
	set   func(p *config.Pool, v flagValue) error
}

// flagValue is what a flag was given: a string, or a list for a
// repeatable flag.
type flagValue struct {
	text string
	list []string
}

func stringFlag(name, usage, value string, set func(p *config.Pool, v string) error, aliases ...string) poolFlag {
	return poolFlag{
		flag:  &cli.StringFlag{Name: name, Aliases: aliases, EnvVars: envVar(name), Value: value, Usage: usage},
		value: func(c *cli.Context, name string) flagValue { return flagValue{text: c.String(name)} },
		set:   func(p *config.Pool, v flagValue) error { return set(p, v.text) },
	}
}

func listFlag(name, usage string, set func(p *config.Pool, v []string) error, aliases ...string) poolFlag {
	return poolFlag{
		flag:  &cli.StringSliceFlag{Name: name, Aliases: aliases, EnvVars: envVar(name), Usage: usage},
		value: func(c *cli.Context, name string) flagValue { return flagValue{list: c.StringSlice(name)} },
		set:   func(p *config.Pool, v flagValue) error { return set(p, v.list) },
	}
}

// givenFlag is a pool flag as it was given on the command line or in a
// PMUX_* variable.
type givenFlag struct {
	name  string
	value flagValue
	set   func(p *config.Pool, v flagValue) error
}

// givenPoolFlags reads which of flags were given, and their values.
func givenPoolFlags(c *cli.Context, flags []poolFlag) []givenFlag {
	var given []givenFlag
	for _, pf := range flags {
		if name := pf.flag.Names()[0]; c.IsSet(name) {
			given = append(given, givenFlag{name: name, value: pf.value(c, name), set: pf.set})
		}
	}
	return given
}

// applyTo sets every given flag on p.
func applyTo(given []givenFlag, p *config.Pool) error {
	for _, g := range given {
		if err := g.set(p, g.value); err != nil {
			return fmt.Errorf("--%s: %w", g.name, err)
		}
	}
	return nil
}

// masterSettings are the master flags a configuration takes from the
// command line, by name.
var masterSettings = map[string]func(cfg *config.Config, v string){
	"pidfile":       func(cfg *config.Config, v string) { cfg.Pidfile = v },
	"signals":       func(cfg *config.Config, v string) { cfg.Signals = v },
	"log-format":    func(cfg *config.Config, v string) { cfg.Log.Format = v },
	"log-level":     func(cfg *config.Config, v string) { cfg.Log.Level = v },
	"log-file":      func(cfg *config.Config, v string) { cfg.Log.File = v },
	"worker-output": func(cfg *config.Config, v string) { cfg.WorkerOutput = v },
	"metrics":       func(cfg *config.Config, v string) { cfg.Metrics = v },
}

// givenMasterSettings reads the master settings of c: those given, or all
// of them (defaults included) when all is set.
func givenMasterSettings(c *cli.Context, all bool) map[string]string {
	given := map[string]string{}
	for name := range masterSettings {
		if all || c.IsSet(name) {
			given[name] = c.String(name)
		}
	}
	return given
}

func applyMasterSettings(given map[string]string, cfg *config.Config) {
	for name, v := range given {
		masterSettings[name](cfg, v)
	}
}

func durationFlag(name, usage, value string, field func(p *config.Pool) *config.Duration) poolFlag {
	return stringFlag(name, usage, value, func(p *config.Pool, v string) error {
		return field(p).UnmarshalText([]byte(v))
	})
}

// poolFlags are the keys of a pool, settable on the command line.
func poolFlags() []poolFlag {
	return []poolFlag{
		listFlag("bind", "`ADDR` to listen on (repeatable): HOST:PORT, unix:PATH, fd://N, systemd[:NAME]",
			func(p *config.Pool, v []string) error { p.Bind = v; return nil }, "b"),
		stringFlag("workers", "worker count `N`, or auto for the CPU count", "1",
			func(p *config.Pool, v string) (err error) { p.Workers, err = config.ParseWorkers(v); return err }, "w"),
		stringFlag("ready", "readiness `MODE`: auto (seen waiting on its socket), notify, delay=DUR, none", "auto with a bind, else none",
			func(p *config.Pool, v string) error { return p.Ready.UnmarshalText([]byte(v)) }),
		durationFlag("boot-timeout", "kill a worker not ready after `DUR`", "60s", func(p *config.Pool) *config.Duration { return &p.BootTimeout }),
		durationFlag("graceful-timeout", "graceful stop: KILL a worker after `DUR`", "30s", func(p *config.Pool) *config.Duration { return &p.GracefulTimeout }),
		durationFlag("quick-timeout", "quick stop: KILL a worker after `DUR`", "5s", func(p *config.Pool) *config.Duration { return &p.QuickTimeout }),
		durationFlag("watchdog", "kill a worker that sends no WATCHDOG=1 for `DUR` (any --ready mode)", "off", func(p *config.Pool) *config.Duration { return &p.Watchdog }),
		durationFlag("timeout", "kill a worker busy in one request (none of its processes waiting on its sockets) for `DUR`", "off", func(p *config.Pool) *config.Duration { return &p.Timeout }),
		durationFlag("max-lifetime", "replace a worker older than `DUR` (with jitter)", "off", func(p *config.Pool) *config.Duration { return &p.MaxLifetime }),
		stringFlag("max-rss", "replace a worker whose resident size passes `SIZE` (512MB, 1GiB)", "off",
			func(p *config.Pool, v string) error { return p.MaxRSS.UnmarshalText([]byte(v)) }),
		stringFlag("stop-signal", "`SIG` a worker gets for a graceful stop", "TERM", func(p *config.Pool, v string) error { p.StopSignal = v; return nil }),
		stringFlag("quick-signal", "`SIG` a worker gets for a quick stop", "INT", func(p *config.Pool, v string) error { p.QuickSignal = v; return nil }),
		listFlag("env", "`K=V` for the workers' environment (repeatable)", func(p *config.Pool, v []string) error {
			if p.Env == nil {
				p.Env = map[string]string{}
			}
			for _, kv := range v {
				k, val, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("%q is not KEY=VALUE: write it as --env NAME=value", kv)
				}
				p.Env[k] = val
			}
			return nil
		}),
		listFlag("env-file", "read the workers' environment from `FILE` (repeatable)", func(p *config.Pool, v []string) error { p.EnvFile = v; return nil }),
		stringFlag("chdir", "workers start in `DIR`", "", func(p *config.Pool, v string) error { p.Chdir = v; return nil }),
		stringFlag("user", "workers run as `USER`", "", func(p *config.Pool, v string) error { p.User = v; return nil }),
		stringFlag("group", "workers run as `GROUP`", "", func(p *config.Pool, v string) error { p.Group = v; return nil }),
		stringFlag("umask", "workers' umask, octal `M`", "", func(p *config.Pool, v string) error { p.Umask = v; return nil }),
		listFlag("watch", "rolling-restart when `PATH` changes (repeatable)", func(p *config.Pool, v []string) error { p.Watch = v; return nil }),
		listFlag("forward", "also forward `SIG` to every worker (repeatable)", func(p *config.Pool, v []string) error { p.Forward = v; return nil }),
		listFlag("compat", "extra fd-passing convention `NAME`: einhorn, server-starter", func(p *config.Pool, v []string) error { p.Compat = v; return nil }),
	}
}

func runFlags() []cli.Flag {
	flags := masterFlags()
	for _, pf := range poolFlags() {
		flags = append(flags, pf.flag)
	}
	return flags
}

// runConfig is the configuration of `run` and `check` as data: the file
// (if any), then what PMUX_* variables and flags gave over it, each
// overriding the last (urfave/cli's IsSet is true for a flag given either
// way). It is read once from the command line; Load applies it anew at
// each reload, to the file as it is then.
type runConfig struct {
	file      string
	master    map[string]string
	daemon    *bool
	command   []string
	bindGiven bool
	pool      []givenFlag
}

func runSource(c *cli.Context) *runConfig {
	rc := &runConfig{
		file:      c.String("config"),
		command:   c.Args().Slice(),
		bindGiven: c.IsSet("bind"),
		pool:      givenPoolFlags(c, poolFlags()),
	}
	rc.master = givenMasterSettings(c, rc.file == "")
	if c.IsSet("daemon") {
		daemon := c.Bool("daemon")
		rc.daemon = &daemon
	}
	return rc
}

// Load reads the file and applies the command line over it.
func (rc *runConfig) Load() (*config.Config, error) {
	cfg := config.Default()
	if rc.file != "" {
		loaded, err := config.Load(rc.file)
		if err != nil {
			return nil, err
		}
		cfg = *loaded
	}
	applyMasterSettings(rc.master, &cfg)
	if rc.daemon != nil {
		cfg.Daemon = *rc.daemon
	}
	if len(rc.command) > 0 {
		if len(cfg.Pools) > 0 {
			return nil, fmt.Errorf("%s defines pools and a command was given after --: put the command in the file, or drop -c", cfg.File)
		}
		p := cfg.PoolDefaults.Clone()
		p.Command = rc.command
		if len(p.Bind) == 0 && !rc.bindGiven {
			p.Bind = []string{config.DefaultBind(os.LookupEnv)}
		}
		cfg.Pools = []config.Pool{p}
	}
	if len(cfg.Pools) == 0 {
		return nil, errors.New("no command given: write it after --, as in pmux run -w 4 -- ruby app.rb, or give a config file with -c")
	}
	for _, g := range rc.pool {
		if (g.name == "bind" || g.name == "workers") && len(cfg.Pools) > 1 {
			return nil, fmt.Errorf("--%s with %d pools in %s: set %s per pool in the file", g.name, len(cfg.Pools), cfg.File, g.name)
		}
	}
	for i := range cfg.Pools {
		if err := applyTo(rc.pool, &cfg.Pools[i]); err != nil {
			return nil, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}
