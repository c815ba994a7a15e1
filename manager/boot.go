package manager

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A pool started with the master that cannot boot at all (a typo in the
// command, a missing file, a dependency that is down) fails the start,
// as gunicorn's "Worker failed to boot" does, instead of crash-looping
// forever behind a master that looks alive: once each of its slots has
// failed maxBootFailures boots in a row and no worker of it ever booted,
// the master stops every worker and Run returns a *BootError. That holds
// for every pool of the master, even while another pool serves: a start
// that brings up only part of the application is a failed start, and
// whoever started pmux (a shell, systemd, a deploy) hears of it. Later in
// the master's life (a reload, a respawn, a pool added by a reload) the
// same failures only back off: the workers that serve keep serving.

// BootError is a start that failed because a pool's first generation
// never booted.
type BootError struct {
	Pool    string
	Command []string
	Slots   int    // how many slots failed, each maxBootFailures times
	Last    string // how the last boot failed: "exit 1 before it was ready"
	// Output is the end of the last failed worker's output, when pmux
	// reads it (not under --worker-output inherit).
	Output []string

	tail *outputTail
}

func (e *BootError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pool %s: worker failed to boot, %d times in a row in each of its %d %s: %s: %s",
		e.Pool, maxBootFailures, e.Slots, plural(e.Slots, "slot", "slots"), commandLine(e.Command), e.Last)
	if len(e.Output) > 0 {
		fmt.Fprintf(&b, "; its last output: %q", strings.Join(e.Output, "\n"))
	}
	b.WriteString("; run the command by hand to see why it does not start")
	return b.String()
}

// collectOutput fills in Output once the failed worker's output pump has
// drained, which the exit that failed the start may have overtaken. It
// runs after the loop, and waits at most a second: a grandchild holding
// the pipe open must not hold up the exit.
func (e *BootError) collectOutput() {
	if e.tail == nil {
		return
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-e.tail.done:
		e.Output = e.tail.lines(tailLines)
	case <-t.C:
	}
}

// poolBooted ends p's first boot: a worker of it is ready (or, under
// --ready none, stayed up bootGrace).
func (m *Manager) poolBooted(p *pool) {
	if !p.firstBoot {
		return
	}
	p.firstBoot = false
	m.log.Debug().Str("event", "pool_booted").Str("pool", p.cfg.Name).Msg("a worker of the pool booted")
	// No BootError can come any more: the tails go, so a first generation
	// of a thousand chatty workers does not keep 4 KiB each for life.
	for _, s := range p.slots {
		s.bootFailures = 0
		for _, w := range s.workers {
			if w.tail != nil {
				w.tail.stop()
			}
		}
	}
}

// bootFailure says how w, a worker of a first boot, failed.
func (m *Manager) bootFailure(w *worker, status string, uptime time.Duration) string {
	switch {
	case w.cause == "boot_timeout":
		return "not ready within --boot-timeout " + w.cfg.BootTimeout.String()
	case w.ready == ReadyAtExec:
		return status + " " + uptime.Round(time.Millisecond).String() + " after it started"
	}
	return status + " before it was ready"
}

// bootFailed fails the master's start once every slot of p, a pool in
// its first boot, has failed maxBootFailures boots in a row; how says how
// the last one failed. It reports whether it did.
func (m *Manager) bootFailed(p *pool, how string, tail *outputTail) bool {
	if !p.firstBoot || p.target == 0 || len(p.slots) < p.target || m.phase != running {
		return false
	}
	for _, s := range p.slots[:p.target] {
		if s.bootFailures < maxBootFailures {
			return false
		}
	}
	err := &BootError{Pool: p.cfg.Name, Command: p.cfg.Args, Slots: p.target, Last: how, tail: tail}
	m.log.Error().Str("event", "pool_boot_failed").Str("pool", p.cfg.Name).Int("slots", p.target).
		Int("boot_failures", maxBootFailures).Str("last", how).
		Msg("no worker of the pool ever booted; stopping the master")
	if m.bootErr == nil {
		m.bootErr = err
	}
	m.stopAll(true)
	return true
}

// startingUp reports whether a pool with workers is still in its first
// boot; pmux's supervisor hears READY=1 only once none is.
func (m *Manager) startingUp() bool {
	for _, p := range m.pools {
		if p.firstBoot && p.target > 0 {
			return true
		}
	}
	return false
}

const (
	tailBytes = 4 << 10 // the end of a worker's output kept while its pool first boots
	tailLines = 3       // how many of its last lines a BootError says
	tailWidth = 200     // the longest line it says, in bytes
)

// outputTail keeps the last tailBytes a worker wrote. Only its output
// pump writes it; it is read once done is closed, when the pump has
// returned. stop, from the loop, drops it for good.
type outputTail struct {
	mu      sync.Mutex
	buf     []byte
	stopped bool
	done    chan struct{}
}

func (t *outputTail) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped, t.buf = true, nil
}

func newOutputTail() *outputTail {
	return &outputTail{done: make(chan struct{})}
}

func (t *outputTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return len(p), nil
	}
	if len(p) >= tailBytes {
		t.buf = append(t.buf[:0], p[len(p)-tailBytes:]...)
		return len(p), nil
	}
	if over := len(t.buf) + len(p) - tailBytes; over > 0 {
		t.buf = t.buf[:copy(t.buf, t.buf[over:])]
	}
	t.buf = append(t.buf, p...)
	return len(p), nil
}

// lines returns the last n non-blank lines, each cut to tailWidth bytes.
func (t *outputTail) lines(n int) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	all := strings.Split(string(t.buf), "\n")
	var out []string
	for i := len(all) - 1; i >= 0 && len(out) < n; i-- {
		l := strings.TrimRight(all[i], " \t\r")
		if strings.TrimSpace(l) == "" {
			continue
		}
		if len(l) > tailWidth {
			l = l[:tailWidth] + "…"
		}
		out = append(out, l)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// commandLine renders argv as a user would type it: words with spaces
// or quotes are quoted.
func commandLine(argv []string) string {
	words := make([]string, len(argv))
	for i, a := range argv {
		words[i] = a
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\$`") {
			words[i] = strconv.Quote(a)
		}
	}
	return strings.Join(words, " ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
