// Command example-go is the default pmux example app: a stdlib-only HTTP server
// that serves on the listening sockets pmux hands it and stops the way pmux
// expects a worker to stop.
//
// Under pmux (or systemd socket activation) it adopts fds 3..3+LISTEN_FDS-1,
// as sd_listen_fds(3) does: only when LISTEN_PID is its own pid. Run alone, it
// listens on 127.0.0.1:$PORT, or 127.0.0.1:8000 without PORT.
//
//	GET /            hello from pid=<pid> slot=<PMUX_WORKER> gen=<PMUX_GENERATION> lang=go
//	GET /?sleep=1.5  the same line, 1.5 s later (an in-flight request for stop tests)
//
// Signals: TERM (or QUIT) stops gracefully: stop accepting, finish in-flight
// requests, exit 0. INT stops at once: close every connection, exit 0.
//
// Readiness: with NOTIFY_SOCKET set it sends READY=1 once it serves, and
// STOPPING=1 when it starts to stop (sd_notify(3), written by hand). With
// WATCHDOG_USEC set it sends WATCHDOG=1 at half that interval.
//
// APP_BOOT_DELAY=<seconds> (a float) sleeps before serving and READY=1, to
// simulate a slow boot.
package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// listenFdsStart is SD_LISTEN_FDS_START: the first inherited socket is fd 3.
const listenFdsStart = 3

func main() {
	log.SetFlags(0)
	log.SetPrefix(fmt.Sprintf("go-example pid=%d: ", os.Getpid()))

	// Register first, so a stop signal that arrives while booting is not lost
	// (the default action would kill us with no cleanup).
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGINT)

	// Boot before taking the sockets: net.FileListener puts a socket in the
	// Go runtime's poller at once, and the runtime's idle epoll_wait on it
	// would look to pmux's --ready auto like a server waiting for
	// connections while the app is still booting.
	if err := bootDelay(); err != nil {
		log.Fatalf("boot: %v", err)
	}

	listeners, err := listeners()
	if err != nil {
		log.Fatalf("listen: %v", err)
	}

	srv := newServer(http.HandlerFunc(hello))
	serveErr := make(chan error, len(listeners))
	srv.serve(listeners, serveErr)
	for _, l := range listeners {
		log.Printf("serving on %s", l.Addr())
	}
	notify("READY=1\nSTATUS=serving")
	stopWatchdog := watchdog()
	defer stopWatchdog()

	select {
	case err := <-serveErr:
		log.Fatalf("serve: %v", err)
	case sig := <-sigs:
		notify("STOPPING=1")
		if sig == syscall.SIGINT {
			log.Printf("%v: quick stop", sig)
			_ = srv.Close()
			return
		}
		log.Printf("%v: graceful stop, finishing in-flight requests", sig)
		// No deadline of our own: pmux owns the graceful timeout and sends
		// KILL when it runs out. A second INT turns this into a quick stop.
		drained := make(chan struct{})
		go func() { srv.drain(listeners); close(drained) }()
		for {
			select {
			case <-drained:
				log.Printf("stopped")
				return
			case s := <-sigs:
				if s == syscall.SIGINT {
					_ = srv.Close()
					return
				}
			}
		}
	}
}

// server is the app's http.Server with the counts a graceful stop waits on.
type server struct {
	http.Server
	serving sync.WaitGroup // one per listener, until its Serve returns
	conns   sync.WaitGroup // one per accepted connection, until it is closed
}

func newServer(h http.Handler) *server {
	s := &server{}
	s.Handler = h
	s.ReadHeaderTimeout = 10 * time.Second
	s.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			s.conns.Done()
		}
	}
	return s
}

// serve runs Serve on every listener; a Serve that fails sends its error
// to errs, which must have room for one per listener.
func (s *server) serve(listeners []net.Listener, errs chan<- error) {
	for _, l := range listeners {
		s.serving.Add(1)
		go func() {
			defer s.serving.Done()
			errs <- s.Serve(l)
		}()
	}
}

// drain stops accepting and waits until every accepted connection has had
// its request answered.
//
// Serve counts a connection (StateNew) only after accept(2) returned it,
// and counts it before it accepts again or returns. So the count is waited
// on once every Serve has returned: until then a connection already taken
// off the shared queue may be uncounted, and exiting would reset it.
//
// Not srv.Shutdown: it closes a connection whose request it reads after
// shutdown began, though the connection was accepted before, and that
// request fails. Behind a shared socket, where the next worker takes over
// the queue, every accepted request must be answered.
func (s *server) drain(listeners []net.Listener) {
	for _, l := range listeners {
		_ = l.Close()
	}
	s.serving.Wait()
	s.SetKeepAlivesEnabled(false) // closes idle connections, and each busy one after its response
	s.conns.Wait()
}

