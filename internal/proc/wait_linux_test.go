package proc

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// startWaiter runs testdata/waiter.py in a process group of its own with
// the listener ln as fd 3 and a stdin that never becomes readable, and
// returns its pid once it says it is about to wait.
func startWaiter(t *testing.T, style string, ln *net.TCPListener) int {
	t.Helper()
	f, err := ln.File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdin, hold, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hold.Close() })
	cmd := exec.Command("python3", "testdata/waiter.py", style)
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stdin = stdin
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start python3 (the tests need it): %v", err)
	}
	stdin.Close()
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		syscall.Kill(-pid, syscall.SIGKILL)
		cmd.Wait()
	})
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "waiting\n" {
		t.Fatalf("waiter %s said %q, %v", style, line, err)
	}
	return pid
}

func listen(t *testing.T) (*net.TCPListener, uint64) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	rc, err := ln.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	rc.Control(func(fd uintptr) { err = syscall.Fstat(int(fd), &st) })
	if err != nil {
		t.Fatal(err)
	}
	return ln, st.Ino
}

// waitFor looks at g until a thread waits or the deadline passes.
func waitFor(t *testing.T, g *Group, rescan bool) Wait {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if rescan {
			if err := g.Rescan(false); err != nil {
				t.Fatalf("Rescan: %v", err)
			}
		}
		w, err := g.Waiting()
		if err != nil {
			t.Fatalf("Waiting: %v", err)
		}
		if w.Kind != NotWaiting || time.Now().After(deadline) {
			return w
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestGroupSeesEachWaitStyle(t *testing.T) {
	for style, want := range map[string]WaitKind{"accept": WaitAccept, "epoll": WaitEpoll, "poll": WaitPoll, "select": WaitSelect} {
		t.Run(style, func(t *testing.T) {
			ln, ino := listen(t)
			pid := startWaiter(t, style, ln)
			w := waitFor(t, Default.NewGroup(pid, []uint64{ino}), false)
			if w.Kind != want || w.Pid != pid || w.Tid != pid {
				t.Errorf("Waiting = %+v, want %v in %d", w, want, pid)
			}
		})
	}
}

// A process waiting on something else, or on another socket, is not
// waiting on the pool's; and a thread busy on a CPU never is.
func TestGroupIgnoresOtherWaits(t *testing.T) {
	ln, ino := listen(t)
	pid := startWaiter(t, "stdin", ln)
	g := Default.NewGroup(pid, []uint64{ino})
	other, otherIno := listen(t)
	pid2 := startWaiter(t, "select", other)
	// Once the second one is seen waiting on its own socket, the first has
	// had as long to reach its select on stdin.
	if w := waitFor(t, Default.NewGroup(pid2, []uint64{otherIno}), false); w.Kind != WaitSelect {
		t.Fatalf("the control waiter was not seen: %+v", w)
	}
	for range 3 {
		if w, err := g.Waiting(); err != nil || w.Kind != NotWaiting {
			t.Fatalf("a wait on stdin counted: %+v, %v", w, err)
		}
	}
	if w, err := Default.NewGroup(pid2, []uint64{ino}).Waiting(); err != nil || w.Kind != NotWaiting {
		t.Errorf("a wait on another socket counted: %+v, %v", w, err)
	}
}

// The child a server forks is found only by a rescan; the leader's exit
// is reported as such.
func TestGroupFindsForkedChild(t *testing.T) {
	ln, ino := listen(t)
	pid := startWaiter(t, "fork-epoll", ln)
	g := Default.NewGroup(pid, []uint64{ino})
	if w, err := g.Waiting(); err != nil || w.Kind != NotWaiting {
		t.Fatalf("the parent alone counted as waiting: %+v, %v", w, err)
	}
	w := waitFor(t, g, true)
	if w.Kind != WaitEpoll || w.Pid == pid {
		t.Fatalf("Waiting after rescans = %+v, want epoll in a child of %d", w, pid)
	}
	if m := g.Members(); len(m) != 2 || m[0] != pid || m[1] != w.Pid {
		t.Errorf("Members = %v, want [%d %d]", m, pid, w.Pid)
	}
	// Another walk, whether or not the machine started processes since,
	// keeps the members it knows.
	if err := g.Rescan(false); err != nil {
		t.Fatal(err)
	}
	if m := g.Members(); len(m) != 2 || m[1] != w.Pid {
		t.Errorf("Members after another walk = %v, want [%d %d]", m, pid, w.Pid)
	}
	if socks := g.Sockets(); len(socks) != 0 {
		t.Errorf("Sockets besides the listener = %v, want none", socks)
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := Default.Stat(pid)
		if err != nil || st.Zombie() || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if w, err := g.Waiting(); w.Kind != NotWaiting {
		t.Errorf("a killed group waits: %+v, %v", w, err)
	}
}

// One walk finds the forked children of several groups at once.
func TestRescanAllFindsEveryGroupsChildren(t *testing.T) {
	var groups []*Group
	var leaders []int
	for range 2 {
		ln, ino := listen(t)
		pid := startWaiter(t, "fork-epoll", ln)
		t.Cleanup(func() { syscall.Kill(-pid, syscall.SIGKILL) })
		groups = append(groups, Default.NewGroup(pid, []uint64{ino}))
		leaders = append(leaders, pid)
	}
	waiting := 0
	for deadline := time.Now().Add(5 * time.Second); waiting < len(groups) && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err := RescanAll(groups); err != nil {
			t.Fatalf("RescanAll: %v", err)
		}
		waiting = 0
		for _, g := range groups {
			if w, err := g.Waiting(); err == nil && w.Kind == WaitEpoll {
				waiting++
			}
		}
	}
	for i, g := range groups {
		if m := g.Members(); len(m) != 2 || m[0] != leaders[i] {
			t.Errorf("group %d: Members = %v, want the leader and its child", leaders[i], m)
		}
	}
	if waiting != len(groups) {
		t.Errorf("%d of %d groups seen waiting after RescanAll", waiting, len(groups))
	}
}
