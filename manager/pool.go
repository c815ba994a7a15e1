package manager

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pmux/pmux/logs"
	"github.com/pmux/pmux/signalmap"
	"github.com/pmux/pmux/sockets"
	"github.com/pmux/pmux/spawn"
)

const (
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 30 * time.Second
	// A worker that stayed up this long was healthy: its crash restarts the
	// backoff from the beginning.
	healthyUptime = 10 * time.Second

	// maxBootFailures is how many failed boots in a row each slot of a pool
	// that never booted may have before the master's start fails. One
	// failure can be a fluke (a dependency that comes up a moment later);
	// the backoff spaces the tries 0 and 100 ms apart, so three cost little
	// more than three boots, as supervisord's three start retries do.
	maxBootFailures = 3
	// bootGrace: under --ready none a worker counts as ready at exec, which
	// says nothing about whether it boots, so one of the first generation
	// has booted once it stays up this long (supervisord's startsecs).
	bootGrace = time.Second
)

type pool struct {
	cfg        *PoolConfig // replaced by a config reload; workers keep the one they started with
	target     int
	generation int
	// surge is how many slots may be replacing their worker at once:
	// every slot for a reload, one for a rolling restart.
	surge int
	slots []*slot
	// removed: no longer in the configuration; dropped once empty.
	removed bool
	// firstBoot: the pool was started with the master and no worker of its
	// first generation has booted yet. Until one does, a slot's failures
	// are counted, and a pool that cannot boot at all fails the start
	// (see bootFailed). A reload, a rolling restart or a pool added later
	// never has it: a master that serves keeps serving.
	firstBoot bool
	// autoSeen: a worker of the pool was once seen waiting on its sockets
	// (--ready auto), so pmux can see this server; autoUnseenSaid and
	// autoDenied: what pmux said once about a pool it cannot see.
	autoSeen       bool
	autoUnseenSaid bool
	autoDenied     bool
	// timeoutTimer is the pending --timeout sample.
	timeoutTimer Timer
	// reconciling is set while reconcile runs; again asks it for one more
	// pass.
	reconciling, again bool
}

type slot struct {
	index   int
	workers []*worker // live workers, oldest first
	// restarts counts unexpected exits; backoff is the delay before the
	// next respawn, and respawn the pending timer for it.
	restarts int
	backoff  time.Duration
	respawn  Timer
	lastExit string
	// bootFailures counts this slot's failed boots in a row while the
	// pool's firstBoot holds.
	bootFailures int
}

type workerState int

const (
	starting workerState = iota
	ready
	stopping
)

func (s workerState) String() string {
	return [...]string{"starting", "ready", "stopping"}[s]
}

type worker struct {
	pid        int
	pool       *pool
	cfg        *PoolConfig // the pool's config when it started
	slot       *slot
	generation int
	state      workerState
	started    time.Time
	quick      bool   // stopping with the quick signal
	retiring   bool   // past its lifetime or memory limit: replaced, then stopped
	failed     bool   // stopped by pmux for misbehaving: its exit counts as a crash
	cause      string // why pmux killed it, for metrics
	exited     bool
	status     string // last STATUS= it sent
	timers     []Timer
	watchdog   Timer // also in timers; kept to re-arm it on each ping
	// tail keeps the end of the output of a worker of a pool's first boot,
	// for the line that says why the pool cannot boot; nil otherwise.
	tail *outputTail

	// --ready auto: the probe of the worker's group, the pending look at
	// it and when the next ones come, and the last error a look met.
	group       GroupProbe
	probe       Timer
	probeEvery  time.Duration
	rescanEvery time.Duration
	nextRescan  time.Time
	probeErr    error
	// lastWaited is when the worker was last seen waiting on its sockets;
	// zero until it was.
	lastWaited time.Time
	readyAt    time.Time
	// ready is how the worker becomes ready here: its pool's mode, or
	// ReadyAtExec where auto cannot look (no sockets, no /proc).
	ready ReadyMode
	// What the looks of --timeout, status and metrics last saw (see
	// noteActivity): waiting or busy, since when, when busy since (reset
	// when its connections change), and the sockets it held at the last
	// look, lastLook.
	activity      string
	activitySince time.Time
	busySince     time.Time
	lastSockets   map[uint64]bool
	lastLook      time.Time
}

func (w *worker) stopTimers() {
	for _, t := range w.timers {
		t.Stop()
	}
	w.timers = nil
	if w.probe != nil {
		w.probe.Stop()
		w.probe = nil
	}
}

