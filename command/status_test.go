package command

import (
	"strings"
	"testing"

	"github.com/pmux/pmux/internal/pmuxtest"
	"github.com/pmux/pmux/status"
)

// The table for a big, troubled master: 16 workers, a long pool name,
// crashes with long exit descriptions, every state. Each line fits 80
// columns.
func TestStatusTableFits80Columns(t *testing.T) {
	st := status.Status{MasterPID: 4194304, Phase: "running", UpgradeChild: 4194300, Pools: []status.PoolStatus{
		{Name: "web-frontend-canary", Target: 16, Generation: 1234},
		{Name: "jobs", Target: 0, Generation: 1},
	}}
	states := []string{"ready", "starting", "retiring", "stopping"}
	activities := []string{"busy", "booting", "", "", "waiting", "booting", "", ""}
	ages := []float64{0.4, 59, 192, 3599, 7500, 86399, 90000, 8639999}
	rss := []int64{0, 900, 38 << 20, 1023 << 20, 3 << 29, 12 << 30, 2 << 40, 512 << 10}
	exits := []string{"", "exit 3", "signal KILL", "start failed", "status 1234567890 and then some words"}
	for i := range 16 {
		st.Pools[0].Workers = append(st.Pools[0].Workers, status.WorkerStatus{
			Slot: i, Pid: 4194000 + i, Generation: 1230 + i%5, State: states[i%len(states)],
			AgeSeconds: ages[i%len(ages)], Restarts: i * 1000, RSS: rss[i%len(rss)], LastExit: exits[i%len(exits)],
			Activity: activities[i%len(activities)], ActivitySeconds: ages[(i+3)%len(ages)],
		})
	}
	queued := func(n int) *int { return &n }
	st.Pools[0].Listeners = []status.ListenerStatus{
		{Bind: "tcp://0.0.0.0:8000", Addr: "0.0.0.0:8000", Queued: queued(12), Backlog: 1024},
		{Bind: "tcp://127.0.0.1:0", Addr: "127.0.0.1:41234", Queued: queued(0), Backlog: 4096},
		{Bind: "unix:/run/web-frontend-canary/a/rather/long/path/to/the/socket/of/this/app.sock?mode=0660",
			Addr: "/run/web-frontend-canary/a/rather/long/path/to/the/socket/of/this/app.sock", Queued: queued(3), Backlog: 128},
	}
	st.Pools[1].Listeners = []status.ListenerStatus{{Bind: "unix:/run/jobs.sock", Addr: "/run/jobs.sock"}}
	var b strings.Builder
	writeStatus(&b, st)
	for _, line := range strings.Split(b.String(), "\n") {
		if n := len([]rune(line)); n > 80 {
			t.Errorf("line of %d columns: %q", n, line)
		}
	}
	pmuxtest.Golden(t, "status_wide.golden", b.String())
}

func TestStatusHumanUnits(t *testing.T) {
	for _, tc := range []struct {
		age  float64
		want string
	}{{-1, "-"}, {0, "0s"}, {59.9, "59s"}, {60, "1m00s"}, {192, "3m12s"}, {3600, "1h00m"}, {7500, "2h05m"}, {86400, "1d00h"}, {8639999, "99d23h"}} {
		if got := humanAge(tc.age); got != tc.want {
			t.Errorf("humanAge(%v) = %q, want %q", tc.age, got, tc.want)
		}
	}
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "-"}, {1, "1K"}, {1024, "1K"}, {1025, "2K"}, {38 << 20, "38M"}, {1023 << 20, "1023M"}, {3 << 29, "1.5G"}, {12 << 30, "12G"}, {1 << 40, "1.0T"}} {
		if got := humanBytes(tc.n); got != tc.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
