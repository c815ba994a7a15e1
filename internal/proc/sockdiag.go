package proc

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ListenQueue is a listening socket's accept queue as the kernel counts
// it: Queued connections are complete and wait for an accept(2), Backlog
// is the most the queue holds (listen(2)'s backlog, as the kernel capped
// it). Raindrops reads the same figures.
type ListenQueue struct {
	Inode   uint64
	Queued  int
	Backlog int
}

// The kernel's sock_diag interface (NETLINK_SOCK_DIAG), which ss(8) uses.
// /proc/net/tcp shows a LISTEN socket's queue as its rx_queue, but lists
// every connection of the host, which can be megabytes on a busy server;
// /proc/net/unix shows no queue at all. A sock_diag dump asked for LISTEN
// sockets only returns those, with the queue for both kinds.
const (
	nlmsgHdrLen      = 16
	nlmsgError       = 2
	nlmsgDone        = 3
	sockDiagByFamily = 20
	tcpListenState   = 10 // TCP_LISTEN, the state of a listening socket of either kind

	inetDiagMsgLen = 72 // struct inet_diag_msg
	unixDiagMsgLen = 16 // struct unix_diag_msg
	unixDiagRQLen  = 4  // UNIX_DIAG_RQLEN: the attribute with the queue
	udiagShowRQLen = 0x10
)

// DiagFamily is what a sock_diag dump asks for.
type DiagFamily int

const (
	DiagTCP4 DiagFamily = iota
	DiagTCP6
	DiagUnix
)

// diagRequest is the netlink request that dumps the listening sockets of
// family f.
func diagRequest(f DiagFamily, seq uint32) []byte {
	var body []byte
	switch f {
	case DiagUnix:
		// struct unix_diag_req: family, protocol, pad, states, ino, show, cookie[2]
		body = make([]byte, 24)
		body[0] = 1 // AF_UNIX
		binary.NativeEndian.PutUint32(body[4:], 1<<tcpListenState)
		binary.NativeEndian.PutUint32(body[12:], udiagShowRQLen)
	default:
		// struct inet_diag_req_v2: family, protocol, ext, pad, states, sockid
		body = make([]byte, 56)
		body[0] = 2 // AF_INET
		if f == DiagTCP6 {
			body[0] = 10 // AF_INET6
		}
		body[1] = 6 // IPPROTO_TCP
		binary.NativeEndian.PutUint32(body[4:], 1<<tcpListenState)
	}
	msg := make([]byte, nlmsgHdrLen+len(body))
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], sockDiagByFamily)
	binary.NativeEndian.PutUint16(msg[6:], 0x1|0x300) // NLM_F_REQUEST | NLM_F_DUMP
	binary.NativeEndian.PutUint32(msg[8:], seq)
	copy(msg[nlmsgHdrLen:], body)
	return msg
}

var errShortDiag = errors.New("sock_diag: message cut short")

// ParseDiag parses one read of a sock_diag dump of family f: the
// listening sockets it holds, and whether the dump is done.
func ParseDiag(data []byte, f DiagFamily) (queues []ListenQueue, done bool, err error) {
	for len(data) >= nlmsgHdrLen {
		n := int(binary.NativeEndian.Uint32(data[0:]))
		typ := binary.NativeEndian.Uint16(data[4:])
		if n < nlmsgHdrLen || n > len(data) {
			return queues, false, errShortDiag
		}
		body := data[nlmsgHdrLen:n]
		data = data[min(align4(n), len(data)):]
		switch typ {
		case nlmsgDone:
			return queues, true, nil
		case nlmsgError:
			if len(body) < 4 {
				return queues, false, errShortDiag
			}
			if errno := int32(binary.NativeEndian.Uint32(body)); errno != 0 {
				return queues, false, fmt.Errorf("sock_diag: errno %d", -errno)
			}
			continue
		case sockDiagByFamily:
		default:
			continue
		}
		q, ok, err := parseDiagMsg(body, f)
		if err != nil {
			return queues, false, err
		}
		if ok {
			queues = append(queues, q)
		}
	}
	return queues, false, nil
}

func parseDiagMsg(b []byte, f DiagFamily) (ListenQueue, bool, error) {
	if f != DiagUnix {
		if len(b) < inetDiagMsgLen {
			return ListenQueue{}, false, errShortDiag
		}
		if b[1] != tcpListenState {
			return ListenQueue{}, false, nil
		}
		return ListenQueue{
			Inode:   uint64(binary.NativeEndian.Uint32(b[68:])),
			Queued:  int(binary.NativeEndian.Uint32(b[56:])), // idiag_rqueue: sk_ack_backlog for a listener
			Backlog: int(binary.NativeEndian.Uint32(b[60:])), // idiag_wqueue: sk_max_ack_backlog
		}, true, nil
	}
	if len(b) < unixDiagMsgLen {
		return ListenQueue{}, false, errShortDiag
	}
	if b[2] != tcpListenState {
		return ListenQueue{}, false, nil
	}
	q := ListenQueue{Inode: uint64(binary.NativeEndian.Uint32(b[4:]))}
	found := false
	for attrs := b[unixDiagMsgLen:]; len(attrs) >= 4; {
		n := int(binary.NativeEndian.Uint16(attrs[0:]))
		typ := binary.NativeEndian.Uint16(attrs[2:])
		if n < 4 || n > len(attrs) {
			return ListenQueue{}, false, errShortDiag
		}
		if typ == unixDiagRQLen && n >= 12 {
			q.Queued = int(binary.NativeEndian.Uint32(attrs[4:]))  // the listener's receive queue: connections not yet accepted
			q.Backlog = int(binary.NativeEndian.Uint32(attrs[8:])) // sk_max_ack_backlog
			found = true
		}
		attrs = attrs[min(align4(n), len(attrs)):]
	}
	return q, found, nil
}

func align4(n int) int { return (n + 3) &^ 3 }