// current returns the slot's worker of the pool's current generation that
// is not on its way out, if any.
func (s *slot) current(gen int) *worker {
	for _, w := range s.workers {
		if w.generation == gen && w.state != stopping && !w.retiring {
			return w
		}
	}
	return nil
}

func (s *slot) remove(w *worker) {
	for i, x := range s.workers {
		if x == w {
			s.workers = append(s.workers[:i], s.workers[i+1:]...)
			return
		}
	}
}

// replacing counts slots whose new worker is still booting while an older
// one serves: the surge in progress.
func (p *pool) replacing() int {
	n := 0
	for _, s := range p.slots {
		cur := s.current(p.generation)
		if cur != nil && cur.state == starting && len(s.workers) > 1 {
			n++
		}
	}
	return n
}

// reconcile moves the pool one step towards its target. It is idempotent
// and called after every event that can change what the pool needs.
func (m *Manager) reconcile(p *pool) {
	if m.phase != running {
		return
	}
	// A worker ready at exec is marked ready inside startWorker, which runs
	// inside reconcile and asks for another: that one is noted and run
	// after, not nested, so a pool of a thousand such workers starts in a
	// loop rather than a recursion a thousand frames deep (a stack of
	// megabytes the master would keep).
	if p.reconciling {
		p.again = true
		return
	}
	p.reconciling = true
	defer func() { p.reconciling = false }()
	for again := true; again; again = p.again {
		p.again = false
		m.reconcileOnce(p)
	}
}

func (m *Manager) reconcileOnce(p *pool) {
	if m.phase != running {
		return
	}
	for len(p.slots) < p.target {
		p.slots = append(p.slots, &slot{index: len(p.slots)})
	}
	// The slots to start are gathered and started together, so that a
	// reload's workers fork side by side; replacing counts those among them
	// that replace a worker, against the surge.
	var starts []*slot
	replacing := 0
	defer func() { m.startWorkers(p, starts) }()
	for _, s := range p.slots {
		if s.index >= p.target {
			if s.respawn != nil {
				s.respawn.Stop()
				s.respawn = nil
			}
			for _, w := range s.workers {
				m.stopWorker(w, false)
			}
			continue
		}
		cur := s.current(p.generation)
		switch {
		case cur == nil:
			if s.respawn != nil {
				continue
			}
			if len(s.workers) > 0 && p.replacing()+replacing >= p.surge {
				continue
			}
			if len(s.workers) > 0 {
				replacing++
			}
			starts = append(starts, s)
		case cur.state == ready:
			for _, w := range s.workers {
				if w != cur {
					m.stopWorker(w, false)
				}
			}
		}
	}
	// Drop empty slots past the target from the end, so slots stay 0..N-1.
	for n := len(p.slots); n > p.target && len(p.slots[n-1].workers) == 0 && p.slots[n-1].respawn == nil; n-- {
		p.slots = p.slots[:n-1]
	}
}

// BatchSpawner is a Spawner that can start several workers at once, side
// by side (the real one, on several threads): the manager then starts a
// reload's workers in one batch.
type BatchSpawner interface {
	StartAll([]spawn.Spec) []spawn.Started
}

// startWorkers starts a worker in each of slots, in one batch when the
// Spawner can, and then sets each one up in order.
func (m *Manager) startWorkers(p *pool, slots []*slot) {
	b, batch := m.opts.Spawner.(BatchSpawner)
	if !batch || len(slots) < 2 {
		for _, s := range slots {
			if m.bootErr != nil {
				return // the start failed: nothing more starts, Run stops the rest
			}
			spec, pipeR, pipeW, err := m.workerSpec(p, s)
			if err != nil {
				m.startFailed(p, s, err)
				continue
			}
			began := m.clock.Now()
			pid, err := m.opts.Spawner.Start(spec)
			if pipeW != nil {
				pipeW.Close()
			}
			m.startedWorker(p, s, pipeR, spawn.Started{Pid: pid, Err: err, Took: m.clock.Now().Sub(began)}, began)
		}
		return
	}
	type pending struct {
		s     *slot
		pipeR *logs.Pipe
		pipeW *os.File
	}
	var todo []pending
	var specs []spawn.Spec
	for _, s := range slots {
		if m.bootErr != nil {
			break
		}
		spec, pipeR, pipeW, err := m.workerSpec(p, s)
		if err != nil {
			m.startFailed(p, s, err)
			continue
		}
		todo = append(todo, pending{s, pipeR, pipeW})
		specs = append(specs, spec)
	}
	if len(specs) == 0 {
		return
	}
	began := m.clock.Now()
	results := b.StartAll(specs)
	for i, x := range todo {
		if x.pipeW != nil {
			x.pipeW.Close()
		}
		m.startedWorker(p, x.s, x.pipeR, results[i], began)
	}
}

