// Command worker is the integration tests' worker: an HTTP server on fd 3
// that reports what pmux handed it. Its behaviour is steered by WORKER_*
// variables so one program covers every scenario.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pmux/pmux/internal/sdnotify"
)

type report struct {
	Pid         int               `json:"pid"`
	Ppid        int               `json:"ppid"`
	Env         map[string]string `json:"env"`
	FDs         map[int]string    `json:"fds"` // fd → what it refers to
	FD3Blocking bool              `json:"fd3_blocking"`
	Uid         int               `json:"uid"`
	Gid         int               `json:"gid"`
	Cwd         string            `json:"cwd"`
}

func main() {
	// Look before the Go runtime or this program opens anything else.
	rep := report{Pid: os.Getpid(), Ppid: os.Getppid(), FDs: openFDs(), Uid: os.Getuid(), Gid: os.Getgid(), Env: map[string]string{}}
	rep.Cwd, _ = os.Getwd()
	if flags, err := fcntlGetfl(3); err == nil {
		rep.FD3Blocking = flags&syscall.O_NONBLOCK == 0
	}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		rep.Env[k] = v
	}
	if os.Getenv("WORKER_CRASH") != "" {
		fmt.Fprintln(os.Stderr, "worker: crashing as asked")
		os.Exit(3)
	}
	// WORKER_CRASH_IF=FILE crashes once FILE exists: a pool that booted
	// can be made to crash-loop later.
	if path := os.Getenv("WORKER_CRASH_IF"); path != "" {
		if _, err := os.Stat(path); err == nil {
			fmt.Fprintln(os.Stderr, "worker: crashing as asked")
			os.Exit(3)
		}
	}
	if n, _ := strconv.Atoi(os.Getenv("WORKER_OUTPUT_LINES")); n > 0 {
		for i := 0; i < n; i++ {
			fmt.Printf("line %d of %d from %d %s\n", i, n, rep.Pid, strings.Repeat("x", i%200))
		}
	}
	if mb, _ := strconv.Atoi(os.Getenv("WORKER_ALLOC_MB")); mb > 0 {
		ballast = make([]byte, mb<<20)
		for i := range ballast {
			ballast[i] = byte(i) // touched, so it is resident
		}
	}
	// Said by the goroutine that also waits for the stop, so a signal that
	// comes just before the stop (a forward, then a reload's TERM) is said
	// before the worker exits.
	seen := make(chan os.Signal, 8)
	if os.Getenv("WORKER_SIGNALS") != "" {
		signal.Notify(seen, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP)
	}
	saySeen := func(s os.Signal) { fmt.Printf("worker %d got %v\n", rep.Pid, s) }
	if d, err := time.ParseDuration(os.Getenv("WORKER_BOOT_DELAY")); err == nil {
		time.Sleep(d)
	}

	stop := make(chan os.Signal, 2)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	if os.Getenv("WORKER_IGNORE_TERM") != "" {
		signal.Ignore(syscall.SIGTERM)
	}

	n, _ := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	var listeners []net.Listener
	for fd := 3; fd < 3+n; fd++ {
		ln, err := net.FileListener(os.NewFile(uintptr(fd), "listener"))
		if err != nil {
			fmt.Fprintf(os.Stderr, "worker: no listener on fd %d: %v\n", fd, err)
			os.Exit(2)
		}
		listeners = append(listeners, ln)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(rep)
	})
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		fmt.Printf("sleeping %d ms in %d\n", ms, rep.Pid) // tests wait for this: the request is in flight
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprintf(w, "slept %d ms in %d\n", ms, rep.Pid)
	})
	var conns sync.WaitGroup
	srv := &http.Server{Handler: mux, ConnState: func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			conns.Done()
		}
	}}
	var serving sync.WaitGroup
	for _, ln := range listeners {
		if d, err := time.ParseDuration(os.Getenv("WORKER_ACCEPT_DELAY")); err == nil {
			ln = slowAccept{ln, rep.Pid, d}
		}
		serving.Add(1)
		go func() {
			defer serving.Done()
			srv.Serve(ln)
		}()
	}

	notify("READY=1")
	if os.Getenv("WORKER_WATCHDOG") != "" {
		if usec, err := strconv.Atoi(os.Getenv("WATCHDOG_USEC")); err == nil && usec > 0 {
			go func() {
				for range time.Tick(time.Duration(usec) * time.Microsecond / 3) {
					notify("WATCHDOG=1")
				}
			}()
		}
	}

	var sig os.Signal
	for sig == nil {
		select {
		case s := <-seen:
			saySeen(s)
		case sig = <-stop:
		}
	}
	for len(seen) > 0 {
		saySeen(<-seen)
	}
	if sig == syscall.SIGINT {
		os.Exit(0)
	}
	// Not srv.Shutdown: it drops a request read after shutdown began,
	// though its connection was accepted before. Stop accepting, then let
	// every accepted connection finish its request. Serve counts a
	// connection (StateNew) only after Accept returned it, so conns is
	// waited on once every Serve has returned: until then a connection
	// taken off the shared queue may not be counted yet, and exiting would
	// reset it.
	for _, ln := range listeners {
		ln.Close()
	}
	serving.Wait()
	srv.SetKeepAlivesEnabled(false)
	conns.Wait()
}

// slowAccept stretches the moment between accept(2) returning a connection
// and Serve counting it (WORKER_ACCEPT_DELAY), which a busy machine's
// scheduler otherwise opens only now and then, so a test can stop the
// worker inside it.
type slowAccept struct {
	net.Listener
	pid   int
	delay time.Duration
}

func (l slowAccept) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		fmt.Printf("accepted a connection in %d\n", l.pid) // tests wait for this
		time.Sleep(l.delay)
	}
	return c, err
}

// ballast is memory held for --max-rss tests.
var ballast []byte

func notify(state string) {
	if _, err := sdnotify.Send(os.Getenv("NOTIFY_SOCKET"), state); err != nil {
		fmt.Fprintln(os.Stderr, "worker: notify:", err)
	}
}

func openFDs() map[int]string {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	fds := map[int]string{}
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err == nil && fd != int(d.Fd()) {
			fds[fd], _ = os.Readlink("/proc/self/fd/" + n)
		}
	}
	return fds
}

func fcntlGetfl(fd int) (int, error) {
	r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}
