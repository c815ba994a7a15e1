package manager

import (
	"context"
	"fmt"
	"time"

	"github.com/pmux/pmux/internal/proc"
	"github.com/pmux/pmux/signalmap"
	"github.com/pmux/pmux/spawn"
	"github.com/pmux/pmux/status"
)

// Status returns a snapshot taken on the loop. The resident sizes and the
// sockets' accept queues are read from the kernel afterwards, on the
// caller's goroutine: the loop only copies the pids and socket inodes, so
// a slow /proc never delays a signal.
func (m *Manager) Status(ctx context.Context) (status.Status, error) {
	var st status.Status
	var looks []activityLook
	if err := m.Query(ctx, func() { st, looks = m.snapshot(), m.activityLooks() }); err != nil {
		return st, err
	}
	m.readRSS(&st, ctx.Done())
	m.readQueues(&st)
	m.readActivity(ctx, &st, looks)
	return st, nil
}

// activityLook is a ready worker to look at for Status, and where it is in
// the snapshot.
type activityLook struct {
	pool, index int
	w           *worker
	group       GroupProbe
	sample      busySample
}

// activityLooks lists, on the loop, the ready workers whose activity a
// look can tell, in snapshot order.
func (m *Manager) activityLooks() []activityLook {
	var out []activityLook
	for i, p := range m.pools {
		j := 0
		for _, s := range p.slots {
			for _, w := range s.workers {
				if w.state == ready && m.ensureGroup(w) {
					out = append(out, activityLook{pool: i, index: j, w: w, group: w.group})
				}
				j++
			}
		}
	}
	return out
}

// readActivity looks at each ready worker off the loop (a few small /proc
// reads each, and a walk for its group's members when none of the known
// ones waits), then has the loop record what it saw, so that how long a
// worker has been busy or waiting carries from one status to the next.
func (m *Manager) readActivity(ctx context.Context, st *status.Status, looks []activityLook) {
	// A look at each group's known members first; then one walk of /proc
	// for all the groups where none waits (a walk per group would read the
	// machine's processes once per worker), and a second look at those.
	var again []int
	var walk []*proc.Group
	for i := range looks {
		if ctx.Err() != nil {
			return
		}
		looks[i].sample = lookBusy(looks[i].group, false)
		if s := looks[i].sample; s.err == nil && !s.waiting {
			again = append(again, i)
			if g, ok := looks[i].group.(*proc.Group); ok {
				walk = append(walk, g)
			} else {
				_ = looks[i].group.Rescan(false) // a probe of another kind walks on its own
			}
		}
	}
	if len(again) > 0 && ctx.Err() == nil {
		if proc.RescanAll(walk) == nil {
			for _, i := range again {
				looks[i].sample = lookBusy(looks[i].group, false)
			}
		}
	}
	for i := range looks {
		looks[i].sample.w = looks[i].w
	}
	_ = m.Query(ctx, func() {
		now := m.clock.Now()
		for _, l := range looks {
			if l.sample.err != nil || l.w.exited || l.w.state != ready {
				continue
			}
			m.noteActivity(l.w, l.sample, now)
			ws := &st.Pools[l.pool].Workers[l.index]
			ws.Activity, ws.ActivitySeconds = l.w.activity, now.Sub(l.w.activitySince).Seconds()
		}
	})
}

// readQueues fills in each listener's accept queue, off the loop. Where
// the kernel cannot say, the queues stay unknown.
func (m *Manager) readQueues(st *status.Status) {
	read := m.opts.ListenQueues
	if read == nil {
		read = proc.ListenQueues
	}
	var queues map[uint64]proc.ListenQueue
	for i := range st.Pools {
		for j := range st.Pools[i].Listeners {
			l := &st.Pools[i].Listeners[j]
			if queues == nil {
				var err error
				if queues, err = read(); err != nil {
					return
				}
			}
			if q, ok := queues[l.Inode]; ok && l.Inode != 0 {
				n := q.Queued
				l.Queued, l.Backlog = &n, q.Backlog
			}
		}
	}
}

// readRSS fills in each worker's resident size, off the loop; it stops
// early, leaving zeros, once stop is closed.
func (m *Manager) readRSS(st *status.Status, stop <-chan struct{}) {
	for i := range st.Pools {
		for j := range st.Pools[i].Workers {
			select {
			case <-stop:
				return
			default:
			}
			w := &st.Pools[i].Workers[j]
			w.RSS = m.rss(w.Pid)
		}
	}
}

