package command

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pmux/pmux/signalmap"
)

// The page pmux(1) is written from the CLI definition itself (every visible
// command and flag, its placeholder, default and environment variable) and
// from signalmap (the signal table), so it cannot drift from the binary it
// describes. make install writes it with `pmux man`.

// actionDoc says what each master action does, for the SIGNALS section.
var actionDoc = map[signalmap.Action]string{
	signalmap.QuickStop:                "the quick signal to every worker's process group, KILL after --quick-timeout, exit 0",
	signalmap.GracefulStop:             "the stop signal to every worker's process group; in-flight requests finish; KILL after --graceful-timeout; exit 0",
	signalmap.Reload:                   "re-read the config file (flags stay), then replace every worker, surge-first: a new worker is ready before the old one in its slot stops; a config that does not parse changes nothing",
	signalmap.RollingRestart:           "replace the workers one slot at a time, without re-reading the config",
	signalmap.ReopenLogs:               "reopen --log-file and a --worker-output file without losing or splitting a line",
	signalmap.Upgrade:                  "the binary upgrade: start the binary now at pmux's path as a new master that inherits every socket (see pmux upgrade)",
	signalmap.StopWorkers:              "stop every worker gracefully; the master keeps its sockets until HUP brings workers back (only when daemonized or stdin is not a terminal)",
	signalmap.Incr:                     "one worker more",
	signalmap.Decr:                     "one worker fewer, never below the profile's floor",
	signalmap.StatusDump:               "one log line per worker: pid, slot, generation, age, state, restarts, RSS",
	signalmap.None:                     "received and ignored",
	signalmap.ReopenLogsOrGracefulStop: "reopen_logs when pmux owns a log file, else graceful_stop (puma's HUP)",
}

// signalTable is the signal map of every profile: a header row of profile
// names, then a row per signal, then the TTOU floor.
func signalTable() [][]string {
	profiles := signalmap.Profiles()
	header := []string{"signal"}
	for _, p := range profiles {
		header = append(header, string(p))
	}
	rows := [][]string{header}
	for _, sig := range signalmap.For(signalmap.Unicorn).Signals() {
		row := []string{signalmap.Name(sig)}
		for _, p := range profiles {
			row = append(row, string(signalmap.For(p).Action(sig)))
		}
		rows = append(rows, row)
	}
	floor := []string{"TTOU floor"}
	for _, p := range profiles {
		floor = append(floor, fmt.Sprint(signalmap.For(p).Floor()))
	}
	return append(rows, floor)
}

// roff escapes text for a man page: backslashes, ASCII hyphens (kept as
// hyphen-minus, so options can be copied from the rendered page) and a
// leading dot or quote, which roff would read as a request.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}

// quoted makes s one argument of a roff request.
func quoted(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\(dq`) + `"` }

func bold(s string) string   { return `\fB` + roff(s) + `\fR` }
func italic(s string) string { return `\fI` + roff(s) + `\fR` }

// flagName spells one name of a flag as typed: -b or --bind.
func flagName(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// flagPlaceholder is the flag's value placeholder (ADDR, FILE …) and its
// usage without the backquotes that mark the placeholder; no placeholder
// for a flag that takes no value.
func flagPlaceholder(f cli.DocGenerationFlag) (placeholder, usage string) {
	usage = f.GetUsage()
	// urfave/cli's convention: the first `word` of the usage names the value.
	if before, rest, ok := strings.Cut(usage, "`"); ok {
		if name, after, ok := strings.Cut(rest, "`"); ok {
			placeholder, usage = name, before+name+after
		}
	}
	if !f.TakesValue() {
		placeholder = ""
	} else if placeholder == "" {
		placeholder = "VALUE"
	}
	return placeholder, usage
}

func manFlag(b *strings.Builder, flag cli.Flag) {
	f, ok := flag.(cli.DocGenerationFlag)
	if !ok {
		return
	}
	placeholder, usage := flagPlaceholder(f)
	var names []string
	for _, n := range flag.Names() {
		names = append(names, bold(flagName(n)))
	}
	b.WriteString(".TP\n" + strings.Join(names, ", "))
	if placeholder != "" {
		b.WriteString(" " + italic(placeholder))
	}
	b.WriteString("\n" + roff(usage) + ".")
	if _, repeatable := flag.(*cli.StringSliceFlag); repeatable && !strings.Contains(usage, "repeatable") {
		b.WriteString(" Repeatable.")
	}
	// urfave/cli quotes a string's default: "unicorn".
	if def := strings.Trim(f.GetDefaultText(), `"`); f.TakesValue() && def != "" {
		b.WriteString(" Default: " + roff(def) + ".")
	}
	if env := f.GetEnvVars(); len(env) > 0 {
		b.WriteString(" Environment: " + bold(strings.Join(env, ", ")) + ".")
	}
	b.WriteString("\n")
}

// commandLine is how a command is typed: pmux run [OPTIONS] -- CMD [ARG...].
func commandLine(cmd *cli.Command) string {
	line := "pmux " + cmd.Name
	if len(cmd.VisibleFlags()) > 0 {
		line += " [OPTIONS]"
	}
	if cmd.ArgsUsage != "" {
		line += " " + cmd.ArgsUsage
	}
	return line
}

// manPage renders pmux(1) for app.
func manPage(app *cli.App) string {
	var b strings.Builder
	date := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.time" && len(s.Value) >= 10 {
				date = s.Value[:10]
			}
		}
	}
	b.WriteString(".TH PMUX 1 " + quoted(date) + " " + quoted("pmux "+roff(pmuxVersion())) + ` "User Commands"` + "\n")
	// Left-aligned and unhyphenated: flag and variable names stay whole.
	b.WriteString(".nh\n.ad l\n")
	b.WriteString(".SH NAME\npmux \\- " + roff(app.Usage) + "\n")

	b.WriteString(".SH SYNOPSIS\n")
	for _, cmd := range app.VisibleCommands() {
		b.WriteString(".B " + roff(commandLine(cmd)) + "\n.br\n")
	}

	b.WriteString(".SH DESCRIPTION\n")
	for i, para := range manDescription {
		if i > 0 {
			b.WriteString(".PP\n")
		}
		b.WriteString(roff(para) + "\n")
	}

	b.WriteString(".SH COMMANDS\n")
	for _, cmd := range app.VisibleCommands() {
		b.WriteString(".SS " + quoted(roff(commandLine(cmd))) + "\n" + roff(cmd.Usage) + ".\n")
		if cmd.Description != "" {
			b.WriteString(".PP\n" + roff(strings.ReplaceAll(cmd.Description, "\n", " ")) + "\n")
		}
		for _, flag := range cmd.VisibleFlags() {
			manFlag(&b, flag)
		}
	}

	b.WriteString(".SH SIGNALS\nThe master's answer to each signal depends on the profile chosen with " +
		bold("--signals") + ":\n")
	table := signalTable()
	profiles := table[0][1:]
	for _, row := range table[1:] {
		// One line per signal: each action once, with the profiles it is theirs in.
		var actions []string
		byAction := map[string][]string{}
		for i, a := range row[1:] {
			if byAction[a] == nil {
				actions = append(actions, a)
			}
			byAction[a] = append(byAction[a], profiles[i])
		}
		var parts []string
		for _, a := range actions {
			parts = append(parts, bold(a)+" ("+roff(strings.Join(byAction[a], ", "))+")")
		}
		b.WriteString(".TP\n" + bold(row[0]) + "\n" + strings.Join(parts, "; ") + "\n")
	}
	b.WriteString(".PP\nThe actions:\n")
	for _, a := range signalmap.Actions() {
		b.WriteString(".TP\n" + bold(string(a)) + "\n" + roff(actionDoc[a]) + ".\n")
	}
	b.WriteString(".PP\nA [signals] table in the config file overrides single entries.\n")

	b.WriteString(manTail)
	return b.String()
}

