package spawn

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pmux/pmux/internal/proc"
)

// sweepFor bounds the guard's repeated scans: enough for a fork that was
// in flight at the first one, never a loop without end on a process that
// cannot die (blocked in the kernel, uninterruptibly).
const sweepFor = time.Second

func selfGuardInfo() (guardInfo, error) {
	pid := os.Getpid()
	st, err := proc.Default.Stat(pid)
	if err != nil {
		return guardInfo{}, err
	}
	return guardInfo{pid: pid, pgid: st.Pgrp, start: st.StartTime}, nil
}

// guardSysProcAttr puts the guard in a group of its own, so a terminal's
// Ctrl-C does not reach it, and gives it SIGCONT as its parent-death
// signal, which continues it once the master has stopped it.
func guardSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGCONT}
}

// guardHandle signals the guard through a pidfd, opened while the guard
// cannot have been reaped yet: a signal sent later cannot reach another
// process that took its pid. Without one (a kernel before 5.3) it sends
// nothing, and the guard is never stopped: it still works, with the
// runtime's wakeups.
type guardHandle struct{ pidfd int }

func openGuardHandle(pid int) guardHandle {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return guardHandle{-1}
	}
	return guardHandle{pidfd}
}

func (h guardHandle) signal(sig syscall.Signal) {
	if h.pidfd >= 0 {
		_ = unix.PidfdSendSignal(h.pidfd, sig, nil, 0)
	}
}

// waitExit waits up to d for the guard to exit (its pidfd reads ready).
func (h guardHandle) waitExit(d time.Duration) {
	if h.pidfd >= 0 {
		fds := []unix.PollFd{{Fd: int32(h.pidfd), Events: unix.POLLIN}}
		_, _ = unix.Poll(fds, int(d.Milliseconds()))
	}
}

func (h guardHandle) close() {
	if h.pidfd >= 0 {
		unix.Close(h.pidfd)
	}
}

func runGuard(g guardInfo, fd, readyFd int) error {
	// What a terminal, a hang-up or a supervisor's stop sends to every
	// process is for the master to act on; the guard's work comes after.
	// SIGHUP also comes with SIGCONT to a stopped process whose group the
	// master's death leaves orphaned.
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGPIPE)
	// Nothing is allocated while waiting, and a forced collection every
	// two minutes would be a wakeup if the guard is not stopped.
	gc := debug.SetGCPercent(-1)
	ready(g, readyFd)
	msg, err := readToEOF(fd)
	debug.SetGCPercent(gc)
	if err != nil {
		return err
	}
	t := newTargets(g)
	if grace, ok := parseRelease(msg); ok {
		t.linger(grace)
	}
	t.sweep(sweepFor)
	return nil
}

// ready tells the master that the guard may be stopped: its signals are
// set, and SIGCONT will come when the master goes. That is the
// parent-death signal the master gave it, which an exec clears for a
// binary with file capabilities (setcap, to bind a low port): so it is set
// again here, and the parent checked after that, as the prctl(2) idiom
// goes. A master already gone is not told: the guard is not stopped, and
// EOF is there to read.
func ready(g guardInfo, readyFd int) {
	defer syscall.Close(readyFd)
	// The signal belongs to the thread that asks for it: this one, kept.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGCONT), 0, 0, 0); err != nil || os.Getppid() != g.pid {
		return
	}
	_, _ = syscall.Write(readyFd, []byte{1})
}

// readToEOF blocks in read(2) until every write end of the pipe is closed,
// and returns what was written before.
func readToEOF(fd int) ([]byte, error) {
	var buf [64]byte
	got := 0
	for {
		n, err := syscall.Read(fd, buf[got:])
		switch {
		case errors.Is(err, syscall.EINTR):
		case err != nil:
			return nil, fmt.Errorf("wait on the master's pipe: %w", err)
		case n == 0:
			return buf[:got], nil
		case got+n < len(buf):
			got += n
		default:
			got = 0 // not ReleaseGuard's: drop it
		}
	}
}

// targets finds what one master started: every process that carries its
// pid in MasterPIDVar, started since the master did.
//
// Two groups are never killed: the master's own, which a new master of an
// upgrade shares (and, in a terminal, the shell's job), and the guard's.
// Another master's workers carry another pid, so they are never matched;
// an unprivileged guard cannot read the environment of another user's
// processes, which it could not kill anyway.
type targets struct {
	g      guardInfo
	want   string
	self   int
	spared map[int]bool // process groups never killed
}

func newTargets(g guardInfo) *targets {
	return &targets{
		g:      g,
		want:   MasterPIDVar + "=" + strconv.Itoa(g.pid),
		self:   os.Getpid(),
		spared: map[int]bool{g.pgid: true, syscall.Getpgrp(): true},
	}
}

