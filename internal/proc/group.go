package proc

import (
	"errors"
	"io/fs"
	"runtime"
	"slices"
	"sync"
)

// Supported reports whether this system has the /proc these readers need.
const Supported = runtime.GOOS == "linux"

// Bounds on what one look reads of a thread's memory: a poll array of
// more descriptors, or a select set past this many, is read only up to
// them. A server waiting on its listening socket among more than 4096
// others is not one pmux manages.
const (
	maxPollFDs   = 4096  // 32 KiB of struct pollfd
	maxSelectFDs = 65536 // 8 KiB of fd_set
)

// Wait says where a thread of a group was seen waiting on a socket.
type Wait struct {
	Kind     WaitKind
	Pid, Tid int
}

// Group looks at the threads of one process group (a worker and what it
// forked) for one waiting on any of a set of sockets, named by inode: a
// server may dup its listening socket to another number, and its children
// hold it under any. It remembers the group's members, which only a walk
// of /proc finds (Groups); the caller decides how often to walk, since the
// walk costs a stat per process of the machine while a look at known
// members costs a few small reads per thread.
//
// A Group may be used from several goroutines.
type Group struct {
	fs      FS
	table   SyscallTable
	pgid    int
	sockets map[uint64]bool

	mu      sync.Mutex
	members []int // the leader first
	// scannedTo is the last pid the kernel had handed out when the last
	// walk began: a walk need only read the processes numbered after it,
	// and none at all while no pid was handed out since.
	scannedTo int
}

// NewGroup watches the group led by pgid for waits on sockets, by the
// system call numbers of the architecture pmux runs on.
func (fs FS) NewGroup(pgid int, sockets []uint64) *Group {
	return fs.newGroup(pgid, sockets, NativeSyscalls)
}

func (fs FS) newGroup(pgid int, sockets []uint64, table SyscallTable) *Group {
	g := &Group{fs: fs, table: table, pgid: pgid, sockets: make(map[uint64]bool, len(sockets)), members: []int{pgid}}
	for _, ino := range sockets {
		g.sockets[ino] = true
	}
	return g
}

// Pgid is the group's id, its leader's pid.
func (g *Group) Pgid() int { return g.pgid }

// SetMembers replaces the known members with pids (as Groups found them);
// the leader always stays.
func (g *Group) SetMembers(pids []int) {
	m := []int{g.pgid}
	for _, p := range pids {
		if p != g.pgid && !slices.Contains(m, p) {
			m = append(m, p)
		}
	}
	g.mu.Lock()
	g.members = m
	g.mu.Unlock()
}

// Members returns the known members, the leader first.
func (g *Group) Members() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.members)
}

// Rescan walks /proc for the group's new members. Unless all, only the
// processes started since the last walk are read (see Groups), and none
// while the kernel has handed out no pid since; the known members that
// left the group (or exited) are dropped.
func (g *Group) Rescan(all bool) error {
	return g.fs.rescan([]*Group{g}, all)
}

// RescanAll is Rescan(false) of several groups of one FS in one walk of
// /proc, from the earliest pid one of them has not read: a status of a
// thousand workers walks the machine once, not once per worker.
func RescanAll(groups []*Group) error {
	if len(groups) == 0 {
		return nil
	}
	return groups[0].fs.rescan(groups, false)
}

func (fs FS) rescan(groups []*Group, all bool) error {
	last, lastErr := fs.LastPid()
	var todo []*Group
	var pgids []int
	from := -1
	for _, g := range groups {
		g.mu.Lock()
		gfrom := max(g.scannedTo+1, g.pgid)
		switch {
		case all, lastErr != nil, last < g.scannedTo: // asked, unknown, or the pid counter wrapped
			gfrom = 0
		case last == g.scannedTo:
			g.mu.Unlock()
			continue // no process was started since the group's last walk
		}
		g.mu.Unlock()
		todo = append(todo, g)
		pgids = append(pgids, g.pgid)
		if from < 0 || gfrom < from {
			from = gfrom
		}
	}
	if len(todo) == 0 {
		return nil
	}
	found, err := fs.Groups(pgids, from)
	if err != nil {
		return err
	}
	for _, g := range todo {
		members := found[g.pgid]
		for _, pid := range g.Members() {
			if st, err := fs.Stat(pid); err == nil && st.Pgrp == g.pgid && !st.Zombie() && st.State != 'X' && !slices.Contains(members, pid) {
				members = append(members, pid)
			}
		}
		g.SetMembers(members)
		if lastErr == nil {
			g.mu.Lock()
			g.scannedTo = last
			g.mu.Unlock()
		}
	}
	return nil
}

