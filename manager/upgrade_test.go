package manager

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/signalmap"
	"github.com/pmux/pmux/sockets"
	"github.com/pmux/pmux/spawn"
)

// fakeHandover records what the manager asked of the hand-over and starts
// the successor through the fake spawner, as package handover does.
type fakeHandover struct {
	mu        sync.Mutex
	failStart error
	calls     []string
	keys      []string
	files     int
}

func (f *fakeHandover) record(c string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

func (f *fakeHandover) StartSuccessor(start func(spawn.Spec) (int, error), keys []string, files []*os.File) (int, error) {
	f.mu.Lock()
	f.keys, f.files = slices.Sorted(slices.Values(keys)), len(files)
	fail := f.failStart
	f.mu.Unlock()
	if fail != nil {
		f.record("start failed")
		return 0, fail
	}
	pid, err := start(spawn.Spec{Path: "/new/pmux", Direct: true})
	f.record("start " + strconv.Itoa(pid))
	return pid, err
}

func (f *fakeHandover) SuccessorExited(child int) error {
	f.record("successor exited " + strconv.Itoa(child))
	return nil
}

func (f *fakeHandover) ParentExited() error { f.record("parent exited"); return nil }
func (f *fakeHandover) Leaving() error      { f.record("leaving"); return nil }

func (f *fakeHandover) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// upgradeHarness runs an old master (no parent) with one ready worker
// serving ls, whose upgrades go through ho.
func upgradeHarness(t *testing.T, ho *fakeHandover, ls []*sockets.Listener) (*harness, int) {
	t.Helper()
	h := newHarnessOpts(t, newFakeSpawner(), signalmap.Unicorn, func(o *Options) {
		o.Upgrade = &UpgradeOptions{Handover: ho, Binary: "/new/pmux"}
	}, PoolConfig{Workers: 1, Listeners: ls, Ready: ReadyNotify})
	worker := h.expectStart().pid
	h.ready(worker)
	h.sync()
	return h, worker
}

func expectCalls(t *testing.T, ho *fakeHandover, want ...string) {
	t.Helper()
	if got := ho.seen(); !slices.Equal(got, want) {
		t.Fatalf("hand-over calls %q, want %q", got, want)
	}
}

// USR2 starts one successor, handed every listener; a second USR2 while it
// lives is ignored; its exit is a rollback that undoes the hand-over and
// lets the next USR2 start another.
func TestUpgradeStartsOneSuccessorAndRollsBack(t *testing.T) {
	ls := openListeners(t, 2)
	ho := &fakeHandover{}
	h, _ := upgradeHarness(t, ho, ls)

	h.signals <- syscall.SIGUSR2
	child := h.expectStart()
	if !child.spec.Direct {
		t.Errorf("successor started as a worker (%+v), want Direct", child.spec)
	}
	if want := []string{ls[0].Key(), ls[1].Key()}; !slices.Equal(ho.keys, slices.Sorted(slices.Values(want))) || ho.files != 2 {
		t.Errorf("successor handed keys %q and %d files, want %q and 2", ho.keys, ho.files, want)
	}
	if st := h.status(); st.UpgradeChild != child.pid {
		t.Errorf("status upgrade child %d, want %d", st.UpgradeChild, child.pid)
	}

	h.signals <- syscall.SIGUSR2
	h.expectQuiet()
	expectCalls(t, ho, "start "+strconv.Itoa(child.pid))

	h.sp.exit(child.pid, 1, 0)
	h.sync()
	if st := h.status(); st.UpgradeChild != 0 || st.Phase != "running" {
		t.Errorf("after the successor's exit: child %d, phase %s; want 0, running", st.UpgradeChild, st.Phase)
	}
	expectCalls(t, ho, "start "+strconv.Itoa(child.pid), "successor exited "+strconv.Itoa(child.pid))

	h.signals <- syscall.SIGUSR2
	again := h.expectStart()
	if again.pid == child.pid {
		t.Fatalf("second upgrade reused pid %d", again.pid)
	}
}

// A successor that cannot be started leaves the master serving, with no
// upgrade in progress, and the next USR2 tries again.
func TestUpgradeThatFailsToStartKeepsServing(t *testing.T) {
	ho := &fakeHandover{failStart: errors.New("new binary /new/pmux: not an executable file")}
	h, worker := upgradeHarness(t, ho, nil)
	h.signals <- syscall.SIGUSR2
	h.expectQuiet()
	st := h.status()
	if st.UpgradeChild != 0 || len(st.Pools[0].Workers) != 1 || st.Pools[0].Workers[0].Pid != worker {
		t.Errorf("after a failed upgrade: %+v, want worker %d serving and no child", st, worker)
	}
	ho.mu.Lock()
	ho.failStart = nil
	ho.mu.Unlock()
	h.signals <- syscall.SIGUSR2
	h.expectStart()
	h.sync()
	expectCalls(t, ho, "start failed", "start 1002")
}

// An old master that stops while its successor serves hands the
// supervisor's main pid to it and lets the hand-over clean its side; it
// never undoes the hand-over.
func TestOldMasterLeavesToItsSuccessor(t *testing.T) {
	ho := &fakeHandover{}
	h, worker := upgradeHarness(t, ho, nil)
	for len(h.sup) > 0 {
		<-h.sup
	}
	h.signals <- syscall.SIGUSR2
	child := h.expectStart().pid
	h.signals <- syscall.SIGQUIT
	h.expectSignal(worker, syscall.SIGTERM)
	h.sp.exit(worker, 0, 0)
	if err := h.finished(); err != nil {
		t.Fatal(err)
	}
	expectCalls(t, ho, "start "+strconv.Itoa(child), "leaving")
	var states []string
	for len(h.sup) > 0 {
		states = append(states, <-h.sup)
	}
	if want := fmt.Sprintf("MAINPID=%d\nSTATUS=handed over to new master %d", child, child); !slices.Contains(states, want) {
		t.Errorf("supervisor states %q, want %q", states, want)
	}
}

// The new master ignores USR2 while its parent lives, and takes over once
// the parent is gone; then it may upgrade in its turn.
func TestNewMasterUpgradesOnlyOnceInCharge(t *testing.T) {
	ho := &fakeHandover{}
	parentExited := make(chan struct{})
	h := newHarnessOpts(t, newFakeSpawner(), signalmap.Unicorn, func(o *Options) {
		o.Upgrade = &UpgradeOptions{Handover: ho, Parent: 99, ParentExited: parentExited}
	}, PoolConfig{Workers: 1})
	h.expectStart()
	h.signals <- syscall.SIGUSR2
	h.expectQuiet()
	if st := h.status(); st.UpgradeParent != 99 {
		t.Errorf("status upgrade parent %d, want 99", st.UpgradeParent)
	}
	close(parentExited)
	h.sync()
	if st := h.status(); st.UpgradeParent != 0 {
		t.Errorf("status upgrade parent %d after its exit, want 0", st.UpgradeParent)
	}
	h.signals <- syscall.SIGUSR2
	child := h.expectStart().pid
	h.sync()
	expectCalls(t, ho, "parent exited", "start "+strconv.Itoa(child))
}

// The master that feeds systemd's watchdog names itself in the new
// master's WATCHDOG_PID, so that one pings too, and its own successor in
// turn; one that does not feed it adds nothing (the hand-over passes its
// environment on).
func TestUpgradeHandsTheWatchdogOn(t *testing.T) {
	for _, tc := range []struct {
		name     string
		watchdog time.Duration
		want     []string
	}{
		{"feeding the watchdog", 2 * time.Second, []string{"WATCHDOG_PID=1"}},
		{"not feeding it", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarnessOpts(t, newFakeSpawner(), signalmap.Unicorn, func(o *Options) {
				o.Upgrade = &UpgradeOptions{Handover: &fakeHandover{}, Binary: "/new/pmux"}
				o.SupervisorWatchdog = tc.watchdog
			}, PoolConfig{Workers: 1})
			h.expectStart()
			h.signals <- syscall.SIGUSR2
			c := h.expectStart()
			if got := watchdogVars(c.spec.Env); !slices.Equal(got, tc.want) {
				t.Errorf("new master's environment has %v, want %v added", got, tc.want)
			}
		})
	}
}

