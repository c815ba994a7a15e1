package pmuxtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Report is what the test worker (testdata/worker) answers GET / with.
type Report struct {
	Pid         int               `json:"pid"`
	Ppid        int               `json:"ppid"`
	Env         map[string]string `json:"env"`
	FDs         map[int]string    `json:"fds"`
	FD3Blocking bool              `json:"fd3_blocking"`
	Uid         int               `json:"uid"`
	Gid         int               `json:"gid"`
	Cwd         string            `json:"cwd"`
}

// NewClient is an HTTP client to network/addr (any URL's host is ignored)
// that makes every request on a new connection, so successive requests
// are spread over the workers by the kernel.
func NewClient(network, addr string) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
		},
	}
}

// GetReport asks one test worker for its Report, or fails the test.
func GetReport(t *testing.T, c *http.Client) Report {
	t.Helper()
	resp, err := c.Get("http://pmux/")
	if err != nil {
		t.Fatalf("GET /: %v", err)
	}
	defer resp.Body.Close()
	var r Report
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("decode report: %v", err)
	}
	return r
}

// ReportsFrom asks until it has heard from n distinct workers, by pid.
func ReportsFrom(t *testing.T, c *http.Client, n int) map[int]Report {
	t.Helper()
	seen := map[int]Report{}
	// Bounded in time rather than in requests: a worker that is slow to
	// reach accept on a loaded machine leaves every request to the others.
	for deadline := time.Now().Add(30 * time.Second); len(seen) < n && time.Now().Before(deadline); {
		r := GetReport(t, c)
		seen[r.Pid] = r
	}
	if len(seen) < n {
		t.Fatalf("heard from %d workers, want %d", len(seen), n)
	}
	return seen
}

// InflightSleep sends the test worker a request that takes ms, returns
// once the worker has it, and delivers its outcome on the channel.
func InflightSleep(t *testing.T, m *Master, ms int) <-chan error {
	t.Helper()
	c := NewClient("tcp", m.Addr())
	result := make(chan error, 1)
	go func() {
		resp, err := c.Get(fmt.Sprintf("http://pmux/sleep?ms=%d", ms))
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		result <- err
	}()
	m.WaitOutput("the request to reach the worker", 10*time.Second, func(out []string) bool {
		for _, l := range out {
			if strings.Contains(l, fmt.Sprintf("sleeping %d ms", ms)) {
				return true
			}
		}
		return false
	})
	return result
}
