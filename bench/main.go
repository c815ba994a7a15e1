//go:build linux

// Command bench measures pmux against gunicorn and unicorn masters serving
// an equivalent trivial app with 4 workers, on loopback, and writes
// BENCHMARKS.md. `make bench` builds pmux and the Go example and runs it.
//
// Environment (all optional):
//
//	PMUX           the pmux binary (bin/pmux)
//	BENCH_GO_APP   the Go example app (bin/example-go)
//	BENCH_OUT      where the report goes (BENCHMARKS.md)
//	BENCH_IDLE     idle measurement (30s)
//	BENCH_RUNS     repetitions of each load scenario (3)
//	BENCH_RATE     offered requests per second (1000)
//	BENCH_ONLY     comma-separated scenario names to run (all); "scale"
//	               alone updates only that section of an existing report
//
// Every load is bounded in count and time, every process started is ended
// by pid, and orphans of the masters under test are reaped (the runner is
// a child subreaper).
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func signalNotify(c chan os.Signal) {
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
}

func main() {
	if emitter() {
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// live is every server running, so an interrupt can stop them all.
var live = struct {
	servers map[*server]bool
}{servers: map[*server]bool{}}

func run() error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	c := cfg{rate: 1000, runs: 3, idle: 30 * time.Second}
	if v, err := strconv.Atoi(os.Getenv("BENCH_RATE")); err == nil && v > 0 {
		c.rate = v
	}
	if v, err := strconv.Atoi(os.Getenv("BENCH_RUNS")); err == nil && v > 0 {
		c.runs = v
	}
	if v, err := time.ParseDuration(os.Getenv("BENCH_IDLE")); err == nil && v > 0 {
		c.idle = v
	}
	only := map[string]bool{}
	for _, s := range strings.Split(os.Getenv("BENCH_ONLY"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			only[s] = true
		}
	}
	want := func(name string) bool { return len(only) == 0 || only[name] }

	e := &env{root: root, workers: 4,
		pmux:  envOr("PMUX", filepath.Join(root, "bin", "pmux")),
		goApp: envOr("BENCH_GO_APP", filepath.Join(root, "bin", "example-go"))}
	for _, p := range []string{e.pmux, e.goApp} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s: %w (run make build first, or set PMUX / BENCH_GO_APP)", p, err)
		}
	}
	if e.pmux, err = filepath.Abs(e.pmux); err != nil {
		return err
	}
	if e.goApp, err = filepath.Abs(e.goApp); err != nil {
		return err
	}
	e.scratch, err = os.MkdirTemp("", "pmux-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(e.scratch)
	if err := becomeSubreaper(); err != nil {
		return fmt.Errorf("become subreaper: %w", err)
	}

	// An interrupt stops every server by pid before the runner goes.
	sigs := make(chan os.Signal, 1)
	signalNotify(sigs)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "bench: %v: stopping the servers\n", sig)
		for s := range live.servers {
			s.stop()
		}
		os.RemoveAll(e.scratch)
		os.Exit(130)
	}()

	res := newResults()
	info := machineInfo(e)
	began := time.Now()
	flavors := []flavor{pmuxGo}
	var missing []string
	keep := func(f flavor) bool {
		only := os.Getenv("BENCH_FLAVORS")
		return only == "" || strings.Contains(","+only+",", ","+f.name+",")
	}
	for _, p := range []struct {
		bin string
		fl  []flavor
	}{{"gunicorn", []flavor{pmuxWSGI, gunicorn}}, {"unicorn", []flavor{pmuxRack, unicorn}}} {
		if _, err := exec.LookPath(p.bin); err != nil {
			missing = append(missing, p.bin)
			continue
		}
		flavors = append(flavors, p.fl...)
	}
	// The headline adds pmux with no help from the app: the Go example
	// under --ready auto and none, gunicorn and unicorn under auto with
	// no config.
	slowFlavors := append(slices.Clone(flavors), pmuxGoAuto, pmuxGoNone)
	if !slices.Contains(missing, "gunicorn") {
		slowFlavors = append(slowFlavors, pmuxWSGIAuto)
	}
	if !slices.Contains(missing, "unicorn") {
		slowFlavors = append(slowFlavors, pmuxRackAuto)
	}
	flavors = slices.DeleteFunc(flavors, func(f flavor) bool { return !keep(f) })
	slowFlavors = slices.DeleteFunc(slowFlavors, func(f flavor) bool { return !keep(f) })
	// The idle set has pmux under --ready auto too: it must cost an idle
	// master nothing more.
	idleFlavors := slices.DeleteFunc(append(slices.Clone(flavors), pmuxGoAuto), func(f flavor) bool { return !keep(f) })
	info.missing = missing
	_, wrkErr := exec.LookPath("wrk")

	progress := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}

	// Fast app: every scenario but the slow reload.
	loadScenarios := []struct {
		name string
		fn   func(cfg, *server, metrics) error
		all  bool // also for pmux running gunicorn/unicorn
	}{
		{"steady", scenarioSteady, true},
		{"hup", scenarioHUP, true},
		{"ttin", scenarioTTIN, false},
		{"dance", scenarioDance, false},
		{"reload", func(c cfg, s *server, m metrics) error { return scenarioReload(c, s, m, false) }, true},
		{"crash", scenarioCrash, true},
	}
	// A set of servers nobody touches for the whole session: 30 s of it
	// first, then everything else runs beside them, and their masters'
	// wakeups over the whole session are read at the end.
	var idleSet []*server
	var idleMarks []idleMark
	if want("idle") {
		var err error
		if idleSet, err = startAll(e, idleFlavors, progress); err != nil {
			return err
		}
		time.Sleep(time.Second)
		idleMarks = markIdle(idleSet)
		progress("idle: %v, every master at once", c.idle)
		measureIdle(c, idleSet, res)
	}
	needFast := false
	for _, sc := range loadScenarios {
		needFast = needFast || want(sc.name)
	}
	if needFast {
		servers, err := startAll(e, flavors, progress)
		if err != nil {
			return err
		}
		for _, sc := range loadScenarios {
			if !want(sc.name) {
				continue
			}
			// Runs interleave across flavors, so a noisy neighbour on the
			// machine spreads over all of them rather than one.
			for run := 0; run < c.runs; run++ {
				for _, s := range servers {
					if !sc.all && s.f.pmux && s.f.app != "go" {
						continue
					}
					progress("%s run %d: %s", sc.name, run+1, s.f.name)
					if err := sc.fn(c, s, res.rec(sc.name, s.f.name)); err != nil {
						res.fail(fmt.Sprintf("%s, %s: %v", sc.name, s.f.name, err))
						progress("  error: %v", err)
					}
				}
			}
		}
		stopAll(servers)
	}

	if want("slowreload") {
		servers, err := startAll(e, slowFlavors, progress, "APP_BOOT_DELAY=1")
		if err != nil {
			return err
		}
		for run := 0; run < max(c.runs, 5); run++ {
			for _, s := range servers {
				progress("slow reload run %d: %s", run+1, s.f.name)
				if err := scenarioReload(c, s, res.rec("slowreload", s.f.name), true); err != nil {
					res.fail(fmt.Sprintf("slow reload, %s: %v", s.f.name, err))
					progress("  error: %v", err)
				}
			}
		}
		stopAll(servers)
	}

	if want("masterkill") {
		// pmux's figure is milliseconds: each is killed alone, on a quiet
		// machine. The peers' are seconds: they are killed together.
		for run := 0; run < c.runs; run++ {
			for _, f := range flavors {
				if !f.pmux {
					continue
				}
				s, err := startServer(e, f)
				if err != nil {
					res.fail(fmt.Sprintf("master kill, %s: %v", f.name, err))
					continue
				}
				progress("master SIGKILL run %d: %s", run+1, f.name)
				measureMasterKill([]*server{s}, res, 30*time.Second)
			}
		}
		var peers []*server
		for run := 0; run < c.runs; run++ {
			for _, f := range flavors {
				if f.pmux {
					continue
				}
				s, err := startServer(e, f)
				if err != nil {
					res.fail(fmt.Sprintf("master kill, %s: %v", f.name, err))
					continue
				}
				peers = append(peers, s)
			}
		}
		if len(peers) > 0 {
			progress("master SIGKILL: %d peer masters at once (bounded by 30 s)", len(peers))
			measureMasterKill(peers, res, 30*time.Second)
		}
	}

	if want("throughput") {
		if wrkErr != nil {
			res.skipped["throughput"] = "wrk is not installed"
		} else {
			measureThroughput(e, c, flavors, res, progress)
		}
	}

	if want("output") {
		for run := 0; run < c.runs; run++ {
			for _, mode := range []string{"prefix", "inherit"} {
				progress("worker output run %d: %s", run+1, mode)
				mbps, err := measureOutput(e, mode, 128_000_000)
				if err != nil {
					res.fail(fmt.Sprintf("worker output %s: %v", mode, err))
					continue
				}
				res.rec("output", mode).add("mbps", mbps)
			}
		}
	}

	if want("spawn") {
		for _, n := range []int{16, 64, 256} {
			for run := 0; run < max(c.runs, 5); run++ {
				progress("spawn and stop %d workers, run %d", n, run+1)
				r, err := measureSpawn(e, n)
				if err != nil {
					res.fail(fmt.Sprintf("spawn %d: %v", n, err))
					continue
				}
				m := res.rec("spawn", strconv.Itoa(n))
				m.add("spawnMs", medianOf(r.spawnMs))
				m.add("spawnP99", percentileOf(r.spawnMs, 99))
				m.add("upPer", r.upPer)
				m.add("stopMs", r.stopMs)
				m.add("stopPer", r.stopMs/float64(n))
				m.add("rss", r.rssMB)
				m.add("cpuPer", r.cpuPer)
				m.add("bareMs", medianOf(r.bareMs))
				m.add("barePer", r.barePerMs)
			}
		}
	}

	if want("scale") {
		raiseFileLimit()
		for _, name := range []string{"pmux", "unicorn"} {
			sizes := scaleSizes
			if name == "unicorn" {
				if _, err := exec.LookPath("unicorn"); err != nil {
					res.skipped["scale, unicorn"] = "unicorn is not installed"
					continue
				}
				sizes = unicornScaleSizes
			}
			for _, n := range sizes {
				progress("cost as the work grows: %s with %d workers", name, n)
				if err := measureScale(e, c, name, n, res, progress); err != nil {
					res.fail(fmt.Sprintf("scale, %s %d: %v", name, n, err))
					progress("  error: %v", err)
				}
			}
		}
	}

	if idleSet != nil {
		progress("idle: the whole session")
		measureLongIdle(idleSet, idleMarks, res)
		stopAll(idleSet)
	}

	info.took = time.Since(began)
	info.loadAfter = loadAvg()
	out := envOr("BENCH_OUT", filepath.Join(root, "BENCHMARKS.md"))
	doc := report(c, info, flavors, slowFlavors, idleFlavors, res)
	// One section alone (the scale one, or the headline): spliced into
	// the report of the last full run, whose other sections stay as they
	// were.
	for name, heading := range map[string]string{"scale": scaleHeading, "slowreload": headlineHeading} {
		if len(only) == 1 && only[name] {
			if old, err := os.ReadFile(out); err == nil {
				doc = spliceSection(string(old), doc, heading)
			}
		}
	}
	if err := os.WriteFile(out, []byte(doc), 0o644); err != nil {
		return err
	}
	progress("wrote %s", out)
	reapOrphans(isOwned)
	return nil
}

