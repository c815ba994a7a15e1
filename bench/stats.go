//go:build linux

package main

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// loadStats summarises the samples of one run.
type loadStats struct {
	offered, ok, failed int
	p50, p99, max       time.Duration
	errors              map[string]int
}

func summarize(samples []sample) loadStats {
	st := loadStats{offered: len(samples), errors: map[string]int{}}
	var lats []time.Duration
	for _, s := range samples {
		if s.ok {
			st.ok++
			lats = append(lats, s.latency())
		} else {
			st.failed++
			st.errors[s.err]++
		}
	}
	// A failed request's wait counts towards the worst case too.
	st.max = maxLatency(samples)
	slices.Sort(lats)
	st.p50 = percentile(lats, 50)
	st.p99 = percentile(lats, 99)
	return st
}

func maxLatency(samples []sample) time.Duration {
	var m time.Duration
	for _, s := range samples {
		m = max(m, s.latency())
	}
	return m
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (st loadStats) errorList() string {
	var parts []string
	for e, n := range st.errors {
		parts = append(parts, fmt.Sprintf("%d× %s", n, e))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// windowThroughput returns the successful answers completed in [from, to)
// divided by the requests the load offered in that window (rate × width).
func windowThroughput(samples []sample, rate int, from, to time.Duration) float64 {
	n := 0
	for _, s := range samples {
		if s.ok && s.done >= from && s.done < to {
			n++
		}
	}
	offered := float64(rate) * (to - from).Seconds()
	return float64(n) / offered
}

// worstWindow slides a window of width over [from, to) in 10 ms steps and
// returns the lowest throughput ratio seen.
func worstWindow(samples []sample, rate int, from, to, width time.Duration) float64 {
	worst := math.Inf(1)
	for t := from; t+width <= to; t += 10 * time.Millisecond {
		worst = math.Min(worst, windowThroughput(samples, rate, t, t+width))
	}
	return worst
}

// dist is a set of measurements of one figure across runs.
type dist []float64

func (d dist) median() float64 {
	if len(d) == 0 {
		return math.NaN()
	}
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (d dist) min() float64 {
	if len(d) == 0 {
		return math.NaN()
	}
	return slices.Min(d)
}

func (d dist) max() float64 {
	if len(d) == 0 {
		return math.NaN()
	}
	return slices.Max(d)
}

func (d dist) sum() float64 {
	var s float64
	for _, v := range d {
		s += v
	}
	return s
}

// fmtMs renders milliseconds with a precision that suits the size.
func fmtMs(ms float64) string {
	switch {
	case math.IsNaN(ms):
		return "–"
	case ms >= 100:
		return fmt.Sprintf("%.0f", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f", ms)
	default:
		return fmt.Sprintf("%.2f", ms)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cell renders a distribution as "median (min–max)".
func (d dist) cell(format func(float64) string) string {
	if len(d) == 0 {
		return "–"
	}
	if len(d) == 1 || d.min() == d.max() {
		return format(d.median())
	}
	return fmt.Sprintf("%s (%s–%s)", format(d.median()), format(d.min()), format(d.max()))
}

func fmtInt(v float64) string { return fmt.Sprintf("%.0f", v) }

func fmtPct(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.1f %%", 100*v)
}

func fmtRatio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}
