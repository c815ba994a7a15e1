package manager

import (
	"strconv"
	"strings"

	"github.com/pmux/pmux/sockets"
)

// einhornEnv renders what einhorn gives its workers (lib/einhorn/command.rb,
// prepare_child_environment), for workers written against einhorn's client
// libraries: EINHORN_FD_COUNT and EINHORN_FD_<i> (what the Ruby, Go and
// Python clients read), EINHORN_FD_FAMILY_<i> (newer clients; AF_INET is
// assumed without it, which would misread a unix socket), EINHORN_FDS (the
// deprecated space-separated list), EINHORN_CHILD_INDEX, and
// EINHORN_MASTER_PID, which the clients check against getppid() (the
// worker's parent is the master: the shim execs, it does not fork).
// EINHORN_SOCK_PATH is not set: pmux has no einhorn command socket, so
// `einhorn -m manual` ACKs are not understood; use --ready instead.
func einhornEnv(ls []*sockets.Listener, masterPID, slot int) []string {
	n := len(ls)
	fds := make([]string, n)
	env := make([]string, 0, 2*n+4)
	env = append(env, "EINHORN_FD_COUNT="+strconv.Itoa(n))
	for i, l := range ls {
		fds[i] = strconv.Itoa(3 + i)
		env = append(env, "EINHORN_FD_"+strconv.Itoa(i)+"="+fds[i],
			"EINHORN_FD_FAMILY_"+strconv.Itoa(i)+"="+socketFamily(l))
	}
	return append(env,
		"EINHORN_FDS="+strings.Join(fds, " "),
		"EINHORN_CHILD_INDEX="+strconv.Itoa(slot),
		"EINHORN_MASTER_PID="+strconv.Itoa(masterPID))
}

// socketFamily names l's address family as Python's socket module does.
func socketFamily(l *sockets.Listener) string {
	switch {
	case l.Port() == 0:
		return "AF_UNIX"
	case strings.HasPrefix(l.Addr(), "["):
		return "AF_INET6"
	default:
		return "AF_INET"
	}
}
