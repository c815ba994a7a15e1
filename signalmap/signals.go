package signalmap

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// commonNames are the signals every supported system has, by canonical name.
// The platform files add their own in platformNames and aliasNames.
var commonNames = []struct {
	name string
	sig  syscall.Signal
}{
	{"HUP", syscall.SIGHUP},
	{"INT", syscall.SIGINT},
	{"QUIT", syscall.SIGQUIT},
	{"ILL", syscall.SIGILL},
	{"TRAP", syscall.SIGTRAP},
	{"ABRT", syscall.SIGABRT},
	{"BUS", syscall.SIGBUS},
	{"FPE", syscall.SIGFPE},
	{"KILL", syscall.SIGKILL},
	{"USR1", syscall.SIGUSR1},
	{"SEGV", syscall.SIGSEGV},
	{"USR2", syscall.SIGUSR2},
	{"PIPE", syscall.SIGPIPE},
	{"ALRM", syscall.SIGALRM},
	{"TERM", syscall.SIGTERM},
	{"CHLD", syscall.SIGCHLD},
	{"CONT", syscall.SIGCONT},
	{"STOP", syscall.SIGSTOP},
	{"TSTP", syscall.SIGTSTP},
	{"TTIN", syscall.SIGTTIN},
	{"TTOU", syscall.SIGTTOU},
	{"URG", syscall.SIGURG},
	{"XCPU", syscall.SIGXCPU},
	{"XFSZ", syscall.SIGXFSZ},
	{"VTALRM", syscall.SIGVTALRM},
	{"PROF", syscall.SIGPROF},
	{"WINCH", syscall.SIGWINCH},
	{"IO", syscall.SIGIO},
	{"SYS", syscall.SIGSYS},
}

var (
	byName = map[string]syscall.Signal{} // canonical names and aliases
	bySig  = map[syscall.Signal]string{} // canonical names only
)

func init() {
	add := func(name string, sig syscall.Signal) {
		byName[name] = sig
		if _, ok := bySig[sig]; !ok {
			bySig[sig] = name
		}
	}
	for _, n := range commonNames {
		add(n.name, n.sig)
	}
	for _, n := range platformNames {
		add(n.name, n.sig)
	}
	// Aliases last, so that Name never returns one: IOT is the same signal as
	// ABRT, and ABRT is the name people know.
	for _, n := range aliasNames {
		byName[n.name] = n.sig
	}
}

// ParseSignal returns the signal s names: a name in any case with or without
// the SIG prefix ("TERM", "SIGTERM", "term") or this system's decimal number
// of a named signal ("15"). Anything else, including 0, is an error wrapping
// ErrUnknownSignal.
func ParseSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return 0, fmt.Errorf("parse signal %q: %w: empty name", s, ErrUnknownSignal)
	}
	if isDigits(s) {
		n, err := strconv.Atoi(s)
		if err == nil {
			sig := syscall.Signal(n)
			if _, ok := bySig[sig]; ok {
				return sig, nil
			}
		}
		return 0, fmt.Errorf("parse signal %q: %w: no signal has that number here", s, ErrUnknownSignal)
	}
	// ASCII only: strings.ToUpper would turn "ſigterm" into "SIGTERM".
	name, ok := asciiUpper(s)
	if !ok {
		return 0, fmt.Errorf("parse signal %q: %w", s, ErrUnknownSignal)
	}
	// "SIG" alone must stay unknown, not become the empty name.
	if rest, ok := strings.CutPrefix(name, "SIG"); ok && rest != "" {
		name = rest
	}
	if sig, ok := byName[name]; ok {
		return sig, nil
	}
	return 0, fmt.Errorf("parse signal %q: %w", s, ErrUnknownSignal)
}

// Name returns sig's canonical name without the SIG prefix ("TERM"). A
// signal with no name here (a real-time signal, say) is rendered as its
// decimal number, which ParseSignal does not accept.
func Name(sig syscall.Signal) string {
	if name, ok := bySig[sig]; ok {
		return name
	}
	return strconv.Itoa(int(sig))
}

// asciiUpper upper-cases s, or reports false if s is not all ASCII.
func asciiUpper(s string) (string, bool) {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 0x80:
			return "", false
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b), true
}

// asciiLower lower-cases s, or reports false if s is not all ASCII.
func asciiLower(s string) (string, bool) {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 0x80:
			return "", false
		case 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b), true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
