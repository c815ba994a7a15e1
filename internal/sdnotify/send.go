package sdnotify

import (
	"fmt"
	"net"
)

// Send sends state as one datagram to the notify socket named socket (the
// value of NOTIFY_SOCKET). It returns false and no error when socket is
// "" (no supervisor listens), false and the error when the datagram could
// not be sent, and true once it was.
func Send(socket, state string) (bool, error) {
	if socket == "" {
		return false, nil
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("sd_notify %s: %w", socket, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("sd_notify %s: %w", socket, err)
	}
	return true, nil
}