// workerSpec prepares slot s's worker: its spec and, when pmux reads the
// output, the pipe for it.
func (m *Manager) workerSpec(p *pool, s *slot) (spawn.Spec, *logs.Pipe, *os.File, error) {
	cfg := p.cfg
	spec := spawn.Spec{
		Path:              cfg.Path,
		Args:              cfg.Args,
		Env:               m.workerEnv(p, s),
		Dir:               cfg.Dir,
		Credential:        cfg.Credential,
		Umask:             cfg.Umask,
		ParentDeathSignal: cfg.StopSignal,
	}
	for _, l := range cfg.Listeners {
		spec.Files = append(spec.Files, l.File)
	}
	if m.opts.Output == nil {
		spec.Stdout, spec.Stderr = os.Stdout, os.Stderr
		return spec, nil, nil, nil
	}
	pipeR, pipeW, err := m.opts.Output.NewPipe()
	if err != nil {
		return spec, nil, nil, err
	}
	spec.Stdout, spec.Stderr = pipeW, pipeW
	return spec, pipeR, pipeW, nil
}

// startedWorker takes on the worker just started in s (or its failure).
func (m *Manager) startedWorker(p *pool, s *slot, pipeR *logs.Pipe, r spawn.Started, began time.Time) {
	cfg := p.cfg
	if r.Err != nil {
		if pipeR != nil {
			pipeR.Close()
		}
		m.startFailed(p, s, r.Err)
		return
	}
	pid := r.Pid
	w := &worker{pid: pid, pool: p, cfg: cfg, slot: s, generation: p.generation, started: began}
	s.workers = append(s.workers, w)
	m.byPid[pid] = w
	m.opts.Listeners.Retain(cfg.Listeners)
	if pipeR != nil {
		if p.firstBoot {
			w.tail = newOutputTail()
		}
		m.pump(pipeR, p, s.index, pid, w.tail)
	}
	spawnTime := r.Took
	m.opts.Observer.WorkerSpawned(cfg.Name, spawnTime)
	m.log.Info().Str("event", "worker_spawned").Str("pool", cfg.Name).Int("slot", s.index).
		Int("pid", pid).Int("gen", w.generation).Dur("spawn_ms", spawnTime).Msg("worker started")

	mode := m.readyMode(cfg)
	if mode == ReadyAuto && !m.startAutoProbe(w) {
		mode = ReadyAtExec
	}
	w.ready = mode
	if cfg.BootTimeout > 0 && mode != ReadyAtExec {
		w.timers = append(w.timers, m.after(cfg.BootTimeout, func() {
			if w.exited || w.state != starting {
				return
			}
			if mode == ReadyAuto && m.autoBootTimeout(w) {
				return
			}
			m.log.Warn().Str("event", "worker_boot_timeout").Str("pool", cfg.Name).Int("slot", s.index).
				Int("pid", w.pid).Dur("boot_timeout_ms", cfg.BootTimeout).Msg("worker not ready in time; killing it")
			w.failed = true
			w.cause = "boot_timeout"
			m.kill(w)
		}))
	}
	switch mode {
	case ReadyAtExec:
		m.markReady(w)
		if p.firstBoot {
			w.timers = append(w.timers, m.after(bootGrace, func() {
				if !w.exited && w.state == ready {
					m.poolBooted(p)
					m.updateSupervisor()
				}
			}))
		}
	case ReadyDelay:
		w.timers = append(w.timers, m.after(cfg.ReadyDelay, func() {
			if !w.exited && w.state == starting {
				m.markReady(w)
				m.updateSupervisor()
			}
		}))
	}
}

// startFailed treats a worker that could not even be started like one that
// crashed, so a vanished command backs off instead of spinning; but never
// retried at once, since what failed a start a moment ago (a limit, a
// missing directory) is still there. In the first generation of the
// master's start it fails the start instead: see Run.
func (m *Manager) startFailed(p *pool, s *slot, err error) {
	err = ExplainLimit(err)
	if m.booting {
		running := 0
		for _, x := range p.slots {
			running += len(x.workers)
		}
		m.bootErr = fmt.Errorf("start pool %s: worker %d (%d of %d running): %w", p.cfg.Name, s.index, running, p.target, err)
		return
	}
	m.opts.Observer.WorkerExited(p.cfg.Name, "start_failed")
	s.restarts++
	s.lastExit = "start failed"
	if p.firstBoot {
		s.bootFailures++
		if m.bootFailed(p, "could not start: "+err.Error(), nil) {
			return
		}
	}
	delay := m.nextBackoff(s, 0)
	if delay == 0 {
		delay = m.nextBackoff(s, 0)
	}
	m.log.Error().Str("event", "worker_start_failed").Str("pool", p.cfg.Name).Int("slot", s.index).
		Err(err).Dur("respawn_in_ms", delay).Msg("could not start worker")
	m.scheduleRespawn(p, s, delay)
}

