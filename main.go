// Command pmux is a language-agnostic pre-fork master: it binds the
// listening sockets, starts N copies of a command as workers, hands each the
// sockets systemd-style, keeps them alive and obeys unicorn's, gunicorn's,
// puma's and pitchfork's signals.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/pmux/pmux/command"
	"github.com/pmux/pmux/signalmap"
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
	var signals command.Signals
	if command.IsMaster(os.Args) {
		spawn.DisableAsyncPreemption()
		signals = command.Signals{Actions: make(chan os.Signal, 64), Children: make(chan os.Signal, 1)}
		for _, sig := range signalmap.For(signalmap.Unicorn).Signals() {
			signal.Notify(signals.Actions, sig)
		}
		signal.Notify(signals.Children, syscall.SIGCHLD)
		// A stdout or stderr nobody reads any more (pmux run … | head) must
		// fail the write with EPIPE, counted as dropped output, not kill the
		// master and its workers: a Notify for SIGPIPE is what tells the Go
		// runtime so. Nothing reads the channel; a handler, unlike an ignored
		// signal, is reset at exec, so workers still get the default.
		signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	}
	os.Exit(command.Main(os.Args, signals))
}
