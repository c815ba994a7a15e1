package main

// The master's event loop and its supervisors: the watchdog under every
// readiness mode, sd_notify to pmux's own supervisor through an upgrade and
// while that supervisor does not read.

import (
	"strconv"
	"syscall"
	"testing"
	"time"
)

// --watchdog without --ready notify: the workers get NOTIFY_SOCKET and
// WATCHDOG_USEC, are ready as their mode says, are kept while they ping,
// and a worker that stops pinging (SIGSTOP) is killed and replaced.
func TestLoopWatchdogWithAnyReadiness(t *testing.T) {
	for _, mode := range []string{"none", "delay=300ms"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			const period = 500 * time.Millisecond
			m := startMaster(t, startOpts{}, "run", "-w", "1", "--ready", mode, "--watchdog", period.String(),
				"-b", "127.0.0.1:0", "--env", "WORKER_WATCHDOG=1", "--worker-output", "inherit", "--", workerBin)
			pid := intField(m.readyWorkers(1)[0], "pid")
			r := getReport(t, newClient("tcp", m.addr()))
			if r.Pid != pid {
				t.Fatalf("report from %d, want the ready worker %d", r.Pid, pid)
			}
			if r.Env["NOTIFY_SOCKET"] == "" || r.Env["WATCHDOG_USEC"] != strconv.Itoa(int(period.Microseconds())) {
				t.Fatalf("worker NOTIFY_SOCKET=%q WATCHDOG_USEC=%q", r.Env["NOTIFY_SOCKET"], r.Env["WATCHDOG_USEC"])
			}
			// Four periods of pings: the worker stays.
			time.Sleep(4 * period)
			if n := len(m.events("worker_watchdog_timeout")); n != 0 || !alive(pid) {
				t.Fatalf("a pinging worker was killed; log:\n%s", m.dump())
			}
			began := time.Now()
			m.stopWorkerForTheWatchdog(pid)
			m.readyWorkers(2)
			t.Logf("--ready %s: stopped worker killed and replaced after %v (period %v)", mode, time.Since(began).Round(time.Millisecond), period)
		})
	}
}

// A worker that never pings, under --ready none, is killed one period
// after it started: the watchdog runs from readiness, not from a first ping.
func TestLoopWatchdogKillsAWorkerThatNeverPings(t *testing.T) {
	t.Parallel()
	const period = 500 * time.Millisecond
	m := startMaster(t, startOpts{}, "run", "-w", "1", "--watchdog", period.String(), "-b", "127.0.0.1:0", "--worker-output", "inherit",
		"--", "sleep", "1000")
	first := m.readyWorkers(1)[0]
	pid := intField(first, "pid")
	began := time.Now()
	m.waitEvents("worker_watchdog_timeout", 1, 10*time.Second, func(e map[string]any) bool { return intField(e, "pid") == pid })
	t.Logf("silent worker killed %v after it was ready (period %v)", time.Since(began).Round(time.Millisecond), period)
	m.waitEvents("worker_spawned", 2, 10*time.Second, nil)
}

// stopWorkerForTheWatchdog SIGSTOPs a worker and waits until the watchdog
// has killed it.
func (m *master) stopWorkerForTheWatchdog(pid int) {
	m.t.Helper()
	syscall.Kill(pid, syscall.SIGSTOP)
	m.waitEvents("worker_watchdog_timeout", 1, 10*time.Second, func(e map[string]any) bool { return intField(e, "pid") == pid })
	exited := m.waitEvents("worker_exited", 1, 10*time.Second, func(e map[string]any) bool { return intField(e, "pid") == pid })[0]
	if exited["status"] != "signal KILL" {
		m.t.Errorf("stopped worker exited with %v, want signal KILL", exited["status"])
	}
}
