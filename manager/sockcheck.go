package manager

import (
	"errors"
	"time"

	"github.com/pmux/pmux/spawn"
)

// settleAtExec is how long a worker that is ready at exec (--ready none) is
// given before its sockets are looked for: at exec the process is still the
// shim or the first wrapper, which holds fd 3 whatever happens next.
const settleAtExec = 2 * time.Second

// socketLostMsg names the likely causes of a worker group that holds none
// of its pool's sockets, and their fixes.
const socketLostMsg = "no process in the worker's group holds the listening socket: " +
	"a wrapper closed fd 3 before the server started (bundle exec --no-keep-file-descriptors or Bundler 1.x, " +
	"Ruby < 2.4 exec, sudo, a launcher that closes inherited fds) or the server left the process group; " +
	"exec the server with its fds kept open (bundle exec --keep-file-descriptors, exec(cmd, close_others: false), " +
	"pmux --user instead of sudo)"

// sockCheck is one ready worker whose sockets are to be looked for.
type sockCheck struct {
	pool      string
	slot, pid int
	inodes    []uint64
	due       time.Time // not before: the settle of a worker ready at exec
}

// checkSocketHeld looks, once w is ready, for a process of w's group that
// holds one of its pool's listening sockets, and warns when there is none:
// a wrapper lost the socket, and the server is either failing or serving a
// socket of its own. The scan reads /proc, so it runs off the loop; it logs
// itself and changes no state.
//
// The checks queue on the loop and one goroutine at a time runs those that
// are due, one after the other, woken by one timer: a reload of a thousand
// workers costs one goroutine and one timer, not a thousand of each.
func (m *Manager) checkSocketHeld(w *worker) {
	cfg := w.cfg
	if len(cfg.Listeners) == 0 || w.exited || w.state != ready {
		return
	}
	c := sockCheck{pool: cfg.Name, slot: w.slot.index, pid: w.pid, due: m.clock.Now()}
	// The inodes are read here, on the loop (an fstat, no /proc): a reload
	// may release a listener, and its fd must not be used once closed.
	c.inodes = make([]uint64, 0, len(cfg.Listeners))
	for _, l := range cfg.Listeners {
		ino, err := spawn.SocketInode(l.File)
		if err != nil {
			m.log.Debug().Str("event", "worker_socket_checked").Str("pool", c.pool).Int("slot", c.slot).
				Int("pid", c.pid).Str("result", "unknown").Err(err).Msg("could not check the worker's sockets")
			return
		}
		c.inodes = append(c.inodes, ino)
	}
	if w.ready == ReadyAtExec {
		c.due = c.due.Add(settleAtExec)
	}
	m.sockQueue = append(m.sockQueue, c)
	m.runSockChecks()
}

// runSockChecks hands the due checks to a goroutine unless one is at work,
// and otherwise sets the timer for the next one due. It runs on the loop.
func (m *Manager) runSockChecks() {
	if m.sockBusy || len(m.sockQueue) == 0 {
		return
	}
	now := m.clock.Now()
	var due []sockCheck
	kept := m.sockQueue[:0]
	next := time.Time{}
	for _, c := range m.sockQueue {
		switch {
		case !c.due.After(now):
			due = append(due, c)
		default:
			kept = append(kept, c)
			if next.IsZero() || c.due.Before(next) {
				next = c.due
			}
		}
	}
	clear(m.sockQueue[len(kept):])
	m.sockQueue = kept
	if len(due) == 0 {
		if m.sockTimer == nil || next.Before(m.sockTimerAt) {
			if m.sockTimer != nil {
				m.sockTimer.Stop()
			}
			m.sockTimerAt = next
			m.sockTimer = m.after(next.Sub(now), func() {
				m.sockTimer = nil
				m.runSockChecks()
			})
		}
		return
	}
	m.sockBusy = true
	m.sockChecks.Add(1)
	go func() {
		defer m.sockChecks.Done()
		for _, c := range due {
			select {
			case <-m.done:
				return
			default:
			}
			m.scanSockets(c)
		}
		m.post(func() {
			m.sockBusy = false
			m.runSockChecks()
		})
	}()
}

// scanSockets runs one check and logs its result; off the loop.
func (m *Manager) scanSockets(c sockCheck) {
	pool, slot, pid := c.pool, c.slot, c.pid
	held, err := spawn.GroupHoldsInodes(pid, c.inodes)
	switch {
	case errors.Is(err, spawn.ErrGroupGone):
		m.log.Debug().Str("event", "worker_socket_checked").Str("pool", pool).Int("slot", slot).
			Int("pid", pid).Str("result", "exited").Msg("worker exited before its sockets were checked")
	case err != nil:
		m.log.Debug().Str("event", "worker_socket_checked").Str("pool", pool).Int("slot", slot).
			Int("pid", pid).Str("result", "unknown").Err(err).Msg("could not check the worker's sockets")
	case held:
		m.log.Debug().Str("event", "worker_socket_checked").Str("pool", pool).Int("slot", slot).
			Int("pid", pid).Str("result", "held").Msg("the worker's group holds its sockets")
	default:
		// The warning first: worker_socket_checked marks the end of the check.
		m.log.Warn().Str("event", "worker_socket_lost").Str("pool", pool).Int("slot", slot).
			Int("pid", pid).Msg(socketLostMsg)
		m.log.Debug().Str("event", "worker_socket_checked").Str("pool", pool).Int("slot", slot).
			Int("pid", pid).Str("result", "lost").Msg("no process of the worker's group holds its sockets")
	}
}