// pump follows the worker's output pipe, which is closed once every
// process holding its write end is gone; tail, when not nil, also keeps
// the output's end.
func (m *Manager) pump(r *logs.Pipe, p *pool, slot, pid int, tail *outputTail) {
	prefix := logs.Prefix(p.cfg.Name, slot, pid, false)
	if p.cfg.Prefix != nil {
		prefix = p.cfg.Prefix(slot, pid)
	}
	m.pumps.Add(1)
	if tail == nil {
		r.Follow(p.cfg.Name, prefix, nil, m.pumps.Done)
		return
	}
	r.Follow(p.cfg.Name, prefix, tail, func() {
		close(tail.done)
		m.pumps.Done()
	})
}

func (m *Manager) markReady(w *worker) {
	w.state = ready
	w.readyAt = m.clock.Now()
	if !w.lastWaited.IsZero() {
		w.activity, w.activitySince = activityWaiting, w.lastWaited
	}
	if w.ready != ReadyAtExec {
		m.poolBooted(w.pool)
	}
	// The watchdog runs from readiness, as systemd's WatchdogSec= runs from
	// the end of start-up, whatever --ready is: a worker that never pings
	// is killed one period after it counts as ready. One that pinged
	// earlier is already being watched.
	if w.watchdog == nil {
		m.armWatchdog(w)
	}
	m.log.Info().Str("event", "worker_ready").Str("pool", w.pool.cfg.Name).Int("slot", w.slot.index).
		Int("pid", w.pid).Int("gen", w.generation).Dur("boot_ms", m.clock.Now().Sub(w.started)).Msg("worker ready")
	m.armLifetime(w)
	m.reconcile(w.pool)
	if w.lastWaited.IsZero() {
		m.checkSocketHeld(w) // one seen waiting on its socket holds it
	}
}

// stopWorker asks w to stop: the stop signal and graceful timeout, or the
// quick ones. A graceful stop can be hurried into a quick one, never the
// other way round.
func (m *Manager) stopWorker(w *worker, quick bool) {
	if w.exited || (w.state == stopping && (w.quick || !quick)) {
		return
	}
	cfg := w.cfg
	sig, timeout := cfg.StopSignal, cfg.GracefulTimeout
	if quick {
		sig, timeout = cfg.QuickSignal, cfg.QuickTimeout
	}
	w.state = stopping
	w.quick = quick
	w.stopTimers()
	m.log.Info().Str("event", "worker_stopping").Str("pool", cfg.Name).Int("slot", w.slot.index).
		Int("pid", w.pid).Int("gen", w.generation).Str("signal", signalmap.Name(sig)).Msg("stopping worker")
	m.signalWorker(w, sig)
	w.timers = append(w.timers, m.after(timeout, func() {
		if w.exited {
			return
		}
		m.log.Warn().Str("event", "worker_kill").Str("pool", cfg.Name).Int("slot", w.slot.index).
			Int("pid", w.pid).Dur("timeout_ms", timeout).Msg("worker did not stop in time; sending KILL")
		m.signalWorker(w, syscall.SIGKILL)
	}))
}

// kill ends a misbehaving worker at once; its exit is handled like a crash.
func (m *Manager) kill(w *worker) {
	w.state = stopping
	w.stopTimers()
	m.signalWorker(w, syscall.SIGKILL)
}

func (m *Manager) signalWorker(w *worker, sig syscall.Signal) {
	if err := m.opts.Spawner.Signal(w.pid, sig); err != nil {
		m.log.Error().Str("event", "signal_failed").Int("pid", w.pid).Err(err).Msg("could not signal worker")
	}
}

