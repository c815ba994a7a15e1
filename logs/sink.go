package logs

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// MaxLine is the longest line Pump writes in one piece; a longer line is cut
// into MaxLine-byte pieces, each prefixed and newline-terminated.
const MaxLine = 64 << 10

const (
	// batchSize bounds one Write of several whole lines. PIPE_BUF (4096 on
	// Linux, 512 by POSIX, but every unix pmux targets has ≥ 4096) is the
	// largest write a pipe keeps atomic against other writers, so a batch
	// never interleaves with pmux's own log when both go to one pipe
	// (2>&1). A single longer line is still one Write, on its own.
	batchSize = 4096

	// maxEmptyReads mirrors bufio: a reader returning (0, nil) this many
	// times in a row is broken, and Pump stops rather than spin.
	maxEmptyReads = 100
)

// warnEvery is the least time between two warnings about output a Sink
// could not write. Checked when a write comes, never by a timer, so an idle
// master stays asleep.
const warnEvery = 10 * time.Second

// SinkOptions names a Sink's destination and says whom to tell of the
// output it cannot write. The zero value is silent.
type SinkOptions struct {
	// Name is the destination as a warning names it: a file's path, or
	// "stdout".
	Name string
	// Log receives the warnings about dropped output, at most one per
	// warnEvery.
	Log zerolog.Logger
	// Dropped, when set, is told of every drop: n bytes of pool's output
	// lost. It runs on the pump's goroutine and must not block (a metric
	// counter).
	Dropped func(pool string, n int)
}

// Sink serialises the output of many workers into one destination, whole
// lines at a time. It is safe for concurrent use by any number of Pumps.
type Sink struct {
	opts    SinkOptions
	now     func() time.Time // time.Now; tests move it
	dropped atomic.Int64

	slots  chan struct{} // one token per pumpBuf in use: see readers
	follow follower      // the pipes given to Follow

	mu sync.Mutex // serialises Writes to w, and guards what follows
	w  io.Writer
	// warned is when the last warning was logged (zero: never); unsaid
	// bytes were dropped since, the latest for cause.
	warned time.Time
	unsaid int64
	cause  error
}

// NewSink returns a Sink writing to w: a *File for --worker-output FILE
// (Reopen is safe while pumps run), or os.Stdout for prefix mode.
func NewSink(w io.Writer, opts SinkOptions) *Sink {
	return &Sink{w: w, opts: opts, now: time.Now, slots: make(chan struct{}, readers)}
}

// Dropped returns how many output bytes (prefixes included) the destination
// refused so far.
func (s *Sink) Dropped() int64 {
	return s.dropped.Load()
}

// write hands p, a batch of pool's output, to the destination as one
// Write. A failed or short write is counted and not retried: retrying the
// tail would split a line, and waiting on a broken disk would back up into
// the worker's pipe.
//
// The first drop is logged at once; later ones are added up and said by the
// first write, failed or not, that comes warnEvery after the last warning,
// so a full disk costs one line per warnEvery, not one per batch, and the
// count is said once the destination works again.
func (s *Sink) write(pool string, p []byte) {
	s.mu.Lock()
	n, err := s.w.Write(p)
	lost := int64(len(p) - max(n, 0))
	if lost > 0 {
		if err == nil {
			err = io.ErrShortWrite
		}
		s.unsaid += lost
		s.cause = err
	}
	var say int64
	var cause error
	if s.unsaid > 0 {
		if now := s.now(); s.warned.IsZero() || now.Sub(s.warned) >= warnEvery {
			say, cause = s.unsaid, s.cause
			s.warned, s.unsaid, s.cause = now, 0, nil
		}
	}
	s.mu.Unlock()

	if lost > 0 {
		s.dropped.Add(lost)
		if s.opts.Dropped != nil {
			s.opts.Dropped(pool, int(lost))
		}
	}
	if say > 0 {
		msg := fmt.Sprintf("worker output to %s: %d bytes dropped: %v", s.opts.Name, say, cause)
		if lost == 0 {
			msg += "; writing works again"
		}
		s.opts.Log.Warn().Str("event", "worker_output_dropped").Str("destination", s.opts.Name).
			Int64("bytes", say).Bool("failing", lost > 0).Err(cause).Msg(msg)
	}
}

// Pump copies r, the output of a worker of pool, to the sink until EOF,
// writing each line as prefix+line (lines from different workers never
// interleave mid-line). Pump itself drops nothing (only a destination that
// refuses a write loses it): a line longer than MaxLine is written in
// MaxLine pieces, each prefixed; a final line without '\n' gets one. It
// returns when r reaches EOF or fails (after writing the partial line it
// holds). Pump does not close r.
//
// Several complete lines already read are written in one Write (up to
// batchSize bytes), so a worker writing many MB/s costs one syscall per
// batch, not per line; Pump never waits for more input before writing the
// lines it has.
//
// When r is a pollable file (the read end of an os.Pipe, as the manager
// gives it), a Pump waiting for output holds no buffer: it parks in the
// runtime's poller and takes one of the Sink's few read buffers only for
// the moment a read finds data, so hundreds of quiet workers cost a parked
// goroutine each and no more. Between reads it keeps only the partial line
// it must still complete, if any. Any other reader gets a buffer of its
// own for the whole copy.
func (s *Sink) Pump(r io.Reader, pool, prefix string) {
	p := pump{sink: s, pool: pool, prefix: prefix}
	if sc, ok := r.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil && p.poll(rc) {
			return
		}
	}
	p.copy(r)
}

