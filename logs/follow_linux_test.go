package logs

import (
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFollowCostsNoGoroutinePerPipe: a Sink follows any number of pipes
// from one goroutine, a quiet pipe holds no read buffer and a pipe with a
// partial line pending holds that line and no more, and once every pipe
// has ended the goroutine is gone too. What keeps a master with a thousand
// quiet workers small: measured as goroutines and Go heap, no clock.
func TestFollowCostsNoGoroutinePerPipe(t *testing.T) {
	const (
		pipes   = 256
		perPipe = 1 << 10
	)
	rec := &recorder{}
	s := NewSink(rec, SinkOptions{})
	heap := func() uint64 {
		// Twice: a pooled buffer survives one collection in the pool's
		// victim cache.
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	ws := make([]*os.File, pipes)
	var ended sync.WaitGroup
	var once sync.Once
	closeAll := func() {
		once.Do(func() {
			for _, w := range ws {
				if w != nil {
					w.Close()
				}
			}
		})
	}
	t.Cleanup(closeAll)
	goroutines := runtime.NumGoroutine()
	before := heap()
	for i := range pipes {
		r, w, err := s.NewPipe()
		if err != nil {
			t.Fatal(err)
		}
		ws[i] = w
		ended.Add(1)
		r.Follow("web", "p ", nil, ended.Done)
	}
	writeHalfAndAwait(t, ws, rec)
	var held uint64
	if after := heap(); after > before {
		held = (after - before) / pipes
	}
	grew := runtime.NumGoroutine() - goroutines
	t.Logf("%d followed pipes: %d goroutines more, %d bytes of heap each (the worker's end included)", pipes, grew, held)
	if grew > 1 {
		t.Errorf("%d followed pipes cost %d goroutines, want 1 for all", pipes, grew)
	}
	if held >= perPipe {
		t.Errorf("a quiet followed pipe holds %d bytes of heap, want < %d", held, perPipe)
	}

	closeAll()
	ended.Wait()
	if got := strings.Count(rec.String(), "p partial\n"); got != pipes/2 {
		t.Errorf("%d partial lines written at EOF, want %d", got, pipes/2)
	}
	// The poller's goroutine closes the set and goes once no pipe is left.
	closed := func() bool {
		s.follow.mu.Lock()
		defer s.follow.mu.Unlock()
		return s.follow.epfd == -1
	}
	for deadline := time.Now().Add(10 * time.Second); !closed(); {
		if time.Now().After(deadline) {
			t.Fatal("the epoll set is still open with no pipe followed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
