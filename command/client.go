package command

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pmux/pmux/control"
	"github.com/pmux/pmux/internal/fault"
	"github.com/pmux/pmux/internal/proc"
	"github.com/pmux/pmux/pidfile"
	"github.com/pmux/pmux/status"
)

// requestTimeout bounds a control request: the master answers on its loop,
// which never blocks, so a slow answer means a wedged master.
const requestTimeout = 10 * time.Second

// controlCommands are the client commands that talk to a running master.
func controlCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:         "status",
			OnUsageError: onUsageError,
			Usage:        "show a running master's pools and workers",
			Description: "Prints a table per pool: slot, pid, generation, state, age, restarts, RSS and last exit of\n" +
				"each worker. --json prints the status object instead; --check exits 0 only when every pool has\n" +
				"its target number of ready workers of its current generation (a Kubernetes exec probe).",
			Flags: append(targetFlags(requestTimeout),
				&cli.BoolFlag{Name: "json", Usage: "print the status as JSON"},
				&cli.BoolFlag{Name: "check", Usage: "exit 0 only when every pool has its target of ready workers, else 1 with the reason"},
			),
			Action: statusAction,
		},
		{
			Name:         "scale",
			OnUsageError: onUsageError,
			Usage:        "set or change a pool's worker count",
			ArgsUsage:    "POOL=N|POOL=+N|POOL=-N ...",
			Flags:        targetFlags(requestTimeout),
			Action:       scaleAction,
		},
		reloadCommand(),
		simpleCommand("rolling-restart", "replace every worker one slot at a time", control.CmdRollingRestart, "rolling restart requested"),
		simpleCommand("reopen-logs", "reopen the log files pmux owns", control.CmdReopenLogs, "log reopening requested"),
		{
			Name:         "stop",
			OnUsageError: onUsageError,
			Usage:        "stop a running master and wait until it is gone",
			Flags: append(targetFlags(60*time.Second),
				&cli.BoolFlag{Name: "quick", Usage: "quick stop: the quick signal, then KILL after --quick-timeout"},
			),
			Action: stopAction,
		},
	}
}

// onUsageError makes a bad flag one line and exit 2, as every other usage
// error, instead of a page of help.
func onUsageError(c *cli.Context, err error, _ bool) error {
	return fault.OfInput(fmt.Errorf("%s: %w (see pmux %s --help)", c.Command.Name, err, c.Command.Name))
}

// targetFlags find the master; timeout is the default of --timeout.
func targetFlags(timeout time.Duration) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "pidfile", Aliases: []string{"p"}, Usage: "find the master by its pidfile `PATH`"},
		&cli.IntFlag{Name: "pid", Usage: "the master's `PID`", DefaultText: "none"},
		&cli.DurationFlag{Name: "timeout", Value: timeout, Usage: "give up after `DUR`"},
	}
}

func simpleCommand(name, usage, cmd, done string) *cli.Command {
	return &cli.Command{
		Name:         name,
		Usage:        usage,
		OnUsageError: onUsageError,
		Flags:        targetFlags(requestTimeout),
		Action: func(c *cli.Context) error {
			o, pid, err := namedMaster(c)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
			defer cancel()
			if _, err := request(ctx, pid, control.Request{Cmd: cmd}); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "pmux %d: %s\n", pid, done)
			return nil
		},
	}
}

// clientOpts are a client command's flags and arguments.
type clientOpts struct {
	cmd     string
	pidfile string
	pid     int
	timeout time.Duration
	json    bool
	check   bool
	quick   bool
	wait    bool
	args    []string
	// timeoutSet says --timeout was given, for commands whose default
	// depends on other flags.
	timeoutSet bool
}

