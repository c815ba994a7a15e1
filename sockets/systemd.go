package sockets

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrActivationEnv reports a malformed socket-activation environment
// (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES).
var ErrActivationEnv = errors.New("socket activation")

// listenFDsStart is the first fd of socket activation (SD_LISTEN_FDS_START).
const listenFDsStart = 3

// ListenFDs returns the sockets pmux itself was started with by systemd
// socket activation: fds 3 to 3+LISTEN_FDS-1, named by LISTEN_FDNAMES (a
// name is "" when LISTEN_FDNAMES is unset). It returns nil, nil when
// LISTEN_FDS is unset or LISTEN_PID names another process. A malformed value
// is an error wrapping ErrActivationEnv, never silently ignored: guessing
// would either lose sockets or wrap fds that belong to something else.
//
// Each returned file is made close-on-exec at once, so none leaks into a
// worker; the caller closes them after Open. Call ListenFDs before anything
// else opens a descriptor, since it trusts LISTEN_FDS about which fds are
// the activation sockets. Unsetting the variables is the caller's business
// (workers get their own); getenv is injected for tests.
func ListenFDs(getenv func(string) string, pid int) ([]NamedFile, error) {
	n, names, err := parseListenEnv(getenv, pid)
	if err != nil || n == 0 {
		return nil, err
	}
	// Check every fd before wrapping any, so an error leaves no *os.File
	// whose finalizer might close an fd that is not ours.
	for i := range n {
		if err := claimActivationFD(listenFDsStart + i); err != nil {
			return nil, fmt.Errorf("%w: LISTEN_FDS=%d: %w", ErrActivationEnv, n, err)
		}
	}
	files := make([]NamedFile, n)
	for i := range n {
		fd := listenFDsStart + i
		label := "LISTEN_FDS fd " + strconv.Itoa(fd)
		if names[i] != "" {
			label += " (" + names[i] + ")"
		}
		files[i] = NamedFile{Name: names[i], File: os.NewFile(uintptr(fd), label)}
	}
	return files, nil
}

// parseListenEnv validates the activation variables; n is 0 when they are
// not for this process.
func parseListenEnv(getenv func(string) string, pid int) (int, []string, error) {
	fdsVal := getenv("LISTEN_FDS")
	if fdsVal == "" {
		return 0, nil, nil
	}
	pidVal := getenv("LISTEN_PID")
	if pidVal == "" {
		return 0, nil, fmt.Errorf("%w: LISTEN_FDS=%q without LISTEN_PID: cannot tell whose sockets they are (set LISTEN_PID or unset LISTEN_FDS)", ErrActivationEnv, fdsVal)
	}
	lp, ok := parseDecimal(pidVal, maxFD)
	if !ok || lp < 1 {
		return 0, nil, fmt.Errorf("%w: LISTEN_PID=%q is not a process id", ErrActivationEnv, pidVal)
	}
	if lp != pid {
		return 0, nil, nil
	}
	n, ok := parseDecimal(fdsVal, maxFD-listenFDsStart+1)
	if !ok || n < 1 {
		return 0, nil, fmt.Errorf("%w: LISTEN_FDS=%q is not a positive integer", ErrActivationEnv, fdsVal)
	}
	names := make([]string, n)
	if v := getenv("LISTEN_FDNAMES"); v != "" {
		got := strings.Split(v, ":")
		if len(got) != n {
			return 0, nil, fmt.Errorf("%w: LISTEN_FDNAMES=%q has %d names for LISTEN_FDS=%d", ErrActivationEnv, v, len(got), n)
		}
		copy(names, got)
	}
	return n, names, nil
}
