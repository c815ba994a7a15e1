package manager

import (
	"errors"
	"io/fs"
	"time"

	"github.com/pmux/pmux/internal/proc"
	"github.com/pmux/pmux/spawn"
)

// How --ready auto looks at a booting worker: soon after exec, then less
// and less often, so a worker that boots in 10 ms is ready in about that,
// and one that boots for a minute costs a look every 50 ms. The group's
// members beyond its leader (a gunicorn or unicorn master's workers) are
// found by a walk of /proc, which costs a stat per process of the machine:
// it runs at rescanFirst after exec, then at intervals growing fourfold
// up to rescanMax (50 ms, 250 ms, 750 ms, then every half second).
const (
	probeFirst  = 5 * time.Millisecond
	probeMax    = 50 * time.Millisecond
	rescanFirst = 50 * time.Millisecond
	rescanMax   = 500 * time.Millisecond
)

// autoUnseenMsg is said once per pool whose workers pmux never saw wait.
const autoUnseenMsg = "no worker of this pool was ever seen waiting on its sockets (in accept, epoll_wait, poll or select) " +
	"within --boot-timeout, so each counts as ready only at the boot timeout: the server waits in a way pmux cannot read " +
	"(io_uring, a socket of its own) or is still booting; set --ready notify if it sends READY=1, " +
	"or --ready delay=DUR with DUR a little above its boot time"

// GroupProbe looks at a worker's process group for a thread waiting on the
// pool's sockets; *proc.Group is the real one. Its methods read /proc and
// are called off the loop only.
type GroupProbe interface {
	Waiting() (proc.Wait, error)
	Rescan(all bool) error
	Sockets() map[uint64]bool
}

// newGroup returns the probe of the group pgid for the sockets' inodes.
func (m *Manager) newGroup(pgid int, inodes []uint64) GroupProbe {
	if m.opts.NewGroup != nil {
		return m.opts.NewGroup(pgid, inodes)
	}
	return proc.Default.NewGroup(pgid, inodes)
}

// readyMode is how w's pool says workers become ready, where this system
// can do it: off Linux, auto has no /proc to read and works as none,
// which pmux says once.
func (m *Manager) readyMode(cfg *PoolConfig) ReadyMode {
	if cfg.Ready != ReadyAuto || proc.Supported || m.opts.NewGroup != nil {
		return cfg.Ready
	}
	if !m.autoUnsupportedSaid {
		m.autoUnsupportedSaid = true
		m.log.Warn().Str("event", "ready_auto_unsupported").Str("pool", cfg.Name).
			Msg("--ready auto needs Linux's /proc: workers count as ready at exec, as with --ready none; set --ready notify or --ready delay=DUR")
	}
	return ReadyAtExec
}

// listenerInodes reads the inodes of cfg's sockets, on the loop (an fstat
// each): a reload may release a listener, and its fd must not be used
// once closed.
func listenerInodes(cfg *PoolConfig) ([]uint64, error) {
	inodes := make([]uint64, 0, len(cfg.Listeners))
	for _, l := range cfg.Listeners {
		ino, err := spawn.SocketInode(l.File)
		if err != nil {
			return nil, err
		}
		inodes = append(inodes, ino)
	}
	return inodes, nil
}

// startAutoProbe begins looking at a booting worker of a --ready auto pool.
// A pool without sockets has nothing to wait on: its workers are ready at
// exec.
func (m *Manager) startAutoProbe(w *worker) bool {
	inodes, err := listenerInodes(w.cfg)
	if err != nil || len(inodes) == 0 {
		if err != nil {
			m.log.Warn().Str("event", "ready_auto_unavailable").Str("pool", w.cfg.Name).Int("pid", w.pid).Err(err).
				Msg("cannot name the pool's sockets; the worker counts as ready at exec")
		}
		return false
	}
	w.group = m.newGroup(w.pid, inodes)
	w.probeEvery = probeFirst
	w.rescanEvery = rescanFirst
	w.nextRescan = w.started.Add(rescanFirst)
	m.armProbe(w)
	return true
}

// armProbe schedules the next look at w. The look runs on the timer's
// goroutine, never on the loop, and posts what it saw.
func (m *Manager) armProbe(w *worker) {
	rescan := !m.clock.Now().Before(w.nextRescan)
	if rescan {
		w.rescanEvery = min(w.rescanEvery*4, rescanMax)
		w.nextRescan = m.clock.Now().Add(w.rescanEvery)
	}
	g := w.group
	w.probe = m.clock.AfterFunc(w.probeEvery, func() {
		select {
		case <-m.done:
			return
		default:
		}
		if rescan {
			_ = g.Rescan(false) // a failed walk keeps the members known
		}
		seen, err := g.Waiting()
		m.post(func() { m.probed(w, seen, err) })
	})
	w.probeEvery = min(w.probeEvery*3/2, probeMax)
}

// probed handles one look at a booting worker.
func (m *Manager) probed(w *worker, seen proc.Wait, err error) {
	w.probe = nil
	if w.exited || w.state != starting {
		return
	}
	if err != nil {
		w.probeErr = err
		if errors.Is(err, fs.ErrPermission) && !w.pool.autoDenied {
			w.pool.autoDenied = true
			m.log.Warn().Str("event", "ready_auto_denied").Str("pool", w.cfg.Name).Int("pid", w.pid).Err(err).
				Msg("pmux may not read the worker's /proc files (it needs to be its parent or root); set --ready notify or --ready delay=DUR")
		}
	}
	if seen.Kind == proc.NotWaiting {
		m.armProbe(w)
		return
	}
	w.pool.autoSeen = true
	w.lastWaited = m.clock.Now()
	m.log.Debug().Str("event", "worker_seen_waiting").Str("pool", w.cfg.Name).Int("slot", w.slot.index).
		Int("pid", w.pid).Int("in_pid", seen.Pid).Str("wait", seen.Kind.String()).Msg("worker waits on its socket")
	m.markReady(w)
	m.updateSupervisor()
}

// autoBootTimeout decides a --ready auto worker's boot timeout: if no
// worker of its pool was ever seen waiting, pmux cannot see this server,
// and the worker counts as ready (said once per pool); otherwise it failed
// its boot. It reports whether the worker was made ready.
func (m *Manager) autoBootTimeout(w *worker) bool {
	p := w.pool
	if p.autoSeen {
		return false
	}
	if !p.autoUnseenSaid {
		p.autoUnseenSaid = true
		ev := m.log.Warn().Str("event", "ready_auto_unseen").Str("pool", w.cfg.Name).Int("pid", w.pid).
			Dur("boot_timeout_ms", w.cfg.BootTimeout)
		if w.probeErr != nil {
			ev = ev.AnErr("probe_error", w.probeErr)
		}
		ev.Msg(autoUnseenMsg)
	}
	m.markReady(w)
	m.updateSupervisor()
	return true
}
