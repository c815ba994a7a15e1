package spawn

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"syscall"

	"github.com/pmux/pmux/internal/proc"
)

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
	// The leader is most often the server itself, or a wrapper that
	// exec'd it: asking it first spares a walk of every process on the
	// machine, which for a pool of a thousand workers would be a million
	// reads of /proc.
	if st, err := proc.Default.Stat(pgid); err == nil && st.Pgrp == pgid && st.State != 'Z' && st.State != 'X' {
		if held, _ := holds(pgid, want); held {
			return true, nil
		}
	}
	pids, err := proc.Default.Pids()
	if err != nil {
		return false, fmt.Errorf("scan process group %d: %w", pgid, err)
	}
	leaderLive := false
	var unreadable error
	for _, pid := range pids {
		st, err := proc.Default.Stat(pid)
		if err != nil || st.Pgrp != pgid || st.State == 'Z' || st.State == 'X' {
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
	if st, err := proc.Default.Stat(pgid); !leaderLive || err != nil || st.Pgrp != pgid || st.State == 'Z' || st.State == 'X' {
		return false, fmt.Errorf("scan process group %d: %w", pgid, ErrGroupGone)
	}
	if unreadable != nil {
		return false, unreadable
	}
	return false, nil
}

// ErrGroupGone reports a process group whose leader has exited.
var ErrGroupGone = errors.New("the group's leader has exited")

// holds reports whether pid has an fd whose link is one of want.
func holds(pid int, want map[string]bool) (bool, error) {
	fds, err := proc.Default.FDs(pid)
	if err != nil {
		return false, err
	}
	for _, fd := range fds {
		// A descriptor closed since the listing simply fails to resolve.
		if link, err := proc.Default.FDLink(pid, fd); err == nil && want[link] {
			return true, nil
		}
	}
	return false, nil
}