func hello(w http.ResponseWriter, r *http.Request) {
	if s := r.URL.Query().Get("sleep"); s != "" {
		d, err := strconv.ParseFloat(s, 64)
		if err != nil || d < 0 || d > 300 {
			http.Error(w, "bad sleep: want seconds in [0, 300]", http.StatusBadRequest)
			return
		}
		time.Sleep(time.Duration(d * float64(time.Second)))
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "hello from pid=%d slot=%s gen=%s lang=go\n",
		os.Getpid(), os.Getenv("PMUX_WORKER"), os.Getenv("PMUX_GENERATION"))
}

// listeners returns the inherited sockets, or a fresh one when run alone.
func listeners() ([]net.Listener, error) {
	n, err := listenFds()
	if err != nil {
		return nil, err
	}
	if n == 0 {
		addr := "127.0.0.1:8000"
		if p := os.Getenv("PORT"); p != "" {
			addr = net.JoinHostPort("127.0.0.1", p)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		return []net.Listener{l}, nil
	}
	ls := make([]net.Listener, 0, n)
	for fd := listenFdsStart; fd < listenFdsStart+n; fd++ {
		f := os.NewFile(uintptr(fd), fmt.Sprintf("listen-fd-%d", fd))
		// FileListener works on a close-on-exec dup of fd and puts it in
		// non-blocking mode. O_NONBLOCK belongs to the open file description,
		// which the master and every sibling worker share: after this, fd 3 is
		// non-blocking for all of them. Every real server does the same (libuv,
		// gunicorn, unicorn, puma); pmux never relies on either mode.
		l, err := net.FileListener(f)
		_ = f.Close() // our dup is in l; drop the original so children never inherit it
		if err != nil {
			return nil, fmt.Errorf("adopt fd %d: %w", fd, err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// listenFds is sd_listen_fds(unset_environment=1): the number of sockets
// passed to this very process, 0 when none (or they were meant for another pid).
func listenFds() (int, error) {
	defer os.Unsetenv("LISTEN_PID")
	defer os.Unsetenv("LISTEN_FDS")
	defer os.Unsetenv("LISTEN_FDNAMES")
	fds := os.Getenv("LISTEN_FDS")
	if fds == "" {
		return 0, nil
	}
	if pid := os.Getenv("LISTEN_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		// Meant for another process: a wrapper (go run, sh -c without exec,
		// npm) forked us instead of exec'ing. Ignore them, as sd_listen_fds does.
		log.Printf("LISTEN_PID=%s is not my pid; ignoring LISTEN_FDS=%s (exec the server, do not fork it)", pid, fds)
		return 0, nil
	}
	n, err := strconv.Atoi(fds)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("LISTEN_FDS=%q: not a count of sockets", fds)
	}
	return n, nil
}

func bootDelay() error {
	s := os.Getenv("APP_BOOT_DELAY")
	if s == "" {
		return nil
	}
	d, err := strconv.ParseFloat(s, 64)
	if err != nil || d < 0 {
		return fmt.Errorf("APP_BOOT_DELAY=%q: want seconds, e.g. 2.5", s)
	}
	log.Printf("booting for %gs (APP_BOOT_DELAY)", d)
	time.Sleep(time.Duration(d * float64(time.Second)))
	return nil
}

// notify sends one sd_notify(3) datagram; a no-op without NOTIFY_SOCKET.
// An abstract socket is spelt with a leading '@'; Go's net package turns
// that into the leading NUL byte the kernel wants, so the path goes as is.
func notify(state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		log.Printf("notify %s: %v", path, err)
		return
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		log.Printf("notify %s: %v", path, err)
	}
}

// watchdog pings WATCHDOG=1 at half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises.
func watchdog() (stop func()) {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return func() {}
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return func() {}
	}
	t := time.NewTicker(time.Duration(usec) * time.Microsecond / 2)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-t.C:
				notify("WATCHDOG=1")
			case <-done:
				return
			}
		}
	}()
	return func() { t.Stop(); close(done) }
}