// Waiting looks at every thread of the known members and returns the
// first one blocked waiting on one of the sockets: in accept on it, in
// epoll_wait on a set that holds it, or in poll or select on a set that
// holds it. Kind is NotWaiting when none is. The error is the leader's
// when it is gone (fs.ErrNotExist), or fs.ErrPermission when no thread
// could be read at all.
func (g *Group) Waiting() (Wait, error) {
	var denied error
	readable := false
	for i, pid := range g.Members() {
		w, ok, err := g.processWaits(pid)
		if ok {
			return w, nil
		}
		switch {
		case err == nil:
			readable = true
		case i == 0 && errors.Is(err, fs.ErrNotExist):
			return Wait{}, err
		case errors.Is(err, fs.ErrPermission):
			denied = err
		}
	}
	if !readable && denied != nil {
		return Wait{}, denied
	}
	return Wait{}, nil
}

// processWaits looks at each thread of pid. Its error is the first read
// that failed, when no thread could be read.
func (g *Group) processWaits(pid int) (Wait, bool, error) {
	tids, err := g.fs.Tasks(pid)
	if err != nil {
		return Wait{}, false, err
	}
	// fd → whether it is one of the sockets; the fd table is shared by the
	// threads, so each link is read once per look.
	ours := map[int]bool{}
	isOurs := func(fd int) bool {
		hit, ok := ours[fd]
		if !ok {
			ino, isSock := g.fs.SocketInodeOf(pid, fd)
			hit = isSock && g.sockets[ino]
			ours[fd] = hit
		}
		return hit
	}
	var firstErr error
	read := false
	for _, tid := range tids {
		sc, err := g.fs.TaskSyscall(pid, tid)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		read = true
		kind := g.table.Kind(sc)
		if kind == NotWaiting || !g.waitsOnOurs(pid, kind, sc, isOurs) {
			continue
		}
		// The thread may have returned while its sets were read: count it
		// only if it is still in the same call.
		if again, err := g.fs.TaskSyscall(pid, tid); err == nil && again == sc {
			return Wait{Kind: kind, Pid: pid, Tid: tid}, true, nil
		}
	}
	if !read {
		return Wait{}, false, firstErr
	}
	return Wait{}, false, nil
}

func (g *Group) waitsOnOurs(pid int, kind WaitKind, sc Syscall, isOurs func(int) bool) bool {
	switch kind {
	case WaitAccept:
		return isOurs(int(sc.Args[0]))
	case WaitEpoll:
		targets, err := g.fs.EpollTargets(pid, int(sc.Args[0]))
		if err != nil {
			return false
		}
		for _, t := range targets {
			// The inode names the file even once the fd that added it is
			// closed or reused; kernels before 3.8 print only the fd.
			if (t.Inode != 0 && g.sockets[t.Inode]) || (t.Inode == 0 && isOurs(t.FD)) {
				return true
			}
		}
	case WaitPoll:
		n := min(sc.Args[1], maxPollFDs)
		if n == 0 || sc.Args[0] == 0 {
			return false
		}
		data, err := g.fs.ReadMem(pid, sc.Args[0], int(n)*pollFDSize)
		if err != nil {
			return false
		}
		return slices.ContainsFunc(ParsePollFDs(data), isOurs)
	case WaitSelect:
		nfds := int(min(sc.Args[0], maxSelectFDs))
		if nfds == 0 || sc.Args[1] == 0 {
			return false
		}
		data, err := g.fs.ReadMem(pid, sc.Args[1], FDSetBytes(nfds))
		if err != nil {
			return false
		}
		return slices.ContainsFunc(ParseFDSet(data, nfds), isOurs)
	}
	return false
}

// Sockets returns the inodes of the sockets the known members hold, other
// than the watched ones: the connections a worker is serving (and those
// it keeps, to a database say). A worker stuck in one request keeps the
// same ones; one that serves request after request does not.
func (g *Group) Sockets() map[uint64]bool {
	out := map[uint64]bool{}
	for _, pid := range g.Members() {
		fds, err := g.fs.FDs(pid)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if ino, ok := g.fs.SocketInodeOf(pid, fd); ok && !g.sockets[ino] {
				out[ino] = true
			}
		}
	}
	return out
}
