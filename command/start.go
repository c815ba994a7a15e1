package command

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/pmux/pmux/config"
	"github.com/pmux/pmux/logs"
	"github.com/pmux/pmux/master"
	"github.com/pmux/pmux/signalmap"
)

// startCommand is Procfile mode, as foreman and honcho run it.
func startCommand(signals Signals) *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "procfile", Aliases: []string{"f"}, Value: "Procfile", Usage: "run the process types of the Procfile `FILE`"},
		&cli.StringFlag{Name: "formation", Aliases: []string{"m"}, Value: "all=1", Usage: "workers per process type, the `FORMATION`: web=2,jobs=1 or all=N"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "`FILE`s of environment for every process (default .env when present)"},
		&cli.IntFlag{Name: "port", Aliases: []string{"p"}, Usage: "base `PORT`: web gets it, each later type 100 more (default $PORT or 5000)"},
		&cli.StringFlag{Name: "bind", Aliases: []string{"b"}, Usage: "`ADDR` for the web type instead of 0.0.0.0:PORT"},
	}
	for _, f := range masterFlags() {
		switch f.Names()[0] {
		case "config", "pidfile":
		default:
			flags = append(flags, f)
		}
	}
	flags = append(flags, &cli.StringFlag{Name: "pidfile", EnvVars: envVar("pidfile"), Usage: "write the master's pid to `PATH`"})
	for _, pf := range startPoolFlags() {
		flags = append(flags, pf.flag)
	}
	return &cli.Command{
		Name:   "start",
		Usage:  "run every process type of a Procfile, each as a pool (foreman compatible)",
		Flags:  flags,
		Action: func(c *cli.Context) error { return startAction(c, signals) },
	}
}

func startAction(c *cli.Context, signals Signals) error {
	return bootMaster(signals, procfileSource(c), func(setup *master.Setup) {
		width := 0
		for _, p := range setup.Config.Pools {
			width = max(width, utf8.RuneCountInString(p.Name)+1+len(strconv.Itoa(p.Workers)))
		}
		color := logs.IsTerminal(os.Stdout)
		setup.Prefix = func(pool string) func(slot, pid int) string {
			return func(slot, _ int) string { return logs.ProcfilePrefix(pool, slot+1, color, width) }
		}
		setup.Escalate = true
	})
}

// procfileConfig is Procfile mode's configuration as data, read once from
// the command line; Load turns the Procfile, as it is then, into pools: one
// per process type, run through the shell as foreman does, web given the
// bound socket.
type procfileConfig struct {
	path      string
	formation string
	envFiles  []string // given with -e; else .env, when present at Load
	port      int
	portGiven bool
	bind      string
	master    map[string]string
	pool      []givenFlag
}

func procfileSource(c *cli.Context) *procfileConfig {
	return &procfileConfig{
		path:      c.String("procfile"),
		formation: c.String("formation"),
		envFiles:  c.StringSlice("env"),
		port:      c.Int("port"),
		portGiven: c.IsSet("port"),
		bind:      c.String("bind"),
		master:    givenMasterSettings(c, true),
		pool:      givenPoolFlags(c, startPoolFlags()),
	}
}

// Load reads the Procfile and builds its pools.
func (pc *procfileConfig) Load() (*config.Config, error) {
	data, err := os.ReadFile(pc.path)
	if err != nil {
		return nil, fmt.Errorf("read Procfile %s: %w (give another with -f)", pc.path, master.PathCause(err))
	}
	entries, err := config.ParseProcfile(pc.path, data)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("procfile %s: no process types: write lines like web: bundle exec puma", pc.path)
	}
	formation, err := config.ParseFormation(pc.formation)
	if err != nil {
		return nil, err
	}
	for name := range formation {
		if name != config.FormationAll && !hasEntry(entries, name) {
			return nil, fmt.Errorf("--formation %s: no process type %q in %s", pc.formation, name, pc.path)
		}
	}
	envFiles := pc.envFiles
	if len(envFiles) == 0 {
		if _, err := os.Stat(".env"); err == nil {
			envFiles = []string{".env"}
		}
	}
	port := pc.port
	if !pc.portGiven {
		port = 5000
		if p, err := strconv.Atoi(os.Getenv("PORT")); err == nil {
			port = p
		}
	}

	cfg := config.Default()
	cfg.File, _ = filepath.Abs(pc.path)
	applyMasterSettings(pc.master, &cfg)
	// Ctrl-C (INT) and TERM stop gently first, as foreman does; a second
	// one hurries the stop.
	cfg.SignalOverrides = map[string]string{"INT": string(signalmap.GracefulStop), "TERM": string(signalmap.GracefulStop)}
	for i, e := range entries {
		p := cfg.PoolDefaults.Clone()
		p.Name = e.Name
		p.Command = []string{"/bin/sh", "-c", shellCommand(e.Command)}
		p.Workers = 1
		if n, ok := formation[config.FormationAll]; ok {
			p.Workers = n
		}
		if n, ok := formation[e.Name]; ok {
			p.Workers = n
		}
		p.EnvFile = envFiles
		// foreman's convention: each type's PORT is 100 above the last.
		p.Env = map[string]string{"PORT": strconv.Itoa(port + 100*i)}
		if e.Name == "web" {
			bind := pc.bind
			if bind == "" {
				bind = "0.0.0.0:" + strconv.Itoa(port)
			}
			p.Bind = []string{bind}
		}
		given := pc.pool
		if len(p.Bind) == 0 {
			// --timeout is about the socket: the web type's alone.
			given = slices.DeleteFunc(slices.Clone(given), func(g givenFlag) bool { return g.name == "timeout" })
		}
		if err := applyTo(given, &p); err != nil {
			return nil, err
		}
		cfg.Pools = append(cfg.Pools, p)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// startPoolFlags are run's pool flags less those Procfile mode replaces
// with foreman's own (-m, -e, -p, and the web type's bind).
func startPoolFlags() []poolFlag {
	var out []poolFlag
	for _, pf := range poolFlags() {
		switch pf.flag.Names()[0] {
		case "bind", "workers", "env", "env-file":
		default:
			out = append(out, pf)
		}
	}
	return out
}

func hasEntry(entries []config.ProcfileEntry, name string) bool {
	for _, e := range entries {
		if e.Name == name {
			return true
		}
	}
	return false
}

// shellCommand runs a Procfile command through sh as foreman does, with
// exec when it is a single command, so the process pmux supervises (and
// whose pid LISTEN_PID names) is the server itself, not a shell.
func shellCommand(cmd string) string {
	if strings.ContainsAny(cmd, ";&|\n()`") || strings.HasPrefix(strings.TrimSpace(cmd), "exec ") {
		return cmd
	}
	return "exec " + cmd
}