var manDescription = []string{`pmux is a pre-fork master for any command. It binds the listening sockets, ` +
	`starts N copies of a command as workers, hands each worker the sockets with systemd-style fd passing ` +
	`(fds 3, 4, ... and LISTEN_FDS), keeps them alive, and obeys the signals that unicorn, gunicorn, puma ` +
	`and pitchfork users already send: HUP reload, TTIN/TTOU, USR1 log reopening and the USR2 + WINCH + QUIT ` +
	`binary upgrade. pmux never proxies a byte: the workers accept() on the shared sockets themselves.`,
	`Every flag of run is also a key of the TOML config file and an environment variable PMUX_<FLAG>; ` +
		`a flag beats the environment, which beats the file, which beats the default.`,
}

// manTail holds the sections that do not come from the flags.
const manTail = `.SH WORKER ENVIRONMENT
A worker gets its sockets as fds 3, 4, ... in bind order, and:
.TP
.B LISTEN_FDS\fR, \fBLISTEN_PID\fR, \fBLISTEN_FDNAMES
the systemd socket-activation variables; LISTEN_PID is the worker's own pid, so the server must be the worker process (exec, do not fork).
.TP
.B PMUX_WORKER\fR, \fBPMUX_GENERATION\fR, \fBPMUX_MASTER_PID
the worker's slot (0 to N\-1), its generation (1, then one more per reload) and the master's pid.
.TP
.B PORT
the port of the first TCP bind.
.TP
.B NOTIFY_SOCKET
with \-\-ready notify or \-\-watchdog: where to send READY=1, WATCHDOG=1, STATUS= and STOPPING=1 (sd_notify(3)).
.SH EXIT STATUS
.TP
.B 0
stopped on request, or the command succeeded.
.TP
.B 1
a runtime failure: a bind, a held pidfile, a command not found or not executable, a permission; the reason is one line on standard error.
.TP
.B 2
a usage or configuration error, named on one line with its fix.
.SH ENVIRONMENT
.TP
.B PMUX_<FLAG>
the default of a flag of run and start, as PMUX_WORKERS=4.
.TP
.B PORT
without \-\-bind, pmux binds 0.0.0.0:$PORT when PORT is set, else 127.0.0.1:8000.
.TP
.B NOTIFY_SOCKET
set by systemd for pmux itself (Type=notify): pmux reports READY=1, RELOADING=1, STOPPING=1 and MAINPID= there.
.TP
.B XDG_RUNTIME_DIR
where the control socket goes.
.SH FILES
.TP
.I $XDG_RUNTIME_DIR/pmux/<pid>.sock\fR, \fI/tmp/pmux\-<uid>/<pid>.sock
the control socket of master <pid>, used by status, scale, reload, rolling\-restart, reopen\-logs, stop and upgrade; it accepts only its own uid.
.SH EXAMPLES
.nf
pmux run \-w 4 \-b 127.0.0.1:8000 \-\- bin/example\-go
pmux run \-c pmux.toml
pmux start \-f Procfile \-m web=2,jobs=1
pmux status \-\-pidfile pmux.pid
kill \-HUP $(cat pmux.pid)
pmux upgrade \-\-pidfile pmux.pid
.fi
.SH SEE ALSO
.BR systemd.socket (5),
.BR sd_listen_fds (3),
.BR sd_notify (3),
.BR unicorn (1),
.BR gunicorn (1)
.PP
The README of the pmux source, installed as share/doc/pmux/README.md.
`
