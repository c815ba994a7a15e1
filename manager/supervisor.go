package manager

import "net"

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
