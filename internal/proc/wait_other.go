//go:build !linux

package proc

func (fs FS) TaskSyscall(pid, tid int) (Syscall, error)           { return Syscall{}, ErrNotSupported }
func (fs FS) EpollTargets(pid, epfd int) ([]EpollTarget, error)   { return nil, ErrNotSupported }
func (fs FS) ReadMem(pid int, addr uint64, n int) ([]byte, error) { return nil, ErrNotSupported }
func (fs FS) SocketInodeOf(pid, fd int) (uint64, bool)            { return 0, false }
func (fs FS) Groups(pgids []int, from int) (map[int][]int, error) { return nil, ErrNotSupported }
func (fs FS) LastPid() (int, error)                               { return 0, ErrNotSupported }
