package spawn

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/internal/pmuxtest"
	"github.com/pmux/pmux/internal/proc"
)

func listenerFile(t *testing.T) (*os.File, uint64) {
	t.Helper()
	f, _ := pmuxtest.ListenerFile(t)
	ino, err := SocketInode(f)
	if err != nil {
		t.Fatal(err)
	}
	return f, ino
}

func TestSocketInodeMatchesProcLink(t *testing.T) {
	f, ino := listenerFile(t)
	link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	if want := "socket:[" + strconv.FormatUint(ino, 10) + "]"; link != want {
		t.Errorf("fd link %q, SocketInode says %q", link, want)
	}
	plain, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := SocketInode(plain); err == nil {
		t.Errorf("SocketInode(%s) = nil error, want not a socket", os.DevNull)
	}
}

// startGroup runs script under sh as the leader of a new process group,
// with f as its fd 3, and ends the whole group when the test does. Every
// script keeps the shell as the leader and waits for its children, so
// killing the children first lets the shell reap them: nothing is orphaned.
func startGroup(t *testing.T, f *os.File, script string) int {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if f != nil {
		cmd.ExtraFiles = []*os.File{f}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		for _, p := range groupMembers(pid) {
			if p != pid {
				syscall.Kill(p, syscall.SIGKILL)
			}
		}
		syscall.Kill(-pid, syscall.SIGKILL)
		cmd.Wait()
	})
	return pid
}

func groupMembers(pgid int) []int {
	return pidsWhere(func(pid int) bool {
		st, err := proc.Default.Stat(pid)
		return err == nil && st.Pgrp == pgid
	})
}

// pidsWhere lists the processes in /proc that match.
func pidsWhere(match func(pid int) bool) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && match(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitUntil polls cond until it holds or fails the test after a deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func fdClosed(pid, fd int) func() bool {
	return func() bool {
		_, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(fd))
		return err != nil
	}
}

func TestGroupHoldsInodes(t *testing.T) {
	cases := []struct {
		name   string
		pass   bool   // hand the socket over as fd 3 (else another one)
		script string // run by sh, the group leader
		settle func(t *testing.T, leader int)
		held   bool
		err    error
	}{
		{name: "leader holds it", pass: true, script: "sleep 100 & wait", held: true},
		{name: "holds another socket", pass: false, script: "sleep 100 & wait", held: false},
		{
			// The shell closes fd 3 after its child inherited it: the
			// group still holds the socket, through the child.
			name: "child holds it", pass: true, script: "sleep 100 & exec 3>&-; wait",
			settle: func(t *testing.T, leader int) { waitUntil(t, "the shell to close fd 3", fdClosed(leader, 3)) },
			held:   true,
		},
		{
			// What a wrapper that closes inherited fds (Bundler 1.x's
			// bundle exec, sudo) leaves behind.
			name: "wrapper closed it", pass: true, script: "exec 3>&-; sleep 100 & wait",
			settle: func(t *testing.T, leader int) {
				waitUntil(t, "the shell to close fd 3 and start its child", func() bool {
					return fdClosed(leader, 3)() && len(groupMembers(leader)) == 2
				})
			},
			held: false,
		},
		{
			name: "leader exited", pass: true, script: "exit 0",
			settle: func(t *testing.T, leader int) {
				waitUntil(t, "the leader to become a zombie", func() bool {
					st, err := proc.Default.Stat(leader)
					return err == nil && st.Zombie()
				})
			},
			err: ErrGroupGone,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ours, ino := listenerFile(t)
			other, _ := listenerFile(t)
			give := ours
			if !tc.pass {
				give = other
			}
			leader := startGroup(t, give, tc.script)
			if tc.settle != nil {
				tc.settle(t, leader)
			}
			// Several inodes (one per listener) are asked about at once.
			_, unheld := listenerFile(t)
			held, err := GroupHoldsInodes(leader, []uint64{unheld, ino})
			if held != tc.held || !errors.Is(err, tc.err) {
				t.Errorf("GroupHoldsInodes = %v, %v; want %v, %v", held, err, tc.held, tc.err)
			}
		})
	}
}

func TestGroupHoldsInodesNoSuchGroup(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := GroupHoldsInodes(cmd.Process.Pid, []uint64{1}); !errors.Is(err, ErrGroupGone) {
		t.Errorf("a reaped group: err %v, want ErrGroupGone", err)
	}
	if _, err := GroupHoldsInodes(0, []uint64{1}); err == nil {
		t.Error("pgid 0: want an error")
	}
}
