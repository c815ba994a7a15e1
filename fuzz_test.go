package main

// Fuzz targets for the parsers that live where the fuzz suite cannot add a
// file of its own: sd_notify datagrams (manager.ParseNotify, exported) and
// the argument of `pmux scale`. The other parsers are fuzzed in their
// packages: bind specs (sockets), LISTEN_* (sockets), config, Procfile,
// env files, formations, durations and sizes (config), signal, profile and
// action names (signalmap), pidfiles (pidfile), control requests
// (control), worker output lines (logs).

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pmux/pmux/manager"
)

// FuzzParseNotify: a worker's datagram never panics the master; every
// field has a non-empty key without '=' or a newline, and fields printed
// back one per line parse to the same fields.
func FuzzParseNotify(f *testing.F) {
	for _, s := range []string{"READY=1", "READY=1\nSTATUS=serving\n", "WATCHDOG=1", "STOPPING=1\nSTATUS=bye",
		"=x", "READY", "A=1\nA=2", "STATUS=a=b", "\n\n", "MAINPID=4\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fields := manager.ParseNotify(data)
		var lines []string
		for _, k := range slices.Sorted(maps.Keys(fields)) {
			v := fields[k]
			if k == "" || strings.ContainsAny(k, "=\n") || strings.Contains(v, "\n") {
				t.Fatalf("field %q=%q from %q", k, v, data)
			}
			lines = append(lines, k+"="+v)
		}
		if back := manager.ParseNotify([]byte(strings.Join(lines, "\n"))); !maps.Equal(back, fields) {
			t.Fatalf("%q → %q → %q", data, fields, back)
		}
	})
}

// FuzzParseScaleArg: `pmux scale` never panics on its argument; what it
// accepts names a pool, changes something, stays in range when absolute,
// and prints back to the same request.
func FuzzParseScaleArg(f *testing.F) {
	for _, s := range []string{"web=4", "web=+1", "web=-1", "web=0", "web=+0", "=4", "web=", "web", "web=1025",
		"a=b=c", "web=007", "web=-99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := parseScaleArg(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q is not one line", err)
			}
			return
		}
		if a.pool == "" || strings.Contains(a.pool, "=") {
			t.Fatalf("%q: pool %q", s, a.pool)
		}
		if a.relative && a.n == 0 {
			t.Fatalf("%q: a change of 0 accepted", s)
		}
		if !a.relative && (a.n < 0 || a.n > manager.MaxWorkers) {
			t.Fatalf("%q: count %d accepted", s, a.n)
		}
		n := strconv.Itoa(a.n)
		if a.relative && a.n > 0 {
			n = "+" + n
		}
		if back, err := parseScaleArg(a.pool + "=" + n); err != nil || back != a {
			t.Fatalf("%q → %+v → %+v, %v", s, a, back, err)
		}
	})
}
