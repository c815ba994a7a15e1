package signalmap

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"syscall"
)

// Action is what the master does when it receives a signal. The string is the
// name used in the [signals] config table and in logs.
type Action string

// The master actions a signal can ask of the master.
const (
	// None means the signal is received and ignored.
	None           Action = "ignored"
	QuickStop      Action = "quick_stop"
	GracefulStop   Action = "graceful_stop"
	Reload         Action = "reload"
	RollingRestart Action = "rolling_restart"
	ReopenLogs     Action = "reopen_logs"
	Upgrade        Action = "upgrade"
	StopWorkers    Action = "stop_workers"
	Incr           Action = "incr"
	Decr           Action = "decr"
	StatusDump     Action = "status_dump"
	// ReopenLogsOrGracefulStop is puma's HUP: reopen_logs if pmux owns a log
	// file, else graceful_stop. The manager resolves it with Resolve.
	ReopenLogsOrGracefulStop Action = "reopen_logs_or_graceful_stop"
)

// actions lists every valid Action, in the order error messages show them.
var actions = []Action{
	None, QuickStop, GracefulStop, Reload, RollingRestart, ReopenLogs,
	Upgrade, StopWorkers, Incr, Decr, StatusDump, ReopenLogsOrGracefulStop,
}

// Actions returns every valid action name.
func Actions() []Action { return slices.Clone(actions) }

// ParseAction returns the action named s (case-insensitive).
func ParseAction(s string) (Action, error) {
	l, ascii := asciiLower(s)
	if a := Action(l); ascii && slices.Contains(actions, a) {
		return a, nil
	}
	return "", fmt.Errorf("parse action %q: %w (want one of %s)", s, ErrUnknownAction, joinActions())
}

// Resolve returns the action to run: ReopenLogsOrGracefulStop becomes
// ReopenLogs when pmux owns a log file and GracefulStop otherwise; every other
// action is returned unchanged.
func (a Action) Resolve(ownsLogFile bool) Action {
	if a != ReopenLogsOrGracefulStop {
		return a
	}
	if ownsLogFile {
		return ReopenLogs
	}
	return GracefulStop
}

// Profile names a set of signal conventions.
type Profile string

// The signal profiles. Unicorn is the default.
const (
	Unicorn   Profile = "unicorn"
	Gunicorn  Profile = "gunicorn"
	Puma      Profile = "puma"
	Pitchfork Profile = "pitchfork"
)

// profiles is the column order of table.
var profiles = [...]Profile{Unicorn, Gunicorn, Puma, Pitchfork}

// floors is each profile's TTOU floor, in column order: unicorn and pitchfork
// may scale a pool down to zero workers, gunicorn and puma keep one.
var floors = [len(profiles)]int{0, 1, 1, 0}

// table is the README's signal table, row for row. Columns: unicorn, gunicorn, puma,
// pitchfork. statusSignal is PWR on Linux and INFO on the BSDs and macOS.
var table = [...]struct {
	sig syscall.Signal
	act [len(profiles)]Action
}{
	{syscall.SIGHUP, [...]Action{Reload, Reload, ReopenLogsOrGracefulStop, Reload}},
	{syscall.SIGINT, [...]Action{QuickStop, QuickStop, GracefulStop, QuickStop}},
	{syscall.SIGTERM, [...]Action{QuickStop, GracefulStop, GracefulStop, QuickStop}},
	{syscall.SIGQUIT, [...]Action{GracefulStop, QuickStop, QuickStop, GracefulStop}},
	{syscall.SIGUSR1, [...]Action{ReopenLogs, ReopenLogs, RollingRestart, ReopenLogs}},
	{syscall.SIGUSR2, [...]Action{Upgrade, Upgrade, Reload, RollingRestart}},
	{syscall.SIGWINCH, [...]Action{StopWorkers, StopWorkers, None, None}},
	{syscall.SIGTTIN, [...]Action{Incr, Incr, Incr, Incr}},
	{syscall.SIGTTOU, [...]Action{Decr, Decr, Decr, Decr}},
	{syscall.SIGURG, [...]Action{None, None, RollingRestart, None}},
	{statusSignal, [...]Action{StatusDump, StatusDump, StatusDump, StatusDump}},
}

// Profiles returns every profile name, the default first.
func Profiles() []Profile { return slices.Clone(profiles[:]) }

// ParseProfile returns the profile named s (case-insensitive). The empty
// string is the default profile, Unicorn.
func ParseProfile(s string) (Profile, error) {
	if s == "" {
		return Unicorn, nil
	}
	l, ascii := asciiLower(s)
	if p := Profile(l); ascii && slices.Contains(profiles[:], p) {
		return p, nil
	}
	names := make([]string, len(profiles))
	for i, p := range profiles {
		names[i] = string(p)
	}
	return "", fmt.Errorf("parse signal profile %q: %w (want one of %s)",
		s, ErrUnknownProfile, strings.Join(names, ", "))
}

