package proc

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The syscall, fdinfo and memory samples were recorded from python3
// servers on x86_64 (6.18) blocked on a dup (fd 4) of their listening
// socket: socket.accept (accept4), select.epoll().poll (epoll_wait),
// select.poll().poll on stdin and fd 4 (poll), select.select([0, 4])
// (glibc's select is pselect6); syscall-running from a busy loop and
// syscall-user from the same loop stopped by SIGSTOP.
func TestParseSyscall(t *testing.T) {
	tests := []struct {
		sample string
		nr     int
		arg0   uint64
		kind   WaitKind
	}{
		{"syscall-accept", 288, 4, WaitAccept},
		{"syscall-epoll", 232, 5, WaitEpoll},
		{"syscall-poll", 7, 0x7fe1bd9a4750, WaitPoll},
		{"syscall-select", 270, 5, WaitSelect},
	}
	for _, tt := range tests {
		s, err := ParseSyscall(readSample(t, tt.sample))
		if err != nil {
			t.Fatalf("%s: %v", tt.sample, err)
		}
		if !s.Blocked() || s.Nr != tt.nr || s.Args[0] != tt.arg0 {
			t.Errorf("%s: got %+v, want nr %d arg0 %#x", tt.sample, s, tt.nr, tt.arg0)
		}
		if k := SyscallsAMD64.Kind(s); k != tt.kind {
			t.Errorf("%s: kind %v, want %v", tt.sample, k, tt.kind)
		}
	}
	poll, _ := ParseSyscall(readSample(t, "syscall-poll"))
	if poll.Args[1] != 2 {
		t.Errorf("poll nfds = %d, want 2", poll.Args[1])
	}
	sel, _ := ParseSyscall(readSample(t, "syscall-select"))
	if sel.Args[1] != 0x7ffee69c65d0 {
		t.Errorf("select readfds = %#x", sel.Args[1])
	}

	run, err := ParseSyscall(readSample(t, "syscall-running"))
	if err != nil || !run.Running || run.Blocked() || SyscallsAMD64.Kind(run) != NotWaiting {
		t.Errorf("running: %+v, %v", run, err)
	}
	user, err := ParseSyscall(readSample(t, "syscall-user"))
	if err != nil || !user.InUser || user.Blocked() || SyscallsAMD64.Kind(user) != NotWaiting {
		t.Errorf("stopped in user space: %+v, %v", user, err)
	}
	for _, bad := range []string{"", "x 0x1", "43 0x1 0x2", "43 0x1 0x2 0x3 0x4 0x5 zz 0x7 0x8"} {
		if _, err := ParseSyscall([]byte(bad)); err == nil {
			t.Errorf("ParseSyscall(%q) succeeded", bad)
		}
	}
	if _, err := ParseSyscall(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("ParseSyscall(empty) error = %v, want ErrMalformed", err)
	}
}

// No arm64 machine recorded samples: its numbers are asm-generic/unistd.h's,
// and the test checks that each table holds its own architecture's.
func TestSyscallTablesDiffer(t *testing.T) {
	blocked := func(nr int) Syscall { return Syscall{Nr: nr} }
	for nr, want := range map[int]WaitKind{242: WaitAccept, 202: WaitAccept, 22: WaitEpoll, 73: WaitPoll, 72: WaitSelect, 7: NotWaiting, 232: NotWaiting, 63: NotWaiting} {
		if got := SyscallsARM64.Kind(blocked(nr)); got != want {
			t.Errorf("arm64 %d: %v, want %v", nr, got, want)
		}
	}
	for nr, want := range map[int]WaitKind{43: WaitAccept, 281: WaitEpoll, 441: WaitEpoll, 271: WaitPoll, 23: WaitSelect, 0: NotWaiting, 202: NotWaiting} {
		if got := SyscallsAMD64.Kind(blocked(nr)); got != want {
			t.Errorf("amd64 %d: %v, want %v", nr, got, want)
		}
	}
}

