package manager

import (
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/logs"
	"github.com/pmux/pmux/signalmap"
)

// failBoots makes each worker of pids exit with code 1 at once, and each
// one started in its place, until every one of those slots has failed n
// times. The clock moves only as far as the backoff needs, in small steps,
// so a worker is never up long enough to count as booted.
func (h *harness) failBoots(pids []int, n int) {
	h.t.Helper()
	pending := append([]int(nil), pids...)
	for round := 0; round < n; round++ {
		for _, pid := range pending {
			h.sp.exit(pid, 1, 0)
		}
		if round == n-1 {
			return
		}
		var next []int
		for step := 0; len(next) < len(pending); step++ {
			if step > 1000 {
				h.t.Fatalf("%d of %d slots respawned after %d steps", len(next), len(pending), step)
			}
			h.sync()
			select {
			case c := <-h.sp.calls:
				if !c.start {
					h.t.Fatalf("got signal %v to %d, want a start", c.signal, c.pid)
				}
				next = append(next, c.pid)
			default:
				h.advance(10 * time.Millisecond)
			}
		}
		pending = next
	}
}

func withOutput(o *Options) { o.Output = logs.NewSink(io.Discard, logs.SinkOptions{}) }

// A pool whose workers all exit before they are ready, three times in a
// row in each slot, fails the start: Run returns a BootError that names
// the pool, the command, how the last boot failed and what it printed,
// and the supervisor never hears READY=1.
func TestFirstBootThatNeverBootsFailsTheStart(t *testing.T) {
	sp := newFakeSpawner()
	sp.output = "booting\nruby: No such file or directory -- nosuchfile.rb (LoadError)\n"
	h := newHarnessOpts(t, sp, signalmap.Unicorn, withOutput,
		PoolConfig{Workers: 2, Ready: ReadyNotify, Args: []string{"ruby", "nosuchfile.rb"}})
	a, b := h.expectStart().pid, h.expectStart().pid
	h.failBoots([]int{a, b}, maxBootFailures)
	err := h.finished()
	var be *BootError
	if !errors.As(err, &be) {
		t.Fatalf("Run = %v, want a BootError", err)
	}
	msg := err.Error()
	for _, want := range []string{"pool web", "failed to boot, 3 times in a row in each of its 2 slots", "ruby nosuchfile.rb",
		"exit 1 before it was ready", "LoadError", "run the command by hand"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	t.Log(msg)
	if strings.Contains(msg, "\n") {
		t.Errorf("error %q is more than one line", msg)
	}
	if got := sp.attempts; got != 2*maxBootFailures {
		t.Errorf("%d starts, want %d: none after the start failed", got, 2*maxBootFailures)
	}
	for len(h.sup) > 0 {
		if s := <-h.sup; strings.Contains(s, "READY=1") {
			t.Errorf("told the supervisor %q", s)
		}
	}
}

// One slot still booting keeps the start alive: the master gives up only
// once every slot has failed its boots.
func TestFirstBootWaitsForEverySlot(t *testing.T) {
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: 2, Ready: ReadyNotify})
	a, b := h.expectStart().pid, h.expectStart().pid
	h.failBoots([]int{a}, maxBootFailures)
	h.advance(maxBackoff)
	a = h.expectStart().pid // slot 0 tries again: slot 1 has not failed yet
	h.ready(b)
	h.sync()
	// Slot 1 booted: the pool did, and slot 0's failures only back off.
	h.failBoots([]int{a}, 2*maxBootFailures)
	h.advance(maxBackoff)
	h.expectStart()
	select {
	case <-h.done:
		t.Fatalf("Run returned %v after one slot booted", h.err)
	default:
	}
}

// Under --ready none a worker is ready at exec; one of the first
// generation that exits within bootGrace failed its boot, and READY=1
// waits for the pool to boot. One that stayed up has booted: its crashes
// from then on back off forever.
func TestFirstBootUnderReadyNone(t *testing.T) {
	t.Run("exits at once", func(t *testing.T) {
		h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: 1, Args: []string{"app"}})
		h.failBoots([]int{h.expectStart().pid}, maxBootFailures)
		err := h.finished()
		if err == nil || !strings.Contains(err.Error(), "exit 1 0s after it started") {
			t.Fatalf("Run = %v, want the failed boot and how soon it exited", err)
		}
	})
	t.Run("stays up", func(t *testing.T) {
		h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: 1})
		pid := h.expectStart().pid
		h.advance(bootGrace - time.Millisecond)
		h.sync()
		if len(h.sup) != 0 {
			t.Fatalf("told the supervisor %q before the worker stayed up %v", <-h.sup, bootGrace)
		}
		h.advance(time.Millisecond)
		if s := h.supState(); !strings.HasPrefix(s, "READY=1") {
			t.Fatalf("state %q, want READY=1 once it stayed up", s)
		}
		h.failBoots([]int{pid}, 2*maxBootFailures)
		h.advance(maxBackoff)
		h.expectStart()
	})
}

