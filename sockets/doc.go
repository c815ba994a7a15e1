// Package sockets owns pmux's listening sockets: the --bind grammar, binding
// TCP and unix sockets, adopting inherited ones (fd://N, systemd socket
// activation, an old master's sockets in a binary upgrade), and closing
// them with the right unlink policy.
//
// The model: the master binds every socket once, before any worker starts,
// and never accepts on it. Workers receive the sockets as fds 3, 4, … and
// accept on them directly, so master and workers share each socket's open
// file description. Anything stored there, O_NONBLOCK above all, is shared:
// the master keeps every socket in blocking mode, as systemd hands them,
// and never changes the flag once a worker may hold it. In the master every
// socket is close-on-exec; the spawner decides which reach a worker.
//
// Parse and Spec.String are inverse: Parse(s.String()) == s for every Spec
// Parse returns, and String is the canonical form used as the hand-over key
// in an upgrade. The grammar does no I/O: hostnames are resolved and
// owners looked up by Open. A hostname lookup has a deadline
// (OpenOptions.LookupTimeout, 10 s by default), so a DNS server that never
// answers fails the bind rather than a start or a reload hanging on it.
//
// Unix socket files: a stale one (a socket nobody listens on) is unlinked
// and rebound; a live one, or a path that is not a socket, is an error and
// is never touched. pmux unlinks a socket file only if its lineage created
// it (bound here, or inherited from an old master that bound it), only on
// Close (stopping for good, not CloseKeepPath in an upgrade hand-off), and
// never an abstract ('@') or adopted one.
//
// Pitfalls:
//
//   - net.Listen and net.FileListener make a socket non-blocking, and the
//     flag would reach every worker through the shared description; this
//     package uses raw syscalls instead, and the master must never hand a
//     listener's File to the net package.
//   - Call ListenFDs before anything marks inherited descriptors
//     close-on-exec: that flag is how it tells the sockets passed to pmux
//     from files the process opened itself (the Go runtime's, before main,
//     at the numbers a short LISTEN_FDS leaves free). fd://N has no such
//     check: Open it before anything else opens a descriptor, since a
//     number reused for something else would be adopted.
//   - Open adopts duplicates of OpenOptions files; the caller still closes
//     the originals, which are not close-on-exec when inherited across exec.
//   - An inherited unix listener unlinks its path on Close; a master whose
//     successor or predecessor still serves must use CloseKeepPath.
//   - The socket syscalls return the lowest free descriptor: if pmux starts
//     with stdio closed, a socket may land on 0-2 and be clobbered when
//     stdio is re-opened; main must open /dev/null there first.
package sockets
