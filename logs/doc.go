// Package logs owns every byte pmux writes as a log: its own structured log
// (zerolog, built by New and injected into the other packages, never a
// global), the files it appends to, and the pumps that carry worker output.
//
// The model: a log destination is either a terminal/pipe pmux inherited or a
// File pmux opened itself. A File is append-only and reopenable: logrotate
// renames it, the reopen_logs action calls Reopen, and from then on records go
// to a fresh file at the same path. Every Write to a File is one whole record
// (a zerolog event, or one batch of whole worker lines) made under the File's
// lock, and Reopen swaps the descriptor under that same lock, so no record is
// split between the rotated file and the new one and none is lost.
//
// Worker output flows through a Sink: one Pump goroutine per worker pipe reads
// the pipe, cuts it into lines and hands whole, prefixed lines to the Sink,
// which serialises them onto one destination. A pump waiting on a quiet pipe
// holds no buffer (it parks in the runtime's poller and borrows one of a few
// shared read buffers only while a read finds data), and between reads keeps
// only a partial line it must still complete; so a worker costs the master a
// parked goroutine (a 2 KiB stack) and well under 1 KiB of heap, whatever it
// once wrote. Invariants:
//
//   - A line is never split between two Writes, so lines from different
//     workers never interleave mid-line. A Write may carry several whole lines;
//     batches stay within PIPE_BUF so they are atomic even on a pipe that other
//     processes (or pmux's own log, via 2>&1) write to.
//   - Nothing the worker wrote is dropped by the pump: a line longer than
//     MaxLine is cut into MaxLine pieces, each prefixed and newline-terminated;
//     a final line without a newline gets one.
//   - A failing destination (disk full, EIO, a pipe nobody reads) never
//     stalls a worker: the failed bytes are counted (Sink.Dropped, and the
//     SinkOptions.Dropped hook per pool, which feeds a metric) and the pump
//     keeps draining the pipe. The loss is logged as a warning with the byte
//     count and the cause, at most once per 10 s per Sink: a later drop is
//     added up and said by the first write that comes after those 10 s, so
//     no timer runs and an idle master stays asleep.
//
// Pitfalls: a Sink whose destination blocks (a paused terminal, a full pipe
// to a slow reader) blocks every pump and, through the full pipes, the
// workers; that is deliberate back-pressure, the same as a plain shell
// pipeline. pmux's own fds are close-on-exec, so a log File never leaks into
// a worker. Asking whether stderr is a terminal must not change its blocking
// mode (the open file description is shared), so IsTerminal never calls Fd.
package logs