// A worker not ready by --boot-timeout is killed; that is a failed boot.
func TestFirstBootTimeoutsFailTheStart(t *testing.T) {
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: 1, Ready: ReadyNotify, BootTimeout: time.Second, Args: []string{"app"}})
	for i := 0; i < maxBootFailures; i++ {
		if i > 0 {
			h.advance(maxBackoff)
		}
		pid := h.expectStart().pid
		h.advance(time.Second)
		h.expectSignal(pid, syscall.SIGKILL)
		h.sp.exit(pid, 0, syscall.SIGKILL)
	}
	err := h.finished()
	if err == nil || !strings.Contains(err.Error(), "not ready within --boot-timeout 1s") {
		t.Fatalf("Run = %v, want the boot timeout named", err)
	}
}

// A reload during a first boot that fails ends the first boot: the master
// was told to try again, and from then on it backs off, never exits.
func TestReloadEndsTheFirstBoot(t *testing.T) {
	h := newHarness(t, signalmap.Unicorn, PoolConfig{Workers: 1, Ready: ReadyNotify})
	pid := h.expectStart().pid
	h.failBoots([]int{pid}, maxBootFailures-1)
	h.advance(maxBackoff)
	pid = h.expectStart().pid
	h.signals <- syscall.SIGHUP
	n := h.expectStart().pid
	h.sp.exit(pid, 1, 0)
	h.failBoots([]int{n}, 2*maxBootFailures)
	h.advance(maxBackoff)
	h.expectStart()
	select {
	case <-h.done:
		t.Fatalf("Run returned %v after a reload", h.err)
	default:
	}
}

// A pool that cannot boot fails the whole start even while another pool
// serves: its workers are stopped quickly and Run names the failed pool.
func TestFirstBootFailureStopsTheOtherPools(t *testing.T) {
	h := newHarness(t, signalmap.Unicorn,
		PoolConfig{Name: "web", Workers: 1, Ready: ReadyNotify},
		PoolConfig{Name: "jobs", Workers: 1, Ready: ReadyNotify, Args: []string{"jobs"}})
	web, jobs := h.expectStart().pid, h.expectStart().pid
	h.ready(web)
	h.failBoots([]int{jobs}, maxBootFailures)
	h.expectSignal(web, syscall.SIGINT)
	h.sp.exit(web, 0, syscall.SIGINT)
	err := h.finished()
	if err == nil || !strings.Contains(err.Error(), "pool jobs:") {
		t.Fatalf("Run = %v, want pool jobs named", err)
	}
}

func TestOutputTailKeepsTheLastLines(t *testing.T) {
	tail := newOutputTail()
	tail.Write([]byte("one\ntwo\n\n  \nthree"))
	tail.Write([]byte(" and more\r\n"))
	if got := strings.Join(tail.lines(3), "|"); got != "one|two|three and more" {
		t.Errorf("lines %q", got)
	}
	tail.Write([]byte(strings.Repeat("x", 3*tailBytes) + "\nlast\n"))
	got := tail.lines(3)
	if len(got) != 2 || got[1] != "last" || len(got[0]) != tailWidth+len("…") {
		t.Errorf("after a long line: %d lines, %q", len(got), got[len(got)-1])
	}
	if len(tail.buf) > tailBytes {
		t.Errorf("tail holds %d bytes, want at most %d", len(tail.buf), tailBytes)
	}
}

// TestOutputTailStopsOnceBooted: once its pool has booted no BootError can
// come, and a worker's tail holds nothing more for the rest of its life.
func TestOutputTailStopsOnceBooted(t *testing.T) {
	tail := newOutputTail()
	tail.Write([]byte(strings.Repeat("x", tailBytes)))
	tail.stop()
	tail.Write([]byte("more\n"))
	if tail.buf != nil || len(tail.lines(3)) != 0 {
		t.Errorf("a stopped tail holds %d bytes and says %q", len(tail.buf), tail.lines(3))
	}
}
