// Package master assembles and runs one pmux master from a resolved
// configuration: it resolves pools (programs, users, environments), opens
// or adopts the listening sockets, claims the pidfile, starts the guard,
// the control socket and the metrics, and runs the manager's loop until it
// stops, releasing on every path out what it opened, so a failed start
// leaves no socket file, pidfile or worker behind.
//
// A reload reads the configuration anew through the Setup's Source (the
// file and the command line over it, as data), resolves it once, off the
// manager's loop, and opens only the sockets of new binds; settings of the
// master itself (pidfile, log, worker output, metrics) keep their start-up
// values.
//
// Failures are marked with whose fault they are (package fault); the
// command line picks the exit code.
package master
