package sockets

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// FuzzListenEnv: the socket-activation variables never panic the parser;
// a rejection wraps ErrActivationEnv; an acceptance is for this pid and
// keeps LISTEN_FDNAMES as given, one name per fd. The huge counts among the
// seeds are claims the parser must not trust: parsing them allocates
// nothing per fd (the check of the fds themselves is ListenFDs').
func FuzzListenEnv(f *testing.F) {
	for _, s := range [][3]string{
		{"4242", "1", ""}, {"4242", "2", "web:admin"}, {"4242", "2", "web"}, {"1", "2", ""},
		{"", "1", ""}, {"4242", "0", ""}, {"4242", "-1", ""}, {"+4242", "1", ""}, {"4242", " 1", ""},
		{"4242", "99999999999999999999", ""}, {"4242", "3", "::"}, {"0", "1", "x"},
		{"4242", "2147483645", ""}, {"4242", "1000000000", ""}, {"4242", "2147483645", "a:b"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	const pid = 4242
	f.Fuzz(func(t *testing.T, lpid, fds, names string) {
		env := map[string]string{"LISTEN_PID": lpid, "LISTEN_FDS": fds, "LISTEN_FDNAMES": names}
		var n int
		var got string
		var err error
		allocs := testing.AllocsPerRun(1, func() {
			n, got, err = parseListenEnv(func(k string) string { return env[k] }, pid)
		})
		if err != nil {
			if !errors.Is(err, ErrActivationEnv) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q: want one line wrapping ErrActivationEnv", err)
			}
			return
		}
		// An error message allocates; an acceptance must not, whatever n.
		if allocs > 0 {
			t.Fatalf("LISTEN_FDS=%q: %v allocations to parse", fds, allocs)
		}
		if n == 0 {
			if got != "" {
				t.Fatalf("no sockets but names %q", got)
			}
			return
		}
		if lpid != strconv.Itoa(pid) {
			t.Fatalf("accepted LISTEN_PID=%q for pid %d", lpid, pid)
		}
		if strconv.Itoa(n) != fds {
			t.Fatalf("LISTEN_FDS=%q gave %d sockets", fds, n)
		}
		if got != names {
			t.Fatalf("LISTEN_FDNAMES=%q gave %q", names, got)
		}
		// splitNames runs only once ListenFDs has checked the fds, so a
		// count that large never reaches it.
		if n <= 1<<16 {
			if split := splitNames(got, n); len(split) != n {
				t.Fatalf("LISTEN_FDNAMES=%q split into %d names for %d fds", got, len(split), n)
			}
		}
	})
}