func startAll(e *env, flavors []flavor, progress func(string, ...any), extra ...string) ([]*server, error) {
	var servers []*server
	for _, f := range flavors {
		progress("start %s %s", f.name, strings.Join(extra, " "))
		s, err := startServer(e, f, extra...)
		if err != nil {
			stopAll(servers)
			return nil, err
		}
		live.servers[s] = true
		servers = append(servers, s)
	}
	return servers, nil
}

func stopAll(servers []*server) {
	for _, s := range servers {
		s.stop()
		delete(live.servers, s)
	}
}

// measureThroughput compares each app behind its master with the same app
// with no master, and pmux with the peer masters, using wrk: closed loop,
// as fast as the machine goes. Each pair is measured A B B A, so that a
// drift of the machine's speed hits both sides alike; the ratio of each
// pair is kept. The masters' CPU time and wakeups during the runs show
// whether a master is on the request path at all.
func measureThroughput(e *env, c cfg, flavors []flavor, res *results, progress func(string, ...any)) {
	const d = 2 * time.Second
	bare, err := startBare(e.goApp, e.workers)
	if err != nil {
		res.fail("throughput: " + err.Error())
		return
	}
	addrs := map[string]string{goAlone: bare.addr}
	masters := map[string]int{}
	var servers []*server
	if slices.ContainsFunc(flavors, func(f flavor) bool { return f.name == pmuxRack.name }) {
		flavors = append(slices.Clone(flavors), pmuxRackInherit)
	}
	for _, f := range flavors {
		s, err := startServer(e, f)
		if err != nil {
			res.fail("throughput: " + err.Error())
			continue
		}
		servers = append(servers, s)
		addrs[f.name], masters[f.name] = s.addr, s.master
	}
	defer func() {
		bare.stop()
		stopAll(servers)
	}()
	one := func(name, mode string, run int) float64 {
		progress("throughput run %d: %s, %s", run+1, name, mode)
		var w0, w1 int64
		var c0, c1 time.Duration
		if pid := masters[name]; pid != 0 {
			w0, _ = wakeups(pid)
			c0, _ = cpuTime(pid)
		}
		rps, err := runWrk(addrs[name], d, 16, mode == "close")
		if pid := masters[name]; pid != 0 {
			w1, _ = wakeups(pid)
			c1, _ = cpuTime(pid)
			m := res.rec("throughput", name)
			m.add("masterWake", float64(w1-w0)/d.Seconds())
			m.add("masterCPU", ms(c1-c0)/d.Seconds())
		}
		if err != nil {
			res.rec("throughput", name).note(err.Error())
		}
		if rps > 0 {
			res.rec("throughput", name).add(mode, rps)
		}
		return rps
	}
	type pair struct{ a, z, mode string }
	var pairs []pair
	for _, mode := range []string{"close", "keepalive"} {
		if addrs[pmuxGo.name] != "" {
			pairs = append(pairs, pair{pmuxGo.name, goAlone, mode})
		}
	}
	for _, p := range [][2]string{{pmuxWSGI.name, gunicorn.name}, {pmuxRack.name, unicorn.name}, {pmuxRackInherit.name, unicorn.name}} {
		if addrs[p[0]] != "" && addrs[p[1]] != "" {
			pairs = append(pairs, pair{p[0], p[1], "close"})
		}
	}
	// The Go pairs carry the bar (pmux's own cost): more quadruples.
	for run := 0; run < max(c.runs, 8); run++ {
		for _, p := range pairs {
			if p.z != goAlone && run >= max(c.runs, 3) {
				continue
			}
			a1 := one(p.a, p.mode, run)
			z1 := one(p.z, p.mode, run)
			z2 := one(p.z, p.mode, run)
			a2 := one(p.a, p.mode, run)
			if z1+z2 > 0 && a1 > 0 && a2 > 0 {
				res.rec("throughputRatio", p.a+" ÷ "+p.z).add(p.mode, (a1+a2)/(z1+z2))
			}
		}
	}
}

// goAlone is the Go example's 4 processes on one socket with no master.
const goAlone = "Go alone (same socket, no master)"

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "bench", "apps")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside the pmux repository")
		}
		dir = parent
	}
}
