package command

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/pmux/pmux/config"
	"github.com/pmux/pmux/detach"
	"github.com/pmux/pmux/internal/fault"
	"github.com/pmux/pmux/master"
	"github.com/pmux/pmux/spawn"
)

// launchDaemon starts the master detached and waits for its word.
func launchDaemon(cfg *config.Config) error {
	self, err := spawn.SelfExecutable()
	if err != nil {
		return fault.OfMachine(err)
	}
	out, err := daemonOutput(cfg.Log.File)
	if err != nil {
		return fault.OfMachine(err)
	}
	defer out.Close()
	// Workers that never get ready would keep the launcher waiting: give
	// up after the longest boot timeout, leaving the master to its retries.
	wait := 5 * time.Second
	for _, p := range cfg.Pools {
		wait = max(wait, time.Duration(p.BootTimeout)+5*time.Second)
	}
	pid, err := detach.Start(detach.Launch{Path: self, Args: os.Args, Output: out, Wait: wait})
	var failed *detach.FailedError
	switch {
	case errors.As(err, &failed):
		return &exitError{code: max(failed.Code, exitRuntime), err: failed}
	case err != nil:
		return fault.OfMachine(err)
	}
	fmt.Fprintf(os.Stdout, "pmux: master %d serving in the background\n", pid)
	return nil
}

// daemonOutput is where a daemon's stdout and stderr go: the log file
// when there is one, else nowhere.
func daemonOutput(logFile string) (*os.File, error) {
	if logFile == "" {
		return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
	f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("daemonize: open log file %s: %w", logFile, master.PathCause(err))
	}
	return f, nil
}