// target is one live process of the master's, with a pidfd on it (-1 on
// a kernel that has none).
type target struct {
	pid, pidfd, pgid int
}

// signal sends sig to the process: through the pidfd, the signal cannot
// reach another process that was given the same pid since the scan.
func (p target) signal(sig unix.Signal) error {
	if p.pidfd >= 0 {
		return unix.PidfdSendSignal(p.pidfd, sig, nil, 0)
	}
	return unix.Kill(p.pid, sig)
}

// scan calls each for every live target in /proc, then closes its pidfd.
func (t *targets) scan(each func(target)) {
	pids, err := proc.Default.Pids()
	if err != nil {
		return
	}
	newer := t.reborn()
	for _, pid := range pids {
		if pid <= 1 || pid == t.self || pid == t.g.pid {
			continue
		}
		if p, ok := t.inspect(pid, newer); ok {
			each(p)
			if p.pidfd >= 0 {
				unix.Close(p.pidfd)
			}
		}
	}
}

// reborn returns the start time of a process that has taken the dead
// master's pid, or 0. The workers of a new pmux at that pid would carry
// the same number: only what started before it can be the old master's.
func (t *targets) reborn() uint64 {
	st, err := proc.Default.Stat(t.g.pid)
	if err != nil || st.StartTime == t.g.start {
		return 0
	}
	return st.StartTime
}

// inspect reports whether pid is a live target. The pidfd is opened before
// anything of pid is read: if pid exits and its number goes to another
// process meanwhile, what is read is the other one's, but a signal sent
// through the pidfd fails instead of reaching it.
func (t *targets) inspect(pid int, newer uint64) (target, bool) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	switch {
	case errors.Is(err, unix.ESRCH):
		return target{}, false
	case err != nil:
		pidfd = -1 // a kernel before 5.3, or out of fds: the pid it is
	}
	p := target{pid: pid, pidfd: pidfd}
	st, err := proc.Default.Stat(pid)
	// A process older than the master, or younger than a process that has
	// taken its pid since, carries the number for another master. The
	// state is not looked at: a zombie's environment reads empty, but a
	// process whose first thread has exited shows as one while its other
	// threads still run.
	ok := err == nil && st.StartTime >= t.g.start && (newer == 0 || st.StartTime < newer) &&
		marked(pid, t.want)
	if !ok {
		if pidfd >= 0 {
			unix.Close(pidfd)
		}
		return target{}, false
	}
	p.pgid = st.Pgrp
	return p, true
}

// sweep SIGKILLs every target and its process group, scanning again until
// a scan finds none left (a process forked while the previous scan ran
// shows up in the next) or limit has passed. It returns how many distinct
// processes it signalled.
func (t *targets) sweep(limit time.Duration) int {
	signalled := map[int]bool{}
	deadline := time.Now().Add(limit)
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		found := 0
		groups := map[int]bool{}
		t.scan(func(p target) {
			if p.signal(unix.SIGKILL) != nil {
				return
			}
			found++
			signalled[p.pid] = true
			// kill(-1) would be every process there is.
			if p.pgid > 1 && !t.spared[p.pgid] && !groups[p.pgid] {
				groups[p.pgid] = true
				_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
			}
		})
		if found == 0 || time.Now().After(deadline) {
			return len(signalled)
		}
		// Give what was just killed the time to exit before looking again.
		time.Sleep(pause)
	}
}

// linger waits up to grace for every target to exit by itself. It sleeps
// in poll(2) on their pidfds, which read ready at exit, and looks again at
// each exit, since a target may still fork.
func (t *targets) linger(grace time.Duration) {
	deadline := time.Now().Add(grace)
	for {
		var fds []unix.PollFd
		blind := false
		t.scan(func(p target) {
			if p.pidfd < 0 {
				blind = true
				return
			}
			fd, err := unix.Dup(p.pidfd) // scan closes its own
			if err != nil {
				blind = true
				return
			}
			fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		})
		left := time.Until(deadline)
		if (len(fds) == 0 && !blind) || left <= 0 {
			closePollFds(fds)
			return
		}
		if blind {
			// Some process has no pidfd to wait on: look again soon.
			left = min(left, 100*time.Millisecond)
		}
		_, _ = unix.Poll(fds, int(left.Milliseconds())+1)
		closePollFds(fds)
	}
}

func closePollFds(fds []unix.PollFd) {
	for _, f := range fds {
		unix.Close(int(f.Fd))
	}
}

// marked reports whether the environment pid was started with holds the
// entry want. It is what execve(2) received: a process that later changes
// its own environment does not change this, unless it writes over the
// memory itself (setproctitle with a title longer than the arguments).
func marked(pid int, want string) bool {
	env, err := proc.Default.Environ(pid)
	return err == nil && slices.Contains(env, want)
}
