package pmuxtest

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Load is a bounded HTTP load on the workers that tells the ways a
// request fails apart: a refused connection means no worker was there to
// take it, which no reload or fault should cause while a master is up.
type Load struct {
	OK, Failed, Refused atomic.Int64
	// MaxLatency is the longest a request that succeeded took, in ns.
	MaxLatency atomic.Int64

	mu     sync.Mutex
	kinds  map[string]int
	errors []string    // the first failures' messages
	when   []time.Time // the first failures' times
	stop   chan struct{}
	wg     sync.WaitGroup
}

// StartLoad runs clients that each send requests one after the other, each
// on a new connection to network/addr, until Stop or 50,000 each.
func StartLoad(network, addr string, clients int) *Load {
	return StartPacedLoad(network, addr, clients, 0, 50000)
}

// StartPacedLoad is StartLoad with each client waiting every between
// requests, and sending at most bound.
func StartPacedLoad(network, addr string, clients int, every time.Duration, bound int) *Load {
	l := &Load{kinds: map[string]int{}, stop: make(chan struct{})}
	for range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c := NewClient(network, addr)
			for n := 0; n < bound; n++ {
				if every > 0 {
					select {
					case <-l.stop:
						return
					case <-time.After(every):
					}
				} else {
					select {
					case <-l.stop:
						return
					default:
					}
				}
				began := time.Now()
				resp, err := c.Get("http://pmux/")
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err == nil {
					l.OK.Add(1)
					took := int64(time.Since(began))
					for prev := l.MaxLatency.Load(); took > prev && !l.MaxLatency.CompareAndSwap(prev, took); prev = l.MaxLatency.Load() {
					}
					continue
				}
				l.fail(err)
			}
		}()
	}
	return l
}

func (l *Load) fail(err error) {
	l.Failed.Add(1)
	kind := err.Error()
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		l.Refused.Add(1)
		kind = "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		kind = "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		kind = "closed without a response"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.kinds[kind]++
	if len(l.errors) < 10 {
		l.errors = append(l.errors, err.Error())
	}
	if len(l.when) < 100 {
		l.when = append(l.when, time.Now())
	}
}

// Stop ends the load and waits for its clients.
func (l *Load) Stop() {
	close(l.stop)
	l.wg.Wait()
}

// Errors are the messages of the first ten failures.
func (l *Load) Errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errors...)
}

// FailedAt are the times of the first hundred failures.
func (l *Load) FailedAt() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.when...)
}

// String counts the outcomes, the failures by kind.
func (l *Load) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%d ok (max latency %v), %d failed %v", l.OK.Load(), time.Duration(l.MaxLatency.Load()).Round(time.Millisecond), l.Failed.Load(), l.kinds)
}
