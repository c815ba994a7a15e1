package signalmap

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// STATUS stands for the platform's status_dump signal (PWR on Linux, INFO on
// macOS) in the expected tables below.
const status = "STATUS"

// spec is the README's signal table, typed in again by hand from it rather than
// derived from the package's table, so that a mistake in one shows up.
var spec = map[Profile]struct {
	floor int
	cells map[string]Action
}{
	Unicorn: {0, map[string]Action{
		"HUP": Reload, "INT": QuickStop, "TERM": QuickStop, "QUIT": GracefulStop,
		"USR1": ReopenLogs, "USR2": Upgrade, "WINCH": StopWorkers,
		"TTIN": Incr, "TTOU": Decr, "URG": None, status: StatusDump,
	}},
	Gunicorn: {1, map[string]Action{
		"HUP": Reload, "INT": QuickStop, "TERM": GracefulStop, "QUIT": QuickStop,
		"USR1": ReopenLogs, "USR2": Upgrade, "WINCH": StopWorkers,
		"TTIN": Incr, "TTOU": Decr, "URG": None, status: StatusDump,
	}},
	Puma: {1, map[string]Action{
		"HUP": ReopenLogsOrGracefulStop, "INT": GracefulStop, "TERM": GracefulStop, "QUIT": QuickStop,
		"USR1": RollingRestart, "USR2": Reload, "WINCH": None,
		"TTIN": Incr, "TTOU": Decr, "URG": RollingRestart, status: StatusDump,
	}},
	Pitchfork: {0, map[string]Action{
		"HUP": Reload, "INT": QuickStop, "TERM": QuickStop, "QUIT": GracefulStop,
		"USR1": ReopenLogs, "USR2": RollingRestart, "WINCH": None,
		"TTIN": Incr, "TTOU": Decr, "URG": None, status: StatusDump,
	}},
}

func statusSig(t *testing.T) syscall.Signal {
	t.Helper()
	name := "PWR"
	switch runtime.GOOS {
	case "darwin", "dragonfly", "freebsd", "netbsd", "openbsd":
		name = "INFO"
	}
	sig, err := ParseSignal(name)
	if err != nil {
		t.Fatalf("status signal: %v", err)
	}
	return sig
}

func sigOf(t *testing.T, name string) syscall.Signal {
	t.Helper()
	if name == status {
		return statusSig(t)
	}
	sig, err := ParseSignal(name)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func TestForEveryCell(t *testing.T) {
	for p, want := range spec {
		m := For(p)
		if got := m.Floor(); got != want.floor {
			t.Errorf("For(%s).Floor() = %d, want %d", p, got, want.floor)
		}
		if got := m.Profile(); got != p {
			t.Errorf("For(%s).Profile() = %q", p, got)
		}
		for name, act := range want.cells {
			t.Run(string(p)+"/"+name, func(t *testing.T) {
				if got := m.Action(sigOf(t, name)); got != act {
					t.Errorf("For(%s).Action(%s) = %q, want %q", p, name, got, act)
				}
			})
		}
	}
	if len(spec) != len(Profiles()) {
		t.Errorf("spec covers %d profiles, package has %d", len(spec), len(Profiles()))
	}
}

func TestSignalsSameForEveryProfile(t *testing.T) {
	want := []syscall.Signal{
		syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGTTIN,
		syscall.SIGTTOU, syscall.SIGURG, statusSig(t),
	}
	for _, p := range Profiles() {
		m := For(p)
		if got := m.Signals(); !slices.Equal(got, want) {
			t.Errorf("For(%s).Signals() = %v, want %v", p, got, want)
		}
		// Every handled signal is a cell of the spec table and vice versa.
		if n := len(spec[p].cells); n != len(m.Signals()) {
			t.Errorf("%s: spec has %d rows, Signals() has %d", p, n, len(m.Signals()))
		}
	}
	// Overrides never change the set main registered at start-up.
	m, err := For(Puma).With(map[string]string{"URG": "ignored", "WINCH": "reload"})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Signals(); !slices.Equal(got, want) {
		t.Errorf("Signals() after With = %v, want %v", got, want)
	}
}

func TestUnmappedSignalIsNone(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGALRM, syscall.SIGCHLD, syscall.SIGKILL, 0, 200} {
		if got := For(Unicorn).Action(sig); got != None {
			t.Errorf("Action(%d) = %q, want None", sig, got)
		}
		if got := (Map{}).Action(sig); got != None {
			t.Errorf("zero Map Action(%d) = %q, want None", sig, got)
		}
	}
	if got := (Map{}).Action(syscall.SIGTERM); got != None {
		t.Errorf("zero Map Action(TERM) = %q, want None", got)
	}
}