func watchdogVars(env []string) []string {
	var out []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "WATCHDOG_") {
			out = append(out, kv)
		}
	}
	return out
}

// systemctl status shows an upgrade under way: the old master, the main
// pid, says so when it starts the new one, says its own status again when
// the new one rolls back, and hands over with MAINPID= and a last STATUS=
// in one datagram, after which the status is the new master's.
func TestUpgradeStatusForTheSupervisor(t *testing.T) {
	h := newHarnessOpts(t, newFakeSpawner(), signalmap.Unicorn, func(o *Options) {
		o.Upgrade = &UpgradeOptions{Handover: &fakeHandover{}, Binary: "/new/pmux"}
	}, PoolConfig{Name: "web", Workers: 1, Ready: ReadyNotify})
	w := h.expectStart().pid
	h.ready(w)
	const serving = "web: 1 workers, generation 1"
	if s := <-h.sup; s != "READY=1\nSTATUS="+serving {
		t.Fatalf("state %q, want READY=1 and the status", s)
	}
	h.signals <- syscall.SIGUSR2
	child := h.expectStart().pid
	if s, want := <-h.sup, fmt.Sprintf("STATUS=upgrading: new master %d started; %s", child, serving); s != want {
		t.Errorf("state %q after USR2, want %q", s, want)
	}
	h.sp.exit(child, 1, 0)
	if s := <-h.sup; s != "STATUS="+serving {
		t.Errorf("state %q after the new master exited, want the status again", s)
	}
	h.signals <- syscall.SIGUSR2
	child = h.expectStart().pid
	<-h.sup // upgrading
	h.signals <- syscall.SIGQUIT
	h.expectSignal(w, syscall.SIGTERM)
	h.sp.exit(w, 0, 0)
	if err := h.finished(); err != nil {
		t.Fatal(err)
	}
	if s, want := <-h.sup, fmt.Sprintf("MAINPID=%d\nSTATUS=handed over to new master %d", child, child); s != want {
		t.Errorf("last state %q, want %q", s, want)
	}
}