// parseClientArgs reads c's flags, including flags written after the
// arguments (`pmux scale web=4 --pid 7`), which urfave/cli leaves among
// the arguments.
func parseClientArgs(c *cli.Context) (clientOpts, error) {
	o := clientOpts{
		cmd: c.Command.Name, pidfile: c.String("pidfile"), pid: c.Int("pid"),
		timeout: c.Duration("timeout"), json: c.Bool("json"), check: c.Bool("check"), quick: c.Bool("quick"),
		wait: c.Bool("wait"), timeoutSet: c.IsSet("timeout"),
	}
	pidSet := c.IsSet("pid")
	rest := c.Args().Slice()
	fs := flag.NewFlagSet(o.cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	canonical := map[string]string{}
	for _, f := range c.Command.Flags {
		if err := f.Apply(fs); err != nil {
			return o, fault.OfInput(err)
		}
		for _, n := range f.Names() {
			canonical[n] = f.Names()[0]
		}
	}
	for len(rest) > 0 {
		if rest[0] == "--" {
			o.args = append(o.args, rest[1:]...)
			break
		}
		if !strings.HasPrefix(rest[0], "-") || rest[0] == "-" {
			o.args = append(o.args, rest[0])
			rest = rest[1:]
			continue
		}
		if err := fs.Parse(rest); err != nil {
			return o, fault.OfInput(fmt.Errorf("%s: %w", o.cmd, err))
		}
		rest = fs.Args()
	}
	fs.Visit(func(f *flag.Flag) {
		v := f.Value.(flag.Getter).Get()
		switch canonical[f.Name] {
		case "pidfile":
			o.pidfile = v.(string)
		case "pid":
			o.pid, pidSet = v.(int), true
		case "timeout":
			o.timeout, o.timeoutSet = v.(time.Duration), true
		case "json":
			o.json = v.(bool)
		case "check":
			o.check = v.(bool)
		case "quick":
			o.quick = v.(bool)
		case "wait":
			o.wait = v.(bool)
		}
	})
	switch {
	case o.pidfile == "" && !pidSet:
		return o, fault.OfInput(fmt.Errorf("%s: which master? give --pidfile PATH or --pid N", o.cmd))
	case o.pidfile != "" && pidSet:
		return o, fault.OfInput(fmt.Errorf("%s: give --pidfile or --pid, not both", o.cmd))
	case pidSet && o.pid <= 0:
		return o, fault.OfInput(fmt.Errorf("%s: --pid %d: not a process id", o.cmd, o.pid))
	case o.timeout <= 0:
		return o, fault.OfInput(fmt.Errorf("%s: --timeout %v: want a positive duration", o.cmd, o.timeout))
	}
	return o, nil
}

// namedMaster reads a client command's flags, refuses stray arguments and
// finds the master they name.
func namedMaster(c *cli.Context) (clientOpts, int, error) {
	o, err := parseClientArgs(c)
	if err != nil {
		return o, 0, err
	}
	if err := o.noArgs(); err != nil {
		return o, 0, err
	}
	pid, err := o.findMaster()
	return o, pid, err
}

func (o clientOpts) noArgs() error {
	if len(o.args) > 0 {
		return fault.OfInput(fmt.Errorf("%s: unexpected argument %q: the master is named by --pidfile or --pid", o.cmd, o.args[0]))
	}
	return nil
}

// findMaster returns the pid of the master named by --pidfile or --pid,
// once it has checked that a process by that pid runs as this user.
func (o clientOpts) findMaster() (int, error) {
	pid := o.pid
	if o.pidfile != "" {
		var err error
		pid, err = pidfile.Read(o.pidfile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return 0, fault.OfMachine(fmt.Errorf("%w: is pmux running with --pidfile %s?", err, o.pidfile))
		case errors.Is(err, pidfile.ErrMalformed):
			return 0, fault.OfMachine(fmt.Errorf("%w: this is not a pmux pidfile, or a damaged one", err))
		case errors.Is(err, fs.ErrPermission):
			return 0, fault.OfMachine(fmt.Errorf("%w: run this as the user the master runs as", err))
		case err != nil:
			return 0, fault.OfMachine(err)
		}
		if !pidfile.IsPmux(pid) {
			return 0, fault.OfMachine(fmt.Errorf("pidfile %s: pid %d is not a running pmux: the master is gone (remove the stale pidfile)", o.pidfile, pid))
		}
	} else if !running(pid) {
		return 0, fault.OfMachine(fmt.Errorf("pmux %d: no such process: the master is not running (check --pid)", pid))
	}
	if uid, ok := processUID(pid); ok && uid != os.Geteuid() {
		return 0, fault.OfMachine(fmt.Errorf("pmux %d: runs as uid %d and you are uid %d: only its own user may control it (run this as %s)",
			pid, uid, os.Geteuid(), userName(uid)))
	}
	return pid, nil
}

// processUID returns the effective uid of pid (the second of the Uid
// line of /proc/PID/status); false where there is no /proc to ask.
func processUID(pid int) (int, bool) {
	st, err := proc.Default.Status(pid)
	if err != nil {
		return 0, false
	}
	return st.EffectiveUID()
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return "user " + u.Username
	}
	return "uid " + strconv.Itoa(uid)
}

