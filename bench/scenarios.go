//go:build linux

package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"syscall"
	"time"
)

// cfg holds the knobs of one benchmark session.
type cfg struct {
	rate int           // offered requests per second
	runs int           // repetitions of each scenario
	idle time.Duration // the idle measurement
}

// loadRun is the common shape of a scenario: a load for d, with act
// running alongside it (it gets the load, for its clock and responders).
// With early set, the load ends as soon as act returns, else it runs its
// course.
func loadRun(c cfg, s *server, d time.Duration, early bool, act func(l *load) error) ([]sample, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := startLoad(ctx, loadSpec{addr: s.addr, rate: c.rate, duration: d})
	var err error
	if act != nil {
		err = act(l)
	}
	if early || err != nil {
		cancel()
	}
	return l.wait(), err
}

// sleepUntil waits until the load's clock reads t.
func sleepUntil(l *load, t time.Duration) {
	if d := t - l.now(); d > 0 {
		time.Sleep(d)
	}
}

// loadFigures adds the usual figures of a run to m.
func loadFigures(m metrics, samples []sample) loadStats {
	st := summarize(samples)
	if lag := clientLag(samples); lag > 20*time.Millisecond {
		m.note(fmt.Sprintf("the load client itself ran %v late once (the machine stalled, not only the server)", lag.Round(time.Millisecond)))
	}
	m.add("offered", float64(st.offered))
	m.add("failed", float64(st.failed))
	m.add("p50", ms(st.p50))
	m.add("p99", ms(st.p99))
	m.add("max", ms(st.max))
	if st.failed > 0 {
		m.note(st.errorList())
	}
	return st
}

// steady: the load alone.
func scenarioSteady(c cfg, s *server, m metrics) error {
	samples, err := loadRun(c, s, 4*time.Second, false, nil)
	loadFigures(m, samples)
	return err
}

// hupEvery2s: a reload every 2 s under load.
func scenarioHUP(c cfg, s *server, m metrics) error {
	samples, err := loadRun(c, s, 7*time.Second, false, func(l *load) error {
		for _, at := range []time.Duration{1 * time.Second, 3 * time.Second, 5 * time.Second} {
			sleepUntil(l, at)
			if err := s.signal(syscall.SIGHUP); err != nil {
				return err
			}
		}
		return nil
	})
	loadFigures(m, samples)
	if err != nil {
		return err
	}
	return s.settle(60 * time.Second)
}

// ttinTTOU: one worker more, one fewer, every second under load.
func scenarioTTIN(c cfg, s *server, m metrics) error {
	samples, err := loadRun(c, s, 7*time.Second, false, func(l *load) error {
		for i := 1; i <= 6; i++ {
			sleepUntil(l, time.Duration(i)*time.Second)
			sig := syscall.SIGTTIN
			if i%2 == 0 {
				sig = syscall.SIGTTOU
			}
			if err := s.signal(sig); err != nil {
				return err
			}
		}
		return nil
	})
	loadFigures(m, samples)
	if err != nil {
		return err
	}
	return s.settle(60 * time.Second)
}

// upgradeDance: USR2, wait for the new master's workers to serve, WINCH
// the old one (gunicorn honours WINCH only when daemonized, so it is not
// sent there), wait for its workers to go, then stop the old master
// gracefully; the new one carries on.
func scenarioDance(c cfg, s *server, m metrics) error {
	var took time.Duration
	samples, err := loadRun(c, s, 30*time.Second, true, func(l *load) error {
		sleepUntil(l, time.Second)
		old := s.master
		began := time.Now()
		if err := s.signal(syscall.SIGUSR2); err != nil {
			return err
		}
		var child int
		if !pollUntil(20*time.Second, func() bool {
			child = readPidfile(s.newMasterPidfile())
			return child != 0 && child != old && alive(child)
		}) {
			return fmt.Errorf("%s: no new master after USR2; log:\n%s", s.f.name, s.tail(20))
		}
		since := l.now()
		if !pollUntil(30*time.Second, func() bool {
			ws := s.workersOf(child)
			return len(ws) == s.target && served(ws, l.respondersSince(since))
		}) {
			return fmt.Errorf("%s: the new master's workers did not serve; log:\n%s", s.f.name, s.tail(20))
		}
		if s.f.pmux || s.f.peer != "gunicorn" {
			syscall.Kill(old, syscall.SIGWINCH)
			if !pollUntil(30*time.Second, func() bool { return len(s.workersOf(old)) == 0 }) {
				return fmt.Errorf("%s: old workers still there after WINCH", s.f.name)
			}
		}
		syscall.Kill(old, s.gracefulStop())
		if !pollUntil(30*time.Second, func() bool { return !alive(old) }) {
			return fmt.Errorf("%s: old master did not exit", s.f.name)
		}
		s.master = child
		took = time.Since(began)
		time.Sleep(time.Second) // the new master alone, under load
		reapOrphans(isOwned)
		return nil
	})
	loadFigures(m, samples)
	if err != nil {
		return err
	}
	m.add("dance", ms(took))
	return s.settle(60 * time.Second)
}

