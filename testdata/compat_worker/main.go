// Command compat_worker is a test worker that finds its listening sockets
// through ONE foreign fd-passing convention, never through LISTEN_FDS, the
// way programs written for that supervisor do:
//
//	compat_worker einhorn          EINHORN_FD_COUNT, EINHORN_FD_<i>, EINHORN_FD_FAMILY_<i>,
//	                               EINHORN_FDS, EINHORN_MASTER_PID (== getppid), EINHORN_CHILD_INDEX
//	compat_worker server-starter   SERVER_STARTER_PORT="host:port=fd;path=fd", SERVER_STARTER_GENERATION
//
// It checks what it reads as strictly as those clients do (and a little
// more: every socket's address must match the one the convention names, as
// h2o checks), exits 1 naming the first mismatch, else serves HTTP on every
// socket and answers GET / with a JSON report. TERM stops it gracefully.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// socket is one listening socket as the convention described it.
type socket struct {
	FD     int    `json:"fd"`
	Addr   string `json:"addr"`   // as the convention wrote it (server-starter) or as bound (einhorn)
	Family string `json:"family"` // einhorn only
}

type report struct {
	Convention string   `json:"convention"`
	Pid        int      `json:"pid"`
	Slot       string   `json:"slot"`       // EINHORN_CHILD_INDEX, or PMUX_WORKER for server-starter
	Generation string   `json:"generation"` // SERVER_STARTER_GENERATION, or PMUX_GENERATION for einhorn
	Sockets    []socket `json:"sockets"`
	Served     string   `json:"served"` // the local address of the socket this request came in on
}

func main() {
	if len(os.Args) != 2 {
		fail(errors.New("usage: compat_worker einhorn|server-starter"))
	}
	rep := report{Convention: os.Args[1], Pid: os.Getpid()}
	var (
		sockets []socket
		err     error
	)
	switch rep.Convention {
	case "einhorn":
		sockets, err = einhorn()
		rep.Slot, rep.Generation = os.Getenv("EINHORN_CHILD_INDEX"), os.Getenv("PMUX_GENERATION")
	case "server-starter":
		sockets, err = serverStarter()
		rep.Slot, rep.Generation = os.Getenv("PMUX_WORKER"), os.Getenv("SERVER_STARTER_GENERATION")
	default:
		err = fmt.Errorf("unknown convention %q", rep.Convention)
	}
	if err != nil {
		fail(err)
	}
	listeners := make([]net.Listener, len(sockets))
	for i, s := range sockets {
		l, err := net.FileListener(os.NewFile(uintptr(s.FD), "fd"+strconv.Itoa(s.FD)))
		if err != nil {
			fail(fmt.Errorf("fd %d: %w", s.FD, err))
		}
		if err := sameAddress(rep.Convention, s, l.Addr()); err != nil {
			fail(err)
		}
		if s.Addr == "" {
			sockets[i].Addr = l.Addr().String()
		}
		listeners[i] = l
	}
	rep.Sockets = sockets

	type ctxKey struct{}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			answer := rep
			answer.Served = r.Context().Value(ctxKey{}).(string)
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(answer)
		}),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, ctxKey{}, c.LocalAddr().String())
		},
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	for _, l := range listeners {
		go srv.Serve(l)
	}
	<-stop
	srv.Shutdown(context.Background())
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "compat_worker %s: %v\n", strings.Join(os.Args[1:], " "), err)
	os.Exit(1)
}