func TestForDefaultAndPanic(t *testing.T) {
	if For("") != For(Unicorn) {
		t.Error(`For("") differs from For(Unicorn)`)
	}
	defer func() {
		if recover() == nil {
			t.Error("For(unknown) did not panic")
		}
	}()
	For("bogus")
}

func TestGolden(t *testing.T) {
	for _, p := range Profiles() {
		t.Run(string(p), func(t *testing.T) {
			// The status row is named after the platform's signal, so other
			// systems keep their own golden files.
			name := string(p) + ".golden"
			if runtime.GOOS != "linux" {
				name = string(p) + "." + runtime.GOOS + ".golden"
			}
			path := filepath.Join("testdata", name)
			got := For(p).String()
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if errors.Is(err, os.ErrNotExist) && runtime.GOOS != "linux" {
				t.Skipf("no golden file %s for %s; run with -update to create it", path, runtime.GOOS)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("For(%s).String() differs from %s (run with -update if intended):\n--- got\n%s--- want\n%s", p, path, got, want)
			}
		})
	}
}

func TestParseProfile(t *testing.T) {
	tests := []struct {
		in      string
		want    Profile
		wantErr bool
	}{
		{"", Unicorn, false},
		{"unicorn", Unicorn, false},
		{"gunicorn", Gunicorn, false},
		{"puma", Puma, false},
		{"pitchfork", Pitchfork, false},
		{"Puma", Puma, false},
		{"GUNICORN", Gunicorn, false},
		{"nginx", "", true},
		{" puma", "", true},
		{"unicorn\u212a", "", true},
		{"gunİcorn", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseProfile(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrUnknownProfile) {
					t.Fatalf("ParseProfile(%q) error = %v, want ErrUnknownProfile", tt.in, err)
				}
				if !strings.Contains(err.Error(), strconv.Quote(tt.in)) {
					t.Errorf("error %q does not name the input", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseProfile(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseAction(t *testing.T) {
	for _, a := range Actions() {
		got, err := ParseAction(string(a))
		if err != nil || got != a {
			t.Errorf("ParseAction(%q) = %q, %v", a, got, err)
		}
		got, err = ParseAction(strings.ToUpper(string(a)))
		if err != nil || got != a {
			t.Errorf("ParseAction(upper %q) = %q, %v", a, got, err)
		}
	}
	for _, in := range []string{"", "none", "restart", "quick-stop", "ınc" + "r"} {
		if _, err := ParseAction(in); !errors.Is(err, ErrUnknownAction) {
			t.Errorf("ParseAction(%q) error = %v, want ErrUnknownAction", in, err)
		}
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		in   Action
		owns bool
		want Action
	}{
		{ReopenLogsOrGracefulStop, true, ReopenLogs},
		{ReopenLogsOrGracefulStop, false, GracefulStop},
		{Reload, true, Reload},
		{Reload, false, Reload},
		{None, false, None},
	}
	for _, tt := range tests {
		if got := tt.in.Resolve(tt.owns); got != tt.want {
			t.Errorf("%q.Resolve(%v) = %q, want %q", tt.in, tt.owns, got, tt.want)
		}
	}
}

func TestWith(t *testing.T) {
	tests := []struct {
		name      string
		base      Profile
		overrides map[string]string
		want      map[string]Action // cells that must differ from base
	}{
		{"nil", Unicorn, nil, nil},
		{"spec example", Unicorn, map[string]string{"USR2": "rolling_restart"},
			map[string]Action{"USR2": RollingRestart}},
		{"SIG prefix", Gunicorn, map[string]string{"SIGUSR2": "reload"},
			map[string]Action{"USR2": Reload}},
		{"lower case", Puma, map[string]string{"usr2": "upgrade", "sigwinch": "stop_workers"},
			map[string]Action{"USR2": Upgrade, "WINCH": StopWorkers}},
		{"ignore", Unicorn, map[string]string{"HUP": "ignored"},
			map[string]Action{"HUP": None}},
		{"conditional", Unicorn, map[string]string{"HUP": "reopen_logs_or_graceful_stop"},
			map[string]Action{"HUP": ReopenLogsOrGracefulStop}},
		{"action case", Pitchfork, map[string]string{"URG": "Rolling_Restart"},
			map[string]Action{"URG": RollingRestart}},
		{"same as base", Unicorn, map[string]string{"TERM": "quick_stop"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := For(tt.base)
			before := base
			got, err := base.With(tt.overrides)
			if err != nil {
				t.Fatal(err)
			}
			if base != before {
				t.Error("With changed its receiver")
			}
			if got.Floor() != base.Floor() || got.Profile() != base.Profile() {
				t.Error("With changed the floor or profile")
			}
			for _, sig := range base.Signals() {
				want := base.Action(sig)
				if a, ok := tt.want[Name(sig)]; ok {
					want = a
				}
				if a := got.Action(sig); a != want {
					t.Errorf("Action(%s) = %q, want %q", Name(sig), a, want)
				}
			}
		})
	}
}

func TestWithErrors(t *testing.T) {
	tests := []struct {
		name      string
		overrides map[string]string
		sentinel  error // nil: only an *OverrideError
		key       string
		mention   string
	}{
		{"unknown signal", map[string]string{"FOO": "reload"}, ErrUnknownSignal, "FOO", `"FOO"`},
		{"unhandled signal", map[string]string{"ALRM": "reload"}, ErrUnknownSignal, "ALRM", "pmux handles only HUP"},
		{"KILL", map[string]string{"SIGKILL": "reload"}, ErrUnknownSignal, "SIGKILL", `"SIGKILL"`},
		{"number", map[string]string{"15": "reload"}, ErrUnknownSignal, "15", "use a name"},
		{"empty key", map[string]string{"": "reload"}, ErrUnknownSignal, "", `""`},
		{"unknown action", map[string]string{"USR2": "restart"}, ErrUnknownAction, "USR2", `"restart"`},
		{"empty action", map[string]string{"USR2": ""}, ErrUnknownAction, "USR2", "want one of ignored"},
		{"duplicate", map[string]string{"USR2": "reload", "SIGUSR2": "reload"}, nil, "USR2", `"SIGUSR2" already sets USR2`},
		// Sorted keys: the first bad key in order is the one reported.
		{"first of two", map[string]string{"ZZZ": "reload", "AAA": "reload"}, ErrUnknownSignal, "AAA", "AAA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := For(Unicorn)
			got, err := base.With(tt.overrides)
			var oe *OverrideError
			if !errors.As(err, &oe) {
				t.Fatalf("With error = %v, want *OverrideError", err)
			}
			if oe.Key != tt.key || oe.Value != tt.overrides[tt.key] {
				t.Errorf("OverrideError{Key: %q, Value: %q}, want key %q", oe.Key, oe.Value, tt.key)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("error %q does not wrap %v", err, tt.sentinel)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "signals."+tt.key+": ") || !strings.Contains(msg, tt.mention) {
				t.Errorf("error %q: want prefix signals.%s: and mention of %s", msg, tt.key, tt.mention)
			}
			if got != base {
				t.Error("With returned a changed map with its error")
			}
		})
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want syscall.Signal // 0: error
	}{
		{"TERM", syscall.SIGTERM},
		{"SIGTERM", syscall.SIGTERM},
		{"term", syscall.SIGTERM},
		{"sigterm", syscall.SIGTERM},
		{"SigTerm", syscall.SIGTERM},
		{strconv.Itoa(int(syscall.SIGTERM)), syscall.SIGTERM},
		{"15", syscall.SIGTERM},
		{"9", syscall.SIGKILL},
		{"1", syscall.SIGHUP},
		{"HUP", syscall.SIGHUP},
		{"INT", syscall.SIGINT},
		{"QUIT", syscall.SIGQUIT},
		{"KILL", syscall.SIGKILL},
		{"USR1", syscall.SIGUSR1},
		{"usr2", syscall.SIGUSR2},
		{"WINCH", syscall.SIGWINCH},
		{"TTIN", syscall.SIGTTIN},
		{"TTOU", syscall.SIGTTOU},
		{"URG", syscall.SIGURG},
		{"CHLD", syscall.SIGCHLD},
		{"CONT", syscall.SIGCONT},
		{"STOP", syscall.SIGSTOP},
		{"ALRM", syscall.SIGALRM},
		{"IOT", syscall.SIGABRT},
		{"0", 0},
		{"00", 0},
		{"-15", 0},
		{"+15", 0},
		{"1000", 0},
		{"99999999999999999999999", 0},
		{"", 0},
		{"SIG", 0},
		{"SIGSIG", 0},
		{"SIG15", 0},
		{" TERM", 0},
		{"TERM ", 0},
		{"TERMINATE", 0},
		{"RTMIN", 0},
		{"SIGTERM\x00", 0},
		{"ſigterm", 0}, // Unicode folds ſ to S; pmux does not
		{"ınt", 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSignal(tt.in)
			if tt.want == 0 {
				if !errors.Is(err, ErrUnknownSignal) {
					t.Fatalf("ParseSignal(%q) = %v, %v, want ErrUnknownSignal", tt.in, got, err)
				}
				if !strings.Contains(err.Error(), strconv.Quote(tt.in)) {
					t.Errorf("error %q does not name the input", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSignal(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseSignalPlatform(t *testing.T) {
	var ok, bad []string
	switch runtime.GOOS {
	case "linux":
		ok, bad = []string{"PWR", "SIGPWR", "POLL", "CLD"}, []string{"INFO", "EMT"}
	case "darwin", "dragonfly", "freebsd", "netbsd", "openbsd":
		ok, bad = []string{"INFO", "SIGINFO", "EMT"}, []string{"PWR"}
	}
	for _, s := range ok {
		if _, err := ParseSignal(s); err != nil {
			t.Errorf("ParseSignal(%q) on %s: %v", s, runtime.GOOS, err)
		}
	}
	for _, s := range bad {
		if _, err := ParseSignal(s); err == nil {
			t.Errorf("ParseSignal(%q) on %s succeeded", s, runtime.GOOS)
		}
	}
}

func TestName(t *testing.T) {
	tests := []struct {
		sig  syscall.Signal
		want string
	}{
		{syscall.SIGTERM, "TERM"},
		{syscall.SIGHUP, "HUP"},
		{syscall.SIGUSR2, "USR2"},
		{syscall.SIGABRT, "ABRT"}, // not the alias IOT
		{syscall.SIGIO, "IO"},     // not the alias POLL
		{syscall.SIGCHLD, "CHLD"}, // not the alias CLD
		{0, "0"},
		{200, "200"},
	}
	for _, tt := range tests {
		if got := Name(tt.sig); got != tt.want {
			t.Errorf("Name(%d) = %q, want %q", tt.sig, got, tt.want)
		}
	}
	// Every canonical name parses back to its signal, by name and by number.
	for sig, name := range bySig {
		for _, s := range []string{name, "SIG" + name, strings.ToLower(name), strconv.Itoa(int(sig))} {
			if got, err := ParseSignal(s); err != nil || got != sig {
				t.Errorf("ParseSignal(%q) = %v, %v, want %v", s, got, err, sig)
			}
		}
	}
}

func FuzzParseSignal(f *testing.F) {
	for _, s := range []string{"TERM", "SIGTERM", "term", "15", "0", "", "SIG", "sigpwr", "INFO", "IOT", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := ParseSignal(s)
		if err != nil {
			if !errors.Is(err, ErrUnknownSignal) {
				t.Fatalf("ParseSignal(%q) error %v does not wrap ErrUnknownSignal", s, err)
			}
			return
		}
		if sig <= 0 {
			t.Fatalf("ParseSignal(%q) = %d, nil", s, sig)
		}
		name := Name(sig)
		for _, form := range []string{name, "SIG" + name, strings.ToLower(name), strconv.Itoa(int(sig))} {
			back, err := ParseSignal(form)
			if err != nil || back != sig {
				t.Fatalf("ParseSignal(%q) = %v; ParseSignal(%q) = %v, %v", s, sig, form, back, err)
			}
		}
	})
}

func FuzzWith(f *testing.F) {
	f.Add("USR2", "rolling_restart")
	f.Add("sigwinch", "ignored")
	f.Add("15", "reload")
	f.Add("KILL", "reload")
	f.Add("HUP", "nonsense")
	f.Fuzz(func(t *testing.T, key, value string) {
		base := For(Puma)
		m, err := base.With(map[string]string{key: value})
		if err != nil {
			var oe *OverrideError
			if !errors.As(err, &oe) || oe.Key != key || m != base {
				t.Fatalf("With(%q=%q) = %v", key, value, err)
			}
			return
		}
		sig, err := ParseSignal(key)
		if err != nil {
			t.Fatalf("With accepted key %q that ParseSignal rejects: %v", key, err)
		}
		want, _ := ParseAction(value)
		if got := m.Action(sig); got != want {
			t.Fatalf("With(%q=%q).Action = %q", key, value, got)
		}
	})
}