// reload: one HUP under load. It measures the time until every process
// that answered before is gone and as many new ones answer, the worst
// 1-second window of throughput after the HUP, and the latencies.
func scenarioReload(c cfg, s *server, m metrics, slow bool) error {
	hupAt, d := time.Second, 3500*time.Millisecond
	if slow {
		d = 5 * time.Second
	}
	var replaced time.Duration = -1
	samples, err := loadRun(c, s, d, false, func(l *load) error {
		sleepUntil(l, hupAt-300*time.Millisecond)
		// Everyone who answers just before the HUP is the old generation.
		sleepUntil(l, hupAt)
		old := l.respondersSince(l.now() - 300*time.Millisecond)
		// pmux's own CPU from the HUP until the new workers serve: the
		// spawns and stops, and under --ready auto the looking.
		var cpu0 time.Duration
		if s.f.pmux {
			cpu0, _ = cpuTime(s.master)
		}
		t0 := time.Now()
		if err := s.signal(syscall.SIGHUP); err != nil {
			return err
		}
		since := l.now()
		pollUntil(d-hupAt, func() bool {
			for pid := range old {
				if alive(pid) {
					return false
				}
			}
			fresh := 0
			for pid := range l.respondersSince(since) {
				if !old[pid] {
					fresh++
				}
			}
			if fresh >= s.target {
				replaced = time.Since(t0)
				if s.f.pmux {
					if cpu1, err := cpuTime(s.master); err == nil {
						m.add("masterCPU", ms(cpu1-cpu0))
					}
				}
				return true
			}
			return false
		})
		return nil
	})
	loadFigures(m, samples)
	if replaced >= 0 {
		m.add("replaced", ms(replaced))
	} else {
		m.add("replaced", math.NaN())
		m.note(fmt.Sprintf("not every worker replaced within %v of the HUP", d-hupAt))
	}
	window := 2 * time.Second
	if slow {
		window = 3 * time.Second
	}
	end := min(hupAt+window, d)
	m.add("worst1s", worstWindow(samples, c.rate, hupAt, end, time.Second))
	m.add("tput", windowThroughput(samples, c.rate, hupAt, end))
	var after []sample
	for _, x := range samples {
		if x.due >= hupAt-100*time.Millisecond {
			after = append(after, x)
		}
	}
	m.add("maxAfter", ms(maxLatency(after)))
	// The share of the requests offered after the HUP that were answered
	// within 50 ms: what a user with a 50 ms budget saw of the reload.
	fast, offered := 0, 0
	for _, x := range samples {
		if x.due >= hupAt && x.due < end {
			offered++
			if x.ok && x.latency() <= 50*time.Millisecond {
				fast++
			}
		}
	}
	if offered > 0 {
		m.add("within50", float64(fast)/float64(offered))
	}
	if os.Getenv("BENCH_DEBUG") != "" {
		debugBuckets(s.f.name, samples, hupAt)
	}
	if err != nil {
		return err
	}
	return s.settle(60 * time.Second)
}

// crash: SIGKILL one worker under load (for pmux, its whole process group:
// the app dies, not just the wrapper). It measures the time until a new
// process answers, and counts the failed requests, which may only be the
// ones the killed worker had accepted.
func scenarioCrash(c cfg, s *server, m metrics) error {
	var back time.Duration = -1
	var victim int
	samples, err := loadRun(c, s, 3*time.Second, false, func(l *load) error {
		sleepUntil(l, time.Second)
		known := l.respondersSince(0)
		ws := s.workers()
		if len(ws) == 0 {
			return fmt.Errorf("%s: no worker to kill", s.f.name)
		}
		victim = ws[rand.IntN(len(ws))]
		for _, d := range descendants(victim) {
			known[d] = true
		}
		known[victim] = true
		t0 := time.Now()
		if s.f.pmux {
			syscall.Kill(-victim, syscall.SIGKILL)
		} else {
			syscall.Kill(victim, syscall.SIGKILL)
		}
		since := l.now()
		// Bursts of concurrent requests beside the load: a process that
		// just started accepting must win an accept race against the
		// others, and a burst gives it many chances at once.
		pollUntil(1900*time.Millisecond, func() bool {
			fresh := l.respondersSince(since)
			for pid := range probe(s.addr, 8) {
				fresh[pid] = true
			}
			for pid := range fresh {
				if !known[pid] {
					back = time.Since(t0)
					return true
				}
			}
			return false
		})
		if s.f.pmux {
			// pmux's own account: the replacement's worker_ready.
			for _, e := range s.events("worker_ready") {
				at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(e["time"]))
				if err == nil && !known[int(num(e, "pid"))] && at.After(t0.Add(-time.Millisecond)) {
					m.add("readyLog", ms(at.Sub(t0)))
					break
				}
			}
		}
		return nil
	})
	loadFigures(m, samples)
	if back >= 0 {
		m.add("back", ms(back))
	} else {
		m.add("back", math.NaN())
		m.note("no replacement answered within 1.9 s")
	}
	if err != nil {
		return err
	}
	return s.settle(60 * time.Second)
}

// debugBuckets prints answers per 100 ms around t, and the worst latencies.
func debugBuckets(name string, samples []sample, t time.Duration) {
	var b [60]int
	var offered [60]int
	for _, s := range samples {
		if i := int((s.done - t + time.Second) / (100 * time.Millisecond)); s.ok && i >= 0 && i < len(b) {
			b[i]++
		}
		if i := int((s.due - t + time.Second) / (100 * time.Millisecond)); i >= 0 && i < len(offered) {
			offered[i]++
		}
	}
	fmt.Fprintf(os.Stderr, "%s done/100ms from HUP-1s: %v\n  offered: %v\n", name, b, offered)
	worst, at := 2.0, time.Duration(0)
	for w := t; w+time.Second <= t+3*time.Second; w += 10 * time.Millisecond {
		if v := windowThroughput(samples, 1000, w, w+time.Second); v < worst {
			worst, at = v, w
		}
	}
	fmt.Fprintf(os.Stderr, "  worst 1 s window %.3f at %v, max latency %v, client lag %v\n", worst, at, maxLatency(samples), clientLag(samples))
}
