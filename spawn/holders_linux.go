package spawn

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// procRoot is where the process table is read from.
const procRoot = "/proc"

// SocketInode returns the inode number of the socket f refers to: the
// number a process's /proc/<pid>/fd/<n> link shows as "socket:[N]" for every
// descriptor that refers to the same socket, whichever process holds it.
func SocketInode(f *os.File) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		return 0, fmt.Errorf("stat %s: not a socket", f.Name())
	}
	return st.Ino, nil
}

// GroupHoldsInodes reports whether any live process of process group pgid
// has an open descriptor for one of the sockets whose inodes are given.
// It walks /proc: every process whose stat names pgid as its group, and the
// links in its fd directory. Processes that exit during the walk are
// skipped.
//
// pgid must be a group that its leader (pid == pgid) started, as every
// worker's is. If that leader has exited or is a zombie, the answer would
// say nothing about the worker, and GroupHoldsInodes returns ErrGroupGone.
// When no holder was found but some process of the group could not be
// inspected (another user's, without the privilege to read its fds), it
// returns false and an error wrapping fs.ErrPermission: the answer is unknown.
func GroupHoldsInodes(pgid int, inodes []uint64) (bool, error) {
	if pgid <= 0 {
		return false, fmt.Errorf("scan process group %d: invalid process group", pgid)
	}
	want := make(map[string]bool, len(inodes))
	for _, ino := range inodes {
		want["socket:["+strconv.FormatUint(ino, 10)+"]"] = true
	}
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return false, fmt.Errorf("scan process group %d: %w", pgid, err)
	}
	leaderLive := false
	var unreadable error
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		state, group, err := procState(pid)
		if err != nil || group != pgid || state == 'Z' || state == 'X' {
			continue
		}
		if pid == pgid {
			leaderLive = true
		}
		held, err := holds(pid, want)
		switch {
		case held:
			return true, nil
		case errors.Is(err, fs.ErrPermission):
			unreadable = fmt.Errorf("scan process group %d: read fds of pid %d: %w", pgid, pid, err)
		}
	}
	// Read the leader again: one that exited while we looked had already
	// closed its fds, and that is an exit, not a lost socket.
	if state, group, err := procState(pgid); !leaderLive || err != nil || group != pgid || state == 'Z' || state == 'X' {
		return false, fmt.Errorf("scan process group %d: %w", pgid, ErrGroupGone)
	}
	if unreadable != nil {
		return false, unreadable
	}
	return false, nil
}

// ErrGroupGone reports a process group whose leader has exited.
var ErrGroupGone = errors.New("the group's leader has exited")

// procState reads the state and the process group of pid; see procStat.
func procState(pid int) (state byte, pgrp int, err error) {
	st, err := procStat(pid)
	return st.state, st.pgrp, err
}

// statFields is what pmux reads of /proc/<pid>/stat.
type statFields struct {
	state byte
	pgrp  int
	// start is when the process started, in clock ticks since boot: with
	// the pid, it names one process, whatever pid reuse does.
	start uint64
}

// procStat reads fields 3 (state), 5 (process group) and 22 (start time)
// of /proc/<pid>/stat. The command name, field 2, may hold spaces and
// parentheses, so the fields are counted after its last ')'.
func procStat(pid int) (statFields, error) {
	data, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return statFields{}, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return statFields{}, fmt.Errorf("read %d/stat: malformed", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 20 || len(fields[0]) != 1 {
		return statFields{}, fmt.Errorf("read %d/stat: malformed", pid)
	}
	pgrp, err := strconv.Atoi(fields[2])
	if err != nil {
		return statFields{}, fmt.Errorf("read %d/stat: %w", pid, err)
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return statFields{}, fmt.Errorf("read %d/stat: %w", pid, err)
	}
	return statFields{state: fields[0][0], pgrp: pgrp, start: start}, nil
}

// holds reports whether pid has an fd whose link is one of want.
func holds(pid int, want map[string]bool) (bool, error) {
	dir := procRoot + "/" + strconv.Itoa(pid) + "/fd"
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, fd := range fds {
		// A descriptor closed since ReadDir simply fails to resolve.
		if link, err := os.Readlink(dir + "/" + fd.Name()); err == nil && want[link] {
			return true, nil
		}
	}
	return false, nil
}
