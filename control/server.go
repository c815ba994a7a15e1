package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/pmux/pmux/signalmap"
	"github.com/pmux/pmux/status"
)

// Master is what the server needs of the master; *manager.Manager is one.
// Each method runs on the master's loop and honours ctx while it waits.
type Master interface {
	Status(ctx context.Context) (status.Status, error)
	Do(ctx context.Context, action signalmap.Action) error
	Scale(ctx context.Context, pool string, n int, relative bool) error
}

// Defaults of Options.
const (
	DefaultMaxConns       = 32
	DefaultIdleTimeout    = 10 * time.Second
	DefaultRequestTimeout = 10 * time.Second
)

// Options configures a Server; zero values take the defaults.
type Options struct {
	// Path is where the socket is created; empty means SocketPath of this
	// process.
	Path string
	Log  zerolog.Logger
	// MaxConns bounds the connections served at once; more wait in the
	// listen backlog until one ends.
	MaxConns int
	// IdleTimeout is how long a connection may take to send its next
	// request line, and to take its response.
	IdleTimeout time.Duration
	// RequestTimeout bounds how long a request waits for the master.
	RequestTimeout time.Duration
}

// Server serves the control socket. Create it with Listen, end it with
// Close.
type Server struct {
	master Master
	opts   Options
	log    zerolog.Logger
	ln     *net.UnixListener
	bound  os.FileInfo // the socket file as bound, to remove only that one
	uid    int

	ctx    context.Context // cancelled by Close: ends waits on the master
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and every connection handler

	// mu guards conns and closing, and orders every change of a
	// connection's deadlines with Close's, so no handler re-arms a long
	// read deadline after Close has cut it short.
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closing bool
}

// closeGrace is how long Close gives a handler to write the answer it is
// writing: a request the master acted on should still be acknowledged.
const closeGrace = time.Second

// Listen creates the socket (and its private directory) and serves master
// on it until Close.
func Listen(master Master, opts Options) (*Server, error) {
	if opts.Path == "" {
		opts.Path = SocketPath(os.Getpid())
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if err := peerCredSupported(); err != nil {
		return nil, fmt.Errorf("control socket %s: %w", opts.Path, err)
	}
	if len(opts.Path) > maxSocketPath {
		return nil, fmt.Errorf("control socket %s: path longer than %d bytes (set XDG_RUNTIME_DIR to a shorter directory)", opts.Path, maxSocketPath)
	}
	if err := ensurePrivateDir(filepath.Dir(opts.Path)); err != nil {
		return nil, err
	}
	if err := removeStale(opts.Path); err != nil {
		return nil, err
	}
	sweepDead(filepath.Dir(opts.Path))
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: opts.Path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", opts.Path, err)
	}
	// Close removes the file itself, and only if it is still this one.
	ln.SetUnlinkOnClose(false)
	fail := func(err error) (*Server, error) {
		ln.Close()
		os.Remove(opts.Path)
		return nil, fmt.Errorf("control socket %s: %w", opts.Path, err)
	}
	// The directory already keeps others out; the mode says so too, for
	// whoever moves the socket or loosens the directory.
	if err := os.Chmod(opts.Path, 0o600); err != nil {
		return fail(err)
	}
	bound, err := os.Lstat(opts.Path)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		master: master, opts: opts, log: opts.Log, ln: ln, bound: bound, uid: os.Geteuid(),
		ctx: ctx, cancel: cancel, conns: make(map[net.Conn]struct{}),
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Path returns where the socket is.
func (s *Server) Path() string { return s.opts.Path }

// Close stops accepting, ends every connection once it has written the
// answer in progress, if any, waits for every goroutine of the server and
// removes the socket file.
func (s *Server) Close() error {
	s.cancel()
	err := s.ln.Close()
	s.mu.Lock()
	s.closing = true
	now := time.Now()
	for c := range s.conns {
		// Wake a handler waiting for a request; let one writing finish.
		c.SetReadDeadline(now)
		c.SetWriteDeadline(now.Add(closeGrace))
	}
	s.mu.Unlock()
	s.wg.Wait()
	// A later process with the same pid may have replaced the file (this
	// one was unlinked by hand, say): leave that one alone.
	if fi, serr := os.Lstat(s.opts.Path); serr == nil && os.SameFile(fi, s.bound) {
		if rerr := os.Remove(s.opts.Path); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	if err != nil {
		return fmt.Errorf("close control socket %s: %w", s.opts.Path, err)
	}
	return nil
}

// acceptLoop accepts connections while a slot is free; it ends when Close
// closes the listener.
func (s *Server) acceptLoop() {
	defer s.wg.Done()
	slots := make(chan struct{}, s.opts.MaxConns)
	var backoff time.Duration
	for {
		select {
		case slots <- struct{}{}:
		case <-s.ctx.Done():
			return
		}
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			<-slots
			if s.ctx.Err() != nil {
				return
			}
			// Out of fds, most likely: wait a little, as net/http does,
			// rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn().Str("event", "control_accept_failed").Err(err).Dur("retry_in", backoff).Msg("control socket accept failed")
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		if !s.track(conn) {
			conn.Close()
			<-slots
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-slots }()
			defer s.untrack(conn)
			s.serveConn(conn)
		}()
	}
}

// track registers conn so Close can end it; false once Close has begun.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// armRead sets the deadline for the next request line; false once Close
// has begun, when no more requests are read.
func (s *Server) armRead(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	c.SetReadDeadline(time.Now().Add(s.opts.IdleTimeout))
	return true
}

// armWrite sets the deadline for writing an answer: the idle timeout, or
// the close grace once Close has begun.
func (s *Server) armWrite(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.opts.IdleTimeout
	if s.closing {
		d = closeGrace
	}
	c.SetWriteDeadline(time.Now().Add(d))
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

// serveConn answers request lines until the client hangs up, stalls past
// the idle timeout, sends a line too long to be a request, or Close.
func (s *Server) serveConn(conn *net.UnixConn) {
	uid, pid, err := peerCred(conn)
	if err != nil || uid != s.uid {
		msg := fmt.Sprintf("permission denied: uid %d may not control this pmux, which runs as uid %d: run the command as uid %d", uid, s.uid, s.uid)
		if err != nil {
			msg = fmt.Sprintf("permission denied: cannot tell who is asking: %v", err)
		}
		s.log.Warn().Str("event", "control_refused").Int("uid", uid).Int("pid", pid).AnErr("cause", err).Msg("control connection refused")
		s.reply(conn, Response{Error: msg})
		return
	}
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 4096), MaxLine)
	for {
		if !s.armRead(conn) || !sc.Scan() {
			if errors.Is(sc.Err(), bufio.ErrTooLong) {
				// The rest of the line cannot be skipped cheaply, and a
				// client sending it is confused: answer and hang up.
				s.reply(conn, Response{Error: fmt.Sprintf("%v: request line longer than %d bytes", ErrBadRequest, MaxLine)})
			}
			return
		}
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if !s.reply(conn, s.handle(line)) {
			return
		}
	}
}

