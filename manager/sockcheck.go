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

// checkSocketHeld looks, once w is ready, for a process of w's group that
// holds one of its pool's listening sockets, and warns when there is none:
// a wrapper lost the socket, and the server is either failing or serving a
// socket of its own. The scan reads /proc, so it runs on a goroutine of its
// own (joined at the end of Run), never on the loop; it logs itself and
// changes no state.
func (m *Manager) checkSocketHeld(w *worker) {
	cfg := w.cfg
	if len(cfg.Listeners) == 0 || w.exited || w.state != ready {
		return
	}
	pool, slot, pid := cfg.Name, w.slot.index, w.pid
	// The inodes are read here, on the loop (an fstat, no /proc): a reload
	// may release a listener, and its fd must not be used once closed.
	inodes := make([]uint64, 0, len(cfg.Listeners))
	for _, l := range cfg.Listeners {
		ino, err := spawn.SocketInode(l.File)
		if err != nil {
			m.log.Debug().Str("event", "worker_socket_checked").Str("pool", pool).Int("slot", slot).
				Int("pid", pid).Str("result", "unknown").Err(err).Msg("could not check the worker's sockets")
			return
		}
		inodes = append(inodes, ino)
	}
	var settle time.Duration
	if w.ready == ReadyAtExec {
		settle = settleAtExec
	}
	m.sockChecks.Add(1)
	go func() {
		defer m.sockChecks.Done()
		if settle > 0 {
			t := time.NewTimer(settle)
			defer t.Stop()
			select {
			case <-t.C:
			case <-m.done:
				return
			}
		}
		held, err := spawn.GroupHoldsInodes(pid, inodes)
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
	}()
}
