// Package command is pmux's command line: the flags, the subcommands, and the
// one place where a failure becomes an exit code.
package command

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/pmux/pmux/internal/fault"
	"github.com/pmux/pmux/manager"
	"github.com/pmux/pmux/spawn"
)

// Exit codes, the same whichever command meets the failure (README.md,
// "Exit codes").
const (
	exitOK      = 0
	exitRuntime = 1 // what was asked is valid, but this machine cannot do it
	exitUsage   = 2 // what was asked is wrong: a flag, a value, a config file
)

// exitError carries an exit code decided elsewhere: a daemonized
// master's, which its launcher exits with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Guard runs a master's guard (see package spawn) and returns its exit code.
func Guard() int {
	if err := spawn.RunGuard(); err != nil {
		fmt.Fprintf(os.Stderr, "pmux: %v\n", err)
		return exitRuntime
	}
	return exitOK
}

// Main runs the pmux command line args (os.Args) and returns the exit
// code. A master (IsMaster) runs on the signals main registered.
func Main(args []string, signals Signals) int {
	app := newApp(signals)
	err := app.Run(args)
	if err == nil {
		return exitOK
	}
	code, line := describe(err)
	fmt.Fprintf(os.Stderr, "pmux: %s\n", line)
	return code
}

// describe is a failure's exit code and its one line.
func describe(err error) (int, string) {
	// Any open-files limit met on the way out of a start is named, with how
	// to raise it, wherever it was met.
	err = manager.ExplainLimit(err)
	return exitCode(err), err.Error()
}

// exitCode maps a failure to its exit code, by whose fault it is (see
// package fault). An error no one marked comes from urfave/cli itself (an
// unknown command, say): a usage error.
func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if fault.Of(err) == fault.Machine {
		return exitRuntime
	}
	return exitUsage
}

func newApp(signals Signals) *cli.App {
	return &cli.App{
		Name:    "pmux",
		Usage:   "a pre-fork master for any command: unicorn for anything",
		Version: pmuxVersion(),
		// Errors go back to Main, which prints one line and picks the exit
		// code; urfave/cli must never call os.Exit behind deferred cleanups.
		ExitErrHandler:  func(*cli.Context, error) {},
		HideHelpCommand: true,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return fault.OfInput(err)
		},
		Commands: append([]*cli.Command{
			runCommand(signals),
			checkCommand(),
			startCommand(signals),
			upgradeCommand(),
			{
				Name:  "version",
				Usage: "print the version",
				Action: func(c *cli.Context) error {
					fmt.Fprintln(c.App.Writer, versionLine())
					return nil
				},
			},
		}, append(controlCommands(), docsCommands()...)...),
	}
}

// IsMaster reports whether args start a master, the only pmux process
// that registers signals.
func IsMaster(args []string) bool {
	return len(args) > 1 && (args[1] == "run" || args[1] == "start")
}