func (m *Manager) snapshot() status.Status {
	now := m.clock.Now()
	st := status.Status{MasterPID: m.opts.MasterPID, Phase: m.phase.String(),
		UpgradeChild: m.upgrade.child, UpgradeParent: m.upgrade.parent, Reload: m.reloads}
	if u := m.opts.Upgrade; u != nil {
		st.Binary, st.Args, st.Dir = u.Binary, u.Args, u.Dir
	}
	for _, p := range m.pools {
		ps := status.PoolStatus{Name: p.cfg.Name, Target: p.target, Generation: p.generation,
			Workers: []status.WorkerStatus{}, Listeners: []status.ListenerStatus{}}
		for _, l := range p.cfg.Listeners {
			// An fstat of a socket pmux holds: no /proc, no wait.
			ino, _ := spawn.SocketInode(l.File)
			ps.Listeners = append(ps.Listeners, status.ListenerStatus{Bind: l.Spec.String(), Addr: l.Addr(), Inode: ino})
		}
		for _, s := range p.slots {
			for _, w := range s.workers {
				state := w.state.String()
				if w.retiring && w.state != stopping {
					state = "retiring"
				}
				ws := status.WorkerStatus{
					Slot: s.index, Pid: w.pid, Generation: w.generation, State: state,
					Started: w.started, AgeSeconds: now.Sub(w.started).Seconds(),
					Restarts: s.restarts, LastExit: s.lastExit, Status: w.status,
				}
				if w.state == starting {
					ws.Activity, ws.ActivitySeconds = activityBooting, now.Sub(w.started).Seconds()
				}
				ps.Workers = append(ps.Workers, ws)
			}
		}
		st.Pools = append(st.Pools, ps)
	}
	return st
}

// statusDump logs one line per worker. The loop takes the snapshot; a
// helper reads the sizes from /proc and logs, so the loop goes on at once.
func (m *Manager) statusDump() {
	st := m.snapshot()
	m.helpers.Add(1)
	go func() {
		defer m.helpers.Done()
		m.readRSS(&st, m.done)
		for _, p := range st.Pools {
			for _, w := range p.Workers {
				m.log.Info().Str("event", "status").Str("pool", p.Name).Int("slot", w.Slot).Int("pid", w.Pid).
					Int("gen", w.Generation).Str("state", w.State).Dur("age_ms", time.Duration(w.AgeSeconds*float64(time.Second))).
					Int("restarts", w.Restarts).Int64("rss", w.RSS).Msg("worker")
			}
		}
	}()
}

// Do runs a master action (as a signal would) on the loop.
func (m *Manager) Do(ctx context.Context, action signalmap.Action) error {
	return m.Query(ctx, func() {
		m.log.Info().Str("event", "control_action").Str("action", string(action)).Msg("action requested")
		if action == signalmap.StopWorkers {
			// Asked for by name, not by a WINCH a terminal may have sent.
			m.stopAllWorkers()
			return
		}
		m.do(action.Resolve(m.opts.ReopenLogs != nil))
		m.updateSupervisor()
	})
}

// Scale sets pool's worker count to n, or changes it by n when relative.
// The profile's floor applies to relative changes only, as it does to
// TTOU; an explicit count is the operator's decision.
func (m *Manager) Scale(ctx context.Context, pool string, n int, relative bool) error {
	var err error
	qerr := m.Query(ctx, func() {
		for i, p := range m.pools {
			if p.cfg.Name != pool {
				continue
			}
			if relative {
				err = m.scale(i, n)
				return
			}
			err = m.setTarget(p, n)
			return
		}
		err = fmt.Errorf("scale %s: %w", pool, status.ErrNoPool)
	})
	if qerr != nil {
		return qerr
	}
	return err
}

// RollingRestart replaces the named pool's workers one slot at a time, as
// a change under one of its --watch paths asks.
func (m *Manager) RollingRestart(ctx context.Context, pool string) error {
	var err error
	qerr := m.Query(ctx, func() {
		for _, p := range m.pools {
			if p.cfg.Name == pool && !p.removed {
				if m.phase == running {
					m.log.Info().Str("event", "watch_restart").Str("pool", pool).Msg("watched files changed")
					m.restartPool(p, false)
				}
				return
			}
		}
		err = fmt.Errorf("restart %s: %w", pool, status.ErrNoPool)
	})
	if qerr != nil {
		return qerr
	}
	return err
}
