package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pmux/pmux/status"
)

// MaxLine bounds a request line, newline included. A real request is a few
// dozen bytes; the bound only keeps garbage from costing memory.
const MaxLine = 64 << 10

// The commands a request may carry.
const (
	CmdStatus         = "status"
	CmdScale          = "scale"
	CmdReload         = "reload"
	CmdRollingRestart = "rolling_restart"
	CmdReopenLogs     = "reopen_logs"
	CmdStop           = "stop"
	CmdUpgrade        = "upgrade"      // start the binary upgrade, as USR2 does in the unicorn profile
	CmdStopWorkers    = "stop_workers" // stop every worker, keep the sockets, as WINCH does
)

var commands = []string{CmdStatus, CmdScale, CmdReload, CmdRollingRestart, CmdReopenLogs, CmdStop, CmdUpgrade, CmdStopWorkers}

// ErrBadRequest is wrapped by every error ParseRequest returns.
var ErrBadRequest = errors.New("bad request")

// Request is one line a client sends. Scale takes exactly one of N (the new
// worker count) and Delta (a change to it); stop takes Quick; the other
// commands take nothing.
type Request struct {
	Cmd   string `json:"cmd"`
	Pool  string `json:"pool,omitempty"`
	N     *int   `json:"n,omitempty"`
	Delta *int   `json:"delta,omitempty"`
	Quick bool   `json:"quick,omitempty"`
}

// Response is the line the server answers each request with. Status is
// set for status and scale (the state after scaling).
type Response struct {
	OK     bool           `json:"ok"`
	Error  string         `json:"error,omitempty"`
	Status *status.Status `json:"status,omitempty"`
}

// ParseRequest decodes and validates one request line. It is strict: an
// unknown field, a field the command does not take or anything after the
// object is an error, so a typo is reported instead of silently ignored.
func ParseRequest(line []byte) (Request, error) {
	var req Request
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if errors.Is(err, io.EOF) {
			return Request{}, fmt.Errorf("%w: empty line: send one JSON object per line, as {\"cmd\":\"status\"}", ErrBadRequest)
		}
		return Request{}, fmt.Errorf("%w: %v: send one JSON object per line, as {\"cmd\":\"status\"}", ErrBadRequest, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Request{}, fmt.Errorf("%w: data after the request object: send one object per line", ErrBadRequest)
	}
	if err := req.validate(); err != nil {
		return Request{}, err
	}
	return req, nil
}

func (r Request) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
	}
	switch r.Cmd {
	case "":
		return bad(`no "cmd": want one of %s`, strings.Join(commands, ", "))
	case CmdScale:
		switch {
		case r.Pool == "":
			return bad(`scale: no "pool"`)
		case (r.N == nil) == (r.Delta == nil):
			return bad(`scale %s: give exactly one of "n" (a count) and "delta" (a change)`, r.Pool)
		case r.N != nil && (*r.N < 0 || *r.N > status.MaxWorkers):
			return bad("scale %s to %d: %v", r.Pool, *r.N, status.ErrBadCount)
		case r.Delta != nil && (*r.Delta == 0 || *r.Delta < -status.MaxWorkers || *r.Delta > status.MaxWorkers):
			return bad("scale %s by %d: want a change from -%d to %d other than 0", r.Pool, *r.Delta, status.MaxWorkers, status.MaxWorkers)
		case r.Quick:
			return bad(`scale: "quick" is for stop`)
		}
		return nil
	case CmdStatus, CmdReload, CmdRollingRestart, CmdReopenLogs, CmdStop, CmdUpgrade, CmdStopWorkers:
		switch {
		case r.Pool != "" || r.N != nil || r.Delta != nil:
			return bad(`%s: "pool", "n" and "delta" are for scale`, r.Cmd)
		case r.Quick && r.Cmd != CmdStop:
			return bad(`%s: "quick" is for stop`, r.Cmd)
		}
		return nil
	}
	return bad("unknown cmd %q: want one of %s", r.Cmd, strings.Join(commands, ", "))
}
