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
// LISTEN_FDS is only a claim: each fd is checked before anything is
// allocated for it, so an absurd count costs nothing and the error names the
// first fd that was not passed. An fd counts as passed only if it is a
// socket and is not close-on-exec. Whatever this process opened itself is
// close-on-exec (Go opens every descriptor so, the runtime's own before main
// included), while what came across exec cannot be; so the check holds even
// where the runtime took the numbers a short LISTEN_FDS left free. Call
// ListenFDs before anything marks inherited descriptors close-on-exec.
//
// Each returned file is then made close-on-exec, so none leaks into a
// worker; the caller closes them after Open. Unsetting the variables is the
// caller's business (workers get their own); getenv is injected for tests.
func ListenFDs(getenv func(string) string, pid int) ([]NamedFile, error) {
	n, names, err := parseListenEnv(getenv, pid)
	if err != nil || n == 0 {
		return nil, err
	}
	// Check every fd before claiming or wrapping any, so an error leaves no
	// *os.File whose finalizer might close an fd that is not ours. The
	// loop ends at the first fd not passed, which is below the number of
	// descriptors open, however large n is.
	for i := range n {
		if err := checkActivationFD(listenFDsStart + i); err != nil {
			return nil, fmt.Errorf("%w: LISTEN_FDS=%d: %w: LISTEN_FDS must count the sockets passed, from fd 3 on", ErrActivationEnv, n, err)
		}
	}
	for i := range n {
		if err := claimActivationFD(listenFDsStart + i); err != nil {
			return nil, fmt.Errorf("%w: LISTEN_FDS=%d: %w", ErrActivationEnv, n, err)
		}
	}
	split := splitNames(names, n)
	files := make([]NamedFile, n)
	for i := range n {
		fd := listenFDsStart + i
		label := "LISTEN_FDS fd " + strconv.Itoa(fd)
		if split[i] != "" {
			label += " (" + split[i] + ")"
		}
		files[i] = NamedFile{Name: split[i], File: os.NewFile(uintptr(fd), label)}
	}
	return files, nil
}

// parseListenEnv validates the activation variables; n is 0 when they are
// not for this process. names is LISTEN_FDNAMES, "" or exactly n names
// joined by ':'. Nothing here allocates in proportion to n: n is not yet
// known to be true.
func parseListenEnv(getenv func(string) string, pid int) (n int, names string, err error) {
	fdsVal := getenv("LISTEN_FDS")
	if fdsVal == "" {
		return 0, "", nil
	}
	pidVal := getenv("LISTEN_PID")
	if pidVal == "" {
		return 0, "", fmt.Errorf("%w: LISTEN_FDS=%q without LISTEN_PID: cannot tell whose sockets they are (set LISTEN_PID or unset LISTEN_FDS)", ErrActivationEnv, fdsVal)
	}
	lp, ok := parseDecimal(pidVal, maxFD)
	if !ok || lp < 1 {
		return 0, "", fmt.Errorf("%w: LISTEN_PID=%q is not a process id", ErrActivationEnv, pidVal)
	}
	if lp != pid {
		return 0, "", nil
	}
	n, ok = parseDecimal(fdsVal, maxFD-listenFDsStart+1)
	if !ok || n < 1 {
		return 0, "", fmt.Errorf("%w: LISTEN_FDS=%q is not a positive integer", ErrActivationEnv, fdsVal)
	}
	names = getenv("LISTEN_FDNAMES")
	if names != "" {
		if got := strings.Count(names, ":") + 1; got != n {
			return 0, "", fmt.Errorf("%w: LISTEN_FDNAMES=%q has %d names for LISTEN_FDS=%d", ErrActivationEnv, names, got, n)
		}
	}
	return n, names, nil
}

// splitNames returns the n names of LISTEN_FDNAMES, all "" when unset.
func splitNames(names string, n int) []string {
	if names == "" {
		return make([]string, n)
	}
	return strings.Split(names, ":")
}
