package detach

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Pipe is a daemonized master's end of its launcher's pipe. Its methods
// are safe on a nil *Pipe (a master that was not daemonized), and from
// any goroutine.
type Pipe struct {
	mu sync.Mutex
	f  *os.File
}

// Take claims the pipe, and clears its variable; nil when this process is
// not a daemonized master.
func Take() *Pipe {
	fd, ok := os.LookupEnv(pipeVar)
	os.Unsetenv(pipeVar)
	if !ok {
		return nil
	}
	n, err := strconv.Atoi(fd)
	if err != nil {
		return nil
	}
	return &Pipe{f: os.NewFile(uintptr(n), "daemon-ready")}
}

// Failed tells the launcher the start failed with exit code and message.
func (p *Pipe) Failed(code int, message string) {
	p.say(fmt.Sprintf("exit %d %s", code, message))
}

// Supervisor wraps a master's supervisor notifier (nil: none) so the
// launcher hears "ready" with the master's first READY=1.
func (p *Pipe) Supervisor(next func(string)) func(string) {
	if p == nil {
		return next
	}
	return func(state string) {
		if strings.HasPrefix(state, "READY=1") {
			p.say("ready")
		}
		if next != nil {
			next(state)
		}
	}
}

// say sends the launcher its one line and closes the pipe; later lines
// are dropped.
func (p *Pipe) say(line string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f == nil {
		return
	}
	fmt.Fprintln(p.f, line)
	p.f.Close()
	p.f = nil
}
