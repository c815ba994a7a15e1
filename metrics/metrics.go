package metrics

import (
	"context"
	"time"

	"github.com/pmux/pmux/status"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// StatusSource is what the metrics read the master's state from;
// *manager.Manager is one.
type StatusSource interface {
	Status(ctx context.Context) (status.Status, error)
}

// statusTimeout bounds the Status query of one scrape or readiness check:
// a loop that cannot answer in that time is the news.
const statusTimeout = 2 * time.Second

// exitCauses are the causes the manager reports exits with; each pool's
// exit counters start at zero for all of them.
var exitCauses = []string{"stopped", "crashed", "boot_timeout", "watchdog", "timeout", "start_failed"}

// workerStates are the states a worker's gauge is always exported for,
// zero included, so a series does not vanish when its count drops to 0.
var workerStates = []string{"starting", "ready", "retiring", "stopping"}

// Metrics holds pmux's metrics. It is the manager's Observer; create it
// with New, before the manager, and serve it with Serve once the manager
// exists.
type Metrics struct {
	reg           *prometheus.Registry
	spawns        *prometheus.CounterVec
	spawnDuration *prometheus.HistogramVec
	exits         *prometheus.CounterVec
	restarts      *prometheus.CounterVec
	reloads       *prometheus.CounterVec
	upgrades      prometheus.Counter
	outputDropped *prometheus.CounterVec
}

var _ status.Observer = (*Metrics)(nil)

// New creates the metrics with the master's process and Go runtime
// collectors registered.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		spawns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pmux_worker_spawns_total",
			Help: "Workers started, per pool.",
		}, []string{"pool"}),
		spawnDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pmux_worker_spawn_duration_seconds",
			Help:    "Time to fork and exec a worker, per pool.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5ms .. 4s
		}, []string{"pool"}),
		exits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pmux_worker_exits_total",
			Help: "Worker exits, per pool and cause: stopped (asked to), crashed, boot_timeout, watchdog, timeout (--timeout), start_failed.",
		}, []string{"pool", "cause"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pmux_worker_restarts_total",
			Help: "Worker exits pmux did not ask for (every cause but stopped), each answered with a respawn, per pool.",
		}, []string{"pool"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pmux_reloads_total",
			Help: "New generations started, per pool and kind: reload or rolling_restart.",
		}, []string{"pool", "kind"}),
		upgrades: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pmux_upgrades_total",
			Help: "Binary upgrades that left this master in charge (its old master exited).",
		}),
		outputDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pmux_worker_output_dropped_bytes_total",
			Help: "Bytes of worker output, prefixes included, that their destination refused (a full disk, an I/O error) and pmux dropped, per pool.",
		}, []string{"pool"}),
	}
	m.reg.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
		m.spawns, m.spawnDuration, m.exits, m.restarts, m.reloads, m.upgrades, m.outputDropped,
	)
	return m
}

// WorkerSpawned counts a worker started in pool and how long it took.
func (m *Metrics) WorkerSpawned(pool string, spawnTime time.Duration) {
	m.spawns.WithLabelValues(pool).Inc()
	m.spawnDuration.WithLabelValues(pool).Observe(spawnTime.Seconds())
}

// WorkerExited counts a worker's exit by cause; every cause but "stopped"
// is also a restart.
func (m *Metrics) WorkerExited(pool, cause string) {
	m.exits.WithLabelValues(pool, cause).Inc()
	if cause != "stopped" {
		m.restarts.WithLabelValues(pool).Inc()
	}
}

// GenerationStarted counts a reload (rolling false) or rolling restart.
func (m *Metrics) GenerationStarted(pool string, rolling bool) {
	kind := "reload"
	if rolling {
		kind = "rolling_restart"
	}
	m.reloads.WithLabelValues(pool, kind).Inc()
}

// OutputDropped counts n bytes of pool's worker output lost because the
// destination refused them. The output pumps call it, off the manager's
// loop; the counter is atomic.
func (m *Metrics) OutputDropped(pool string, n int) {
	m.outputDropped.WithLabelValues(pool).Add(float64(n))
}

