package manager

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"time"

	"github.com/pmux/pmux/internal/sdnotify"
	"github.com/pmux/pmux/signalmap"
	"github.com/pmux/pmux/status"
)

func (m *Manager) handleSignal(sig syscall.Signal) {
	action := m.opts.Signals.Action(sig).Resolve(m.opts.ReopenLogs != nil)
	m.log.Info().Str("event", "signal_received").Str("signal", signalmap.Name(sig)).Str("action", string(action)).Msg("signal received")
	m.forward(sig)
	m.do(action)
	m.updateSupervisor()
}

// forward passes sig on to every worker of the pools that asked for it.
func (m *Manager) forward(sig syscall.Signal) {
	for _, p := range m.pools {
		for _, f := range p.cfg.Forward {
			if f != sig {
				continue
			}
			for _, s := range p.slots {
				for _, w := range s.workers {
					m.signalWorker(w, sig)
				}
			}
		}
	}
}

func (m *Manager) do(action signalmap.Action) {
	switch action {
	case signalmap.QuickStop:
		m.stopAll(true)
	case signalmap.GracefulStop:
		m.stopAll(false)
	case signalmap.Reload:
		m.reload()
	case signalmap.RollingRestart:
		m.restart(false)
	case signalmap.ReopenLogs:
		m.reopenLogs()
	case signalmap.StopWorkers:
		m.stopWorkers()
	case signalmap.Incr:
		m.scale(0, +1)
	case signalmap.Decr:
		m.scale(0, -1)
	case signalmap.StatusDump:
		m.statusDump()
	case signalmap.Upgrade:
		m.startUpgrade()
	}
}

// stopAll stops the master: every worker gets the stop (or quick) signal
// and Run returns once the last has exited. A quick stop may hurry a
// graceful one already under way.
func (m *Manager) stopAll(quick bool) {
	if m.phase == stoppingGraceful && m.opts.EscalateRepeatedStop {
		quick = true
	}
	switch {
	case m.phase == stoppingQuick, m.phase == stoppingGraceful && !quick:
		return
	case quick:
		m.phase = stoppingQuick
	default:
		m.phase = stoppingGraceful
	}
	m.stopRunning() // a reload still being read is given up
	// While two masters run, the one stopping is not the service stopping:
	// an old master commits (and hands the main pid on at exit), a new one
	// rolls back.
	if m.opts.Supervisor != nil && m.upgrade.child == 0 && m.upgrade.parent == 0 {
		m.opts.Supervisor("STOPPING=1")
	}
	if m.rssTimer != nil {
		m.rssTimer.Stop()
		m.rssTimer = nil
	}
	for _, p := range m.pools {
		for _, s := range p.slots {
			if s.respawn != nil {
				s.respawn.Stop()
				s.respawn = nil
			}
			for _, w := range s.workers {
				m.stopWorker(w, quick)
			}
		}
	}
}

// restart replaces every worker with a new generation, surge-first: all
// slots at once for a reload, one at a time for a rolling restart. A
// reload also restores the configured worker count, as unicorn's does
// after WINCH or TTIN.
func (m *Manager) restart(all bool) {
	if m.phase != running {
		return
	}
	if !m.reloading {
		m.reloading = true
		if m.opts.Supervisor != nil {
			m.opts.Supervisor(sdnotify.ReloadingState())
		}
	}
	for _, p := range m.pools {
		m.restartPool(p, all)
	}
}

func (m *Manager) restartPool(p *pool, all bool) {
	if all {
		p.target = p.cfg.Workers
	}
	if p.removed {
		p.target = 0
	}
	p.generation++
	p.firstBoot = false // a master told to restart serves on, whatever the new workers do
	p.surge = 1
	if all {
		p.surge = max(p.target, 1)
	}
	// A slot that was backing off gets its new worker now: the user
	// asked for a restart, and it may be the fix.
	for _, s := range p.slots {
		if s.respawn != nil {
			s.respawn.Stop()
			s.respawn = nil
		}
	}
	m.opts.Observer.GenerationStarted(p.cfg.Name, !all)
	m.log.Info().Str("event", "generation_started").Str("pool", p.cfg.Name).Int("gen", p.generation).
		Int("workers", p.target).Bool("rolling", !all).Msg("replacing workers")
	m.reconcile(p)
}

func (m *Manager) reopenLogs() {
	if m.opts.ReopenLogs == nil {
		m.log.Info().Str("event", "logs_reopened").Msg("pmux owns no log file; nothing to reopen")
		return
	}
	if err := m.opts.ReopenLogs(); err != nil {
		m.log.Error().Str("event", "logs_reopen_failed").Err(err).Msg("could not reopen log files; still writing to the old ones")
		return
	}
	m.log.Info().Str("event", "logs_reopened").Msg("log files reopened")
}

func (m *Manager) stopWorkers() {
	if !m.opts.StopWorkersAllowed {
		m.log.Info().Str("event", "stop_workers_ignored").
			Msg("WINCH ignored: pmux runs on a terminal, where a resize sends it; daemonize or detach stdin to use it")
		return
	}
	m.stopAllWorkers()
}

// stopAllWorkers stops every worker gracefully; the sockets stay open and
// connections queue until a reload brings workers back.
func (m *Manager) stopAllWorkers() {
	for _, p := range m.pools {
		p.target = 0
		m.reconcile(p)
	}
}

// scale changes the target of pool i by delta, never below the profile's
// floor; the highest slots go first.
func (m *Manager) scale(i, delta int) error {
	if i >= len(m.pools) {
		return status.ErrNoPool
	}
	p := m.pools[i]
	n := p.target + delta
	if delta < 0 && n < m.opts.Signals.Floor() {
		m.log.Info().Str("event", "scale_refused").Str("pool", p.cfg.Name).Int("workers", p.target).
			Int("floor", m.opts.Signals.Floor()).Msg("already at the profile's minimum")
		return fmt.Errorf("scale %s to %d: %w (%d): it keeps %d workers", p.cfg.Name, n, status.ErrBelowFloor, m.opts.Signals.Floor(), p.target)
	}
	return m.setTarget(p, n)
}

func (m *Manager) setTarget(p *pool, n int) error {
	switch {
	case m.phase != running:
		return fmt.Errorf("scale %s: %w", p.cfg.Name, status.ErrStopping)
	case n < 0 || n > status.MaxWorkers:
		return fmt.Errorf("scale %s to %d: %w", p.cfg.Name, n, status.ErrBadCount)
	}
	p.target = n
	m.log.Info().Str("event", "pool_scaled").Str("pool", p.cfg.Name).Int("workers", n).Msg("worker count changed")
	m.reconcile(p)
	return nil
}

// armLifetime schedules the recycling of a worker past --max-lifetime,
// with up to 10% jitter so a pool's workers do not all retire together.
func (m *Manager) armLifetime(w *worker) {
	life := w.cfg.MaxLifetime
	if life <= 0 {
		return
	}
	life += time.Duration(rand.Int64N(int64(life)/10 + 1))
	w.timers = append(w.timers, m.after(life, func() {
		if w.exited || w.state != ready {
			return
		}
		m.log.Info().Str("event", "worker_retiring").Str("pool", w.pool.cfg.Name).Int("slot", w.slot.index).
			Int("pid", w.pid).Str("reason", "max_lifetime").Msg("replacing worker")
		w.retiring = true
		m.reconcile(w.pool)
	}))
}
