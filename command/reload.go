package command

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pmux/pmux/control"
	"github.com/pmux/pmux/internal/fault"
	"github.com/pmux/pmux/status"
)

// reloadWaitTimeout is --timeout's default with --wait: long enough for an
// app's workers to boot, and within systemd's default reload timeout.
const reloadWaitTimeout = 90 * time.Second

func reloadCommand() *cli.Command {
	return &cli.Command{
		Name:         "reload",
		OnUsageError: onUsageError,
		Usage:        "re-read the config and replace every worker, surge-first",
		Description: "Without --wait it returns once the master has the request, as HUP would. With --wait it returns\n" +
			"once the reload is done: exit 0 when every pool serves with its new generation alone, exit 1 with\n" +
			"the reason when the reload changed nothing (a broken config: the workers keep serving as they\n" +
			"were). Under systemd, ExecReload=pmux reload --wait --pid $MAINPID makes systemctl reload return\n" +
			"only then.",
		Flags: append(targetFlags(requestTimeout),
			&cli.BoolFlag{Name: "wait", Usage: "wait until the new workers serve, or the reload failed (--timeout then defaults to 90s)"}),
		Action: reloadAction,
	}
}

func reloadAction(c *cli.Context) error {
	o, pid, err := namedMaster(c)
	if err != nil {
		return err
	}
	timeout := o.timeout
	if o.wait && !o.timeoutSet {
		timeout = reloadWaitTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	started := processStart(pid)
	if _, err := request(ctx, pid, control.Request{Cmd: control.CmdReload}); err != nil {
		return err
	}
	if !o.wait {
		fmt.Fprintf(c.App.Writer, "pmux %d: reload requested\n", pid)
		return nil
	}
	// The master counts the reloads it started; the one asked for is the
	// last started by the time it answers this status (or one that started
	// later still, which covers it). A client waiting on another process
	// has only polling to see it finish.
	st, err := masterStatus(ctx, pid)
	if err != nil {
		return err
	}
	want := st.Reload.Started
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for st.Reload.Finished < want {
		select {
		case <-ctx.Done():
			return fault.OfMachine(fmt.Errorf("reload pmux %d: not done after %v: %s (see pmux status; raise --timeout)", pid, timeout, notReady(st)))
		case <-tick.C:
		}
		if gone(pid, started) {
			return fault.OfMachine(fmt.Errorf("reload pmux %d: the master exited before the reload was done (see its log)", pid))
		}
		if st, err = masterStatus(ctx, pid); err != nil {
			return err
		}
	}
	if st.Reload.Error != "" {
		return fault.OfMachine(fmt.Errorf("reload pmux %d: %s: nothing changed, the workers keep serving as they were", pid, st.Reload.Error))
	}
	var gens []string
	for _, p := range st.Pools {
		gens = append(gens, fmt.Sprintf("%s generation %d", p.Name, p.Generation))
	}
	fmt.Fprintf(c.App.Writer, "pmux %d: reloaded: %s serves\n", pid, strings.Join(gens, ", "))
	return nil
}

func masterStatus(ctx context.Context, pid int) (status.Status, error) {
	resp, err := request(ctx, pid, control.Request{Cmd: control.CmdStatus})
	if err != nil {
		return status.Status{}, err
	}
	if resp.Status == nil {
		return status.Status{}, fault.OfMachine(fmt.Errorf("pmux %d: status: the answer has no status", pid))
	}
	return *resp.Status, nil
}

// notReady says what a reload still waits for.
func notReady(st status.Status) string {
	if err := control.CheckReady(st); err != nil {
		return err.Error()
	}
	return "the old workers are still stopping"
}
