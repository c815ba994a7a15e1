//go:build linux

package main

import (
	"slices"
	"sync"
)

// rec is one flavor's figures in one scenario, each a distribution over
// the runs, and the notes the runs left (an error kind, a bound hit).
type rec struct {
	vals  map[string]dist
	notes []string
}

type metrics = *rec

func (r *rec) add(name string, v float64) { r.vals[name] = append(r.vals[name], v) }

func (r *rec) note(s string) {
	if !slices.Contains(r.notes, s) && len(r.notes) < 8 {
		r.notes = append(r.notes, s)
	}
}

func (r *rec) get(name string) dist {
	if r == nil {
		return nil
	}
	return r.vals[name]
}

// results holds every scenario's records, by scenario then flavor name.
type results struct {
	mu      sync.Mutex
	byScen  map[string]map[string]*rec
	skipped map[string]string // scenario → why it did not run
	errors  []string
}

func newResults() *results {
	return &results{byScen: map[string]map[string]*rec{}, skipped: map[string]string{}}
}

func (r *results) rec(scenario, flavor string) *rec {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.byScen[scenario]
	if m == nil {
		m = map[string]*rec{}
		r.byScen[scenario] = m
	}
	x := m[flavor]
	if x == nil {
		x = &rec{vals: map[string]dist{}}
		m[flavor] = x
	}
	return x
}

// find returns a record without creating it.
func (r *results) find(scenario, flavor string) *rec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byScen[scenario][flavor]
}

func (r *results) fail(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, msg)
}
