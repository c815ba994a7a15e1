package integration_test

// The soak (issue 8 §3): `make soak DURATION=10m` sets PMUX_SOAK. Random
// HUP, TTIN, TTOU, USR1, PWR and whole USR2 + WINCH + QUIT upgrades under a
// bounded, paced load; at the end no request has failed, the pool has its
// target of workers of one generation, no zombie is left, and the master's
// descriptors, goroutines and RSS are back within a small bound of where
// they started.

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/internal/pmuxtest"
	"github.com/pmux/pmux/internal/proc"
)

// tracker replays a master's log incrementally: a soak's log is too long
// to replay whole on every line, as master.waitFor does.
type tracker struct {
	m      *pmuxtest.Master
	next   int                // index of the first log entry not yet seen
	live   map[int]soakWorker // worker pid → what the log said of it
	gen    map[int]int        // master pid → its pool's generation
	target map[int]int        // master pid → its pool's target
	child  map[int]int        // master pid → the new master it started
	metric map[int]string     // master pid → its metrics address
}

type soakWorker struct {
	master, gen     int
	ready, stopping bool
}

func newTracker(m *pmuxtest.Master, workers int) *tracker {
	return &tracker{m: m, live: map[int]soakWorker{}, gen: map[int]int{}, target: map[int]int{},
		child: map[int]int{}, metric: map[int]string{}}
}

// consume applies the entries of logs (the master's log so far) logged
// since the last call.
func (tr *tracker) consume(logs []map[string]any, workers int) {
	for ; tr.next < len(logs); tr.next++ {
		e := logs[tr.next]
		master := pmuxtest.IntField(e, "master")
		if _, ok := tr.gen[master]; !ok && master != 0 {
			tr.gen[master], tr.target[master] = 1, workers
		}
		pid := pmuxtest.IntField(e, "pid")
		switch e["event"] {
		case "worker_spawned":
			tr.live[pid] = soakWorker{master: master, gen: pmuxtest.IntField(e, "gen")}
		case "worker_ready":
			if w, ok := tr.live[pid]; ok {
				w.ready = true
				tr.live[pid] = w
			}
		case "worker_stopping":
			if w, ok := tr.live[pid]; ok {
				w.stopping = true
				tr.live[pid] = w
			}
		case "worker_exited":
			delete(tr.live, pid)
		case "generation_started":
			tr.gen[master] = pmuxtest.IntField(e, "gen")
			tr.target[master] = pmuxtest.IntField(e, "workers")
		case "pool_scaled":
			tr.target[master] = pmuxtest.IntField(e, "workers")
		case "upgrade_started":
			tr.child[master] = pmuxtest.IntField(e, "child")
		case "metrics_listening":
			tr.metric[master], _ = e["addr"].(string)
		}
	}
}

// waitUntil waits until pred holds over the tracked state.
func (tr *tracker) waitUntil(t *testing.T, workers int, what string, bound time.Duration, pred func() bool) {
	t.Helper()
	// Wake up now and then too: a predicate may look at processes, not logs.
	if tr.m.Watch(bound, 50*time.Millisecond, func(logs []map[string]any, _ []string) bool {
		tr.consume(logs, workers)
		return pred()
	}) {
		return
	}
	state := fmt.Sprintf("live %v, gens %v, targets %v", tr.live, tr.gen, tr.target)
	logs := tr.m.Snapshot()
	var tail strings.Builder
	for _, e := range logs[max(0, len(logs)-40):] {
		fmt.Fprintln(&tail, e)
	}
	t.Fatalf("timed out after %v waiting for %s; %s; the log's end:\n%s", bound, what, state, tail.String())
}

// settled: every live worker is the master's, of its generation, ready,
// and there are as many as its target.
func (tr *tracker) settled(master int) bool {
	if _, known := tr.target[master]; !known {
		return false
	}
	n := 0
	for _, w := range tr.live {
		if w.master != master || w.gen != tr.gen[master] || !w.ready || w.stopping {
			return false
		}
		n++
	}
	return n == tr.target[master]
}

// masterFigures are what must come back to where they started.
type masterFigures struct {
	fds, threads, goroutines int
	rssKB                    int64
}

