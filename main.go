// Command pmux is a language-agnostic pre-fork master: it binds the
// listening sockets, starts N copies of a command as workers, hands each the
// sockets systemd-style, keeps them alive and obeys unicorn's, gunicorn's,
// puma's and pitchfork's signals.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/pmux/pmux/spawn"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit codes of SPEC §9.
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

// exitError carries the exit code a failure maps to.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(err error) error   { return &exitError{exitUsage, err} }
func runtimeError(err error) error { return &exitError{exitRuntime, err} }

func main() {
	// A worker being started goes through pmux itself first (see package
	// spawn); nothing else may run before that.
	if spawn.IsShim() {
		err := spawn.RunShim()
		fmt.Fprintf(os.Stderr, "pmux: %v\n", err)
		os.Exit(spawn.ShimExitCode)
	}
	if isMasterCommand(os.Args) {
		reexecWithoutAsyncPreemption()
	}
	os.Exit(run(os.Args))
}

func run(args []string) int {
	app := newApp()
	err := app.Run(args)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(os.Stderr, "pmux: %v\n", err)
	code := exitUsage
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	// A daemonized master that failed to start tells its launcher why.
	tellLauncher(fmt.Sprintf("exit %d %v", code, err))
	return code
}

func newApp() *cli.App {
	return &cli.App{
		Name:    "pmux",
		Usage:   "a pre-fork master for any command: unicorn for anything",
		Version: version,
		// Errors go back to run, which prints one line and picks the exit
		// code; urfave/cli must never call os.Exit behind deferred cleanups.
		ExitErrHandler:  func(*cli.Context, error) {},
		HideHelpCommand: true,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError(err)
		},
		Commands: append([]*cli.Command{
			runCommand(),
			checkCommand(),
			startCommand(),
			upgradeCommand(),
			{
				Name:  "version",
				Usage: "print the version",
				Action: func(c *cli.Context) error {
					fmt.Fprintln(c.App.Writer, "pmux", version)
					return nil
				},
			},
		}, controlCommands()...),
	}
}
