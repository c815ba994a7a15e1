package spawn

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// guardVar marks the guard process and carries what it must know of its
// master: "<pid>,<pgid>,<start time>".
const guardVar = "__PMUX_GUARD"

// MasterPIDVar is the variable every worker gets, naming its master. What
// a wrapper forks inherits it, even after leaving the worker's process
// group, which is how the guard finds what its master started.
const MasterPIDVar = "PMUX_MASTER_PID"

// The guard finds the read end of its pipe at fd 3, and at fd 4 the write
// end of another, on which it says it is ready.
const (
	guardPipeFd  = 3
	guardReadyFd = 4
)

// guardInfo names one master for its guard.
type guardInfo struct {
	pid   int
	pgid  int    // the master's process group, which the guard never kills
	start uint64 // the master's start time: a later process at pid is another one
}

func (g guardInfo) String() string {
	return fmt.Sprintf("%d,%d,%d", g.pid, g.pgid, g.start)
}

func parseGuardInfo(s string) (guardInfo, error) {
	f := strings.Split(s, ",")
	if len(f) != 3 {
		return guardInfo{}, fmt.Errorf("bad %s %q from master", guardVar, s)
	}
	pid, err1 := strconv.Atoi(f[0])
	pgid, err2 := strconv.Atoi(f[1])
	start, err3 := strconv.ParseUint(f[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || pid <= 1 || pgid <= 1 {
		return guardInfo{}, fmt.Errorf("bad %s %q from master", guardVar, s)
	}
	return guardInfo{pid: pid, pgid: pgid, start: start}, nil
}

// GuardTitle begins a guard's argv[0], so that ps, and whoever lists a
// master's children, tells it from a worker.
const GuardTitle = "pmux: guard of master "

// IsGuard reports whether the master started this process as its guard.
// main checks it right after IsShim and then calls RunGuard.
func IsGuard() bool {
	_, ok := os.LookupEnv(guardVar)
	return ok
}

// RunGuard waits for the master to go, then kills what it started (see
// StartGuard). It returns nil once that is done, or why it could not watch.
func RunGuard() error {
	g, err := parseGuardInfo(os.Getenv(guardVar))
	if err != nil {
		return fmt.Errorf("guard: %w", err)
	}
	if err := runGuard(g, guardPipeFd, guardReadyFd); err != nil {
		return fmt.Errorf("guard of master %d: %w", g.pid, err)
	}
	return nil
}

// StartGuard starts the guard of this process, the master: a copy of pmux
// that holds the read end of a pipe whose only write end this process
// keeps, and sleeps in read(2) on it. Whatever ends this process (an exit,
// a crash, SIGKILL) closes the write end, and the guard wakes to EOF; no
// code of the master has to run for it. The guard then SIGKILLs every
// process whose environment names this master's pid in MasterPIDVar, and
// each one's process group. It returns the guard's pid, or ErrNotSupported
// where there is no /proc to find those processes in.
//
// Once the guard says it is ready, the master stops it (SIGSTOP): a Go
// program asleep in read(2) still has the runtime's monitor thread wake it
// every minute, a stopped one has no thread running at all. A master that
// dies cannot continue it: the kernel does, with the guard's parent-death
// signal, SIGCONT, when the thread that forked it (the spawning thread,
// which lives as long as the master) ends; by then the pipe is closed.
// Close continues it too.
//
// A master that stops of its own accord calls ReleaseGuard first: what its
// workers left behind then gets time to finish before it is killed.
//
// exited is called, on the goroutine that calls Reap, if the guard exits
// while this master lives. Call StartGuard once, before the first Reap.
func (s *Spawner) StartGuard(exited func(Exit)) (int, error) {
	g, err := selfGuardInfo()
	if errors.Is(err, ErrNotSupported) {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("start guard: %w", err)
	}
	r, w, err := os.Pipe() // both ends close-on-exec: no worker or new master inherits one
	if err != nil {
		return 0, fmt.Errorf("start guard: %w", err)
	}
	defer r.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		w.Close()
		return 0, fmt.Errorf("start guard: %w", err)
	}
	defer readyW.Close()
	var env []string
	for _, kv := range os.Environ() {
		// A pmux run as a worker of another has that master's variable:
		// the outer guard must not kill this guard, which has work to do
		// when this master dies with the outer one.
		if !strings.HasPrefix(kv, MasterPIDVar+"=") && !strings.HasPrefix(kv, guardVar+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, guardVar+"="+g.String())
	null := s.devNull.Fd()
	attr := &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{null, null, null, r.Fd(), readyW.Fd()},
		Sys:   guardSysProcAttr(),
	}
	argv := []string{GuardTitle + strconv.Itoa(g.pid)}
	pid, err := s.onThread(func() (int, error) { return syscall.ForkExec(s.self, argv, attr) })
	if err != nil {
		w.Close()
		readyR.Close()
		return 0, fmt.Errorf("start guard: %w", err)
	}
	s.guard, s.guardExited, s.guardPipe = pid, exited, w
	s.guardHandle = openGuardHandle(pid)
	// Off the caller's path: the guard takes a few milliseconds to start.
	s.guardReady, s.parked = readyR, make(chan struct{})
	go func() {
		defer close(s.parked)
		defer readyR.Close()
		// Bounded: a guard that never says it is ready is left running.
		readyR.SetReadDeadline(time.Now().Add(10 * time.Second))
		var b [1]byte
		if n, _ := readyR.Read(b[:]); n == 1 {
			s.guardHandle.signal(syscall.SIGSTOP)
		}
	}()
	return pid, nil
}

// closeGuard ends the wait for the guard to be ready, closes its pipe if
// ReleaseGuard did not, and continues it. The spawning thread's end would
// too, but the runtime keeps the thread if it is the process's first one.
func (s *Spawner) closeGuard() error {
	if s.parked == nil {
		return nil
	}
	s.guardReady.SetReadDeadline(time.Now())
	<-s.parked
	s.parked = nil
	var err error
	if s.guardPipe != nil {
		err = s.guardPipe.Close()
		s.guardPipe = nil
	}
	s.guardHandle.signal(syscall.SIGCONT)
	if s.released {
		// A released guard with nothing left to spare finishes within a
		// few milliseconds; the master waits for that, so that it exits
		// last. Under systemd's KillMode=mixed whatever outlives the main
		// process is killed at once, and each stop would end with the
		// guard SIGKILLed. One that waits for a draining process is left
		// to it: the master exits, as it would without a guard.
		s.guardHandle.waitExit(releasedGuardWait)
	}
	s.guardHandle.close()
	return err
}

// releasedGuardWait bounds Close's wait for a released guard.
const releasedGuardWait = 250 * time.Millisecond

// ReleaseGuard tells the guard that the master is exiting of its own
// accord, its workers gone, and closes the pipe. A worker that was a
// wrapper may have left a child behind still finishing its requests (a
// shell dies at the stop signal, the app it forked drains): the guard
// gives such processes grace to exit before it kills what is left. Without
// this call, as when the master is killed, the guard kills at once.
func (s *Spawner) ReleaseGuard(grace time.Duration) error {
	if s.guardPipe == nil {
		return nil
	}
	// A few bytes into an empty pipe: the write cannot block. If the guard
	// is gone it fails with EPIPE, which changes nothing.
	_, _ = s.guardPipe.WriteString(releaseMsg + strconv.FormatInt(int64(grace), 10) + "\n")
	err := s.guardPipe.Close()
	s.guardPipe = nil
	s.released = true
	if err != nil {
		return fmt.Errorf("release guard: %w", err)
	}
	return nil
}

// releaseMsg starts what ReleaseGuard writes, followed by the grace in
// nanoseconds.
const releaseMsg = "release "

// parseRelease reads what the master wrote before the pipe closed: the
// grace of a master that released its guard, or false for one that did
// not (it was killed).
func parseRelease(msg []byte) (time.Duration, bool) {
	rest, ok := strings.CutPrefix(string(msg), releaseMsg)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(rest, "\n"), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return time.Duration(n), true
}
