package manager

import (
	"context"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/pmux/pmux/internal/proc"
	"github.com/pmux/pmux/internal/sdnotify"
	"github.com/pmux/pmux/logs"
	"github.com/pmux/pmux/signalmap"
	"github.com/pmux/pmux/sockets"
	"github.com/pmux/pmux/spawn"
	"github.com/pmux/pmux/status"
)

// Spawner starts and signals workers and reports their exits. The real one
// is *spawn.Spawner; unit tests use a fake.
type Spawner interface {
	Start(spawn.Spec) (pid int, err error)
	Signal(pgid int, sig syscall.Signal) error
	Reap() []spawn.Exit
}

// ReadyMode says when a freshly started worker counts as ready.
type ReadyMode int

const (
	ReadyAtExec ReadyMode = iota // as soon as it is started
	ReadyDelay                   // a fixed delay after exec
	ReadyNotify                  // when it sends READY=1 to the notify socket
	// ReadyAuto: once a process of its group is seen waiting on one of the
	// pool's sockets (accept, epoll_wait, poll, select), read from /proc.
	ReadyAuto
)

// PoolConfig is one resolved pool: everything needed to start its workers.
type PoolConfig struct {
	Name      string
	Path      string   // resolved program
	Args      []string // argv
	Env       []string // the worker environment before pmux adds its own variables
	Dir       string
	Listeners []*sockets.Listener
	Workers   int

	Ready           ReadyMode
	ReadyDelay      time.Duration
	BootTimeout     time.Duration
	GracefulTimeout time.Duration
	QuickTimeout    time.Duration
	Watchdog        time.Duration
	MaxLifetime     time.Duration
	MaxRSS          int64
	// Timeout kills a worker none of whose processes waited on the pool's
	// sockets for this long (stuck in one request); 0 is off.
	Timeout time.Duration

	StopSignal  syscall.Signal
	QuickSignal syscall.Signal
	Forward     []syscall.Signal

	Credential *syscall.Credential
	Umask      int // -1 keeps the master's
	Compat     []string

	// Prefix tags each line of worker output; nil uses logs.Prefix.
	Prefix func(slot, pid int) string
}

// Options wires a Manager to the outside world.
type Options struct {
	Log       zerolog.Logger
	Spawner   Spawner
	Clock     Clock // nil means real time
	Signals   signalmap.Map
	Pools     []PoolConfig
	MasterPID int

	// ChildExited delivers SIGCHLD. Its own buffered channel, separate from
	// the other signals, so a storm of those can never crowd out a reap.
	ChildExited <-chan os.Signal
	// Notify delivers datagrams from workers' sd_notify; nil when no pool
	// needs it. NotifySocket is the address workers are given.
	Notify       <-chan sdnotify.Message
	NotifySocket string
	// Supervisor receives pmux's own sd_notify states; nil when pmux has no
	// supervisor listening. It is called on the loop and must not block:
	// SupervisorNotifier.Send queues and returns.
	Supervisor func(state string)
	// SupervisorWatchdog is systemd's WATCHDOG_USEC for pmux itself; the
	// master pings at half of it. Zero when no watchdog was asked for.
	SupervisorWatchdog time.Duration

	// Output receives workers' output line by line; nil passes the master's
	// stdout and stderr straight through.
	Output *logs.Sink
	// ReopenLogs reopens every file pmux owns; nil when it owns none.
	ReopenLogs func() error
	// Upgrade lets the master start its successor (the USR2 upgrade); nil disables
	// the upgrade action.
	Upgrade *UpgradeOptions
	// Reload reads the configuration anew for a reload, off the loop; nil
	// when pmux runs from flags alone, and a reload just restarts. Its ctx
	// ends once the master stops, so a reload stuck on the network (a DNS
	// lookup for a new bind) does not hold up the exit.
	Reload func(ctx context.Context) (*Reloaded, error)
	// Listeners counts who uses each listener (package sockets' Pool): the
	// manager holds one use for each pool's configuration, which the
	// caller acquired with it (at start, and for a Reloaded), and one for
	// each live worker, and lets each go when it goes, so a removed bind
	// closes once its last worker has gone. Nil keeps every listener to the
	// end, and an upgrade hands over each pool's own.
	Listeners Listeners
	// Observer is told of spawns, exits and generations; nil for none.
	Observer status.Observer
	// RSS reads a worker's resident size from /proc; nil uses spawn.RSS.
	// It is called off the loop only.
	RSS func(pid int) (int64, error)
	// ListenQueues reads the kernel's accept queues by socket inode; nil
	// uses proc.ListenQueues. It is called off the loop only.
	ListenQueues func() (map[uint64]proc.ListenQueue, error)
	// NewGroup makes the probe --ready auto and --timeout use to see a
	// worker's group wait on its sockets; nil uses internal/proc's.
	NewGroup func(pgid int, inodes []uint64) GroupProbe
	// EscalateRepeatedStop turns a second graceful stop into a quick one.
	EscalateRepeatedStop bool
	// StopWorkersAllowed is false when a terminal resize could send WINCH:
	// pmux runs in the foreground with stdin on a TTY.
	StopWorkersAllowed bool
}

