package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
)

// maxResponse bounds a response line: a status of MaxWorkers workers in
// several pools is a few hundred KiB.
const maxResponse = 16 << 20

// ErrNoSocket means no control socket exists at any of the places the
// master's could be.
var ErrNoSocket = errors.New("no control socket")

// DialError reports that no connection to pid's control socket could be
// made. Err is ErrNoSocket when none exists, else the connect error (tested
// with errors.Is against fs.ErrPermission, syscall.ECONNREFUSED, …).
type DialError struct {
	Pid   int
	Paths []string // where the socket was looked for
	Err   error
}

func (e *DialError) Error() string {
	if errors.Is(e.Err, ErrNoSocket) {
		return fmt.Sprintf("connect to pmux %d: %v at %s", e.Pid, e.Err, strings.Join(e.Paths, " or "))
	}
	return fmt.Sprintf("connect to pmux %d: %v", e.Pid, e.Err)
}

func (e *DialError) Unwrap() error { return e.Err }

// RemoteError is a request the master answered with ok=false.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }

// Client is one connection to a master's control socket. It is not safe
// for concurrent use: requests on one connection are answered in order.
type Client struct {
	conn net.Conn
	r    *bufio.Reader
}

// Dial connects to the control socket of the master with pid, looking in
// each of Candidates in turn.
func Dial(ctx context.Context, pid int) (*Client, error) {
	paths := Candidates(pid)
	for _, path := range paths {
		c, err := DialPath(ctx, path)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, &DialError{Pid: pid, Paths: paths, Err: err}
		}
	}
	return nil, &DialError{Pid: pid, Paths: paths, Err: ErrNoSocket}
}

// DialPath connects to the control socket at path.
func DialPath(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		// Keep the cause (ENOENT, EACCES, ECONNREFUSED), not net's
		// wrapping of it, which repeats the path.
		var op *net.OpError
		if errors.As(err, &op) {
			err = fmt.Errorf("%s: %w", path, op.Err)
		}
		return nil, err
	}
	return &Client{conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}, nil
}

// Do sends req and returns the master's answer. ctx's deadline bounds the
// exchange; give one, since a master that is wedged never answers. A
// request the master refused returns the response and a *RemoteError.
func (c *Client) Do(ctx context.Context, req Request) (Response, error) {
	dl, _ := ctx.Deadline()
	c.conn.SetDeadline(dl)
	line, err := json.Marshal(req)
	if err != nil {
		return Response{}, fmt.Errorf("%s: encode request: %w", req.Cmd, err)
	}
	_, werr := c.conn.Write(append(line, '\n'))
	// A server that refuses the connection says why and hangs up, maybe
	// before the request was written: its answer is still there to read.
	resp, err := c.read()
	switch {
	case err != nil && werr != nil:
		return Response{}, fmt.Errorf("%s: send request: %w", req.Cmd, c.cause(ctx, werr))
	case err != nil:
		return Response{}, fmt.Errorf("%s: read response: %w", req.Cmd, c.cause(ctx, err))
	}
	if !resp.OK {
		return resp, &RemoteError{Msg: resp.Error}
	}
	return resp, nil
}

func (c *Client) read() (Response, error) {
	var line []byte
	for {
		chunk, err := c.r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxResponse {
			return Response{}, fmt.Errorf("response longer than %d bytes", maxResponse)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return Response{}, err
		}
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return Response{}, fmt.Errorf("malformed response: %w", err)
	}
	return resp, nil
}

// cause names a timeout as the context's, not as an I/O error.
func (c *Client) cause(ctx context.Context, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return context.DeadlineExceeded
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Close ends the connection.
func (c *Client) Close() error { return c.conn.Close() }
