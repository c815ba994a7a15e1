package command

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/pmux/pmux/config"
	"github.com/pmux/pmux/logs"
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
	return bootMaster(signals, func() (*config.Config, error) { return procfileConfig(c) }, func(setup *masterSetup) {
		width := 0
		for _, p := range setup.cfg.Pools {
			width = max(width, utf8.RuneCountInString(p.Name)+1+len(strconv.Itoa(p.Workers)))
		}
		color := logs.IsTerminal(os.Stdout)
		setup.prefix = func(pool string) func(slot, pid int) string {
			return func(slot, _ int) string { return logs.ProcfilePrefix(pool, slot+1, color, width) }
		}
		setup.escalate = true
	})
}

// procfileConfig turns a Procfile into pools: one per process type, run
// through the shell as foreman does, web given the bound socket.
func procfileConfig(c *cli.Context) (*config.Config, error) {
	path := c.String("procfile")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read Procfile %s: %w (give another with -f)", path, unwrapPathError(err))
	}
	entries, err := config.ParseProcfile(path, data)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("procfile %s: no process types: write lines like web: bundle exec puma", path)
	}
	formation, err := config.ParseFormation(c.String("formation"))
	if err != nil {
		return nil, err
	}
	for name := range formation {
		if name != config.FormationAll && !hasEntry(entries, name) {
			return nil, fmt.Errorf("--formation %s: no process type %q in %s", c.String("formation"), name, path)
		}
	}
	envFiles := c.StringSlice("env")
	if len(envFiles) == 0 {
		if _, err := os.Stat(".env"); err == nil {
			envFiles = []string{".env"}
		}
	}
	port := c.Int("port")
	if !c.IsSet("port") {
		port = 5000
		if p, err := strconv.Atoi(os.Getenv("PORT")); err == nil {
			port = p
		}
	}

	cfg := config.Default()
	cfg.File, _ = filepath.Abs(path)
	for name, set := range map[string]func(v string){
		"pidfile": func(v string) { cfg.Pidfile = v }, "signals": func(v string) { cfg.Signals = v },
		"log-format": func(v string) { cfg.Log.Format = v }, "log-level": func(v string) { cfg.Log.Level = v },
		"log-file": func(v string) { cfg.Log.File = v }, "worker-output": func(v string) { cfg.WorkerOutput = v },
		"metrics": func(v string) { cfg.Metrics = v },
	} {
		set(c.String(name))
	}
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
			bind := c.String("bind")
			if bind == "" {
				bind = "0.0.0.0:" + strconv.Itoa(port)
			}
			p.Bind = []string{bind}
		}
		for _, pf := range startPoolFlags() {
			name := pf.flag.Names()[0]
			if name == "timeout" && len(p.Bind) == 0 {
				continue // --timeout is about the socket: the web type's alone
			}
			if c.IsSet(name) {
				if err := pf.apply(c, name, &p); err != nil {
					return nil, fmt.Errorf("--%s: %w", name, err)
				}
			}
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
