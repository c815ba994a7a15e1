package main

import (
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pmux/pmux/internal/proc"
)

// alive reports whether pid runs; a zombie is dead for our purposes.
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	s, err := proc.Default.Stat(pid)
	return err == nil && !s.Zombie()
}

// allProcs returns every pid's stat.
func allProcs() map[int]proc.Stat {
	out := map[int]proc.Stat{}
	pids, _ := proc.Default.Pids()
	for _, pid := range pids {
		if s, err := proc.Default.Stat(pid); err == nil {
			out[pid] = s
		}
	}
	return out
}

// children lists the live children of pid.
func children(pid int) []int {
	var out []int
	for p, s := range allProcs() {
		if s.PPID == pid && !s.Zombie() {
			out = append(out, p)
		}
	}
	return out
}

// descendants lists every live process below pid.
func descendants(pid int) []int {
	procs := allProcs()
	byParent := map[int][]int{}
	for p, s := range procs {
		if !s.Zombie() {
			byParent[s.PPID] = append(byParent[s.PPID], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range byParent[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// statusKB is a KiB figure of pid's status (VmRSS, RssAnon, RssFile).
func statusKB(pid int, key string) (int64, error) {
	st, err := proc.Default.Status(pid)
	if err != nil {
		return 0, err
	}
	return st.Int(key)
}

// rssKB is VmRSS of pid in KiB.
func rssKB(pid int) (int64, error) { return statusKB(pid, "VmRSS") }

// wakeups sums voluntary and involuntary context switches over every
// thread of pid: each is the thread going to sleep and waking again.
func wakeups(pid int) (int64, error) {
	tasks, err := proc.Default.Tasks(pid)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, tid := range tasks {
		st, err := proc.Default.TaskStatus(pid, tid)
		if err != nil {
			continue // the thread exited meanwhile
		}
		for _, key := range []string{"voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"} {
			n, _ := st.Int(key)
			total += n
		}
	}
	return total, nil
}

// cpuTime is the user+system time pid has used.
func cpuTime(pid int) (time.Duration, error) {
	s, err := proc.Default.Stat(pid)
	if err != nil {
		return 0, err
	}
	// USER_HZ is 100 on every Linux ABI Go supports.
	return time.Duration(s.UTime+s.STime) * 10 * time.Millisecond, nil
}

func comm(pid int) string {
	name, _ := proc.Default.Comm(pid)
	return name
}

// becomeSubreaper makes orphans of the servers under test (a new master
// after an upgrade, workers of a killed master) our children, so that
// reapOrphans can collect them and nothing is left as a zombie.
func becomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// reapOrphans waits for every zombie child of ours that os/exec does not
// own (owned lists the pids of running exec.Cmds, which Wait reaps).
func reapOrphans(owned func(int) bool) {
	self := os.Getpid()
	for pid, s := range allProcs() {
		if s.PPID == self && s.Zombie() && !owned(pid) {
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		}
	}
}

// waitGoneFast polls until every pid is gone or the bound passes, and
// returns when the last one went (since start) and those still alive.
func waitGoneFast(pids []int, start time.Time, bound time.Duration) (time.Duration, []int) {
	left := append([]int(nil), pids...)
	var last time.Duration
	for {
		var still []int
		for _, p := range left {
			if alive(p) {
				still = append(still, p)
			} else {
				last = time.Since(start)
			}
		}
		left = still
		if len(left) == 0 || time.Since(start) > bound {
			return last, left
		}
		time.Sleep(200 * time.Microsecond)
	}
}
