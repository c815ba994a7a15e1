package manager

import (
	"net"
	"strconv"
	"time"
)

// SupervisorNotifier sends pmux's own sd_notify states to the socket its
// supervisor named in NOTIFY_SOCKET (a leading '@' names an abstract
// socket, as Go's net package understands it); nil when there is none. Errors are
// dropped: a supervisor that stopped listening must not stop the master.
func SupervisorNotifier(socket string) func(state string) {
	if socket == "" {
		return nil
	}
	addr := &net.UnixAddr{Name: socket, Net: "unixgram"}
	return func(state string) {
		conn, err := net.DialUnix("unixgram", nil, addr)
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = conn.Write([]byte(state))
	}
}

// SupervisorWatchdog reads systemd's watchdog request for pmux itself:
// WATCHDOG_USEC, meant for WATCHDOG_PID when that is set. A new master of
// an upgrade inherits its parent's, and pings too.
func SupervisorWatchdog(getenv func(string) string, pid, ppid int) time.Duration {
	usec, err := strconv.ParseInt(getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if p := getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(pid) && p != strconv.Itoa(ppid) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond
}
