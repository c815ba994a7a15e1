//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The load client is open-loop: requests are offered at a fixed rate, each
// on a new connection (as a browser behind a load balancer would), whether
// or not the earlier ones were answered. A closed-loop client slows down
// when the server stalls and so hides the stall; this one keeps offering,
// and a request's latency counts from the moment it was due, not from when
// a busy client got round to sending it.

// sample is one request.
type sample struct {
	due  time.Duration // when it was offered, since the load started
	sent time.Duration // when the client got round to dialing
	done time.Duration // when it completed or failed
	ok   bool
	pid  int    // the process that answered ("pid=N" in the body)
	err  string // why it failed
}

func (s sample) latency() time.Duration { return s.done - s.due }

// loadSpec bounds a load in count and time.
type loadSpec struct {
	addr     string
	rate     int           // requests per second
	duration time.Duration // the load stops offering after this, or when ctx ends
	timeout  time.Duration // per request
	inflight int           // above this many outstanding requests, a request fails at once
}

// load is a running or finished load.
type load struct {
	spec    loadSpec
	start   time.Time
	samples []sample
	offered atomic.Int64
	wg      sync.WaitGroup
	done    chan struct{}

	mu   sync.Mutex
	seen map[int]time.Duration // responder pid → last answer
}

var request = []byte("GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: pmux-bench\r\nConnection: close\r\n\r\n")

// startLoad begins offering requests; wait returns the samples.
func startLoad(ctx context.Context, spec loadSpec) *load {
	if spec.timeout == 0 {
		spec.timeout = 5 * time.Second
	}
	if spec.inflight == 0 {
		spec.inflight = 4000
	}
	n := int(spec.duration.Seconds() * float64(spec.rate))
	l := &load{spec: spec, samples: make([]sample, n), done: make(chan struct{}), seen: map[int]time.Duration{}}
	interval := time.Second / time.Duration(spec.rate)
	l.start = time.Now()
	var outstanding atomic.Int64
	go func() {
		defer close(l.done)
		defer l.wg.Wait()
		for i := 0; i < n; i++ {
			due := time.Duration(i) * interval
			if wait := time.Until(l.start.Add(due)); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			} else if ctx.Err() != nil {
				return
			}
			l.offered.Store(int64(i + 1))
			if outstanding.Load() >= int64(spec.inflight) {
				l.samples[i] = sample{due: due, done: time.Since(l.start), err: "client: too many outstanding requests"}
				continue
			}
			outstanding.Add(1)
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				defer outstanding.Add(-1)
				l.samples[i] = l.do(due)
			}()
		}
	}()
	return l
}

// do sends one request on a new connection.
func (l *load) do(due time.Duration) sample {
	s := sample{due: due, sent: time.Since(l.start)}
	pid, err := get(l.spec.addr, l.spec.timeout)
	s.done = time.Since(l.start)
	if err != nil {
		s.err = classify(err)
		return s
	}
	s.ok, s.pid = true, pid
	l.mu.Lock()
	l.seen[pid] = s.done
	l.mu.Unlock()
	return s
}

// get fetches / and returns the pid the body names.
func get(addr string, timeout time.Duration) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(request); err != nil {
		return 0, err
	}
	resp, err := io.ReadAll(io.LimitReader(conn, 64<<10))
	if err != nil {
		return 0, err
	}
	if !bytes.HasPrefix(resp, []byte("HTTP/1.1 200 ")) && !bytes.HasPrefix(resp, []byte("HTTP/1.0 200 ")) {
		if len(resp) == 0 {
			return 0, io.ErrUnexpectedEOF
		}
		line, _, _ := bytes.Cut(resp, []byte("\r\n"))
		return 0, errors.New("status " + string(line))
	}
	i := bytes.Index(resp, []byte("pid="))
	if i < 0 {
		return 0, errors.New("no pid= in the body")
	}
	j := i + 4
	for j < len(resp) && resp[j] >= '0' && resp[j] <= '9' {
		j++
	}
	return strconv.Atoi(string(resp[i+4 : j]))
}

func classify(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "closed without a response"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return err.Error()
}

// clientLag is the longest a request waited for the client to send it: a
// figure of the machine, not of the server.
func clientLag(samples []sample) time.Duration {
	var m time.Duration
	for _, s := range samples {
		if s.sent > 0 {
			m = max(m, s.sent-s.due)
		}
	}
	return m
}

// wait waits for the load to end and every request to finish, and returns
// the samples of the requests that were offered.
func (l *load) wait() []sample {
	<-l.done
	return l.samples[:l.offered.Load()]
}

// now is the load's clock.
func (l *load) now() time.Duration { return time.Since(l.start) }

// responders returns the pids that answered since t.
func (l *load) respondersSince(t time.Duration) map[int]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int]bool{}
	for pid, last := range l.seen {
		if last >= t {
			out[pid] = true
		}
	}
	return out
}

// pollUntil polls cond every few milliseconds until it holds or the bound
// passes, and reports whether it held.
func pollUntil(bound time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(bound)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}