// request sends req to the master with pid and returns its answer, or an
// error of one line that says what to do.
func request(ctx context.Context, pid int, req control.Request) (control.Response, error) {
	c, err := control.Dial(ctx, pid)
	if err != nil {
		return control.Response{}, fault.OfMachine(explainDial(pid, err))
	}
	defer c.Close()
	resp, err := c.Do(ctx, req)
	var remote *control.RemoteError
	switch {
	case errors.As(err, &remote):
		return resp, fault.OfMachine(fmt.Errorf("pmux %d: %w", pid, err))
	case errors.Is(err, context.DeadlineExceeded):
		return resp, fault.OfMachine(fmt.Errorf("pmux %d: %s: no answer in time: the master may be overloaded or wedged (raise --timeout, or see its log)", pid, req.Cmd))
	case err != nil:
		return resp, fault.OfMachine(fmt.Errorf("pmux %d: %w", pid, err))
	}
	return resp, nil
}

func explainDial(pid int, err error) error {
	var de *control.DialError
	if !errors.As(err, &de) {
		return fmt.Errorf("pmux %d: %w", pid, err)
	}
	switch {
	case errors.Is(err, control.ErrNoSocket) && !running(pid):
		return fmt.Errorf("pmux %d: no such process: the master has exited", pid)
	case errors.Is(err, control.ErrNoSocket):
		return fmt.Errorf("%w: is pid %d a pmux master, started with the same XDG_RUNTIME_DIR as this command?", err, pid)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: run this as the user the master runs as", err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: the master no longer serves its control socket (it is exiting, or was killed and left the socket behind)", err)
	}
	return err
}

func statusAction(c *cli.Context) error {
	o, pid, err := namedMaster(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	resp, err := request(ctx, pid, control.Request{Cmd: control.CmdStatus})
	if err != nil {
		return err
	}
	if resp.Status == nil {
		return fault.OfMachine(fmt.Errorf("pmux %d: status: the answer carries no status", pid))
	}
	st := *resp.Status
	switch {
	case o.json:
		b, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return fault.OfMachine(fmt.Errorf("encode status: %w", err))
		}
		c.App.Writer.Write(append(b, '\n'))
	case !o.check:
		writeStatus(c.App.Writer, st)
	}
	if o.check {
		if err := control.CheckReady(st); err != nil {
			return fault.OfMachine(err)
		}
		if !o.json {
			fmt.Fprintf(c.App.Writer, "pmux %d: ready\n", pid)
		}
	}
	return nil
}

// scaleArg is one POOL=N, POOL=+N or POOL=-N.
type scaleArg struct {
	pool     string
	n        int
	relative bool
}

func parseScaleArg(s string) (scaleArg, error) {
	pool, val, ok := strings.Cut(s, "=")
	n, err := strconv.Atoi(val)
	if !ok || pool == "" || err != nil {
		return scaleArg{}, fmt.Errorf("scale %q: want POOL=N, POOL=+N or POOL=-N, as in web=4 or web=+1", s)
	}
	a := scaleArg{pool: pool, n: n, relative: val[0] == '+' || val[0] == '-'}
	if a.relative && n == 0 {
		return scaleArg{}, fmt.Errorf("scale %q: a change of 0 changes nothing", s)
	}
	if !a.relative && n > status.MaxWorkers {
		return scaleArg{}, fmt.Errorf("scale %q: %w", s, status.ErrBadCount)
	}
	return a, nil
}

func scaleAction(c *cli.Context) error {
	o, err := parseClientArgs(c)
	if err != nil {
		return err
	}
	if len(o.args) == 0 {
		return fault.OfInput(errors.New("scale: which pool? give POOL=N, POOL=+N or POOL=-N, as in pmux scale --pid 7 web=4"))
	}
	var todo []scaleArg
	for _, s := range o.args {
		a, err := parseScaleArg(s)
		if err != nil {
			return fault.OfInput(err)
		}
		todo = append(todo, a)
	}
	pid, err := o.findMaster()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	for _, a := range todo {
		if err := scale(ctx, c.App.Writer, pid, a); err != nil {
			return err
		}
	}
	return nil
}

