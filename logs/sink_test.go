package logs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"github.com/rs/zerolog"
)

// recorder keeps every Write separately, to check that each carries whole
// lines only.
type recorder struct {
	mu     sync.Mutex
	writes [][]byte
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(bytes.Join(r.writes, nil))
}

// chunkReader returns at most n bytes per Read, so lines straddle reads.
type chunkReader struct {
	r io.Reader
	n int
}

func (c chunkReader) Read(p []byte) (int, error) {
	return c.r.Read(p[:min(len(p), c.n)])
}

// pumpPrefix is the prefix of the pumpCases' output.
const pumpPrefix = "web.0 1 | "

// pumpCases are inputs and what a pump must write of them.
var pumpCases = func() []struct{ name, in, want string } {
	const p = pumpPrefix
	long := func(n int, c byte) string { return strings.Repeat(string(c), n) }
	return []struct{ name, in, want string }{
		{name: "empty input", in: "", want: ""},
		{name: "one line", in: "hello\n", want: p + "hello\n"},
		{name: "empty lines kept", in: "a\n\nb\n", want: p + "a\n" + p + "\n" + p + "b\n"},
		{name: "lone newline", in: "\n", want: p + "\n"},
		{name: "missing trailing newline", in: "a\nlast", want: p + "a\n" + p + "last\n"},
		{name: "only a partial line", in: "no newline", want: p + "no newline\n"},
		{name: "carriage return kept", in: "a\r\n", want: p + "a\r\n"},
		{name: "exactly MaxLine", in: long(MaxLine, 'x') + "\n", want: p + long(MaxLine, 'x') + "\n"},
		{name: "MaxLine plus one", in: long(MaxLine+1, 'x') + "\nz\n",
			want: p + long(MaxLine, 'x') + "\n" + p + "x\n" + p + "z\n"},
		{name: "three pieces and a tail", in: long(3*MaxLine+10, 'y') + "\n",
			want: strings.Repeat(p+long(MaxLine, 'y')+"\n", 3) + p + long(10, 'y') + "\n"},
		{name: "long line without newline", in: long(2*MaxLine+5, 'q'),
			want: strings.Repeat(p+long(MaxLine, 'q')+"\n", 2) + p + long(5, 'q') + "\n"},
		{name: "long then short", in: "s\n" + long(MaxLine+2, 'L') + "\nt\n",
			want: p + "s\n" + p + long(MaxLine, 'L') + "\n" + p + "LL\n" + p + "t\n"},
	}
}()

// checkWrites fails the test unless every Write is whole prefixed lines,
// and a batch of several lines stays within batchSize.
func checkWrites(t *testing.T, rec *recorder, p string) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, w := range rec.writes {
		if !bytes.HasPrefix(w, []byte(p)) || !bytes.HasSuffix(w, []byte("\n")) {
			t.Fatalf("a Write of %d bytes is not whole lines: %.80q", len(w), w)
		}
		if bytes.Count(w, []byte("\n")) > 1 && len(w) > batchSize {
			t.Fatalf("a batch of %d bytes exceeds batchSize", len(w))
		}
	}
}

func TestPumpLines(t *testing.T) {
	const p = pumpPrefix
	tests := pumpCases
	plain := func(wrap func(io.Reader) io.Reader) func(*testing.T, io.Reader) io.Reader {
		return func(_ *testing.T, r io.Reader) io.Reader { return wrap(r) }
	}
	readers := []struct {
		name string
		wrap func(*testing.T, io.Reader) io.Reader
	}{
		{"whole", plain(func(r io.Reader) io.Reader { return r })},
		{"chunks", plain(func(r io.Reader) io.Reader { return chunkReader{r, 7919} })},
		{"half", plain(iotest.HalfReader)},
		{"data with EOF", plain(iotest.DataErrReader)},
		{"one byte", plain(iotest.OneByteReader)},
		// A real pipe, as the manager gives a pump: the pump parks in the
		// poller between the writer's chunks.
		{"pipe", pipeFrom},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			if rd.name == "one byte" && len(tt.in) > 1000 {
				continue // same cut points as chunks, thousands of times slower
			}
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				rec := &recorder{}
				s := NewSink(rec, SinkOptions{})
				s.Pump(rd.wrap(t, strings.NewReader(tt.in)), "web", p)
				if got := rec.String(); got != tt.want {
					t.Fatalf("output differs:\n got %.200q (%d bytes)\nwant %.200q (%d bytes)",
						got, len(got), tt.want, len(tt.want))
				}
				checkWrites(t, rec, p)
				if s.Dropped() != 0 {
					t.Errorf("Dropped = %d", s.Dropped())
				}
			})
		}
	}
}

