package integration_test

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pmux/pmux/internal/pmuxtest"
)

// Connections no worker accepts wait in the socket's accept backlog, and
// pmux_listener_queued and `pmux status` say how many, per socket, TCP and
// unix alike, read from the kernel at each scrape.
func TestListenerQueuedCountsWaitingConnections(t *testing.T) {
	const tcpConns, unixConns = 5, 3
	_, env := pmuxtest.RuntimeDir(t)
	sock := filepath.Join(t.TempDir(), "web.sock")
	began := time.Now()
	// sleep never accepts: every connection stays queued.
	// sleep never waits on the socket either, so it is ready at exec.
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Env: []string{env}}, "run", "--ready", "none", "-b", "127.0.0.1:0", "-b", "unix:"+sock,
		"--metrics", "127.0.0.1:0", "--worker-output", "inherit", "--", "sleep", "1000")
	m.ReadyWorkers(1)
	addr := m.WaitEvents("metrics_listening", 1, 10*time.Second, nil)[0]["addr"].(string)
	for _, c := range []struct {
		network, addr string
		n             int
	}{{"tcp", m.Addr(), tcpConns}, {"unix", sock, unixConns}} {
		for range c.n {
			conn, err := net.Dial(c.network, c.addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
		}
	}
	tcpBind, unixBind := "bind=tcp://127.0.0.1:0", "bind=unix://"+sock
	var tcpQ, unixQ float64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		fams := pmuxtest.ScrapeMetrics(t, addr)
		tcpQ, unixQ = pmuxtest.MetricValue(fams, "pmux_listener_queued", tcpBind), pmuxtest.MetricValue(fams, "pmux_listener_queued", unixBind)
		if (tcpQ == tcpConns && unixQ == unixConns) || time.Now().After(deadline) {
			if b := pmuxtest.MetricValue(fams, "pmux_listener_backlog", tcpBind); b <= 0 {
				t.Errorf("pmux_listener_backlog{%s} = %v, want the socket's backlog", tcpBind, b)
			}
			break
		}
	}
	if tcpQ != tcpConns || unixQ != unixConns {
		t.Errorf("pmux_listener_queued: tcp %v, unix %v; want %d and %d", tcpQ, unixQ, tcpConns, unixConns)
	}
	st := pmuxtest.Ctl(t, []string{env}, "status", pmuxtest.PidArg(m.Pid()))
	st.Expect(t, "status", 0, "")
	for _, want := range []string{"5 queued (backlog ", ") on tcp://127.0.0.1:0 at " + m.Addr(), "3 queued (backlog ", ") on unix://"} {
		if !strings.Contains(st.Stdout, want) {
			t.Errorf("pmux status does not say %q:\n%s", want, st.Stdout)
		}
	}
	t.Logf("queued connections seen after %v", time.Since(began).Round(time.Millisecond))
}
