//go:build !linux

package logs

import (
	"fmt"
	"io"
	"os"
)

// Pipe is the read end of a worker's output pipe, pumped by Follow. Off
// Linux each followed pipe has a goroutine of its own, which holds no read
// buffer while the pipe is quiet (see Pump).
type Pipe struct {
	sink *Sink
	r    *os.File
}

// NewPipe returns a pipe for one worker's output: w is for the worker (its
// stdout and stderr; close it in the master once the worker has it), and
// the read end is pumped by Follow.
func (s *Sink) NewPipe() (*Pipe, *os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("output pipe: %w", err)
	}
	return &Pipe{sink: s, r: r}, w, nil
}

// Close closes a pipe that is not followed (its worker did not start).
func (p *Pipe) Close() error { return p.r.Close() }

// Follow pumps the pipe into its Sink as Pump does until every writer has
// closed it; then it closes the pipe and calls done. tee, when not nil, is
// also given every byte read, as read. tee and done must not block.
func (p *Pipe) Follow(pool, prefix string, tee io.Writer, done func()) {
	go func() {
		pp := pump{sink: p.sink, pool: pool, prefix: prefix, tee: tee}
		if rc, err := p.r.SyscallConn(); err != nil || !pp.poll(rc) {
			pp.copy(p.r)
		}
		p.r.Close()
		if done != nil {
			done()
		}
	}()
}

// follower is empty here: nothing is shared between pipes.
type follower struct{}
