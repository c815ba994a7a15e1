package sdnotify

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Socket is the master's sd_notify socket for its workers. It lives
// in the abstract namespace, so there is no file to clean up and workers
// reach it by name, not by an inherited fd.
type Socket struct {
	conn     *net.UnixConn
	addr     string
	messages chan Message
	quit     chan struct{} // closed by Close: the reader stops waiting on the loop
	wg       sync.WaitGroup
	once     sync.Once
}

// Listen opens the socket and starts its reader.
func Listen() (*Socket, error) {
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	addr := fmt.Sprintf("@pmux/%d/%s", os.Getpid(), hex.EncodeToString(nonce[:]))
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket %s: %w", addr, err)
	}
	raw, err := conn.SyscallConn()
	if err == nil {
		ctrlErr := raw.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
		})
		if ctrlErr != nil {
			err = ctrlErr
		}
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("notify socket %s: enable SO_PASSCRED: %w", addr, err)
	}
	n := &Socket{conn: conn, addr: addr, messages: make(chan Message, 64), quit: make(chan struct{})}
	n.wg.Add(1)
	go n.read()
	return n, nil
}

// Addr is the NOTIFY_SOCKET value for workers.
func (n *Socket) Addr() string { return n.addr }

// Messages delivers each datagram that carried its sender's credentials.
func (n *Socket) Messages() <-chan Message { return n.messages }

// Close stops the reader and waits for it. The reader may be blocked in
// a read (the deadline and the close end it) or on handing a datagram to a
// loop that has already returned (quit ends that), so Close never waits on
// workers or on the loop.
func (n *Socket) Close() error {
	var err error
	n.once.Do(func() {
		close(n.quit)
		_ = n.conn.SetReadDeadline(time.Now())
		err = n.conn.Close()
		n.wg.Wait()
	})
	return err
}

func (n *Socket) read() {
	defer n.wg.Done()
	defer close(n.messages)
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	for {
		nb, noob, _, _, err := n.conn.ReadMsgUnix(buf, oob)
		if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		if err != nil {
			continue
		}
		pid, ok := senderPid(oob[:noob])
		if !ok {
			continue // no credentials: the sender cannot be trusted to be a worker
		}
		select {
		case n.messages <- Message{Pid: pid, Fields: Parse(buf[:nb])}:
		case <-n.quit:
			return
		}
	}
}

func senderPid(oob []byte) (int, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	for _, msg := range msgs {
		if cred, err := unix.ParseUnixCredentials(&msg); err == nil {
			return int(cred.Pid), true
		}
	}
	return 0, false
}
