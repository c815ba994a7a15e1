package manager

import (
	"strconv"
	"strings"

	"github.com/pmux/pmux/internal/sdnotify"
)

func (m *Manager) handleNotify(msg sdnotify.Message) {
	w, ok := m.byPid[msg.Pid]
	if !ok || w.exited {
		m.log.Debug().Str("event", "notify_ignored").Int("pid", msg.Pid).Msg("notify datagram from a process that is not a worker")
		return
	}
	if status, ok := msg.Fields["STATUS"]; ok {
		w.status = status
	}
	if msg.Fields["READY"] == "1" && w.state == starting && w.cfg.Ready == ReadyNotify {
		w.stopTimers()
		m.markReady(w)
	}
	// Any ping counts, before readiness too and whatever --ready is: a
	// worker under --ready none or delay talks to the same socket.
	if msg.Fields["WATCHDOG"] == "1" || msg.Fields["READY"] == "1" {
		m.armWatchdog(w)
	}
	if msg.Fields["STOPPING"] == "1" && w.state != stopping {
		// The worker is going away on its own: replace it now rather than
		// wait for its exit to look like a crash.
		w.retiring = true
		m.reconcile(w.pool)
	}
	m.updateSupervisor()
}

// armWatchdog (re)starts the worker's watchdog timer. A timer that fires
// late by more than its own period means the master itself was stopped
// (SIGSTOP) or starved, so the pings it could not read are not the
// worker's fault: it gets one more period instead of the KILL.
func (m *Manager) armWatchdog(w *worker) {
	period := w.cfg.Watchdog
	if period <= 0 || w.state == stopping {
		return
	}
	for i, t := range w.timers {
		if t == w.watchdog {
			t.Stop()
			w.timers = append(w.timers[:i], w.timers[i+1:]...)
			break
		}
	}
	due := m.clock.Now().Add(period)
	w.watchdog = m.after(period, func() {
		if w.exited || w.state == stopping {
			return
		}
		if late := m.clock.Now().Sub(due); late > period {
			m.log.Info().Str("event", "watchdog_grace").Int("pid", w.pid).Dur("late_ms", late).
				Msg("watchdog check ran late (was the master suspended?); giving the worker another period")
			m.armWatchdog(w)
			return
		}
		m.log.Warn().Str("event", "worker_watchdog_timeout").Str("pool", w.pool.cfg.Name).Int("slot", w.slot.index).
			Int("pid", w.pid).Dur("watchdog_ms", period).Msg("worker stopped sending WATCHDOG=1; killing it")
		w.failed = true
		w.cause = "watchdog"
		m.kill(w)
	})
	w.timers = append(w.timers, w.watchdog)
}

// updateSupervisor tells pmux's own supervisor (systemd) what changed:
// READY=1 once every pool has its target of ready workers of the current
// generation and no older ones, after start and after each reload, which
// is then finished. At the start, each pool must also have booted (under
// --ready none a worker is ready at exec, but has booted only once it stays
// up bootGrace), so -D and systemd hear of a start that cannot boot. While
// a reload's configuration is being read nothing has changed yet: the old
// generation serving alone is not its end.
func (m *Manager) updateSupervisor() {
	if m.phase != running || m.reloadPending {
		return
	}
	if !m.settled() || (m.announcedReady && !m.reloading) || (!m.announcedReady && m.startingUp()) {
		return
	}
	m.announcedReady = true
	if m.reloading && m.reloads.Finished < m.reloads.Started {
		m.reloads.Finished = m.reloads.Started
		m.reloads.Error = ""
	}
	m.reloading = false
	if m.opts.Supervisor != nil {
		m.opts.Supervisor("READY=1\nSTATUS=" + m.summary())
	}
}

func (m *Manager) settled() bool {
	for _, p := range m.pools {
		if len(p.slots) != p.target {
			return false
		}
		for _, s := range p.slots {
			if len(s.workers) != 1 || s.workers[0].state != ready || s.workers[0].generation != p.generation {
				return false
			}
		}
	}
	return true
}

func (m *Manager) summary() string {
	var parts []string
	for _, p := range m.pools {
		parts = append(parts, p.cfg.Name+": "+strconv.Itoa(p.target)+" workers, generation "+strconv.Itoa(p.generation))
	}
	return strings.Join(parts, "; ")
}
