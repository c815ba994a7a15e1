package spawn

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Spec describes one process to start.
type Spec struct {
	Path string   // absolute path of the program, already resolved
	Args []string // argv, including argv[0]
	Env  []string // the whole environment except LISTEN_PID, which the shim sets
	Dir  string   // working directory; "" keeps the master's

	Stdin, Stdout, Stderr *os.File   // nil means /dev/null
	Files                 []*os.File // become fds 3, 4, … in this order

	Credential        *syscall.Credential // drop privileges to these ids; nil keeps the master's
	Umask             int                 // -1 keeps the master's umask
	ParentDeathSignal syscall.Signal      // 0: the child outlives the master (a new master in an upgrade)

	// Direct execs Path without the shim (no LISTEN_PID, no signal reset)
	// and in the master's process group. Used for a new master in a binary
	// upgrade, which is pmux itself.
	Direct bool
}

// ErrNotSupported is returned where the platform lacks a facility pmux relies on.
var ErrNotSupported = errors.New("not supported on this platform")

// Spawner forks every child from a few goroutines, each locked to its OS
// thread for the Spawner's life, so that parent-death signals fire only
// when the master process dies. Several threads let StartAll start a
// reload's workers side by side: one slow start (a command on a slow disk)
// holds up its own thread, not the others.
type Spawner struct {
	requests chan request
	done     chan struct{}
	devNull  *os.File
	self     string

	// The guard (see StartGuard): its pid until it is reaped, what to tell
	// when it is, and the write end of its pipe, which only this process
	// holds.
	guard       int
	guardExited func(Exit)
	guardPipe   *os.File
	guardHandle guardHandle
	released    bool          // ReleaseGuard has run: the master exits of its own accord
	guardReady  *os.File      // where the guard says it is ready to be stopped
	parked      chan struct{} // closed once the guard is stopped, or will not be
}

// request is one fork to run on the spawning thread.
type request struct {
	fork  func() (int, error)
	reply chan result
}

type result struct {
	pid int
	err error
}

// New starts the spawning thread. Close stops it.
func New() (*Spawner, error) {
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	self, err := SelfExecutable()
	if err != nil {
		devNull.Close()
		return nil, err
	}
	s := &Spawner{
		requests: make(chan request),
		done:     make(chan struct{}),
		devNull:  devNull,
		self:     self,
	}
	var loops sync.WaitGroup
	for range spawnThreads {
		loops.Go(s.loop)
	}
	go func() { loops.Wait(); close(s.done) }()
	return s, nil
}

// spawnThreads is how many threads fork. The kernel lets forks from
// several threads overlap (each waits for its own child's exec), and on a
// busy machine each thread gets its own share of the CPU.
const spawnThreads = 4

func (s *Spawner) loop() {
	// Never unlocked: the thread must outlive every child that holds a
	// parent-death signal. When loop returns the thread exits with it, which
	// is only at Close, once the master is done with its children.
	runtime.LockOSThread()
	for req := range s.requests {
		pid, err := req.fork()
		req.reply <- result{pid, err}
	}
}

// Start starts spec and returns the child's pid. The child is not waited
// for: its exit is reported by Reap.
func (s *Spawner) Start(spec Spec) (int, error) {
	return s.onThread(func() (int, error) { return s.fork(spec) })
}

// Started is the outcome of one of StartAll's specs: the child's pid or
// why it did not start, and how long the fork and exec took on its thread.
type Started struct {
	Pid  int
	Err  error
	Took time.Duration
}

// StartAll starts every spec, on the Spawner's threads side by side, and
// returns their outcomes in the order of specs.
func (s *Spawner) StartAll(specs []Spec) []Started {
	out := make([]Started, len(specs))
	replies := make([]chan result, len(specs))
	for i, spec := range specs {
		replies[i] = make(chan result, 1)
		o := &out[i]
		s.requests <- request{func() (int, error) {
			t := time.Now()
			pid, err := s.fork(spec)
			o.Took = time.Since(t)
			return pid, err
		}, replies[i]}
	}
	for i, reply := range replies {
		r := <-reply
		out[i].Pid, out[i].Err = r.pid, r.err
	}
	return out
}

// onThread runs fork on a spawning thread.
func (s *Spawner) onThread(fork func() (int, error)) (int, error) {
	reply := make(chan result, 1)
	s.requests <- request{fork, reply}
	r := <-reply
	return r.pid, r.err
}

// Close stops the spawning thread and waits for it. Closing the guard's
// pipe sets the guard off: by then the master is done with its workers.
func (s *Spawner) Close() error {
	gerr := s.closeGuard()
	close(s.requests)
	<-s.done
	return errors.Join(gerr, s.devNull.Close())
}

func (s *Spawner) fork(spec Spec) (int, error) {
	fds := []uintptr{s.fdOr(spec.Stdin), s.fdOr(spec.Stdout), s.fdOr(spec.Stderr)}
	for _, f := range spec.Files {
		fds = append(fds, f.Fd())
	}
	argv0 := spec.Path
	env := spec.Env
	if !spec.Direct {
		argv0 = s.self
		env = append(env[:len(env):len(env)], shimPathVar+"="+spec.Path)
		if spec.Umask >= 0 {
			env = append(env, shimUmaskVar+"="+strconv.FormatInt(int64(spec.Umask), 8))
		}
	}
	attr := &syscall.ProcAttr{
		Dir:   spec.Dir,
		Env:   env,
		Files: fds,
		Sys:   sysProcAttr(spec),
	}
	pid, err := syscall.ForkExec(argv0, spec.Args, attr)
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", spec.Path, err)
	}
	return pid, nil
}

func (s *Spawner) fdOr(f *os.File) uintptr {
	if f == nil {
		return s.devNull.Fd()
	}
	return f.Fd()
}

// SignalGroup sends sig to the process group led by pgid. A group that is
// already gone is not an error: the worker exited on its own meanwhile.
func SignalGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 0 {
		return fmt.Errorf("signal group %d: invalid process group", pgid)
	}
	err := syscall.Kill(-pgid, sig)
	if err == nil || errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return fmt.Errorf("signal group %d with %v: %w", pgid, sig, err)
}

// Exit is one reaped child.
type Exit struct {
	Pid    int
	Status syscall.WaitStatus
}

// Describe renders the status as a user reads it: "exit 3" or "signal KILL".
func (e Exit) Describe() string {
	switch {
	case e.Status.Exited():
		return "exit " + strconv.Itoa(e.Status.ExitStatus())
	case e.Status.Signaled():
		return "signal " + signalName(e.Status.Signal())
	default:
		return "status " + strconv.Itoa(int(e.Status))
	}
}

// Reap collects every child that has exited, without blocking.
func Reap() []Exit {
	var exits []Exit
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return exits
		}
		exits = append(exits, Exit{Pid: pid, Status: ws})
	}
}

// Signal sends sig to the process group led by pgid; see SignalGroup.
func (s *Spawner) Signal(pgid int, sig syscall.Signal) error { return SignalGroup(pgid, sig) }

// Reap collects every exited child; see the package function Reap. The
// guard's exit is not among them: it goes to the function given to
// StartGuard, so the manager sees workers and orphans only.
func (s *Spawner) Reap() []Exit {
	exits := Reap()
	if s.guard == 0 {
		return exits
	}
	kept := exits[:0]
	for _, e := range exits {
		if e.Pid == s.guard {
			s.guard = 0
			s.guardExited(e)
			continue
		}
		kept = append(kept, e)
	}
	return kept
}