func TestParseEpollTargets(t *testing.T) {
	got, err := ParseEpollTargets(readSample(t, "fdinfo-epoll"))
	want := []EpollTarget{{FD: 4, Inode: 9637442}} // ino:930e42, the socket:[9637442] it watched
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("ParseEpollTargets = %+v, %v; want %+v", got, err, want)
	}
	old, err := ParseEpollTargets([]byte("pos:\t0\nflags:\t02\ntfd:        7 events:       19 data:                7\n"))
	if err != nil || !slices.Equal(old, []EpollTarget{{FD: 7}}) {
		t.Errorf("a kernel without ino: %+v, %v", old, err)
	}
	if none, err := ParseEpollTargets(readSample(t, "status")); err != nil || len(none) != 0 {
		t.Errorf("not an epoll fdinfo: %+v, %v", none, err)
	}
	if _, err := ParseEpollTargets([]byte("tfd: x events: 19\n")); err == nil {
		t.Error("a bad tfd parsed")
	}
	if _, err := ParseEpollTargets([]byte("tfd: 3 events: 19 ino:zz\n")); err == nil {
		t.Error("a bad ino parsed")
	}
}

func TestParseSocketLink(t *testing.T) {
	for link, want := range map[string]uint64{"socket:[9636563]": 9636563, "socket:[]": 0, "pipe:[12]": 0, "/dev/null": 0, "socket:[12": 0} {
		got, ok := ParseSocketLink(link)
		if got != want || ok != (want != 0) {
			t.Errorf("ParseSocketLink(%q) = %d, %v", link, got, ok)
		}
	}
}

func TestParsePollFDsAndFDSet(t *testing.T) {
	if got := ParsePollFDs(readSample(t, "pollfds-poll")); !slices.Equal(got, []int{0, 4}) {
		t.Errorf("ParsePollFDs = %v, want [0 4]", got)
	}
	// A negative fd is skipped by poll; a trailing partial entry is not read.
	if got := ParsePollFDs([]byte{0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 3}); !slices.Equal(got, []int{9}) {
		t.Errorf("ParsePollFDs = %v, want [9]", got)
	}
	if got := ParseFDSet(readSample(t, "fdset-select"), 5); !slices.Equal(got, []int{0, 4}) {
		t.Errorf("ParseFDSet = %v, want [0 4]", got)
	}
	set := make([]byte, FDSetBytes(130))
	set[129/8] |= 1 << (129 % 8)
	set[64/8] |= 1
	if len(set) != 24 {
		t.Errorf("FDSetBytes(130) = %d, want 3 words", len(set))
	}
	if got := ParseFDSet(set, 130); !slices.Equal(got, []int{64, 129}) {
		t.Errorf("ParseFDSet = %v, want [64 129]", got)
	}
	if got := ParseFDSet(set, 100); !slices.Equal(got, []int{64}) {
		t.Errorf("ParseFDSet below 100 = %v, want [64]", got)
	}
}

func FuzzParseSyscall(f *testing.F) {
	for _, name := range []string{"syscall-accept", "syscall-epoll", "syscall-running", "syscall-user"} {
		f.Add(readSample(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSyscall(data)
		if err != nil && s != (Syscall{}) {
			t.Errorf("ParseSyscall failed with a non-zero Syscall %+v", s)
		}
	})
}

func TestParseLastPid(t *testing.T) {
	data := readSample(t, "loadavg")
	want, err := strconv.Atoi(strings.Fields(string(data))[4])
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ParseLastPid(data); err != nil || got != want {
		t.Errorf("ParseLastPid = %d, %v; want %d", got, err, want)
	}
	for _, bad := range []string{"", "0.1 0.2 0.3 1/2", "0.1 0.2 0.3 1/2 x"} {
		if _, err := ParseLastPid([]byte(bad)); err == nil {
			t.Errorf("ParseLastPid(%q) succeeded", bad)
		}
	}
}
