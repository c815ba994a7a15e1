package manager

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/signalmap"
)

func TestExplainLimit(t *testing.T) {
	emfile := fmt.Errorf("start /srv/app: %w", syscall.EMFILE)
	for _, tc := range []struct {
		name string
		err  error
		want []string // in the message; nil: err comes back as it is
	}{
		{"EMFILE", emfile, []string{"start /srv/app: too many open files: pmux reached its open-files limit (", "ulimit -n", "LimitNOFILE="}},
		{"ENFILE", fmt.Errorf("pipe: %w", syscall.ENFILE), []string{"fs.file-max"}},
		{"another error", fmt.Errorf("start /srv/app: %w", syscall.ENOENT), nil},
		{"nil", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ExplainLimit(tc.err)
			if tc.want == nil {
				if got != tc.err {
					t.Fatalf("ExplainLimit(%v) = %v, want it unchanged", tc.err, got)
				}
				return
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("%v does not wrap %v", got, tc.err)
			}
			for _, w := range tc.want {
				if !strings.Contains(got.Error(), w) {
					t.Errorf("%q lacks %q", got, w)
				}
			}
			if again := ExplainLimit(got); again.Error() != got.Error() {
				t.Errorf("explained twice: %q", again)
			}
		})
	}
}

// A worker of the first generation that cannot be started fails the start:
// the ones already started are stopped, nothing is retried, Run returns
// the cause with the limit named, and the supervisor never hears READY.
func TestStartFailureInTheFirstGenerationFailsTheStart(t *testing.T) {
	sp := newFakeSpawner()
	sp.failWith = fmt.Errorf("start /srv/app: %w", syscall.EMFILE)
	sp.okStarts = 2
	h := newHarnessWith(t, sp, signalmap.Unicorn, PoolConfig{Workers: 4})
	a, b := h.expectStart().pid, h.expectStart().pid
	h.expectSignal(a, syscall.SIGINT)
	h.expectSignal(b, syscall.SIGINT)
	h.sp.exit(a, 0, syscall.SIGINT)
	h.sp.exit(b, 0, syscall.SIGINT)
	err := h.finished()
	if err == nil || !errors.Is(err, syscall.EMFILE) || !strings.Contains(err.Error(), "open-files limit") ||
		!strings.Contains(err.Error(), "start pool web: worker 2 (2 of 4 running)") {
		t.Fatalf("Run = %v, want the failed start, its pool and slot, and the limit", err)
	}
	if sp.attempts != 3 {
		t.Errorf("%d starts tried, want 3: none after the first failure", sp.attempts)
	}
	for len(h.sup) > 0 {
		if s := <-h.sup; strings.Contains(s, "READY=1") {
			t.Errorf("told the supervisor %q", s)
		}
	}
}

// Past the start, the same failure (TTIN beyond the open-files limit) is
// retried with backoff, never at once, and the master keeps what it has.
func TestStartFailureLaterBacksOff(t *testing.T) {
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: 1})
	first := h.expectStart().pid
	h.sync()
	h.sp.mu.Lock()
	h.sp.failWith = fmt.Errorf("start /srv/app: %w", syscall.EMFILE)
	h.sp.okStarts = 0
	h.sp.mu.Unlock()
	attempts := func() int {
		h.sync()
		h.sp.mu.Lock()
		defer h.sp.mu.Unlock()
		return h.sp.attempts
	}
	base := attempts()
	h.signals <- syscall.SIGTTIN
	if n := attempts() - base; n != 1 {
		t.Fatalf("%d attempts on TTIN, want 1: a failed start is not retried at once", n)
	}
	for i, wait := range []time.Duration{firstBackoff, 2 * firstBackoff, 4 * firstBackoff} {
		h.advance(wait - time.Millisecond)
		if n := attempts() - base; n != i+1 {
			t.Fatalf("%d attempts %v into backoff step %d (%v), want %d", n, wait-time.Millisecond, i, wait, i+1)
		}
		h.advance(time.Millisecond)
		if n := attempts() - base; n != i+2 {
			t.Fatalf("%d attempts once backoff step %d (%v) is over, want %d", n, i, wait, i+2)
		}
	}
	st := h.status()
	if len(st.Pools) != 1 || len(st.Pools[0].Workers) != 1 || st.Pools[0].Workers[0].Pid != first {
		t.Errorf("status %+v: want the first worker still there", st)
	}
}
