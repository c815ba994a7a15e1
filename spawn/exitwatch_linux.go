package spawn

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// WatchExit returns a channel closed when pid exits, for a process that is
// not our child (a new master watching the old one). It waits on a pidfd
// through the runtime's poller: no thread is held and nothing polls.
// Close the returned file to stop watching.
func WatchExit(pid int) (<-chan struct{}, *os.File, error) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil, nil, fmt.Errorf("watch pid %d: %w", pid, err)
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("pidfd:%d", pid))
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("watch pid %d: %w", pid, err)
	}
	exited := make(chan struct{})
	go func() {
		waited := false
		// A pidfd reads ready once the process has exited; the callback
		// returns false once so the poller waits for that.
		err := raw.Read(func(uintptr) bool {
			done := waited
			waited = true
			return done
		})
		if err == nil {
			close(exited)
		}
	}()
	return exited, f, nil
}
