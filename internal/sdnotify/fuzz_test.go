package sdnotify_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/pmux/pmux/internal/sdnotify"
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
		fields := sdnotify.Parse(data)
		var lines []string
		for _, k := range slices.Sorted(maps.Keys(fields)) {
			v := fields[k]
			if k == "" || strings.ContainsAny(k, "=\n") || strings.Contains(v, "\n") {
				t.Fatalf("field %q=%q from %q", k, v, data)
			}
			lines = append(lines, k+"="+v)
		}
		if back := sdnotify.Parse([]byte(strings.Join(lines, "\n"))); !maps.Equal(back, fields) {
			t.Fatalf("%q → %q → %q", data, fields, back)
		}
	})
}