// pipeFrom returns the read end of a pipe a goroutine fills from r in
// chunks of 7919 bytes, closing its end at EOF.
func pipeFrom(t *testing.T, r io.Reader) io.Reader {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close() })
	go func() {
		defer pw.Close()
		io.CopyBuffer(pw, chunkReader{r, 7919}, make([]byte, 7919))
	}()
	return pr
}

// TestPumpIdleHoldsNoBuffer: a pump waiting on a quiet pipe holds no read
// buffer, and one with a partial line pending holds that line and no more,
// so a master with a thousand quiet workers stays small. Measured as the
// Go heap the parked pumps keep (their goroutines' stacks apart); a pump
// that kept its read buffer between reads would hold 36 KiB or more.
func TestPumpIdleHoldsNoBuffer(t *testing.T) {
	const (
		pumps   = 256
		perPump = 2 << 10
	)
	rec := &recorder{}
	s := NewSink(rec, SinkOptions{})
	rs, ws := make([]*os.File, pumps), make([]*os.File, pumps)
	for i := range pumps {
		var err error
		if rs[i], ws[i], err = os.Pipe(); err != nil {
			t.Fatal(err)
		}
	}
	var done sync.WaitGroup
	t.Cleanup(func() {
		for _, w := range ws {
			w.Close()
		}
		done.Wait()
		for _, r := range rs {
			r.Close()
		}
	})
	heap := func() uint64 {
		// Twice: a pooled buffer survives one collection in the pool's
		// victim cache.
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	for i := range pumps {
		done.Go(func() { s.Pump(rs[i], "web", "p ") })
	}
	// Half get a whole line and a partial one, the others nothing.
	writeHalfAndAwait(t, ws, rec)
	// Once every pump has parked again, what they hold stays put.
	var held uint64
	for deadline := time.Now().Add(10 * time.Second); ; {
		if after := heap(); after > before {
			held = (after - before) / pumps
		} else {
			held = 0
		}
		if held < perPump || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%d parked pumps hold %d bytes of heap each", pumps, held)
	if held >= perPump {
		t.Errorf("a parked pump holds %d bytes of heap, want < %d: a read buffer is kept between reads", held, perPump)
	}
	if n := len(s.slots); n != 0 {
		t.Errorf("%d read buffers taken while every pump waits", n)
	}
	// The partial lines were carried, not lost: they come out at EOF.
	for i := range ws {
		ws[i].Close()
	}
	done.Wait()
	if got := strings.Count(rec.String(), "p partial\n"); got != pumps/2 {
		t.Errorf("%d partial lines written at EOF, want %d", got, pumps/2)
	}
}

// TestPumpReadError: on a read error the partial line is written and Pump
// returns without reading further.
func TestPumpReadError(t *testing.T) {
	rec := &recorder{}
	tail := strings.NewReader("never read\n")
	r := io.MultiReader(strings.NewReader("a\nb"), iotest.ErrReader(errors.New("boom")), tail)
	NewSink(rec, SinkOptions{}).Pump(r, "web", "p | ")
	if got, want := rec.String(), "p | a\np | b\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if tail.Len() != len("never read\n") {
		t.Errorf("Pump read past the error")
	}
}

// stuckReader returns (0, nil) forever.
type stuckReader struct{ reads int }

func (s *stuckReader) Read([]byte) (int, error) {
	s.reads++
	return 0, nil
}

func TestPumpNoProgress(t *testing.T) {
	rec := &recorder{}
	stuck := &stuckReader{}
	NewSink(rec, SinkOptions{}).Pump(io.MultiReader(strings.NewReader("partial"), stuck), "web", "p | ")
	if got, want := rec.String(), "p | partial\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if stuck.reads != maxEmptyReads {
		t.Errorf("gave up after %d empty reads, want %d", stuck.reads, maxEmptyReads)
	}
}

