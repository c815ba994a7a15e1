package sockets

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

// FuzzListenEnv: the socket-activation variables never panic the parser;
// a rejection wraps ErrActivationEnv; an acceptance is for this pid, names
// every fd, and keeps LISTEN_FDNAMES as given.
func FuzzListenEnv(f *testing.F) {
	for _, s := range [][3]string{
		{"4242", "1", ""}, {"4242", "2", "web:admin"}, {"4242", "2", "web"}, {"1", "2", ""},
		{"", "1", ""}, {"4242", "0", ""}, {"4242", "-1", ""}, {"+4242", "1", ""}, {"4242", " 1", ""},
		{"4242", "99999999999999999999", ""}, {"4242", "3", "::"}, {"0", "1", "x"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	const pid = 4242
	f.Fuzz(func(t *testing.T, lpid, fds, names string) {
		// parseListenEnv makes a slice of LISTEN_FDS names before it looks
		// at anything else, so a huge count is a huge allocation (reported;
		// TestFaultHugeListenFDs in the root package shows the crash).
		// Until that is fixed, fuzzing stays below it unless asked.
		if n, err := strconv.Atoi(strings.TrimSpace(fds)); err == nil && n > 1<<16 && os.Getenv("PMUX_KNOWN_BUGS") == "" {
			t.Skip("huge LISTEN_FDS: known bug")
		}
		env := map[string]string{"LISTEN_PID": lpid, "LISTEN_FDS": fds, "LISTEN_FDNAMES": names}
		n, got, err := parseListenEnv(func(k string) string { return env[k] }, pid)
		if err != nil {
			if !errors.Is(err, ErrActivationEnv) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q: want one line wrapping ErrActivationEnv", err)
			}
			return
		}
		if n == 0 {
			if got != nil {
				t.Fatalf("no sockets but names %q", got)
			}
			return
		}
		if lpid != strconv.Itoa(pid) {
			t.Fatalf("accepted LISTEN_PID=%q for pid %d", lpid, pid)
		}
		if strconv.Itoa(n) != fds || len(got) != n {
			t.Fatalf("LISTEN_FDS=%q gave %d sockets and %d names", fds, n, len(got))
		}
		if names != "" && strings.Join(got, ":") != names {
			t.Fatalf("LISTEN_FDNAMES=%q gave %q", names, got)
		}
	})
}
