//go:build linux

package proc

import (
	"fmt"
	"io"
	"os"
	"strconv"
)

// TaskSyscall reads what thread tid of pid is doing: the system call it
// is blocked in, with its arguments.
func (fs FS) TaskSyscall(pid, tid int) (Syscall, error) {
	data, err := os.ReadFile(fs.path(pid, "task/"+strconv.Itoa(tid)+"/syscall"))
	if err != nil {
		return Syscall{}, err
	}
	s, err := ParseSyscall(data)
	if err != nil {
		return Syscall{}, fmt.Errorf("read syscall of %d/%d: %w", pid, tid, err)
	}
	return s, nil
}

// EpollTargets reads what the epoll descriptor epfd of pid watches; none
// when epfd is not an epoll descriptor.
func (fs FS) EpollTargets(pid, epfd int) ([]EpollTarget, error) {
	data, err := os.ReadFile(fs.path(pid, "fdinfo/"+strconv.Itoa(epfd)))
	if err != nil {
		return nil, err
	}
	t, err := ParseEpollTargets(data)
	if err != nil {
		return nil, fmt.Errorf("read epoll set %d of %d: %w", epfd, pid, err)
	}
	return t, nil
}

// ReadMem reads n bytes at address addr of pid's memory. The kernel lets
// a process read another's memory when it may ptrace it: its parent or
// an ancestor (Yama's ptrace_scope 1 allows these), or root
// (CAP_SYS_PTRACE) whatever user the target runs as.
func (fs FS) ReadMem(pid int, addr uint64, n int) ([]byte, error) {
	f, err := os.Open(fs.path(pid, "mem"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	// The offset is an address: above 2^63 it is negative to ReadAt, and
	// user space never lives there.
	if int64(addr) < 0 {
		return nil, fmt.Errorf("read memory of %d at %#x: %w", pid, addr, ErrMalformed)
	}
	if _, err := f.ReadAt(buf, int64(addr)); err != nil && err != io.EOF {
		return nil, fmt.Errorf("read memory of %d at %#x: %w", pid, addr, err)
	}
	return buf, nil
}

// SocketInodeOf returns the inode of pid's descriptor fd when it is a
// socket; false for any other file or a closed descriptor.
func (fs FS) SocketInodeOf(pid, fd int) (uint64, bool) {
	link, err := fs.FDLink(pid, fd)
	if err != nil {
		return 0, false
	}
	return ParseSocketLink(link)
}

// LastPid reads the last pid the kernel handed out (in pmux's pid
// namespace), from /proc/loadavg.
func (fs FS) LastPid() (int, error) {
	data, err := os.ReadFile(string(fs) + "/loadavg")
	if err != nil {
		return 0, err
	}
	return ParseLastPid(data)
}

// Groups lists the live processes of each process group of pgids, by a
// walk of /proc that reads the stat of each process numbered from or
// above (all of them for 0): a group's members are its leader's
// descendants, which the kernel numbered after it until the pid counter
// wraps, and a machine runs far more older processes than new ones, so
// the walk reads a few stat files instead of every process's.
func (fs FS) Groups(pgids []int, from int) (map[int][]int, error) {
	want := make(map[int]bool, len(pgids))
	for _, g := range pgids {
		want[g] = true
	}
	pids, err := fs.Pids()
	if err != nil {
		return nil, err
	}
	out := make(map[int][]int, len(pgids))
	for _, pid := range pids {
		if pid < from {
			continue
		}
		st, err := fs.Stat(pid)
		if err != nil || !want[st.Pgrp] || st.State == 'Z' || st.State == 'X' {
			continue
		}
		out[st.Pgrp] = append(out[st.Pgrp], pid)
	}
	return out, nil
}
