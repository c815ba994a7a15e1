package metrics

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/pmux/pmux/control"
	"github.com/pmux/pmux/status"
)

// livezTimeout is how long /livez gives the loop to answer: a live loop
// answers in microseconds, so anything near this is a wedged one.
const livezTimeout = time.Second

// shutdownTimeout bounds how long Close lets in-flight requests finish.
const shutdownTimeout = 5 * time.Second

// ErrBadAddr is wrapped by ListenAddr's errors.
var ErrBadAddr = errors.New("bad address")

// ListenAddr returns the TCP address to serve metrics on for the --metrics
// value addr. A bare port ("9100") or one without a host (":9100") is on
// loopback, 127.0.0.1; only a host the user writes (0.0.0.0, [::], a name)
// binds elsewhere.
func ListenAddr(addr string) (string, error) {
	if addr == "" {
		return "", fmt.Errorf("metrics address %q: %w: empty", addr, ErrBadAddr)
	}
	if isPort(addr) {
		return net.JoinHostPort("127.0.0.1", addr), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			err = errors.New(ae.Err)
		}
		return "", fmt.Errorf("metrics address %q: %w: %v (write PORT, :PORT or HOST:PORT)", addr, ErrBadAddr, err)
	}
	if !isPort(port) {
		return "", fmt.Errorf("metrics address %q: %w: port %q is not a number from 0 to 65535", addr, ErrBadAddr, port)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

func isPort(s string) bool {
	_, err := strconv.ParseUint(s, 10, 16)
	return err == nil
}

// Handler returns the HTTP handler for /metrics, /readyz and /livez with
// the master's state read from src. It registers src's collector, so it is
// called once per Metrics.
func (m *Metrics) Handler(src StatusSource, logger zerolog.Logger) (http.Handler, error) {
	if err := m.reg.Register(newStatusCollector(src, m.initPool)); err != nil {
		return nil, fmt.Errorf("register status collector: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// The process and event metrics are worth serving even when the
		// status query fails.
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      printLogger{logger},
		Registry:      m.reg,
	})))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), statusTimeout)
		defer cancel()
		st, err := src.Status(ctx)
		if err != nil {
			health(w, http.StatusServiceUnavailable, describe(err, statusTimeout))
			return
		}
		if err := control.CheckReady(st); err != nil {
			health(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		health(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), livezTimeout)
		defer cancel()
		if _, err := src.Status(ctx); err != nil {
			health(w, http.StatusServiceUnavailable, describe(err, livezTimeout))
			return
		}
		health(w, http.StatusOK, "ok")
	})
	return mux, nil
}

func health(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

func describe(err error, timeout time.Duration) string {
	switch {
	case errors.Is(err, status.ErrStopped):
		return "the master is shutting down"
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("the master's loop did not answer within %v", timeout)
	}
	return "status: " + err.Error()
}

// printLogger lets promhttp report its errors in pmux's log.
type printLogger struct{ log zerolog.Logger }

func (l printLogger) Println(v ...any) {
	l.log.Error().Str("event", "metrics_error").Msg(strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}

// Server serves the metrics over HTTP. Create it with Serve, end it with
// Close.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{} // closed when the serving goroutine has returned
}

// Serve listens on ListenAddr(addr) and serves m's handler until Close.
//
// The port is bound with SO_REUSEPORT: in a binary upgrade the new master
// binds the same --metrics address while the old one still serves it, and
// must not fail its boot for that. While both live, scrapes go to either;
// the kernel only lets processes of the same user share the port.
func (m *Metrics) Serve(addr string, src StatusSource, logger zerolog.Logger) (*Server, error) {
	laddr, err := ListenAddr(addr)
	if err != nil {
		return nil, err
	}
	h, err := m.Handler(src, logger)
	if err != nil {
		return nil, err
	}
	lc := net.ListenConfig{Control: reusePort}
	ln, err := lc.Listen(context.Background(), "tcp", laddr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", laddr, err)
	}
	s := &Server{
		ln: ln,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       60 * time.Second,
			ErrorLog:          log.New(logger.With().Str("event", "metrics_http_error").Logger(), "", 0),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		// Serve returns ErrServerClosed after Close; any other error ends
		// the serving too, and there is no one to tell but the log.
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			logger.Error().Str("event", "metrics_failed").Err(err).Msg("metrics server stopped")
		}
	}()
	return s, nil
}

// Addr returns the address the server listens on (with the real port when
// asked for port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, lets in-flight requests finish for a few seconds
// and waits for the serving goroutine.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	<-s.done
	if err != nil {
		return fmt.Errorf("close metrics server %s: %w", s.Addr(), err)
	}
	return nil
}
