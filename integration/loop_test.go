package integration_test

// The master's event loop and its supervisors: the watchdog under every
// readiness mode, sd_notify to pmux's own supervisor through an upgrade and
// while that supervisor does not read.

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/internal/pmuxtest"
)

// --watchdog without --ready notify: the workers get NOTIFY_SOCKET and
// WATCHDOG_USEC, are ready as their mode says, are kept while they ping,
// and a worker that stops pinging (SIGSTOP) is killed and replaced.
func TestLoopWatchdogWithAnyReadiness(t *testing.T) {
	for _, mode := range []string{"none", "delay=300ms"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			const period = 500 * time.Millisecond
			m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "1", "--ready", mode, "--watchdog", period.String(),
				"-b", "127.0.0.1:0", "--env", "WORKER_WATCHDOG=1", "--worker-output", "inherit", "--", pmuxtest.Worker())
			pid := pmuxtest.IntField(m.ReadyWorkers(1)[0], "pid")
			r := pmuxtest.GetReport(t, pmuxtest.NewClient("tcp", m.Addr()))
			if r.Pid != pid {
				t.Fatalf("report from %d, want the ready worker %d", r.Pid, pid)
			}
			if r.Env["NOTIFY_SOCKET"] == "" || r.Env["WATCHDOG_USEC"] != strconv.Itoa(int(period.Microseconds())) {
				t.Fatalf("worker NOTIFY_SOCKET=%q WATCHDOG_USEC=%q", r.Env["NOTIFY_SOCKET"], r.Env["WATCHDOG_USEC"])
			}
			// Four periods of pings: the worker stays.
			time.Sleep(4 * period)
			if n := len(m.Events("worker_watchdog_timeout")); n != 0 || !pmuxtest.Alive(pid) {
				t.Fatalf("a pinging worker was killed; log:\n%s", m.Dump())
			}
			began := time.Now()
			m.StopWorkerForTheWatchdog(pid)
			m.ReadyWorkers(2)
			t.Logf("--ready %s: stopped worker killed and replaced after %v (period %v)", mode, time.Since(began).Round(time.Millisecond), period)
		})
	}
}

// A worker that never pings, under --ready none, is killed one period
// after it started: the watchdog runs from readiness, not from a first ping.
func TestLoopWatchdogKillsAWorkerThatNeverPings(t *testing.T) {
	t.Parallel()
	const period = 500 * time.Millisecond
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "1", "--ready", "none", "--watchdog", period.String(), "-b", "127.0.0.1:0", "--worker-output", "inherit",
		"--", "sleep", "1000")
	first := m.ReadyWorkers(1)[0]
	pid := pmuxtest.IntField(first, "pid")
	began := time.Now()
	m.WaitEvents("worker_watchdog_timeout", 1, 10*time.Second, func(e map[string]any) bool { return pmuxtest.IntField(e, "pid") == pid })
	t.Logf("silent worker killed %v after it was ready (period %v)", time.Since(began).Round(time.Millisecond), period)
	m.WaitEvents("worker_spawned", 2, 10*time.Second, nil)
}

// Under NotifyAccess=main, systemd drops what the new master of an upgrade
// says before the old master hands it the main pid. So once it has it, the
// new master says READY=1 and its STATUS= again.
func TestLoopNewMasterIsReadyForSystemdAfterTheHandOver(t *testing.T) {
	t.Parallel()
	sd := pmuxtest.NewFakeSystemd(t)
	bin := filepath.Join(t.TempDir(), "pmux")
	pmuxtest.CopyFile(t, pmuxtest.Pmux(), bin)
	m := pmuxtest.StartMasterAt(t, bin, pmuxtest.Opts{Env: []string{sd.Env()}}, "run", "-w", "1", "--ready", "notify",
		"-b", "127.0.0.1:0", "--worker-output", "inherit", "--", pmuxtest.Worker())
	sd.Await(m.Pid(), "READY=1")
	m.Signal(syscall.SIGUSR2)
	child := m.AwaitUpgrade()
	// Sent while the old master is still the main pid: systemd drops it.
	sd.Await(child, "READY=1")
	m.Signal(syscall.SIGQUIT)
	if got := sd.Await(m.Pid(), "MAINPID="); !strings.HasPrefix(got+"\n", "MAINPID="+strconv.Itoa(child)+"\n") {
		t.Errorf("old master's hand-over %q, want MAINPID=%d first", got, child)
	}
	m.Wait(30 * time.Second)
	// What the new master says now, systemd accepts.
	again := sd.Await(child, "READY=1")
	if !strings.Contains(again, "STATUS=") {
		t.Errorf("READY=1 after the hand-over without STATUS=: %q", again)
	}
	var after []string
	handedOver := false
	for _, st := range sd.Seen() {
		if st.Pid == m.Pid() && strings.HasPrefix(st.State, "MAINPID=") {
			handedOver = true
		} else if handedOver && st.Pid == child {
			after = append(after, strings.ReplaceAll(st.State, "\n", " "))
		}
	}
	t.Logf("the new master %d after the hand-over: %q", child, after)
}

// A supervisor that does not read its notify socket: the master's pings
// fill the socket's queue, and the master still handles TTIN and HUP and
// stops promptly, since nothing it sends to its supervisor waits.
func TestLoopStalledSupervisorNeverStallsTheMaster(t *testing.T) {
	t.Parallel()
	path := pmuxtest.StalledSystemd(t)
	// WATCHDOG_USEC of 20 ms: the master pings every 10 ms.
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Env: []string{"NOTIFY_SOCKET=" + path, "WATCHDOG_USEC=20000"}},
		"run", "-w", "1", "-b", "127.0.0.1:0", "--worker-output", "inherit", "--", pmuxtest.Worker())
	m.ReadyWorkers(1)
	// The queue is full once a datagram of ours cannot get in either.
	probe, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatal("the supervisor socket's queue never filled")
		}
		probe.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := probe.Write([]byte("PROBE")); errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
	}
	began := time.Now()
	m.Signal(syscall.SIGTTIN)
	m.WaitEvents("pool_scaled", 1, 10*time.Second, nil)
	m.ReadyWorkers(2)
	// A reload brings the count back to the configured one.
	m.Signal(syscall.SIGHUP)
	m.WaitEvents("worker_ready", 1, 20*time.Second, pmuxtest.GenIs(2))
	t.Logf("TTIN and HUP handled in %v with the supervisor's queue full", time.Since(began).Round(time.Millisecond))
	began = time.Now()
	m.MustStop(syscall.SIGQUIT, 30*time.Second)
	t.Logf("master exited %v after QUIT with the supervisor's queue full", time.Since(began).Round(time.Millisecond))
	m.WaitEvents("supervisor_notify_dropped", 1, time.Second, nil)
}
