package manager

import (
	"maps"
	"time"

	"github.com/pmux/pmux/internal/proc"
)

// --timeout: a worker none of whose processes waited on the pool's sockets
// for Timeout is stuck in one request, and is killed and replaced. Each
// pool with a timeout is sampled every Timeout/4 (the only periodic
// wake-up it adds, and only while set); a sample reads, per ready worker,
// the threads of its group (and, every time, a /proc walk for the group's
// members), off the loop.
//
// Two things count as life: a thread seen waiting on a socket, and a
// change in the set of sockets the group holds besides the listeners. The
// second is what keeps a saturated worker alive: under load a pre-fork
// server never blocks in accept (a connection is always queued), but it
// closes one connection and accepts the next between two samples, which
// a worker stuck in one request does not.
//
// A worker never seen waiting (a server pmux cannot read) is never timed
// out: pmux cannot tell stuck from busy there.

// armTimeouts arms the sampler of every pool with a timeout.
func (m *Manager) armTimeouts() {
	for _, p := range m.pools {
		m.armTimeout(p)
	}
}

// armTimeout schedules p's next sample when it has a timeout. The workers
// to look at are chosen now, on the loop; the looks run on the timer's
// goroutine, and what they saw is judged back on the loop, where a worker
// that exited or stopped meanwhile is passed over.
func (m *Manager) armTimeout(p *pool) {
	if p.timeoutTimer != nil || m.phase != running || p.removed || p.cfg.Timeout <= 0 || len(p.cfg.Listeners) == 0 {
		return
	}
	var ws []*worker
	for _, s := range p.slots {
		for _, w := range s.workers {
			if w.state == ready && w.cfg.Timeout > 0 && m.ensureGroup(w) {
				ws = append(ws, w)
			}
		}
	}
	p.timeoutTimer = m.clock.AfterFunc(p.cfg.Timeout/4, func() {
		select {
		case <-m.done:
			return
		default:
		}
		out := make([]busySample, len(ws))
		for i, w := range ws {
			out[i] = lookBusy(w.group, true)
			out[i].w = w
		}
		m.post(func() {
			p.timeoutTimer = nil
			now := m.clock.Now()
			for _, s := range out {
				m.judgeTimeout(s, now)
			}
			m.armTimeout(p)
		})
	})
}

// busySample is what one look at a worker found.
type busySample struct {
	w       *worker
	waiting bool
	sockets map[uint64]bool
	err     error
}

// lookBusy looks once at a group: whether a thread waits on a socket, and
// if not, which sockets it holds. With rescan the group's members are
// walked for first when no known one waits (a forked child may be new).
func lookBusy(g GroupProbe, rescan bool) busySample {
	seen, err := g.Waiting()
	if err == nil && seen.Kind == proc.NotWaiting && rescan {
		if g.Rescan(false) == nil {
			seen, err = g.Waiting()
		}
	}
	s := busySample{waiting: err == nil && seen.Kind != proc.NotWaiting, err: err}
	if err == nil && !s.waiting {
		s.sockets = g.Sockets()
	}
	return s
}

// judgeTimeout applies one sample to its worker, on the loop.
func (m *Manager) judgeTimeout(s busySample, now time.Time) {
	w := s.w
	if w.exited || w.state != ready || s.err != nil {
		return
	}
	m.noteActivity(w, s, now)
	if s.waiting || w.lastWaited.IsZero() {
		return
	}
	if busy := now.Sub(w.busySince); busy >= w.cfg.Timeout {
		m.log.Warn().Str("event", "worker_timeout").Str("pool", w.cfg.Name).Int("slot", w.slot.index).
			Int("pid", w.pid).Dur("busy_ms", busy).Dur("timeout_ms", w.cfg.Timeout).
			Msg("worker busy in one request past --timeout (no process of it waited on its sockets); killing it")
		w.failed = true
		w.cause = "timeout"
		m.kill(w)
	}
}

// noteActivity records what a look at a ready worker saw: whether it
// waits, and since when it is busy. A busy worker whose connections
// changed since the last look served another request meanwhile: its busy
// time starts again at that look.
func (m *Manager) noteActivity(w *worker, s busySample, now time.Time) {
	defer func() { w.lastLook = now }()
	if s.waiting {
		w.lastWaited = now
		if w.activity != activityWaiting {
			w.activity, w.activitySince = activityWaiting, now
		}
		w.lastSockets = nil
		return
	}
	if w.activity != activityBusy {
		// It waited last at the earlier of the last look that saw it and
		// now; a worker never seen waiting is busy since it was ready.
		since := w.lastWaited
		if since.IsZero() {
			since = w.readyAt
		}
		w.activity, w.activitySince, w.busySince = activityBusy, since, since
	} else if w.lastSockets != nil && !maps.Equal(w.lastSockets, s.sockets) {
		w.busySince = w.lastLook
		w.activitySince = w.lastLook
	}
	w.lastSockets = s.sockets
}

// ensureGroup gives w a probe of its group, made on the loop (the inodes
// are an fstat each); false when its sockets cannot be named.
func (m *Manager) ensureGroup(w *worker) bool {
	if w.group != nil {
		return true
	}
	inodes, err := listenerInodes(w.cfg)
	if err != nil || len(inodes) == 0 {
		return false
	}
	w.group = m.newGroup(w.pid, inodes)
	return true
}

// What a worker is doing, for status and metrics.
const (
	activityBooting = "booting"
	activityWaiting = "waiting"
	activityBusy    = "busy"
)