type phase int

const (
	running phase = iota
	stoppingGraceful
	stoppingQuick
)

func (p phase) String() string {
	return [...]string{"running", "stopping", "stopping quickly"}[p]
}

// Manager supervises the pools. Create it with New and drive it with Run.
type Manager struct {
	opts   Options
	log    zerolog.Logger
	clock  Clock
	pools  []*pool
	byPid  map[int]*worker
	events chan func()
	done   chan struct{}
	phase  phase
	pumps  sync.WaitGroup

	upgrade upgradeState

	// running ends when the master starts to stop (or Run returns); the
	// helpers that read a reload watch it.
	running     context.Context
	stopRunning context.CancelFunc

	rssTimer      Timer          // the pending --max-rss sample
	reloadPending bool           // a configuration is being read
	helpers       sync.WaitGroup // goroutines that post results back
	sockChecks    sync.WaitGroup // checkSocketHeld's scans of /proc
	// The socket checks not yet run, whether one goroutine runs some now,
	// and the timer (and its time) for the next one due.
	sockQueue   []sockCheck
	sockBusy    bool
	sockTimer   Timer
	sockTimerAt time.Time

	// What pmux last told its supervisor, so each state is sent once.
	announcedReady bool
	reloading      bool
	reloads        status.ReloadStatus

	// booting is true while Run starts the first generation; bootErr is
	// the first worker of it that could not be started, or the pool that
	// could not boot (a *BootError).
	booting bool
	bootErr error

	autoUnsupportedSaid bool // --ready auto off Linux was said
}

// New prepares a Manager; nothing starts until Run.
func New(opts Options) *Manager {
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	m := &Manager{
		opts:   opts,
		log:    opts.Log,
		clock:  opts.Clock,
		byPid:  make(map[int]*worker),
		events: make(chan func(), 256),
		done:   make(chan struct{}),
	}
	if opts.Upgrade != nil {
		m.upgrade.parent = opts.Upgrade.Parent
	}
	for i := range opts.Pools {
		cfg := opts.Pools[i]
		m.pools = append(m.pools, &pool{cfg: &cfg, target: cfg.Workers, generation: 1, surge: max(cfg.Workers, 1), firstBoot: true})
	}
	if opts.Listeners == nil {
		m.opts.Listeners = unreleased{m}
	}
	return m
}

