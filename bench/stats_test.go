//go:build linux

package main

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestWindows(t *testing.T) {
	// 1000 requests/s for 3 s, with nothing completing between 1 s and
	// 1.5 s: those answers all land at 1.5 s.
	var samples []sample
	for i := 0; i < 3000; i++ {
		due := time.Duration(i) * time.Millisecond
		done := due + time.Millisecond
		if due >= time.Second && due < 1500*time.Millisecond {
			done = 1500 * time.Millisecond
		}
		samples = append(samples, sample{due: due, done: done, ok: true})
	}
	if got := windowThroughput(samples, 1000, 0, time.Second); math.Abs(got-1) > 0.002 {
		t.Errorf("first second: %v, want 1", got)
	}
	if got := worstWindow(samples, 1000, 0, 3*time.Second, time.Second); got > 0.51 || got < 0.49 {
		t.Errorf("worst window %v, want 0.5", got)
	}
	st := summarize(samples)
	if st.max < 499*time.Millisecond || st.failed != 0 || st.p50 != time.Millisecond {
		t.Errorf("summary %+v", st)
	}
	if d := (dist{3, 1, 2}); d.median() != 2 || d.cell(fmtInt) != "2 (1–3)" {
		t.Errorf("dist %v: median %v, cell %q", d, d.median(), d.cell(fmtInt))
	}
}

func TestGetReadsThePid(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			fmt.Fprintln(w, "hello from pid=4242 slot=0")
			return
		}
		http.NotFound(w, r)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	pid, err := get(ln.Addr().String(), 5*time.Second)
	if err != nil || pid != 4242 {
		t.Fatalf("get = %d, %v; want 4242", pid, err)
	}
}
