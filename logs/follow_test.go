package logs

import (
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// follow follows a fresh pipe of s and returns the worker's end and a
// channel closed once Follow has called done.
func follow(t *testing.T, s *Sink, prefix string) (*os.File, <-chan struct{}) {
	t.Helper()
	r, w, err := s.NewPipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	r.Follow("web", prefix, nil, func() { close(done) })
	return w, done
}

// waitClosed waits for done, failing the test after a deadline.
func waitClosed(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestFollowLines: a followed pipe is cut into lines exactly as Pump cuts
// any reader, whatever the sizes of the worker's writes.
func TestFollowLines(t *testing.T) {
	for _, tt := range pumpCases {
		for _, chunk := range []int{1 << 20, 7919, 1} {
			if chunk == 1 && len(tt.in) > 1000 {
				continue
			}
			t.Run(tt.name+"/"+strconv.Itoa(chunk), func(t *testing.T) {
				rec := &recorder{}
				s := NewSink(rec, SinkOptions{})
				w, done := follow(t, s, pumpPrefix)
				_, err := io.CopyBuffer(w, chunkReader{strings.NewReader(tt.in), chunk}, make([]byte, chunk))
				w.Close()
				if err != nil {
					t.Fatal(err)
				}
				waitClosed(t, done, "the pipe to end")
				if got := rec.String(); got != tt.want {
					t.Fatalf("output differs:\n got %.200q (%d bytes)\nwant %.200q (%d bytes)",
						got, len(got), tt.want, len(tt.want))
				}
				checkWrites(t, rec, pumpPrefix)
			})
		}
	}
}

// TestFollowUnfollowedPipeCloses: the read end of a pipe whose worker did
// not start is closed without being followed.
func TestFollowUnfollowedPipeCloses(t *testing.T) {
	r, w, err := NewSink(io.Discard, SinkOptions{}).NewPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x\n")); err == nil {
		t.Error("writing to a pipe whose read end is closed succeeded")
	}
	w.Close()
}