func (m *Manager) workerExited(w *worker, exit spawn.Exit) {
	delete(m.byPid, w.pid)
	m.opts.Listeners.Release(w.cfg.Listeners)
	w.exited = true
	w.stopTimers()
	p, s := w.pool, w.slot
	s.remove(w)
	expected := w.state == stopping && !w.failed
	cause := w.cause
	switch {
	case expected:
		cause = "stopped"
	case cause == "":
		cause = "crashed"
	}
	m.opts.Observer.WorkerExited(p.cfg.Name, cause)
	status := exit.Describe()
	ev := m.log.Info()
	if !expected {
		ev = m.log.Warn()
	}
	ev = ev.Str("event", "worker_exited").Str("pool", p.cfg.Name).Int("slot", s.index).Int("pid", w.pid).
		Int("gen", w.generation).Str("status", status).Dur("uptime_ms", m.clock.Now().Sub(w.started))
	if expected || m.phase != running || s.index >= p.target || s.current(p.generation) != nil || w.generation != p.generation {
		ev.Msg("worker exited")
		m.reconcile(p)
		return
	}
	s.restarts++
	s.lastExit = status
	uptime := m.clock.Now().Sub(w.started)
	if p.firstBoot && w.state == ready && uptime >= bootGrace {
		m.poolBooted(p) // --ready none: it stayed up, its grace timer just had not run yet
	}
	if p.firstBoot {
		s.bootFailures++
		if m.bootFailed(p, m.bootFailure(w, status, uptime), w.tail) {
			ev.Int("boot_failures", s.bootFailures).Msg("worker exited unexpectedly")
			return
		}
	}
	delay := m.nextBackoff(s, uptime)
	ev.Int("restarts", s.restarts).Dur("respawn_in_ms", delay).Msg("worker exited unexpectedly")
	m.scheduleRespawn(p, s, delay)
}

// nextBackoff returns how long to wait before respawning in s and advances
// its backoff: a healthy worker's crash is answered at once, then 100 ms
// doubling to 30 s while the slot keeps failing.
func (m *Manager) nextBackoff(s *slot, uptime time.Duration) time.Duration {
	if uptime >= healthyUptime {
		s.backoff = 0
	}
	delay := s.backoff
	switch {
	case s.backoff == 0:
		s.backoff = firstBackoff
	case s.backoff*2 > maxBackoff:
		s.backoff = maxBackoff
	default:
		s.backoff *= 2
	}
	return delay
}

func (m *Manager) scheduleRespawn(p *pool, s *slot, delay time.Duration) {
	if delay <= 0 {
		m.reconcile(p)
		return
	}
	s.respawn = m.after(delay, func() {
		s.respawn = nil
		m.reconcile(p)
	})
}

// workerEnv is the pool's environment plus the variables pmux gives every worker. The
// shim adds LISTEN_PID, which only the child can know.
func (m *Manager) workerEnv(p *pool, s *slot) []string {
	cfg := p.cfg
	extra := []string{
		"PMUX_WORKER=" + strconv.Itoa(s.index),
		"PMUX_GENERATION=" + strconv.Itoa(p.generation),
		spawn.MasterPIDVar + "=" + strconv.Itoa(m.opts.MasterPID), // what the master's guard looks for
	}
	if n := len(cfg.Listeners); n > 0 {
		names := make([]string, n)
		for i, l := range cfg.Listeners {
			names[i] = l.Name()
		}
		extra = append(extra, "LISTEN_FDS="+strconv.Itoa(n), "LISTEN_FDNAMES="+strings.Join(names, ":"))
		if port := firstTCPPort(cfg.Listeners); port > 0 {
			extra = append(extra, "PORT="+strconv.Itoa(port))
		}
		for _, c := range cfg.Compat {
			switch c {
			case "einhorn":
				extra = append(extra, einhornEnv(cfg.Listeners, m.opts.MasterPID, s.index)...)
			case "server-starter":
				extra = append(extra, "SERVER_STARTER_PORT="+serverStarterPorts(cfg.Listeners),
					"SERVER_STARTER_GENERATION="+strconv.Itoa(p.generation))
			}
		}
	}
	if cfg.Ready == ReadyNotify || cfg.Watchdog > 0 {
		extra = append(extra, "NOTIFY_SOCKET="+m.opts.NotifySocket)
	}
	if cfg.Watchdog > 0 {
		extra = append(extra, "WATCHDOG_USEC="+strconv.FormatInt(cfg.Watchdog.Microseconds(), 10))
	}
	return spawn.MergeEnv(cfg.Env, extra...)
}

func firstTCPPort(ls []*sockets.Listener) int {
	for _, l := range ls {
		if p := l.Port(); p > 0 {
			return p
		}
	}
	return 0
}

// serverStarterPorts renders Server::Starter's "addr=fd;addr=fd" list.
func serverStarterPorts(ls []*sockets.Listener) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.Addr() + "=" + strconv.Itoa(3+i)
	}
	return strings.Join(parts, ";")
}