func measureMaster(t *testing.T, pid int, metricsAddr string) masterFigures {
	t.Helper()
	f := masterFigures{fds: pmuxtest.FDCount(t, pid), goroutines: -1}
	status, err := proc.Default.Status(pid)
	if err != nil {
		t.Fatal(err)
	}
	f.rssKB, _ = status.Int("VmRSS")
	threads, _ := status.Int("Threads")
	f.threads = int(threads)
	if metricsAddr != "" {
		f.goroutines = scrapeGoroutines(metricsAddr)
	}
	return f
}

// scrapeGoroutines reads go_goroutines from the master's metrics, or -1.
func scrapeGoroutines(addr string) int {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return -1
}

func TestSoak(t *testing.T) {
	duration, err := time.ParseDuration(os.Getenv("PMUX_SOAK"))
	if err != nil || duration <= 0 {
		t.Skip("the soak runs with PMUX_SOAK=<duration> (make soak DURATION=10m)")
	}
	const workers = 4
	dir := t.TempDir()
	bin := filepath.Join(dir, "pmux")
	pmuxtest.CopyFile(t, pmuxtest.Pmux(), bin)
	args := []string{"run", "-w", strconv.Itoa(workers), "--ready", "notify", "-p", filepath.Join(dir, "pmux.pid"),
		"-b", "127.0.0.1:0", "--worker-output", filepath.Join(dir, "workers.log"), "--metrics", "127.0.0.1:0"}
	// PMUX_SOAK_WORKER runs another worker, e.g. a fixed build of testdata/worker.
	worker := pmuxtest.Worker()
	if w := os.Getenv("PMUX_SOAK_WORKER"); w != "" {
		worker = w
	}
	m := pmuxtest.StartMasterAt(t, bin, pmuxtest.Opts{Env: []string{"XDG_RUNTIME_DIR=" + t.TempDir()}}, append(args, "--", worker)...)
	tr := newTracker(m, workers)
	cur := m.Pid()
	// Runs before the harness's cleanup: stops whichever masters the
	// upgrades left, by pid.
	t.Cleanup(func() {
		tr.consume(m.Snapshot(), workers)
		var masters []int
		for _, c := range tr.child {
			masters = append(masters, c)
		}
		for _, pid := range masters {
			if pmuxtest.Alive(pid) {
				syscall.Kill(pid, syscall.SIGQUIT)
				pmuxtest.WaitGone(t, pid, 30*time.Second)
			}
		}
	})
	settle := func(what string) {
		t.Helper()
		tr.waitUntil(t, workers, what, 60*time.Second, func() bool { return tr.settled(cur) })
	}
	settle("the first workers")
	addr := m.Addr()
	metricsOf := func(pid int) string {
		tr.consume(m.Snapshot(), workers)
		return tr.metric[pid]
	}
	first := measureMaster(t, cur, metricsOf(cur))
	base := first

	// 4 clients, one request each every 20 ms: about 200 requests/s, well
	// under what loopback's ephemeral ports allow for new connections.
	load := pmuxtest.StartPacedLoad("tcp", addr, 4, 20*time.Millisecond, int(duration/(20*time.Millisecond))+100)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	t.Logf("soak seed %d", rng.Uint64())
	counts := map[string]int{}
	type done struct {
		at     time.Time
		action string
	}
	var history []done
	deadline := time.Now().Add(duration)
	for time.Now().Before(deadline) {
		var action string
		switch r := rng.IntN(100); {
		case r < 25:
			action = "HUP"
		case r < 45:
			action = "TTIN"
		case r < 65:
			action = "TTOU"
		case r < 75:
			action = "USR1"
		case r < 85:
			action = "PWR"
		default:
			action = "USR2 dance"
		}
		tr.consume(m.Snapshot(), workers)
		target := tr.target[cur]
		if (action == "TTOU" && target <= 2) || (action == "TTIN" && target >= 8) {
			continue
		}
		counts[action]++
		history = append(history, done{time.Now(), action})
		switch action {
		case "HUP":
			syscall.Kill(cur, syscall.SIGHUP)
		case "TTIN":
			syscall.Kill(cur, syscall.SIGTTIN)
		case "TTOU":
			syscall.Kill(cur, syscall.SIGTTOU)
		case "USR1":
			syscall.Kill(cur, syscall.SIGUSR1)
		case "PWR":
			syscall.Kill(cur, syscall.SIGPWR)
		case "USR2 dance":
			old := cur
			syscall.Kill(old, syscall.SIGUSR2)
			var child int
			tr.waitUntil(t, workers, "the new master", 30*time.Second, func() bool {
				child = tr.child[old]
				return child != 0
			})
			tr.waitUntil(t, workers, "the new master's workers", 60*time.Second, func() bool { return tr.settled(child) || tr.settledBeside(child, old) })
			syscall.Kill(old, syscall.SIGWINCH)
			tr.waitUntil(t, workers, "the old workers to go", 60*time.Second, func() bool {
				for _, w := range tr.live {
					if w.master == old {
						return false
					}
				}
				return true
			})
			syscall.Kill(old, syscall.SIGQUIT)
			tr.waitUntil(t, workers, "the old master to exit", 60*time.Second, func() bool { return !pmuxtest.Alive(old) })
			cur = child
		}
		// A signal is handled when the master logs it; then wait for calm.
		time.Sleep(20 * time.Millisecond)
		settle("workers to settle after " + action)
		if action == "USR2 dance" {
			base = measureMaster(t, cur, metricsOf(cur))
		}
		time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
	}
	load.Stop()
	t.Logf("actions: %v; load: %v", counts, load)
	if load.Failed.Load() != 0 {
		t.Errorf("%d requests failed: %v", load.Failed.Load(), load)
		for _, at := range load.FailedAt() {
			last := done{action: "nothing"}
			for _, h := range history {
				if h.at.Before(at) {
					last = h
				}
			}
			t.Logf("a request failed %v after %s", at.Sub(last.at).Round(time.Millisecond), last.action)
		}
	}
	if load.OK.Load() < 100 {
		t.Errorf("only %d requests answered: the load did not run", load.OK.Load())
	}
	// Back to the configured count, as a reload does, and compare.
	syscall.Kill(cur, syscall.SIGHUP)
	time.Sleep(20 * time.Millisecond)
	settle("the final reload")
	if z := pmuxtest.Zombies(t, cur); len(z) != 0 {
		t.Errorf("zombies left: %v", z)
	}
	var end masterFigures
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if end = measureMaster(t, cur, metricsOf(cur)); end.fds == base.fds {
			break
		}
	}
	t.Logf("master %d at its start %+v, at the end %+v (the first master started at %+v)", cur, base, end, first)
	if end.fds != base.fds {
		t.Errorf("master holds %d descriptors, %d when it took over", end.fds, base.fds)
	}
	if end.fds > first.fds+2 {
		t.Errorf("master holds %d descriptors, the first master %d", end.fds, first.fds)
	}
	if end.goroutines < 0 || base.goroutines < 0 {
		t.Errorf("go_goroutines not read from the metrics (%d when the master took over, %d at the end)", base.goroutines, end.goroutines)
	} else if end.goroutines > base.goroutines+5 {
		t.Errorf("master runs %d goroutines, %d when it took over", end.goroutines, base.goroutines)
	}
	if end.threads > base.threads+4 {
		t.Errorf("master runs %d threads, %d when it took over", end.threads, base.threads)
	}
	if end.rssKB > base.rssKB+8<<10 || end.rssKB > first.rssKB+8<<10 {
		t.Errorf("master RSS %d kB, %d kB when it took over, %d kB for the first master", end.rssKB, base.rssKB, first.rssKB)
	}
}

// settledBeside: while the old master still serves, the new one has its
// target of ready workers of its generation.
func (tr *tracker) settledBeside(child, old int) bool {
	if _, known := tr.target[child]; !known {
		return false
	}
	n := 0
	for _, w := range tr.live {
		if w.master == child {
			if w.gen != tr.gen[child] || !w.ready || w.stopping {
				return false
			}
			n++
		}
	}
	return n == tr.target[child]
}