// failWriter accepts n bytes of each Write and then fails, or returns a
// short count without an error when err is nil.
type failWriter struct {
	n   int
	err error
}

func (f *failWriter) Write(p []byte) (int, error) {
	return min(f.n, len(p)), f.err
}

func TestSinkDropped(t *testing.T) {
	in := "aa\nbbb\n"
	out := "p aa\np bbb\n" // one batch
	tests := []struct {
		name string
		w    io.Writer
		want int64
	}{
		{name: "error", w: &failWriter{0, errors.New("no space")}, want: int64(len(out))},
		{name: "partial then error", w: &failWriter{3, errors.New("EIO")}, want: int64(len(out) - 3)},
		{name: "short without error", w: &failWriter{5, nil}, want: int64(len(out) - 5)},
		{name: "ok", w: io.Discard, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSink(tt.w, SinkOptions{})
			s.Pump(strings.NewReader(in), "web", "p ")
			if got := s.Dropped(); got != tt.want {
				t.Errorf("Dropped = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestSinkWarnsOfDrops: the first drop is said at once, with its byte
// count and cause; later ones are added up and said by the first write,
// failed or not, at least warnEvery after the last warning. Every byte
// reaches the Dropped hook under its pool, and a healthy sink never looks
// at the clock.
func TestSinkWarnsOfDrops(t *testing.T) {
	var log bytes.Buffer
	w := &failWriter{err: syscall.ENOSPC}
	dropped := map[string]int{}
	s := NewSink(w, SinkOptions{Name: "/var/log/workers.log", Log: zerolog.New(&log),
		Dropped: func(pool string, n int) { dropped[pool] += n }})
	now, clockReads := time.Unix(1000, 0), 0
	s.now = func() time.Time { clockReads++; return now }
	steps := []struct {
		after time.Duration
		fail  bool
		pool  string
		line  string // written as "p " + line + "\n"
	}{
		{0, true, "web", "a"},                // 4 bytes, said at once
		{3 * time.Second, true, "web", "bb"}, // 5, kept
		{3 * time.Second, true, "jobs", "ccc"},
		{4 * time.Second, true, "web", "d"},   // 10 s after the warning: says 5+6+4
		{30 * time.Second, false, "web", "e"}, // nothing unsaid: silent
		{time.Second, true, "web", "f"},       // 31 s after the warning: said at once
		{time.Second, true, "jobs", "g"},      // kept
		{2 * time.Second, false, "web", "h"},  // works, but too soon to say
		{8 * time.Second, false, "web", "i"},  // 10 s after the warning: said, and that it works
		{time.Hour, false, "web", "j"},
	}
	for _, st := range steps {
		now = now.Add(st.after)
		w.n, w.err = 0, syscall.ENOSPC
		if !st.fail {
			w.n, w.err = 1<<20, nil
		}
		s.Pump(strings.NewReader(st.line+"\n"), st.pool, "p ")
	}

	type warning struct {
		Level, Event, Destination, Error, Message string
		Bytes                                     int64
		Failing                                   bool
	}
	var got []warning
	for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		var w warning
		if err := json.Unmarshal([]byte(line), &w); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		got = append(got, w)
	}
	const cause = "no space left on device"
	want := []warning{
		{"warn", "worker_output_dropped", "/var/log/workers.log", cause, "worker output to /var/log/workers.log: 4 bytes dropped: " + cause, 4, true},
		{"warn", "worker_output_dropped", "/var/log/workers.log", cause, "worker output to /var/log/workers.log: 15 bytes dropped: " + cause, 15, true},
		{"warn", "worker_output_dropped", "/var/log/workers.log", cause, "worker output to /var/log/workers.log: 4 bytes dropped: " + cause, 4, true},
		{"warn", "worker_output_dropped", "/var/log/workers.log", cause, "worker output to /var/log/workers.log: 4 bytes dropped: " + cause + "; writing works again", 4, false},
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n%+v\nwant:\n%+v", got, want)
	}
	if want := map[string]int{"web": 4 + 5 + 4 + 4, "jobs": 6 + 4}; !maps.Equal(dropped, want) {
		t.Errorf("Dropped hook got %v, want %v", dropped, want)
	}
	if got := s.Dropped(); got != 27 {
		t.Errorf("Dropped() = %d, want 27", got)
	}
	// The writes after the last warning had nothing unsaid.
	before := clockReads
	s.Pump(strings.NewReader("k\nl\n"), "web", "p ")
	if clockReads != before {
		t.Errorf("a healthy write read the clock %d times", clockReads-before)
	}
}

// TestSinkFullDiskKeepsDraining: with a destination that always fails
// (/dev/full: ENOSPC), the pump still drains the pipe, so a worker writing
// far more than a pipe holds finishes, and every byte is counted.
func TestSinkFullDiskKeepsDraining(t *testing.T) {
	full, err := OpenFile("/dev/full")
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	t.Cleanup(func() { full.Close() })
	if _, err := full.Write([]byte("x\n")); err == nil {
		t.Skip("/dev/full accepts writes here")
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const prefix = "web.0 1 | "
	line := strings.Repeat("z", 99) + "\n"
	const lines = 20000 // 2 MB, far beyond a 64 KiB pipe
	werr := make(chan error, 1)
	go func() {
		bw := bufio.NewWriter(w)
		for range lines {
			if _, err := bw.WriteString(line); err != nil {
				werr <- err
				w.Close()
				return
			}
		}
		err := bw.Flush()
		w.Close()
		werr <- err
	}()
	s := NewSink(full, SinkOptions{})
	s.Pump(r, "web", prefix)
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if got, want := s.Dropped(), int64(lines*(len(prefix)+len(line))); got != want {
		t.Errorf("Dropped = %d, want %d", got, want)
	}
}

// workerLine is line i of worker w: lengths vary from empty to a few KiB
// (longer than a batch), and the content encodes w and i so a torn or
// misattributed line cannot pass.
func workerLine(buf []byte, w, i int) []byte {
	n := (i * 7919) % 211
	if i%997 == 0 {
		n = 5000 + i%3000
	}
	if i%101 == 0 {
		return buf // empty line
	}
	buf = fmt.Appendf(buf, "w%d i%d ", w, i)
	for k := range n {
		buf = append(buf, 'a'+byte((w+i+k)%26))
	}
	return buf
}

// TestSinkConcurrentPumps runs 8 workers, each writing 100k lines through
// its own pipe into one File: every output line is its prefix and the exact
// original line, in order per worker, with nothing lost or extra. The same
// with the pipes followed (one goroutine for all), with 20k lines each.
func TestSinkConcurrentPumps(t *testing.T) {
	for _, mode := range []struct {
		name   string
		follow bool
		lines  int
	}{{"pump", false, 100_000}, {"follow", true, 20_000}} {
		t.Run(mode.name, func(t *testing.T) { concurrentPumps(t, mode.follow, mode.lines) })
	}
}

func concurrentPumps(t *testing.T, follow bool, lines int) {
	const workers = 8
	path := filepath.Join(t.TempDir(), "workers.log")
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	s := NewSink(f, SinkOptions{})

	prefixes := make([]string, workers)
	var pumps, writers sync.WaitGroup
	werrs := make(chan error, workers)
	for w := range workers {
		prefixes[w] = Prefix(fmt.Sprintf("pool%d", w), w, 1000+w, false)
		var pw *os.File
		if follow {
			var fr *Pipe
			var err error
			if fr, pw, err = s.NewPipe(); err != nil {
				t.Fatal(err)
			}
			pumps.Add(1)
			fr.Follow("web", prefixes[w], nil, pumps.Done)
		} else {
			var r *os.File
			var err error
			if r, pw, err = os.Pipe(); err != nil {
				t.Fatal(err)
			}
			pumps.Go(func() {
				defer r.Close()
				s.Pump(r, "web", prefixes[w])
			})
		}
		writers.Go(func() {
			defer pw.Close()
			bw := bufio.NewWriterSize(pw, 16<<10)
			var buf []byte
			for i := range lines {
				buf = append(workerLine(buf[:0], w, i), '\n')
				if _, err := bw.Write(buf); err != nil {
					werrs <- err
					return
				}
			}
			if err := bw.Flush(); err != nil {
				werrs <- err
			}
		})
	}
	writers.Wait()
	pumps.Wait()
	close(werrs)
	for err := range werrs {
		t.Fatal(err)
	}
	if s.Dropped() != 0 {
		t.Fatalf("Dropped = %d", s.Dropped())
	}

	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine+1024)
	next := make([]int, workers)
	var want []byte
	total := 0
	for sc.Scan() {
		text := sc.Bytes()
		w := -1
		for k, p := range prefixes {
			if bytes.HasPrefix(text, []byte(p)) {
				w = k
				break
			}
		}
		if w < 0 {
			t.Fatalf("line %d has no known prefix: %.120q", total, text)
		}
		want = workerLine(want[:0], w, next[w])
		if got := text[len(prefixes[w]):]; !bytes.Equal(got, want) {
			t.Fatalf("line %d of worker %d:\n got %.120q\nwant %.120q", next[w], w, got, want)
		}
		next[w]++
		total++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for w, n := range next {
		if n != lines {
			t.Errorf("worker %d: %d lines out, %d in", w, n, lines)
		}
	}
}

// benchBlock is about 1 MiB of typical log lines (40 to 200 bytes).
func benchBlock() []byte {
	var b []byte
	for i := 0; len(b) < 1<<20; i++ {
		b = fmt.Appendf(b, "2025-01-01T00:00:00Z INFO request id=%d path=/api/v1/items/%d status=200 ", i, i%1000)
		b = append(b, strings.Repeat("x", i%130)...)
		b = append(b, '\n')
	}
	return b
}

// BenchmarkSinkPump measures worker bytes per second through a pipe and a
// pump into the destination (one op = one ~1 MiB block of lines).
func BenchmarkSinkPump(b *testing.B) {
	block := benchBlock()
	dests := []struct {
		name string
		open func(b *testing.B) io.Writer
	}{
		{"discard", func(*testing.B) io.Writer { return io.Discard }},
		{"file", func(b *testing.B) io.Writer {
			f, err := OpenFile(filepath.Join(b.TempDir(), "out.log"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { f.Close() })
			return f
		}},
	}
	for _, d := range dests {
		b.Run(d.name, func(b *testing.B) {
			s := NewSink(d.open(b), SinkOptions{})
			r, w, err := os.Pipe()
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				defer r.Close()
				s.Pump(r, "web", "web.0 12345 | ")
			}()
			b.SetBytes(int64(len(block)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := w.Write(block); err != nil {
					b.Fatal(err)
				}
			}
			w.Close()
			<-done
			b.StopTimer()
			if s.Dropped() != 0 {
				b.Fatalf("Dropped = %d", s.Dropped())
			}
		})
	}
}

// writeHalfAndAwait writes a whole line and a partial one to every other
// pipe of ws, and waits until rec has every whole line (prefixed "p ").
func writeHalfAndAwait(t *testing.T, ws []*os.File, rec *recorder) {
	t.Helper()
	for i := 0; i < len(ws); i += 2 {
		if _, err := ws[i].WriteString("whole\npartial"); err != nil {
			t.Fatal(err)
		}
	}
	want := (len(ws) + 1) / 2
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(rec.String(), "p whole\n") < want {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d lines written", strings.Count(rec.String(), "p whole\n"), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
