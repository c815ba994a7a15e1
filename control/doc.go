// Package control is the master's control socket and its client: the way
// `pmux status`, `pmux scale`, `pmux reload` and friends steer a running
// master without signals.
//
// The model: each master serves one unix stream socket named after its pid,
// $XDG_RUNTIME_DIR/pmux/<pid>.sock, or /tmp/pmux-<uid>/<pid>.sock when no
// runtime directory is set, so both masters of a binary upgrade answer side
// by side. The directory is 0700 and owned by the master's user, the socket
// 0600, and a peer whose uid (SO_PEERCRED) differs from the master's
// effective uid is refused, root included: root can signal the master
// anyway, but a control request from another account is more likely a
// mistake than intent, and refusing it keeps the rule one line long. The
// client checks the master's uid first and names the user to run as.
//
// The protocol is JSON lines: one request object per line in, one response
// object per line out, as many as the client likes on one connection.
//
//	{"cmd":"status"}                         → {"ok":true,"status":{…}}
//	{"cmd":"scale","pool":"web","n":4}       → {"ok":true,"status":{…}}
//	{"cmd":"scale","pool":"web","delta":-1}  → {"ok":true,"status":{…}}
//	{"cmd":"reload"} {"cmd":"rolling_restart"} {"cmd":"reopen_logs"}
//	{"cmd":"stop"} {"cmd":"stop","quick":true}          → {"ok":true}
//	anything wrong                           → {"ok":false,"error":"…"}
//
// The server knows the master only through the Master interface, which
// *manager.Manager satisfies; every request becomes one query or action on
// the manager's loop, so the control socket changes nothing the loop does
// not decide.
//
// Invariants and pitfalls: a request line is at most MaxLine bytes and must
// arrive within the idle timeout, so a client that connects and stalls, or
// streams garbage, holds one connection slot for a bounded time and nothing
// else; at most MaxConns connections are served at once and the rest wait
// in the kernel's backlog rather than being dropped; Close stops accepting,
// ends every connection, joins every goroutine and removes the socket file
// only if it is still the one this server bound. A master killed with
// SIGKILL cannot remove its socket: the next master to start in the same
// directory sweeps it, once its pid is gone and nothing listens on it.
package control
