package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/pmux/pmux/internal/pmuxtest"
	"github.com/pmux/pmux/manager"
	"github.com/pmux/pmux/status"
)

// fakeSource answers Status from its fields; block makes it wait for the
// caller's deadline, as a wedged loop would.
type fakeSource struct {
	mu    sync.Mutex
	st    status.Status
	err   error
	block bool
}

func (f *fakeSource) Status(ctx context.Context) (status.Status, error) {
	f.mu.Lock()
	st, err, block := f.st, f.err, f.block
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return status.Status{}, ctx.Err()
	}
	return st, err
}

func (f *fakeSource) set(st status.Status, err error) {
	f.mu.Lock()
	f.st, f.err = st, err
	f.mu.Unlock()
}

var _ StatusSource = (*manager.Manager)(nil)

func twoPools() status.Status {
	w := func(slot, gen int, state string) status.WorkerStatus {
		return status.WorkerStatus{Slot: slot, Pid: 100 + slot, Generation: gen, State: state}
	}
	return status.Status{MasterPID: 1, Phase: "running", Pools: []status.PoolStatus{
		{Name: "web", Target: 3, Generation: 2, Workers: []status.WorkerStatus{w(0, 2, "ready"), w(1, 2, "ready"), w(2, 1, "ready"), w(2, 2, "starting")}},
		{Name: "jobs", Target: 1, Generation: 1, Workers: []status.WorkerStatus{w(0, 1, "ready")}},
	}}
}

func newHandler(t *testing.T, src StatusSource) (*Metrics, http.Handler) {
	t.Helper()
	m := New()
	h, err := m.Handler(src, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return m, h
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

// scrape fetches /metrics and parses the text exposition.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, h, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	return pmuxtest.ParseMetrics(t, strings.NewReader(body))
}

// value returns the value of the sample of family name whose labels are
// labels ("k=v,k=v"), or fails the test.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name, labels string) float64 {
	t.Helper()
	if _, ok := fams[name]; !ok {
		t.Fatalf("no metric %s", name)
	}
	if v, ok := pmuxtest.Sample(fams, name, labels); ok {
		return v
	}
	t.Fatalf("no sample %s{%s}", name, labels)
	return 0
}