// reply writes resp as one line; false if the client is gone or will not
// read.
func (s *Server) reply(conn net.Conn, resp Response) bool {
	b, err := json.Marshal(resp)
	if err != nil {
		b, _ = json.Marshal(Response{Error: fmt.Sprintf("encode response: %v", err)})
	}
	s.armWrite(conn)
	_, err = conn.Write(append(b, '\n'))
	return err == nil
}

// handle answers one request line.
func (s *Server) handle(line []byte) Response {
	req, err := ParseRequest(line)
	if err != nil {
		s.log.Debug().Str("event", "control_bad_request").Err(err).Msg("bad control request")
		return Response{Error: err.Error()}
	}
	s.log.Debug().Str("event", "control_request").Str("cmd", req.Cmd).Msg("control request")
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.RequestTimeout)
	defer cancel()
	switch req.Cmd {
	case CmdStatus:
		return s.status(ctx, CmdStatus)
	case CmdScale:
		n, relative := 0, req.Delta != nil
		if relative {
			n = *req.Delta
		} else {
			n = *req.N
		}
		if err := s.master.Scale(ctx, req.Pool, n, relative); err != nil {
			if errors.Is(err, status.ErrNoPool) {
				return Response{Error: s.noPool(ctx, err)}
			}
			return Response{Error: s.describe("scale "+req.Pool, err)}
		}
		return s.status(ctx, CmdScale)
	case CmdStop:
		action := signalmap.GracefulStop
		if req.Quick {
			action = signalmap.QuickStop
		}
		// A master with nothing left to stop may be gone before it can say
		// it took the stop: that, or a master already stopping, is the stop
		// that was asked, not a failure of it.
		err := s.master.Do(ctx, action)
		if err != nil && !errors.Is(err, status.ErrStopped) && !errors.Is(err, status.ErrStopping) && s.ctx.Err() == nil {
			return Response{Error: s.describe(req.Cmd, err)}
		}
		return Response{OK: true}
	default:
		// ParseRequest lets through no other command than these.
		return s.do(ctx, req.Cmd, plainActions[req.Cmd])
	}
}

// plainActions are the commands that are one master action each, as the
// signal a profile maps to it would be.
var plainActions = map[string]signalmap.Action{
	CmdReload:         signalmap.Reload,
	CmdRollingRestart: signalmap.RollingRestart,
	CmdReopenLogs:     signalmap.ReopenLogs,
	CmdUpgrade:        signalmap.Upgrade,
	CmdStopWorkers:    signalmap.StopWorkers,
}

func (s *Server) status(ctx context.Context, op string) Response {
	st, err := s.master.Status(ctx)
	if err != nil {
		return Response{Error: s.describe(op, err)}
	}
	return Response{OK: true, Status: &st}
}

func (s *Server) do(ctx context.Context, op string, action signalmap.Action) Response {
	if err := s.master.Do(ctx, action); err != nil {
		return Response{Error: s.describe(op, err)}
	}
	return Response{OK: true}
}

// noPool completes the error for a pool the master does not run with the
// ones it does.
func (s *Server) noPool(ctx context.Context, err error) string {
	st, serr := s.master.Status(ctx)
	if serr != nil {
		return err.Error()
	}
	names := make([]string, len(st.Pools))
	for i, p := range st.Pools {
		names[i] = p.Name
	}
	return fmt.Sprintf("%v (this master runs: %s)", err, strings.Join(names, ", "))
}

// describe turns a failure of the master into the error line a client
// shows.
func (s *Server) describe(op string, err error) string {
	switch {
	case errors.Is(err, status.ErrStopped):
		return op + ": the master is shutting down"
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("%s: the master did not answer within %v", op, s.opts.RequestTimeout)
	case s.ctx.Err() != nil:
		return op + ": the control socket is closing"
	case errors.Is(err, status.ErrBadCount), errors.Is(err, status.ErrBelowFloor), errors.Is(err, status.ErrStopping):
		// The manager's error names the operation already.
		return err.Error()
	}
	return fmt.Sprintf("%s: %v", op, err)
}