// Run starts the workers and supervises them until a stop completes or ctx
// is cancelled (which stops gracefully). It returns once every worker has
// exited.
//
// A worker of the first generation that cannot be started (the spawn
// itself fails: EMFILE, a working directory the user cannot enter) fails
// the start: the workers already started are stopped quickly and Run
// returns that error, so no half-started master serves on. Later, the
// same failure is retried with backoff and the master serves with the
// workers it has.
func (m *Manager) Run(ctx context.Context, signals <-chan os.Signal) error {
	m.running, m.stopRunning = context.WithCancel(ctx)
	defer m.joinPumps()
	defer m.helpers.Wait()
	defer m.sockChecks.Wait()
	defer close(m.done)
	defer m.stopRunning()
	m.log.Info().Str("event", "master_started").Int("pid", m.opts.MasterPID).Msg("master started")
	m.booting = true
	for _, p := range m.pools {
		m.reconcile(p)
	}
	m.booting = false
	if m.bootErr != nil {
		m.stopAll(true)
	} else {
		m.armRSSCheck()
		m.armTimeouts()
		m.pingSupervisor()
		m.updateSupervisor()
	}
	ctxDone := ctx.Done()
	var parentExited <-chan struct{}
	if m.opts.Upgrade != nil && m.upgrade.parent != 0 {
		parentExited = m.opts.Upgrade.ParentExited
	}
	for !m.finished() {
		select {
		case sig := <-signals:
			if s, ok := sig.(syscall.Signal); ok {
				m.handleSignal(s)
			}
		case <-m.opts.ChildExited:
			m.reap()
		case msg := <-m.opts.Notify:
			m.handleNotify(msg)
		case ev := <-m.events:
			ev()
		case <-parentExited:
			parentExited = nil
			m.parentMasterExited()
		case <-ctxDone:
			ctxDone = nil
			m.stopAll(false)
		}
	}
	m.beforeExit()
	m.log.Info().Str("event", "master_stopped").Msg("every worker has exited")
	if be, ok := m.bootErr.(*BootError); ok {
		be.collectOutput()
	}
	return m.bootErr
}

func (m *Manager) finished() bool {
	return m.phase != running && len(m.byPid) == 0
}

// post hands f to the loop. It is called from helper goroutines only; once
// the loop has returned, f is dropped, since nothing is left to update.
func (m *Manager) post(f func()) {
	select {
	case m.events <- f:
	case <-m.done:
	}
}

// after runs f on the loop once d has passed.
func (m *Manager) after(d time.Duration, f func()) Timer {
	return m.clock.AfterFunc(d, func() { m.post(f) })
}

// joinPumps waits for the output pumps, which end when the last process
// holding a worker's pipe exits. A grandchild that escaped its group could
// hold one forever, so the wait is bounded.
func (m *Manager) joinPumps() {
	drained := make(chan struct{})
	go func() { m.pumps.Wait(); close(drained) }()
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-drained:
	case <-t.C:
		m.log.Warn().Str("event", "output_not_drained").Msg("a process outside pmux's control still holds a worker's output pipe")
	}
}

func (m *Manager) reap() {
	for _, exit := range m.opts.Spawner.Reap() {
		if exit.Pid == m.upgrade.child {
			m.childMasterExited(exit)
			continue
		}
		w, ok := m.byPid[exit.Pid]
		if !ok {
			m.log.Debug().Str("event", "orphan_reaped").Int("pid", exit.Pid).Str("status", exit.Describe()).Msg("reaped an orphan")
			continue
		}
		m.workerExited(w, exit)
	}
	m.dropEmptyRemovedPools()
	m.updateSupervisor()
}

// Query runs f on the loop and waits for it, so callers outside the loop
// can read state consistently. It fails once the loop has stopped.
func (m *Manager) Query(ctx context.Context, f func()) error {
	ran := make(chan struct{})
	select {
	case m.events <- func() { f(); close(ran) }:
	case <-m.done:
		return status.ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ran:
		return nil
	case <-m.done:
		// The loop may have run f just before it returned.
		select {
		case <-ran:
			return nil
		default:
			return status.ErrStopped
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}