// initPool makes every counter series of pool exist from zero, so that
// rate() and increase() see the first crash rather than a series that
// appears with it.
func (m *Metrics) initPool(pool string) {
	m.spawns.WithLabelValues(pool)
	m.spawnDuration.WithLabelValues(pool)
	m.restarts.WithLabelValues(pool)
	m.outputDropped.WithLabelValues(pool)
	for _, cause := range exitCauses {
		m.exits.WithLabelValues(pool, cause)
	}
	for _, kind := range []string{"reload", "rolling_restart"} {
		m.reloads.WithLabelValues(pool, kind)
	}
}

// Upgraded counts a binary upgrade committed: the new master calls it when
// its old master has exited and it is in charge. The old master's count
// ends with the old master.
func (m *Metrics) Upgraded() { m.upgrades.Inc() }

// statusCollector exports the master's state as a Status query finds it at
// scrape time.
type statusCollector struct {
	src        StatusSource
	onPool     func(pool string) // told of every pool a scrape finds
	workers    *prometheus.Desc
	target     *prometheus.Desc
	generation *prometheus.Desc
	responsive *prometheus.Desc
	queued     *prometheus.Desc
	backlog    *prometheus.Desc
	busy       *prometheus.Desc
}

func newStatusCollector(src StatusSource, onPool func(string)) *statusCollector {
	return &statusCollector{
		src: src, onPool: onPool,
		workers: prometheus.NewDesc("pmux_workers",
			"Live workers, per pool and state: starting, ready, retiring (replaced, then stopped), stopping.",
			[]string{"pool", "state"}, nil),
		target: prometheus.NewDesc("pmux_pool_target_workers",
			"The number of workers a pool is kept at.", []string{"pool"}, nil),
		generation: prometheus.NewDesc("pmux_pool_generation",
			"A pool's current generation; each reload or rolling restart adds one.", []string{"pool"}, nil),
		queued: prometheus.NewDesc("pmux_listener_queued",
			"Connections waiting in a listening socket's accept backlog, complete but accepted by no worker yet, as the kernel counts them at scrape time (raindrops' queued).",
			[]string{"bind"}, nil),
		backlog: prometheus.NewDesc("pmux_listener_backlog",
			"The most connections a listening socket's accept backlog holds (listen(2)'s backlog as the kernel capped it); past it, new connections wait or are refused.",
			[]string{"bind"}, nil),
		busy: prometheus.NewDesc("pmux_workers_busy",
			"Ready workers none of whose processes waits on the pool's sockets at scrape time: serving a request (raindrops' active). Read from /proc at scrape time; 0 where pmux cannot tell.",
			[]string{"pool"}, nil),
		responsive: prometheus.NewDesc("pmux_master_responsive",
			"1 if the master's loop answered this scrape's status query in time, else 0 and the pool metrics are missing.", nil, nil),
	}
}

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.workers
	ch <- c.target
	ch <- c.generation
	ch <- c.responsive
	ch <- c.queued
	ch <- c.backlog
	ch <- c.busy
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	st, err := c.src.Status(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.responsive, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.responsive, prometheus.GaugeValue, 1)
	seen := map[string]bool{} // a socket two pools share is one series
	for _, p := range st.Pools {
		for _, l := range p.Listeners {
			if l.Queued == nil || seen[l.Bind] {
				continue
			}
			seen[l.Bind] = true
			ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(*l.Queued), l.Bind)
			ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(l.Backlog), l.Bind)
		}
	}
	for _, p := range st.Pools {
		c.onPool(p.Name)
		counts := make(map[string]int, len(workerStates))
		for _, s := range workerStates {
			counts[s] = 0
		}
		busy := 0
		for _, w := range p.Workers {
			counts[w.State]++
			if w.Activity == "busy" {
				busy++
			}
		}
		ch <- prometheus.MustNewConstMetric(c.busy, prometheus.GaugeValue, float64(busy), p.Name)
		for state, n := range counts {
			ch <- prometheus.MustNewConstMetric(c.workers, prometheus.GaugeValue, float64(n), p.Name, state)
		}
		ch <- prometheus.MustNewConstMetric(c.target, prometheus.GaugeValue, float64(p.Target), p.Name)
		ch <- prometheus.MustNewConstMetric(c.generation, prometheus.GaugeValue, float64(p.Generation), p.Name)
	}
}
