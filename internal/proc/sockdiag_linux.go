//go:build linux

package proc

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// ListenQueues asks the kernel for the accept queue of every listening TCP
// (v4 and v6) and unix stream socket of this network namespace, by
// socket inode. It is three netlink round trips, each bounded by a
// second, so a scrape that calls it never hangs.
func ListenQueues() (map[uint64]ListenQueue, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	defer unix.Close(fd)
	tv := unix.Timeval{Sec: 1}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	out := map[uint64]ListenQueue{}
	buf := make([]byte, 32<<10)
	for i, f := range []DiagFamily{DiagTCP4, DiagTCP6, DiagUnix} {
		if err := unix.Sendto(fd, diagRequest(f, uint32(i+1)), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return nil, fmt.Errorf("sock_diag: %w", err)
		}
		for reads := 0; ; reads++ {
			if reads > 1000 {
				return nil, fmt.Errorf("sock_diag: dump does not end")
			}
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				return nil, fmt.Errorf("sock_diag: %w", err)
			}
			queues, done, err := ParseDiag(buf[:n], f)
			if err != nil {
				return nil, err
			}
			for _, q := range queues {
				out[q.Inode] = q
			}
			if done {
				break
			}
		}
	}
	return out, nil
}