// einhorn reads what einhorn's Ruby, Go and Python clients read.
func einhorn() ([]socket, error) {
	if ppid := os.Getenv("EINHORN_MASTER_PID"); ppid != strconv.Itoa(os.Getppid()) {
		return nil, fmt.Errorf("EINHORN_MASTER_PID=%q, but my parent is %d", ppid, os.Getppid())
	}
	n, err := strconv.Atoi(os.Getenv("EINHORN_FD_COUNT"))
	if err != nil || n < 1 {
		return nil, fmt.Errorf("EINHORN_FD_COUNT=%q: want a count of sockets", os.Getenv("EINHORN_FD_COUNT"))
	}
	var out []socket
	var list []string
	for i := 0; i < n; i++ {
		name := "EINHORN_FD_" + strconv.Itoa(i)
		fd, err := strconv.Atoi(os.Getenv(name))
		if err != nil {
			return nil, fmt.Errorf("%s=%q: want an fd", name, os.Getenv(name))
		}
		family := os.Getenv("EINHORN_FD_FAMILY_" + strconv.Itoa(i))
		switch family {
		case "AF_INET", "AF_INET6", "AF_UNIX":
		default:
			return nil, fmt.Errorf("EINHORN_FD_FAMILY_%d=%q: want AF_INET, AF_INET6 or AF_UNIX", i, family)
		}
		out = append(out, socket{FD: fd, Family: family})
		list = append(list, strconv.Itoa(fd))
	}
	if got, want := os.Getenv("EINHORN_FDS"), strings.Join(list, " "); got != want {
		return nil, fmt.Errorf("EINHORN_FDS=%q, want %q (the EINHORN_FD_<i> in order)", got, want)
	}
	if _, err := strconv.Atoi(os.Getenv("EINHORN_CHILD_INDEX")); err != nil {
		return nil, fmt.Errorf("EINHORN_CHILD_INDEX=%q: want an index", os.Getenv("EINHORN_CHILD_INDEX"))
	}
	return out, nil
}

var (
	hostPort = regexp.MustCompile(`^(.+?):(\d+)$`)
	portOnly = regexp.MustCompile(`^\d+$`)
)

// serverStarter parses SERVER_STARTER_PORT as Server::Starter's clients
// do: ';' between sockets, "address=fd" each, where the address is
// host:port, a bare port, or otherwise a unix socket path.
func serverStarter() ([]socket, error) {
	spec := os.Getenv("SERVER_STARTER_PORT")
	if spec == "" {
		return nil, errors.New("SERVER_STARTER_PORT is not set")
	}
	if g, err := strconv.Atoi(os.Getenv("SERVER_STARTER_GENERATION")); err != nil || g < 1 {
		return nil, fmt.Errorf("SERVER_STARTER_GENERATION=%q: want a generation number", os.Getenv("SERVER_STARTER_GENERATION"))
	}
	var out []socket
	for _, part := range strings.Split(spec, ";") {
		addr, fdText, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("SERVER_STARTER_PORT=%q: %q has no '='", spec, part)
		}
		fd, err := strconv.Atoi(fdText)
		if err != nil {
			return nil, fmt.Errorf("SERVER_STARTER_PORT=%q: fd %q: %w", spec, fdText, err)
		}
		out = append(out, socket{FD: fd, Addr: addr})
	}
	return out, nil
}

// sameAddress checks that the socket behind the fd is the one the
// convention named.
func sameAddress(convention string, s socket, got net.Addr) error {
	switch convention {
	case "einhorn":
		want := map[string]string{"AF_INET": "tcp4", "AF_INET6": "tcp6", "AF_UNIX": "unix"}[s.Family]
		network := got.Network()
		if network == "tcp" {
			network = "tcp4"
			if ip := got.(*net.TCPAddr).IP; ip.To4() == nil {
				network = "tcp6"
			}
		}
		if network != want {
			return fmt.Errorf("fd %d: EINHORN_FD_FAMILY says %s, the socket is %s %s", s.FD, s.Family, got.Network(), got)
		}
	case "server-starter":
		switch {
		case hostPort.MatchString(s.Addr) || portOnly.MatchString(s.Addr):
			if got.Network() != "tcp" || !sameHostPort(s.Addr, got.String()) {
				return fmt.Errorf("fd %d: SERVER_STARTER_PORT names %s, the socket is %s %s", s.FD, s.Addr, got.Network(), got)
			}
		default:
			if got.Network() != "unix" || got.String() != s.Addr {
				return fmt.Errorf("fd %d: SERVER_STARTER_PORT names unix socket %s, the socket is %s %s", s.FD, s.Addr, got.Network(), got)
			}
		}
	}
	return nil
}

func sameHostPort(named, bound string) bool {
	if portOnly.MatchString(named) {
		_, port, _ := net.SplitHostPort(bound)
		return port == named
	}
	return named == bound
}
