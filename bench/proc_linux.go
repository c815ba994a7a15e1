package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// procStat is the part of /proc/<pid>/stat the benchmarks read.
type procStat struct {
	state byte
	ppid  int
	pgrp  int
	utime uint64 // clock ticks
	stime uint64
}

func readStat(pid int) (procStat, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("stat of %d: no comm", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("stat of %d: short", pid)
	}
	var s procStat
	s.state = f[0][0]
	s.ppid, _ = strconv.Atoi(f[1])
	s.pgrp, _ = strconv.Atoi(f[2])
	s.utime, _ = strconv.ParseUint(f[11], 10, 64)
	s.stime, _ = strconv.ParseUint(f[12], 10, 64)
	return s, nil
}

// alive reports whether pid runs; a zombie is dead for our purposes.
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	s, err := readStat(pid)
	return err == nil && s.state != 'Z'
}

// allProcs returns every pid's stat.
func allProcs() map[int]procStat {
	out := map[int]procStat{}
	d, err := os.Open("/proc")
	if err != nil {
		return out
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		if s, err := readStat(pid); err == nil {
			out[pid] = s
		}
	}
	return out
}

// children lists the live children of pid.
func children(pid int) []int {
	var out []int
	for p, s := range allProcs() {
		if s.ppid == pid && s.state != 'Z' {
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
		if s.state != 'Z' {
			byParent[s.ppid] = append(byParent[s.ppid], p)
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

// statusField reads one "Key:\tvalue" line of /proc/<pid>/status (or of
// a task's status when path names one).
func statusField(path, key string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("%s: no %s", path, key)
}

// rssKB is VmRSS of pid in KiB.
func rssKB(pid int) (int64, error) {
	v, err := statusField("/proc/"+strconv.Itoa(pid)+"/status", "VmRSS")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
}

// pssKB is the proportional set size of pid in KiB: its private pages plus
// its share of the pages it shares, so that a tree's figures add up.
func pssKB(pid int) (int64, error) {
	v, err := statusField("/proc/"+strconv.Itoa(pid)+"/smaps_rollup", "Pss")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
}

// wakeups sums voluntary and involuntary context switches over every
// thread of pid: each is the thread going to sleep and waking again.
func wakeups(pid int) (int64, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, t := range tasks {
		for _, key := range []string{"voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"} {
			v, err := statusField(dir+"/"+t.Name()+"/status", key)
			if err != nil {
				continue // the thread exited meanwhile
			}
			n, _ := strconv.ParseInt(v, 10, 64)
			total += n
		}
	}
	return total, nil
}

// cpuTime is the user+system time pid has used.
func cpuTime(pid int) (time.Duration, error) {
	s, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	// USER_HZ is 100 on every Linux ABI Go supports.
	return time.Duration(s.utime+s.stime) * 10 * time.Millisecond, nil
}

func fdCount(pid int) int {
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return -1
	}
	return len(fds)
}

func comm(pid int) string {
	data, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(data))
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
		if s.ppid == self && s.state == 'Z' && !owned(pid) {
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

// errNotFound marks a process that could not be found.
var errNotFound = errors.New("not found")
