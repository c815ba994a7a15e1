// Command pmux is a language-agnostic pre-fork master: it binds the
// listening sockets, starts N copies of a command as workers, hands each the
// sockets systemd-style, keeps them alive and obeys unicorn's, gunicorn's,
// puma's and pitchfork's signals.
package main

import (
	"fmt"
	"os"

	"github.com/pmux/pmux/command"
	"github.com/pmux/pmux/spawn"
)

func main() {
	// A worker being started goes through pmux itself first (see package
	// spawn); nothing else may run before that.
	if spawn.IsShim() {
		err := spawn.RunShim()
		fmt.Fprintf(os.Stderr, "pmux: %v\n", err)
		os.Exit(spawn.ShimExitCode)
	}
	// A master's guard, which waits for the master to go (see package spawn).
	if spawn.IsGuard() {
		os.Exit(command.Guard())
	}
	os.Exit(command.Main(os.Args))
}
