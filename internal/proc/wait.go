package proc

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// Syscall is a thread's /proc/<pid>/task/<tid>/syscall: the system call it
// is blocked in and its six arguments. Running is true when the thread was
// on a CPU (the file says "running"), InUser when it was stopped outside
// any system call (the number is -1); Nr and Args mean nothing then.
type Syscall struct {
	Nr      int
	Args    [6]uint64
	Running bool
	InUser  bool
}

// Blocked reports whether the thread was inside a system call.
func (s Syscall) Blocked() bool { return !s.Running && !s.InUser }

// ParseSyscall parses a syscall file: "running", "-1 SP PC", or
// "NR ARG1 .. ARG6 SP PC" with the number in decimal and the rest in hex.
func ParseSyscall(data []byte) (Syscall, error) {
	f := strings.Fields(string(data))
	if len(f) == 1 && f[0] == "running" {
		return Syscall{Running: true}, nil
	}
	if len(f) == 0 {
		return Syscall{}, fmt.Errorf("parse syscall: empty: %w", ErrMalformed)
	}
	nr, err := strconv.Atoi(f[0])
	if err != nil {
		return Syscall{}, fmt.Errorf("parse syscall number: %w", err)
	}
	if nr < 0 {
		return Syscall{Nr: nr, InUser: true}, nil
	}
	if len(f) < 7 {
		return Syscall{}, fmt.Errorf("parse syscall: %d fields: %w", len(f), ErrMalformed)
	}
	s := Syscall{Nr: nr}
	for i := range s.Args {
		if s.Args[i], err = strconv.ParseUint(strings.TrimPrefix(f[i+1], "0x"), 16, 64); err != nil {
			return Syscall{}, fmt.Errorf("parse syscall argument %d: %w", i+1, err)
		}
	}
	return s, nil
}

// WaitKind is how a blocked system call waits on descriptors.
type WaitKind int

const (
	NotWaiting WaitKind = iota
	WaitAccept          // accept/accept4: fd in Args[0]
	WaitEpoll           // epoll_wait/epoll_pwait/epoll_pwait2: epoll fd in Args[0]
	WaitPoll            // poll/ppoll: struct pollfd array at Args[0], count in Args[1]
	WaitSelect          // select/pselect6: nfds in Args[0], read fd_set at Args[1]
)

func (k WaitKind) String() string {
	return [...]string{"none", "accept", "epoll", "poll", "select"}[k]
}

// SyscallTable maps an architecture's system call numbers to how they wait.
type SyscallTable map[int]WaitKind

// The numbers of the waiting calls per architecture (arch/x86/entry/syscalls
// and asm-generic/unistd.h). arm64 uses the generic table, which has no
// poll, select or epoll_wait: libc implements them with ppoll, pselect6 and
// epoll_pwait.
var (
	SyscallsAMD64 = SyscallTable{
		43: WaitAccept, 288: WaitAccept, // accept, accept4
		232: WaitEpoll, 281: WaitEpoll, 441: WaitEpoll, // epoll_wait, epoll_pwait, epoll_pwait2
		7: WaitPoll, 271: WaitPoll, // poll, ppoll
		23: WaitSelect, 270: WaitSelect, // select, pselect6
	}
	SyscallsARM64 = SyscallTable{
		202: WaitAccept, 242: WaitAccept, // accept, accept4
		22: WaitEpoll, 441: WaitEpoll, // epoll_pwait, epoll_pwait2
		73: WaitPoll,   // ppoll
		72: WaitSelect, // pselect6
	}
)

// Kind says how s waits, by this table.
func (t SyscallTable) Kind(s Syscall) WaitKind {
	if !s.Blocked() {
		return NotWaiting
	}
	return t[s.Nr]
}

// EpollTarget is one descriptor an epoll set watches, from a "tfd:" line
// of the epoll fd's fdinfo: the descriptor number in the process that
// added it, and the inode of the file it refers to (0 on kernels before
// 3.8, which do not print it).
type EpollTarget struct {
	FD    int
	Inode uint64
}

// ParseEpollTargets parses /proc/<pid>/fdinfo/<epfd>; a file of another
// kind has no "tfd:" lines and gives none.
func ParseEpollTargets(data []byte) ([]EpollTarget, error) {
	var out []EpollTarget
	for line := range strings.Lines(string(data)) {
		rest, ok := strings.CutPrefix(line, "tfd:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil, fmt.Errorf("parse epoll target %q: %w", strings.TrimSpace(line), ErrMalformed)
		}
		fd, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, fmt.Errorf("parse epoll target fd: %w", err)
		}
		t := EpollTarget{FD: fd}
		for _, kv := range f[1:] {
			if v, ok := strings.CutPrefix(kv, "ino:"); ok {
				if t.Inode, err = strconv.ParseUint(v, 16, 64); err != nil {
					return nil, fmt.Errorf("parse epoll target inode: %w", err)
				}
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// ParseSocketLink returns the inode of a descriptor link "socket:[N]";
// false for any other kind of file.
func ParseSocketLink(link string) (uint64, bool) {
	s, ok := strings.CutPrefix(link, "socket:[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return 0, false
	}
	ino, err := strconv.ParseUint(s, 10, 64)
	return ino, err == nil
}

// pollFDSize is sizeof(struct pollfd): int fd; short events, revents.
const pollFDSize = 8

// ParsePollFDs returns the descriptors of an array of struct pollfd as it
// lies in memory (little-endian, which amd64 and arm64 both are);
// negative ones, which poll ignores, are left out.
func ParsePollFDs(data []byte) []int {
	out := make([]int, 0, len(data)/pollFDSize)
	for i := 0; i+pollFDSize <= len(data); i += pollFDSize {
		if fd := int32(binary.LittleEndian.Uint32(data[i:])); fd >= 0 {
			out = append(out, int(fd))
		}
	}
	return out
}

// ParseFDSet returns the descriptors below nfds set in an fd_set as it
// lies in memory: a bit array in little-endian 64-bit words.
func ParseFDSet(data []byte, nfds int) []int {
	var out []int
	for fd := 0; fd < nfds && fd/8 < len(data); fd++ {
		if data[fd/8]&(1<<(fd%8)) != 0 {
			out = append(out, fd)
		}
	}
	return out
}

// ParseLastPid returns the last pid the kernel handed out, the fifth
// field of /proc/loadavg ("0.52 0.58 0.59 1/467 12345").
func ParseLastPid(loadavg []byte) (int, error) {
	f := strings.Fields(string(loadavg))
	if len(f) < 5 {
		return 0, fmt.Errorf("parse loadavg: %d fields: %w", len(f), ErrMalformed)
	}
	pid, err := strconv.Atoi(f[4])
	if err != nil {
		return 0, fmt.Errorf("parse loadavg last pid: %w", err)
	}
	return pid, nil
}

// FDSetBytes is how many bytes of an fd_set hold nfds descriptors: whole
// 64-bit words, as the kernel reads them.
func FDSetBytes(nfds int) int { return (nfds + 63) / 64 * 8 }
