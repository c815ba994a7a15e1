package command

import (
	"strconv"
	"strings"
	"testing"

	"github.com/pmux/pmux/status"
)

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
		if !a.relative && (a.n < 0 || a.n > status.MaxWorkers) {
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
