package logs

import (
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// On Linux a Sink follows every worker pipe from one goroutine waiting on
// one epoll instance, so a worker costs the master no goroutine and no
// stack: a quiet pipe is an fd in the epoll set and a few dozen bytes of
// state, and a read buffer exists only while the poller has data to cut.

// Pipe is the read end of a worker's output pipe, pumped by Follow.
type Pipe struct {
	sink *Sink
	fd   int
	p    pump
	done func()
}

// NewPipe returns a pipe for one worker's output: w is for the worker (its
// stdout and stderr; close it in the master once the worker has it), and
// the read end is pumped by Follow. Both ends are close-on-exec; the
// worker's end stays in blocking mode, as a program expects its stdout.
func (s *Sink) NewPipe() (*Pipe, *os.File, error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, fmt.Errorf("output pipe: %w", err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("output pipe: %w", err)
	}
	return &Pipe{sink: s, fd: fds[0]}, os.NewFile(uintptr(fds[1]), "|1"), nil
}

// Close closes a pipe that is not followed (its worker did not start).
func (p *Pipe) Close() error {
	return unix.Close(p.fd)
}

// Follow pumps the pipe into its Sink as Pump does, prefixing each line,
// until every writer has closed it; then it closes the pipe and calls done.
// tee, when not nil, is also given every byte read, as read. tee and done
// are called from the poller's goroutine and must not block.
func (p *Pipe) Follow(pool, prefix string, tee io.Writer, done func()) {
	p.p = pump{sink: p.sink, pool: pool, prefix: prefix, tee: tee}
	p.done = done
	if err := p.sink.follow.add(p); err != nil {
		// No epoll (a sandbox without it): a goroutine of its own.
		p.copyAlone()
	}
}

// copyAlone pumps the pipe from a goroutine of its own.
func (p *Pipe) copyAlone() {
	go func() {
		f := os.NewFile(uintptr(p.fd), "|0") // non-blocking: the runtime polls it
		defer p.finished(f.Close)
		p.p.copy(f)
	}()
}

func (p *Pipe) finished(close func() error) {
	close()
	if p.done != nil {
		p.done()
	}
}

// follower is a Sink's poller: one epoll set and, while any pipe is
// followed, one goroutine waiting on it. The goroutine exits, closing the
// set, when the last pipe ends, so a Sink with no workers holds nothing.
type follower struct {
	mu    sync.Mutex
	epfd  int // -1 while no goroutine runs
	pipes map[int32]*Pipe
}

func (f *follower) add(p *Pipe) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pipes == nil {
		f.pipes = map[int32]*Pipe{}
	}
	if len(f.pipes) == 0 {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			return fmt.Errorf("follow output: %w", err)
		}
		f.epfd = epfd
		go f.run(epfd)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(p.fd)}
	if err := unix.EpollCtl(f.epfd, unix.EPOLL_CTL_ADD, p.fd, &ev); err != nil {
		if len(f.pipes) == 0 {
			// The goroutine just started sees no pipe and closes the set.
			f.epfd = -1
		}
		return fmt.Errorf("follow output: %w", err)
	}
	f.pipes[int32(p.fd)] = p
	return nil
}

// run waits on epfd until no pipe is left. Each round reads each ready
// pipe once, so a worker writing without pause cannot starve the others.
func (f *follower) run(epfd int) {
	events := make([]unix.EpollEvent, 64)
	for {
		f.mu.Lock()
		if len(f.pipes) == 0 {
			if f.epfd == epfd {
				f.epfd = -1
			}
			f.mu.Unlock()
			unix.Close(epfd)
			return
		}
		f.mu.Unlock()
		n, err := unix.EpollWait(epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			f.abandon(epfd)
			return
		}
		var pb *pumpBuf
		for _, ev := range events[:n] {
			f.mu.Lock()
			p := f.pipes[ev.Fd]
			f.mu.Unlock()
			if p == nil {
				continue
			}
			if pb == nil {
				pb = pumpBufs.Get().(*pumpBuf)
			}
			if f.service(p, pb) {
				f.drop(epfd, p)
			}
		}
		if pb != nil {
			// Back to the pool while the poller waits: a quiet master
			// keeps no read buffer.
			pumpBufs.Put(pb)
		}
	}
}

// service reads p once and writes the whole lines; it reports whether the
// pipe has ended.
func (f *follower) service(p *Pipe, pb *pumpBuf) bool {
	var n int
	var err error
	for {
		n, err = unix.Read(p.fd, pb.data[len(p.p.carry):])
		if err != unix.EINTR {
			break
		}
	}
	if err == unix.EAGAIN {
		return false
	}
	eof := err != nil || n <= 0
	p.p.take(pb, max(n, 0), eof)
	return eof
}

func (f *follower) drop(epfd int, p *Pipe) {
	unix.EpollCtl(epfd, unix.EPOLL_CTL_DEL, p.fd, nil)
	f.mu.Lock()
	delete(f.pipes, int32(p.fd))
	f.mu.Unlock()
	p.finished(func() error { return unix.Close(p.fd) })
}

// abandon hands every pipe to a goroutine of its own when epoll itself
// fails, which it does not short of a kernel bug: nothing is lost.
func (f *follower) abandon(epfd int) {
	f.mu.Lock()
	pipes := f.pipes
	f.pipes = nil
	if f.epfd == epfd {
		f.epfd = -1
	}
	f.mu.Unlock()
	unix.Close(epfd)
	for _, p := range pipes {
		p.copyAlone()
	}
}