// Errors returned by the parsers of this package, wrapped with the input
// that caused them; test with errors.Is.
var (
	ErrUnknownProfile = errors.New("unknown signal profile")
	ErrUnknownSignal  = errors.New("unknown signal")
	ErrUnknownAction  = errors.New("unknown action")
)

// OverrideError reports a bad entry of the [signals] config table. Key and
// Value are the entry as written, so the config layer can point at its line.
type OverrideError struct {
	Key   string
	Value string
	Err   error // wraps ErrUnknownSignal or ErrUnknownAction
}

func (e *OverrideError) Error() string { return "signals." + e.Key + ": " + e.Err.Error() }

func (e *OverrideError) Unwrap() error { return e.Err }

// Map says which action each signal asks for. The zero Map ignores every
// signal; build one with For. A Map is a value: With returns a new Map and
// no method changes the receiver, so copies never alias.
type Map struct {
	profile Profile
	floor   int
	act     [len(table)]Action
}

// For returns the signal map of profile p. The empty profile is Unicorn. p
// must be a profile ParseProfile accepts: an unknown one is a programming
// error (the value was not validated) and panics.
func For(p Profile) Map {
	if p == "" {
		p = Unicorn
	}
	col := slices.Index(profiles[:], p)
	if col < 0 {
		panic(fmt.Sprintf("signalmap.For: unvalidated profile %q (use ParseProfile)", string(p)))
	}
	m := Map{profile: p, floor: floors[col]}
	for i, row := range table {
		m.act[i] = row.act[col]
	}
	return m
}

// Profile returns the profile m was built from; overrides keep it.
func (m Map) Profile() Profile { return m.profile }

// Action returns the action sig asks for, None for a signal m does not map.
func (m Map) Action(sig syscall.Signal) Action {
	i := row(sig)
	if i < 0 || m.act[i] == "" {
		return None
	}
	return m.act[i]
}

// Floor returns the profile's TTOU floor: decr never takes a pool below it.
func (m Map) Floor() int { return m.floor }

// Signals returns every signal the master must register. The set is the same
// for every profile and every override, in the signal table's row order.
func (m Map) Signals() []syscall.Signal {
	sigs := make([]syscall.Signal, len(table))
	for i, row := range table {
		sigs[i] = row.sig
	}
	return sigs
}

// With returns m with the entries of a [signals] config table applied. Keys
// are signal names in any case, with or without the SIG prefix ("USR2",
// "SIGUSR2", "usr2"); values are action names. A key that is not a handled
// signal, a signal number, two keys for the same signal, or an unknown action
// is an *OverrideError naming the entry; m itself is never changed.
func (m Map) With(overrides map[string]string) (Map, error) {
	// Sorted so that the error reported for a bad table is always the same one.
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	out := m
	seen := make(map[syscall.Signal]string, len(keys))
	for _, k := range keys {
		v := overrides[k]
		sig, err := parseOverrideKey(k)
		if err != nil {
			return m, &OverrideError{Key: k, Value: v, Err: err}
		}
		if prev, dup := seen[sig]; dup {
			return m, &OverrideError{Key: k, Value: v, Err: fmt.Errorf(
				"duplicate entry: %q already sets %s", prev, Name(sig))}
		}
		seen[sig] = k
		a, err := ParseAction(v)
		if err != nil {
			return m, &OverrideError{Key: k, Value: v, Err: fmt.Errorf(
				"%w %q (want one of %s)", ErrUnknownAction, v, joinActions())}
		}
		out.act[row(sig)] = a
	}
	return out, nil
}

// parseOverrideKey accepts only names: a config file that says 10 would mean
// USR1 on Linux and BUS on macOS.
func parseOverrideKey(k string) (syscall.Signal, error) {
	if isDigits(k) {
		return 0, fmt.Errorf("%w number %s: signal numbers differ between systems, use a name (one of %s)",
			ErrUnknownSignal, k, joinHandled())
	}
	sig, err := ParseSignal(k)
	if err != nil || row(sig) < 0 {
		return 0, fmt.Errorf("%w %q: pmux handles only %s", ErrUnknownSignal, k, joinHandled())
	}
	return sig, nil
}

// String renders m as a table, one handled signal per line, the format of
// the golden files and of `pmux check`.
func (m Map) String() string {
	var b strings.Builder
	p := m.profile
	if p == "" {
		p = "(none)"
	}
	fmt.Fprintf(&b, "profile %s, TTOU floor %d\n", p, m.floor)
	for _, sig := range m.Signals() {
		fmt.Fprintf(&b, "%-6s %s\n", Name(sig), m.Action(sig))
	}
	return b.String()
}

// row returns sig's index in table, or -1.
func row(sig syscall.Signal) int {
	for i, r := range table {
		if r.sig == sig {
			return i
		}
	}
	return -1
}

func joinActions() string {
	names := make([]string, len(actions))
	for i, a := range actions {
		names[i] = string(a)
	}
	return strings.Join(names, ", ")
}

func joinHandled() string {
	names := make([]string, len(table))
	for i, r := range table {
		names[i] = Name(r.sig)
	}
	return strings.Join(names, ", ")
}
