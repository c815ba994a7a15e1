package logs

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
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

	// initialRead is a pump's first read buffer. It grows (to about
	// 2*MaxLine) only for a worker that actually writes a line longer than
	// the buffer, so hundreds of idle pumps stay cheap.
	initialRead = 32 << 10

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
	return &Sink{w: w, opts: opts, now: time.Now}
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
func (s *Sink) Pump(r io.Reader, pool, prefix string) {
	buf := make([]byte, initialRead)
	out := make([]byte, 0, batchSize)
	start, end := 0, 0 // buf[start:end] is read but not yet written
	empty := 0
	for {
		if start > 0 {
			// At most MaxLine bytes remain (a longer run has been cut),
			// so this copy is short and the next read gets a big window.
			end = copy(buf, buf[start:end])
			start = 0
		}
		if end == len(buf) {
			// A line without '\n' fills the buffer: grow until it can hold
			// a MaxLine piece plus a read window, after which it never
			// fills again.
			nb := make([]byte, 2*len(buf))
			copy(nb, buf[:end])
			buf = nb
		}

		n, err := r.Read(buf[end:])
		end += n

		for start < end {
			limit := min(end, start+MaxLine+1)
			var line []byte
			if i := bytes.IndexByte(buf[start:limit], '\n'); i >= 0 {
				line = buf[start : start+i]
				start += i + 1
			} else if end-start > MaxLine {
				line = buf[start : start+MaxLine]
				start += MaxLine
			} else {
				break // a partial line: wait for the rest
			}
			out = s.appendLine(out, pool, prefix, line)
		}

		if n == 0 && err == nil {
			if empty++; empty < maxEmptyReads {
				continue
			}
			err = io.ErrNoProgress
		} else {
			empty = 0
		}

		if err != nil {
			if start < end {
				out = s.appendLine(out, pool, prefix, buf[start:end])
			}
			s.flush(pool, out)
			return
		}
		out = s.flush(pool, out)
	}
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