// scale asks for one change and reports the pool's new target. The master
// leaves the count as it is when a change would go below the signal
// profile's floor or when it is stopping; comparing the target before and
// after tells the user so.
func scale(ctx context.Context, w io.Writer, pid int, a scaleArg) error {
	before, err := request(ctx, pid, control.Request{Cmd: control.CmdStatus})
	if err != nil {
		return err
	}
	req := control.Request{Cmd: control.CmdScale, Pool: a.pool}
	if a.relative {
		req.Delta = &a.n
	} else {
		req.N = &a.n
	}
	after, err := request(ctx, pid, req)
	if err != nil {
		return err
	}
	was, now := poolTarget(before.Status, a.pool), poolTarget(after.Status, a.pool)
	fmt.Fprintf(w, "pmux %d: pool %s: %d → %d workers\n", pid, a.pool, was, now)
	return nil
}

func poolTarget(st *status.Status, pool string) int {
	if st == nil {
		return -1
	}
	for _, p := range st.Pools {
		if p.Name == pool {
			return p.Target
		}
	}
	return -1
}

func stopAction(c *cli.Context) error {
	o, pid, err := namedMaster(c)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(o.timeout)
	started := processStart(pid)
	ctx, cancel := context.WithTimeout(context.Background(), min(o.timeout, requestTimeout))
	defer cancel()
	_, err = request(ctx, pid, control.Request{Cmd: control.CmdStop, Quick: o.quick})
	// A master that stops at once may close the socket before its answer
	// leaves; it is gone, which is what was asked.
	if err != nil && !gone(pid, started) {
		return err
	}
	for !gone(pid, started) {
		if time.Now().After(deadline) {
			how := "workers may still be finishing requests (see --graceful-timeout): wait longer with --timeout, or use --quick"
			if o.quick {
				how = "see its log"
			}
			return fault.OfMachine(fmt.Errorf("stop pmux %d: still running after %v: %s", pid, o.timeout, how))
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Fprintf(c.App.Writer, "pmux %d: stopped\n", pid)
	return nil
}

// processStart returns pid's start time (field 22 of /proc/PID/stat), so
// that a new process reusing the pid is not taken for the master; "" where
// /proc cannot say.
func processStart(pid int) string {
	st, err := proc.Default.Stat(pid)
	if err != nil {
		return ""
	}
	if st.Zombie() {
		return "zombie"
	}
	return strconv.FormatUint(st.StartTime, 10)
}

// running reports whether pid is a live process; a zombie is a dead one
// whose parent has not looked yet.
func running(pid int) bool {
	return pidfile.Alive(pid) && processStart(pid) != "zombie"
}

// gone reports whether the process that had pid and started at started has
// exited: no such process, a zombie, or another process by now.
func gone(pid int, started string) bool {
	if !pidfile.Alive(pid) {
		return true
	}
	now := processStart(pid)
	return now == "zombie" || now != started
}

// Status table columns: fixed minimum widths keep the layout steady from
// one run to the next (and under `watch`), and with a pool name of up to 8
// characters a row fits 80 columns with room for the last exit; the
// section title above each table has the full name.
const (
	statusWidth = 80
	maxPoolName = 8
)

// writeStatus prints st as a table per pool, in the order the master runs
// them, workers by slot, oldest first.
func writeStatus(w io.Writer, st status.Status) {
	head := fmt.Sprintf("pmux %d: %s", st.MasterPID, st.Phase)
	if st.UpgradeChild != 0 {
		head += fmt.Sprintf(", upgrading: new master pmux %d", st.UpgradeChild)
	}
	if st.UpgradeParent != 0 {
		head += fmt.Sprintf(", upgraded: old master pmux %d still running", st.UpgradeParent)
	}
	fmt.Fprintln(w, head)
	for _, p := range st.Pools {
		ready := 0
		for _, wk := range p.Workers {
			if wk.Generation == p.Generation && (wk.State == "ready" || wk.State == "retiring") {
				ready++
			}
		}
		fmt.Fprintf(w, "\n%s: %d of %d ready, generation %d\n", p.Name, ready, p.Target, p.Generation)
		for _, l := range p.Listeners {
			fmt.Fprintln(w, clip(listenerLine(l), statusWidth))
		}
		rows := [][]string{{"POOL", "SLOT", "PID", "GEN", "STATE", "FOR", "AGE", "RESTARTS", "RSS", "LAST-EXIT"}}
		for _, wk := range p.Workers {
			// A ready worker shows what a look saw it do, waiting or busy,
			// and for how long.
			state, since := wk.State, "-"
			if wk.State == "ready" && (wk.Activity == "waiting" || wk.Activity == "busy") {
				state = wk.Activity
			}
			if wk.Activity != "" {
				since = humanAge(wk.ActivitySeconds)
			}
			rows = append(rows, []string{
				clip(p.Name, maxPoolName), strconv.Itoa(wk.Slot), strconv.Itoa(wk.Pid), strconv.Itoa(wk.Generation),
				state, since, humanAge(wk.AgeSeconds), strconv.Itoa(wk.Restarts), humanBytes(wk.RSS), orDash(wk.LastExit),
			})
		}
		if len(p.Workers) == 0 {
			fmt.Fprintln(w, "(no workers)")
			continue
		}
		writeTable(w, rows)
	}
}

// listenerLine says where a socket listens and how many connections wait
// in its accept backlog, what raindrops users watch: a queue that grows
// means every worker is busy.
func listenerLine(l status.ListenerStatus) string {
	where := l.Bind
	if !strings.Contains(l.Bind, l.Addr) {
		where += " at " + l.Addr
	}
	// The count first: a long unix path is what gets clipped.
	if l.Queued == nil {
		return "queue unknown on this system: " + where
	}
	return fmt.Sprintf("%d queued (backlog %d) on %s", *l.Queued, l.Backlog, where)
}

// writeTable aligns rows: numbers right, words left, two spaces apart, the
// last column clipped to fit statusWidth.
func writeTable(w io.Writer, rows [][]string) {
	// Minimum widths: a pid has at most 7 digits (pid_max ≤ 4194304), an
	// age at most 6 characters below 100 days, a size 5; how long a worker
	// has been busy or waiting is 5 below ten days. Past 80 columns the
	// last one gives way, down to 6.
	widths := []int{4, 4, 7, 3, 8, 5, 6, 8, 5, 0}
	right := []bool{false, true, true, true, false, true, true, true, true, false}
	last := len(widths) - 1
	for _, r := range rows {
		for i := range last {
			widths[i] = max(widths[i], runeLen(r[i]))
		}
	}
	room := statusWidth
	for i := range last {
		room -= widths[i] + 2
	}
	for _, r := range rows {
		var b strings.Builder
		for i := range last {
			pad := strings.Repeat(" ", widths[i]-runeLen(r[i]))
			if right[i] {
				b.WriteString(pad + r[i])
			} else {
				b.WriteString(r[i] + pad)
			}
			b.WriteString("  ")
		}
		b.WriteString(clip(r[last], max(room, 6)))
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func runeLen(s string) int { return len([]rune(s)) }

// clip shortens s to n characters, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// humanAge writes an age the way an operator reads it at a glance: 42s,
// 3m12s, 2h05m, 3d04h.
func humanAge(seconds float64) string {
	if seconds < 0 || seconds != seconds {
		return "-"
	}
	s := int64(seconds)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}

// humanBytes writes a resident size in at most 5 characters, binary
// units: 512K, 38M, 1.5G, 12G; "-" when unknown.
func humanBytes(n int64) string {
	const k = 1024
	switch {
	case n <= 0:
		return "-"
	case n < k*k:
		return fmt.Sprintf("%dK", (n+k-1)/k)
	case n < k*k*k:
		return fmt.Sprintf("%dM", n/(k*k))
	case n < 10*k*k*k:
		return fmt.Sprintf("%.1fG", float64(n)/(k*k*k))
	case n < k*k*k*k:
		return fmt.Sprintf("%dG", n/(k*k*k))
	}
	return fmt.Sprintf("%.1fT", float64(n)/(k*k*k*k))
}