func TestScrape(t *testing.T) {
	src := &fakeSource{st: twoPools()}
	m, h := newHandler(t, src)
	m.WorkerSpawned("web", 3*time.Millisecond)
	m.WorkerSpawned("web", 5*time.Millisecond)
	m.WorkerSpawned("jobs", time.Millisecond)
	m.WorkerExited("web", "stopped")
	m.WorkerExited("web", "crashed")
	m.WorkerExited("web", "crashed")
	m.WorkerExited("jobs", "boot_timeout")
	m.GenerationStarted("web", false)
	m.GenerationStarted("web", true)
	m.GenerationStarted("web", true)
	m.Upgraded()
	m.OutputDropped("web", 4096)
	m.OutputDropped("web", 10)

	fams := scrape(t, h)
	for _, tc := range []struct {
		name, labels string
		want         float64
	}{
		{"pmux_master_responsive", "", 1},
		{"pmux_workers", "pool=web,state=ready", 3},
		{"pmux_workers", "pool=web,state=starting", 1},
		{"pmux_workers", "pool=web,state=stopping", 0},
		{"pmux_workers", "pool=web,state=retiring", 0},
		{"pmux_workers", "pool=jobs,state=ready", 1},
		{"pmux_pool_target_workers", "pool=web", 3},
		{"pmux_pool_generation", "pool=web", 2},
		{"pmux_worker_spawns_total", "pool=web", 2},
		{"pmux_worker_spawn_duration_seconds", "pool=web", 2},
		{"pmux_worker_exits_total", "cause=crashed,pool=web", 2},
		{"pmux_worker_exits_total", "cause=stopped,pool=web", 1},
		{"pmux_worker_exits_total", "cause=boot_timeout,pool=jobs", 1},
		{"pmux_worker_restarts_total", "pool=web", 2},
		{"pmux_worker_restarts_total", "pool=jobs", 1},
		{"pmux_reloads_total", "kind=reload,pool=web", 1},
		{"pmux_reloads_total", "kind=rolling_restart,pool=web", 2},
		{"pmux_upgrades_total", "", 1},
		{"pmux_worker_output_dropped_bytes_total", "pool=web", 4106},
	} {
		if got := value(t, fams, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s{%s} = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	hist := fams["pmux_worker_spawn_duration_seconds"].GetMetric()[0].GetHistogram()
	if hist.GetSampleSum() <= 0 {
		t.Errorf("spawn duration sum %v", hist.GetSampleSum())
	}
	// The master's own process and runtime.
	for _, name := range []string{"process_resident_memory_bytes", "process_open_fds", "process_cpu_seconds_total", "go_goroutines"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
}

// A scrape while the loop cannot answer still serves what it has, and
// says the loop did not answer.
// Every counter of a pool the master runs is there from the first scrape,
// at zero.
func TestCountersStartAtZero(t *testing.T) {
	_, h := newHandler(t, &fakeSource{st: twoPools()})
	scrape(t, h) // the first scrape finds the pools
	fams := scrape(t, h)
	for _, pool := range []string{"web", "jobs"} {
		for _, tc := range []struct{ name, labels string }{
			{"pmux_worker_spawns_total", "pool=" + pool},
			{"pmux_worker_spawn_duration_seconds", "pool=" + pool},
			{"pmux_worker_restarts_total", "pool=" + pool},
			{"pmux_worker_exits_total", "cause=crashed,pool=" + pool},
			{"pmux_worker_exits_total", "cause=watchdog,pool=" + pool},
			{"pmux_reloads_total", "kind=rolling_restart,pool=" + pool},
			{"pmux_worker_output_dropped_bytes_total", "pool=" + pool},
		} {
			if got := value(t, fams, tc.name, tc.labels); got != 0 {
				t.Errorf("%s{%s} = %v, want 0", tc.name, tc.labels, got)
			}
		}
	}
}

func TestScrapeOfAWedgedMaster(t *testing.T) {
	src := &fakeSource{err: status.ErrStopped}
	m, h := newHandler(t, src)
	m.Upgraded()
	fams := scrape(t, h)
	if got := value(t, fams, "pmux_master_responsive", ""); got != 0 {
		t.Errorf("pmux_master_responsive = %v, want 0", got)
	}
	if _, ok := fams["pmux_workers"]; ok {
		t.Error("worker gauges served without a status")
	}
	if got := value(t, fams, "pmux_upgrades_total", ""); got != 1 {
		t.Errorf("pmux_upgrades_total = %v", got)
	}
}

func TestMetricNamesFollowConventions(t *testing.T) {
	m, _ := newHandler(t, &fakeSource{st: twoPools()})
	m.WorkerSpawned("web", time.Millisecond)
	m.WorkerExited("web", "crashed")
	m.GenerationStarted("web", false)
	m.OutputDropped("web", 1)
	problems, err := testutil.GatherAndLint(m.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "pmux_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

func TestHealthEndpoints(t *testing.T) {
	src := &fakeSource{}
	_, h := newHandler(t, src)
	st := twoPools()
	for _, tc := range []struct {
		name  string
		st    status.Status
		err   error
		block bool
		path  string
		code  int
		body  string
	}{
		{"booting", st, nil, false, "/readyz", 503, "pool web has 2 of 3 workers of generation 2 ready"},
		{"alive while booting", st, nil, false, "/livez", 200, "ok"},
		{"stopped", st, status.ErrStopped, false, "/readyz", 503, "the master is shutting down"},
		{"stopped is dead", st, status.ErrStopped, false, "/livez", 503, "the master is shutting down"},
		{"wedged", st, nil, true, "/livez", 503, "did not answer within 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src.set(tc.st, tc.err)
			src.mu.Lock()
			src.block = tc.block
			src.mu.Unlock()
			code, body := get(t, h, tc.path)
			if code != tc.code || !strings.Contains(body, tc.body) {
				t.Errorf("%s: %d %q, want %d %q", tc.path, code, body, tc.code, tc.body)
			}
		})
	}
	src.mu.Lock()
	src.block = false
	src.mu.Unlock()
	ready := twoPools()
	ready.Pools[0].Workers[3].State = "ready"
	src.set(ready, nil)
	if code, body := get(t, h, "/readyz"); code != 200 || body != "ok\n" {
		t.Errorf("/readyz when ready: %d %q", code, body)
	}
}

func TestListenAddr(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"9100", "127.0.0.1:9100", ""},
		{":9100", "127.0.0.1:9100", ""},
		{"0", "127.0.0.1:0", ""},
		{"127.0.0.1:9100", "127.0.0.1:9100", ""},
		{"0.0.0.0:9100", "0.0.0.0:9100", ""},
		{"[::]:9100", "[::]:9100", ""},
		{"[::1]:9100", "[::1]:9100", ""},
		{"localhost:9100", "localhost:9100", ""},
		{"", "", "empty"},
		{"localhost", "", "missing port"},
		{"host:http", "", `port "http" is not a number`},
		{"99999", "", "missing port"},
		{":99999", "", "not a number from 0 to 65535"},
		{"::1", "", "too many colons"},
	} {
		got, err := ListenAddr(tc.in)
		if tc.err != "" {
			if err == nil || !errors.Is(err, ErrBadAddr) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ListenAddr(%q) = %q, %v; want an error saying %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ListenAddr(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// Serve binds loopback for a bare port, serves real HTTP and Close joins
// it and frees the port.
func TestServeAndClose(t *testing.T) {
	m := New()
	s, err := m.Serve("0", &fakeSource{st: twoPools()}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Errorf("a bare port bound %s, want loopback", s.Addr())
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + s.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "pmux_pool_target_workers{pool=\"web\"} 3") {
		t.Errorf("GET /metrics: %d\n%s", resp.StatusCode, body)
	}
	if _, err := m.Handler(&fakeSource{}, zerolog.Nop()); err == nil {
		t.Error("a second status collector was registered")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get("http://" + s.Addr() + "/livez"); err == nil {
		t.Error("still serving after Close")
	}
}

func TestServeRefusesABadAddress(t *testing.T) {
	if _, err := New().Serve("nonsense", &fakeSource{}, zerolog.Nop()); !errors.Is(err, ErrBadAddr) {
		t.Errorf("Serve(nonsense): %v", err)
	}
}

// Each listening socket's accept queue is one series per bind, a socket
// two pools share counted once; one whose queue the kernel cannot say has
// none.
func TestListenerQueued(t *testing.T) {
	queued := func(n int) *int { return &n }
	st := twoPools()
	st.Pools[0].Listeners = []status.ListenerStatus{
		{Bind: "tcp://127.0.0.1:8000", Queued: queued(3), Backlog: 1024},
		{Bind: "unix:/run/app.sock", Queued: queued(0), Backlog: 4096},
	}
	st.Pools[1].Listeners = []status.ListenerStatus{
		{Bind: "tcp://127.0.0.1:8000", Queued: queued(3), Backlog: 1024},
		{Bind: "tcp://127.0.0.1:9000"},
	}
	_, h := newHandler(t, &fakeSource{st: st})
	fams := scrape(t, h)
	if got := value(t, fams, "pmux_listener_queued", "bind=tcp://127.0.0.1:8000"); got != 3 {
		t.Errorf("queued on :8000 = %v, want 3", got)
	}
	if got := value(t, fams, "pmux_listener_queued", "bind=unix:/run/app.sock"); got != 0 {
		t.Errorf("queued on the unix socket = %v, want 0", got)
	}
	if got := value(t, fams, "pmux_listener_backlog", "bind=unix:/run/app.sock"); got != 4096 {
		t.Errorf("backlog of the unix socket = %v, want 4096", got)
	}
	if n := len(fams["pmux_listener_queued"].GetMetric()); n != 2 {
		t.Errorf("%d pmux_listener_queued series, want 2 (one per known bind)", n)
	}
}

// pmux_workers_busy counts the ready workers a scrape's look found busy,
// per pool, with a 0 for a pool with none.
func TestWorkersBusy(t *testing.T) {
	st := twoPools()
	st.Pools[0].Workers[0].Activity = "busy"
	st.Pools[0].Workers[1].Activity = "busy"
	st.Pools[0].Workers[2].Activity = "waiting"
	st.Pools[0].Workers[3].Activity = "booting"
	st.Pools[1].Workers[0].Activity = "waiting"
	_, h := newHandler(t, &fakeSource{st: st})
	fams := scrape(t, h)
	for labels, want := range map[string]float64{"pool=web": 2, "pool=jobs": 0} {
		if got := value(t, fams, "pmux_workers_busy", labels); got != want {
			t.Errorf("pmux_workers_busy{%s} = %v, want %v", labels, got, want)
		}
	}
}
