// Package manager is the master: one event loop that owns every piece of
// supervision state.
//
// The model: a master runs pools; a pool has a target number of slots
// (0..target-1) and a current generation; a slot holds the live workers
// started for it, normally one, two while a replacement surges in. After
// every event the loop reconciles each pool towards its target: a slot
// without a worker of the current generation gets one (unless it is backing
// off after a crash, or a rolling restart limits how many slots replace at
// once); once that worker is ready, older workers of the slot are stopped
// gracefully. Reload and rolling restart are therefore the same mechanism
// with a different surge limit, and capacity never dips: an old worker is
// stopped only after its replacement is ready.
//
// Only Run's goroutine reads or writes that state, without locks. Helpers
// (timers, output pumps, the notify reader) post closures to the loop and
// never touch state themselves. Timers capture the worker they were armed
// for and do nothing once it has exited, so a stale timer is harmless.
//
// Pitfalls: the loop must never block (spawning is a fork and exec, which
// is short; no sleeps, no waits on children — exits arrive through SIGCHLD
// and Reap). What could wait on the outside world runs off the loop: a
// reload's reading (file I/O, DNS for a new bind, given up when the master
// stops), every /proc read (a status copies pids on the loop and reads the
// sizes on the caller's goroutine), and the sd_notify datagrams to pmux's own
// supervisor (queued by SupervisorNotifier, written by its goroutine). A
// worker's pid is only reused after it is reaped, and it is reaped only
// here, so signalling a worker's group before its exit was handled is
// always safe.
package manager
