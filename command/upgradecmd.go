package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pmux/pmux/control"
	"github.com/pmux/pmux/internal/fault"
	"github.com/pmux/pmux/status"
)

func upgradeCommand() *cli.Command {
	return &cli.Command{
		Name:         "upgrade",
		OnUsageError: onUsageError,
		Usage:        "replace a running master by the binary now at its path, checking every step and rolling back on failure",
		Description: "Checks that the binary at the master's start path runs (version, and check with the master's\n" +
			"arguments) before anything is signalled, then: start the new master, wait until it serves, stop\n" +
			"the old workers, stop the old master. Exit 0 only when the new master serves alone; on a failure\n" +
			"it rolls back (old workers back, new master stopped) and exits 1 naming the step.",
		Flags:  targetFlags(2 * time.Minute),
		Action: upgradeAction,
	}
}

// upgrader walks one master through the binary upgrade (USR2, WINCH, QUIT).
type upgrader struct {
	ctx context.Context
	out io.Writer
	old int
	new int
}

func upgradeAction(c *cli.Context) error {
	o, pid, err := namedMaster(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	u := &upgrader{ctx: ctx, out: c.App.Writer, old: pid}
	return u.run()
}

func (u *upgrader) run() error {
	st, err := u.status(u.old)
	if err != nil {
		return err
	}
	switch {
	case st.UpgradeChild != 0 || st.UpgradeParent != 0:
		return fault.OfMachine(fmt.Errorf("pmux %d: an upgrade is already in progress: stop one of the two masters first", u.old))
	case st.Binary == "":
		return fault.OfMachine(fmt.Errorf("pmux %d: reports no start path: it cannot upgrade itself", u.old))
	}
	if err := preflight(u.ctx, st); err != nil {
		return fault.OfMachine(fmt.Errorf("upgrade pmux %d: step 1, check the new binary: %w; nothing was changed", u.old, err))
	}
	u.say("new binary %s checked", st.Binary)

	if _, err := request(u.ctx, u.old, control.Request{Cmd: control.CmdUpgrade}); err != nil {
		return err
	}
	if err := u.waitFor("the new master to start", func() (bool, error) {
		st, err := u.status(u.old)
		if err != nil {
			return false, err
		}
		u.new = st.UpgradeChild
		return u.new != 0, nil
	}); err != nil {
		return u.fail("step 2, start the new master", err)
	}
	u.say("new master %d started", u.new)

	if err := u.waitFor("the new master to serve", func() (bool, error) {
		st, err := u.status(u.new)
		if err != nil {
			if errors.Is(err, errGone) {
				return false, err
			}
			return false, nil // its control socket is not up yet
		}
		return control.CheckReady(st) == nil, nil
	}); err != nil {
		return u.fail("step 3, wait for the new master to serve", err)
	}
	u.say("new master %d serves", u.new)

	if _, err := request(u.ctx, u.old, control.Request{Cmd: control.CmdStopWorkers}); err != nil {
		return u.fail("step 4, stop the old workers", err)
	}
	if err := u.waitFor("the old workers to stop", func() (bool, error) {
		st, err := u.status(u.old)
		if err != nil {
			return false, err
		}
		n := 0
		for _, p := range st.Pools {
			n += len(p.Workers)
		}
		return n == 0, nil
	}); err != nil {
		return u.fail("step 4, stop the old workers", err)
	}
	u.say("old workers stopped")

	if _, err := request(u.ctx, u.old, control.Request{Cmd: control.CmdStop}); err != nil {
		return u.fail("step 5, stop the old master", err)
	}
	started := processStart(u.old)
	if err := u.waitFor("the old master to exit", func() (bool, error) { return gone(u.old, started), nil }); err != nil {
		return u.fail("step 5, stop the old master", err)
	}
	if err := u.waitFor("the new master to take over", func() (bool, error) {
		st, err := u.status(u.new)
		if err != nil {
			return false, err
		}
		return st.UpgradeParent == 0 && control.CheckReady(st) == nil, nil
	}); err != nil {
		return fault.OfMachine(fmt.Errorf("upgrade: step 6, the new master %d after the old one left: %w", u.new, err))
	}
	u.say("upgraded: pmux %d serves alone", u.new)
	return nil
}

var errGone = errors.New("exited")

// status asks pid for its status; errGone once the process is gone.
func (u *upgrader) status(pid int) (status.Status, error) {
	if !running(pid) {
		return status.Status{}, fmt.Errorf("pmux %d %w", pid, errGone)
	}
	resp, err := request(u.ctx, pid, control.Request{Cmd: control.CmdStatus})
	if err != nil {
		return status.Status{}, err
	}
	return *resp.Status, nil
}

// waitFor polls done until it holds, fails, or the --timeout runs out.
// This is a client waiting on another process: polling is its only view.
func (u *upgrader) waitFor(what string, done func() (bool, error)) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := done()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-u.ctx.Done():
			return fmt.Errorf("timed out waiting for %s (raise --timeout)", what)
		case <-tick.C:
		}
	}
}

// fail rolls the upgrade back: the old master gets its workers back and
// the new master, if any, is stopped. Rollback gets its own time, since
// the upgrade's may be spent.
func (u *upgrader) fail(step string, cause error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var problems []string
	if running(u.old) {
		if _, err := request(ctx, u.old, control.Request{Cmd: control.CmdReload}); err != nil {
			problems = append(problems, "could not reload the old master: "+err.Error())
		}
	}
	if u.new != 0 && running(u.new) {
		started := processStart(u.new)
		if _, err := request(ctx, u.new, control.Request{Cmd: control.CmdStop}); err != nil {
			problems = append(problems, "could not stop the new master: "+err.Error())
		}
		for !gone(u.new, started) && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	msg := fmt.Sprintf("upgrade pmux %d: %s: %v; rolled back: the old master serves", u.old, step, cause)
	if len(problems) > 0 {
		msg += " (" + strings.Join(problems, "; ") + ")"
	}
	return fault.OfMachine(errors.New(msg))
}

func (u *upgrader) say(format string, args ...any) {
	fmt.Fprintf(u.out, "pmux upgrade: "+format+"\n", args...)
}

// preflight runs the binary at the master's start path as `version` and as
// `check` with the master's own arguments, in its directory, so a broken
// binary or a config it rejects is found before anything is signalled.
func preflight(ctx context.Context, st status.Status) error {
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, st.Binary, args...)
		cmd.Dir = st.Dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s: %v: %s", st.Binary, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := run("version"); err != nil {
		return err
	}
	if len(st.Args) > 1 && st.Args[1] == "run" {
		return run(append([]string{"check"}, st.Args[2:]...)...)
	}
	return nil
}
