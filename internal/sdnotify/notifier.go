package sdnotify

import (
	"errors"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// How pmux's own sd_notify datagrams wait for a supervisor that does not
// read (its socket's queue is full): each write tries this long before it
// looks again whether the notifier is closing; at Close, what is still
// queued gets flushTimeout in all, so the MAINPID= of an upgrade's old
// master reaches systemd before that master exits, and a master whose
// supervisor is stuck still exits promptly.
const (
	supervisorRetry        = 250 * time.Millisecond
	supervisorFlushTimeout = time.Second
	// supervisorQueue bounds the states kept while the supervisor does not
	// read; the oldest go first, so the latest STATUS= is kept.
	supervisorQueue = 16
)

// Notifier sends pmux's own sd_notify states to the socket its
// supervisor named in NOTIFY_SOCKET (a leading '@' names an abstract
// socket, as Go's net package understands it). Send never blocks: the
// manager's loop calls it, and a supervisor that reads slowly or not at
// all must not stall the loop. The datagrams leave in order from a
// goroutine of their own; while they cannot, repeated WATCHDOG=1 pings
// collapse into one and the queue keeps the latest states. Other errors
// drop the state: a supervisor that stopped listening must not stop the
// master.
type Notifier struct {
	addr *net.UnixAddr
	log  zerolog.Logger
	// mu guards pending and warned. It is held for a slice operation at a
	// time, never across I/O, so Send never waits on the supervisor.
	mu      sync.Mutex
	pending []string
	warned  bool
	wake    chan struct{} // one token: pending has grown
	quit    chan struct{}
	flushBy atomic.Int64 // UnixNano after which a write is given up; 0 until Close
	dropped atomic.Int64 // states given up, for Close's report
	done    chan struct{}
	once    sync.Once
}

// NewNotifier starts the notifier for socket; it returns nil
// when socket is "" (no supervisor listens).
func NewNotifier(socket string, log zerolog.Logger) *Notifier {
	if socket == "" {
		return nil
	}
	n := &Notifier{
		addr: &net.UnixAddr{Name: socket, Net: "unixgram"},
		log:  log,
		wake: make(chan struct{}, 1),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	go n.write()
	return n
}

// Func is Send as an Options.Supervisor, or nil for a nil notifier.
func (n *Notifier) Func() func(state string) {
	if n == nil {
		return nil
	}
	return n.Send
}

// Send queues state for the supervisor and returns at once.
func (n *Notifier) Send(state string) {
	n.mu.Lock()
	n.add(state)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default: // a token is already waiting
	}
}

// add queues state; n.mu is held.
func (n *Notifier) add(state string) {
	if state == "WATCHDOG=1" && slices.Contains(n.pending, state) {
		return // one ping waiting says all that the others would
	}
	n.pending = append(n.pending, state)
	if len(n.pending) <= supervisorQueue {
		return
	}
	n.pending = slices.Delete(n.pending, 0, 1)
	n.dropped.Add(1)
	if !n.warned {
		n.warned = true
		// Logged from the loop, which only formats a line here.
		n.log.Warn().Str("event", "supervisor_not_reading").Str("socket", n.addr.Name).
			Msg("pmux's supervisor is not reading its notify socket; keeping only the latest states")
	}
}

// next waits for the oldest queued state; false once closed and empty.
func (n *Notifier) next() (string, bool) {
	for {
		n.mu.Lock()
		if len(n.pending) > 0 {
			s := n.pending[0]
			n.pending = slices.Delete(n.pending, 0, 1)
			if len(n.pending) == 0 {
				n.warned = false
			}
			n.mu.Unlock()
			return s, true
		}
		n.mu.Unlock()
		select {
		case <-n.wake:
		case <-n.quit:
			n.mu.Lock()
			empty := len(n.pending) == 0
			n.mu.Unlock()
			if empty {
				return "", false
			}
		}
	}
}

// Close sends what is queued, giving up after supervisorFlushTimeout, and
// stops the goroutine. States sent after Close are dropped.
func (n *Notifier) Close() {
	if n == nil {
		return
	}
	n.once.Do(func() {
		n.flushBy.Store(time.Now().Add(supervisorFlushTimeout).UnixNano())
		close(n.quit)
		<-n.done
		n.mu.Lock()
		n.dropped.Add(int64(len(n.pending)))
		n.pending = nil
		n.mu.Unlock()
		if d := n.dropped.Load(); d > 0 {
			n.log.Warn().Str("event", "supervisor_notify_dropped").Int64("states", d).Str("socket", n.addr.Name).
				Msg("the supervisor did not read its notify socket; some of pmux's sd_notify states were not sent")
		}
	})
}

// write sends each state as one datagram, in order, on one connection
// that is dialled again after an error.
func (n *Notifier) write() {
	defer close(n.done)
	var conn *net.UnixConn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		state, ok := n.next()
		if !ok {
			return
		}
		for {
			if conn == nil {
				c, err := net.DialUnix("unixgram", nil, n.addr)
				if err != nil {
					n.dropped.Add(1)
					break
				}
				conn = c
			}
			deadline := time.Now().Add(supervisorRetry)
			if by := n.flushBy.Load(); by != 0 {
				deadline = time.Unix(0, by)
			}
			_ = conn.SetWriteDeadline(deadline)
			_, err := conn.Write([]byte(state))
			if err == nil {
				break
			}
			if errors.Is(err, os.ErrDeadlineExceeded) && n.waitOn() {
				continue // the supervisor's queue is full: wait for it to read
			}
			n.dropped.Add(1)
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				conn.Close()
				conn = nil
			}
			break
		}
	}
}

// waitOn reports whether a write that timed out is tried again: always
// while the notifier runs, until the flush deadline once it closes.
func (n *Notifier) waitOn() bool {
	by := n.flushBy.Load()
	return by == 0 || time.Now().UnixNano() < by
}

// WatchdogPeriod reads systemd's watchdog request for pmux itself:
// WATCHDOG_USEC, meant for WATCHDOG_PID when that is set. A new master of
// an upgrade inherits its parent's, and pings too.
func WatchdogPeriod(getenv func(string) string, pid, ppid int) time.Duration {
	usec, err := strconv.ParseInt(getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if p := getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(pid) && p != strconv.Itoa(ppid) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond
}