// pumpBuf is what a pump needs while it handles one read: room for the
// partial line it carries (at most MaxLine bytes, since a longer run is
// cut) followed by a read window, and the batch it builds.
type pumpBuf struct {
	data []byte
	out  []byte
}

// readWindow is the most one read takes: a whole default pipe buffer.
const readWindow = 64 << 10

// pumpBufs recycles pumpBufs between reads: a pump takes one only while it
// reads and writes, so a few serve any number of pumps, and the GC frees
// them all when output stops.
var pumpBufs = sync.Pool{New: func() any {
	return &pumpBuf{data: make([]byte, MaxLine+readWindow), out: make([]byte, 0, batchSize)}
}}

// readers bounds how many pumps of one Sink hold a pumpBuf at once. Writes
// to the Sink are serialised anyway, so more would not go faster; without a
// bound, a destination that blocks (a paused terminal) would leave every
// pump with output pending holding a buffer while it waits.
const readers = 4

// pump is one Pump's state between reads.
type pump struct {
	sink         *Sink
	pool, prefix string
	// carry is the partial line read but not yet written; nil when every
	// byte read so far has been written.
	carry []byte
	// tee, when not nil, is given every byte read, as read.
	tee io.Writer
}

// poll is Pump for a pollable descriptor. It reports false when rc
// fails (a descriptor that is not pollable after all, or one closed under
// it), and the caller carries on with plain reads, which meet the same
// failure and write what is carried.
func (p *pump) poll(rc syscall.RawConn) bool {
	var (
		pb   *pumpBuf
		n    int
		rerr error
	)
	// One closure for the pump's life: made per read, it would be an
	// allocation per read.
	read := func(fd uintptr) bool {
		pb = p.sink.takeBuf()
		for {
			n, rerr = syscall.Read(int(fd), pb.data[len(p.carry):])
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			// Nothing yet: give the buffer back before waiting.
			p.sink.giveBuf(pb)
			pb = nil
			return false
		}
		return true
	}
	for {
		if err := rc.Read(read); err != nil {
			return false // the callback gave its buffer back
		}
		eof := rerr != nil || n <= 0
		p.take(pb, max(n, 0), eof)
		p.sink.giveBuf(pb)
		pb = nil
		if eof {
			return true
		}
	}
}

// copy is Pump for any other reader: it keeps its buffer throughout.
func (p *pump) copy(r io.Reader) {
	pb := pumpBufs.Get().(*pumpBuf)
	defer pumpBufs.Put(pb)
	empty := 0
	for {
		n, err := r.Read(pb.data[len(p.carry):])
		if n == 0 && err == nil {
			if empty++; empty < maxEmptyReads {
				continue
			}
			err = io.ErrNoProgress
		} else {
			empty = 0
		}
		p.take(pb, n, err != nil)
		if err != nil {
			return
		}
	}
}

// take writes the whole lines among the carried partial line and the n
// bytes just read after it into pb.data, and carries what is left; with
// final set (EOF or an error) it writes that too.
func (p *pump) take(pb *pumpBuf, n int, final bool) {
	data := pb.data[:copy(pb.data, p.carry)+n]
	if p.tee != nil && n > 0 {
		p.tee.Write(data[len(data)-n:])
	}
	out := pb.out[:0]
	start := 0
	for start < len(data) {
		limit := min(len(data), start+MaxLine+1)
		var line []byte
		if i := bytes.IndexByte(data[start:limit], '\n'); i >= 0 {
			line = data[start : start+i]
			start += i + 1
		} else if len(data)-start > MaxLine {
			line = data[start : start+MaxLine]
			start += MaxLine
		} else {
			break // a partial line: wait for the rest
		}
		out = p.sink.appendLine(out, p.pool, p.prefix, line)
	}
	if final && start < len(data) {
		out = p.sink.appendLine(out, p.pool, p.prefix, data[start:])
		start = len(data)
	}
	pb.out = p.sink.flush(p.pool, out)
	if start == len(data) {
		p.carry = nil
		return
	}
	// At most MaxLine bytes: reuse the last carry's room when it fits.
	p.carry = append(p.carry[:0], data[start:]...)
}

// takeBuf waits for one of the Sink's read slots and returns a buffer.
func (s *Sink) takeBuf() *pumpBuf {
	s.slots <- struct{}{}
	return pumpBufs.Get().(*pumpBuf)
}

// giveBuf returns a buffer taken with takeBuf.
func (s *Sink) giveBuf(pb *pumpBuf) {
	pumpBufs.Put(pb)
	<-s.slots
}

// appendLine adds prefix+line+'\n' to the batch, first writing the batch if
// the line would push it past batchSize.
func (s *Sink) appendLine(out []byte, pool, prefix string, line []byte) []byte {
	if len(out) > 0 && len(out)+len(prefix)+len(line)+1 > batchSize {
		out = s.flush(pool, out)
	}
	out = append(out, prefix...)
	out = append(out, line...)
	return append(out, '\n')
}

// flush writes the batch, if any, and returns it emptied for reuse.
func (s *Sink) flush(pool string, out []byte) []byte {
	if len(out) > 0 {
		s.write(pool, out)
	}
	return out[:0]
}
