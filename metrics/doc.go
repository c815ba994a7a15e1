// Package metrics exposes the master to Prometheus and to orchestrators'
// health checks: /metrics in the text exposition format, /readyz and
// /livez.
//
// The model: two kinds of numbers. What happens — spawns and their
// latency, exits by cause, restarts, reloads, upgrades — is counted as it
// happens: Metrics is the manager's Observer, called on the manager's loop,
// and only touches prometheus counters, which are atomic and never block.
// Worker output the destination refused is counted the same way, by the
// output pumps that dropped it (OutputDropped).
// What is — workers per pool and state, targets, generations — is read
// from a Status query at scrape time, so it can never drift from the
// loop's own view. The master's process and Go runtime metrics come from
// client_golang's collectors.
//
// Pitfalls: a scrape must not wedge on a wedged loop, so every Status query
// has a short deadline, and a failed one leaves the state gauges out of
// that scrape (pmux_master_responsive says so) instead of failing it. The
// address binds loopback unless the user names a host: metrics describe
// the host's processes and are nobody else's business by default.
package metrics
