package command

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/pmux/pmux/detach"
	"github.com/pmux/pmux/handover"
	"github.com/pmux/pmux/internal/fault"
	"github.com/pmux/pmux/master"
	"github.com/pmux/pmux/spawn"
)

func runCommand(signals Signals) *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a pool of workers",
		ArgsUsage: "-- CMD [ARG...]",
		Flags:     runFlags(),
		Action: func(c *cli.Context) error {
			return bootMaster(signals, runSource(c), func(*master.Setup) {})
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

// bootMaster is the beginning shared by run and start: what must be read
// before anything opens a file (the origin, pmux's own socket activation,
// the -D pipe), then the configuration, then the master.
func bootMaster(signals Signals, source master.Source, adjust func(*master.Setup)) (err error) {
	origin := handover.StartedFrom()
	act := master.ReadActivation()
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
	cfg, err := source.Load()
	if err != nil {
		return err // unmarked: a usage error, unless it says otherwise
	}
	// -D: this process only launches the master, unless it is the
	// launched one, or a new master of an upgrade (which never detaches
	// again).
	if cfg.Daemon && daemon == nil && !handover.Pending() {
		return launchDaemon(cfg)
	}
	setup := master.Setup{Config: cfg, Source: source, Activation: act, Origin: origin, Daemon: daemon,
		Version: pmuxVersion()}
	adjust(&setup)
	return master.Run(setup, signals.Actions, signals.Children)
}
