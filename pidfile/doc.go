// Package pidfile owns the master's pidfile: the file at a configured path
// that holds the pid of the pmux master serving there, as `PID\n`, so that
// scripts, init systems and `pmux status --pidfile` can find it.
//
// # Model
//
// The pidfile is a claim, not a lock. A master claims the path with Acquire
// after its sockets are bound: a file naming a live pmux is refused with a
// *RunningError; a file naming a dead process, a live process that is not a
// pmux (the pid was reused), or no valid pid at all is stale and is replaced,
// and Acquire says so, so the caller can log a warning. At exit the master
// calls Remove, which deletes the file only if it still holds the master's
// own pid: after a binary upgrade the file names the new master, and the old
// one must not delete it. The upgrade moves the claim with Rename:
// P → P.oldbin (Oldbin) and back on rollback in the unicorn profile; P.2
// (Next) → P in the gunicorn profile.
//
// # Invariants
//
//   - Readers never see a partial file: every write goes to a temporary file
//     in the same directory, then rename(2) puts it in place. The temporary
//     file never outlives a failed Write.
//   - Nothing but the pidfile (and, for an instant, its temporary file) is
//     created: no directories, no lock files.
//   - Remove and Rename act only on a file that holds the caller's pid.
//   - A pid is 1..MaxInt32: Alive never probes pid 0 or -1, which kill(2)
//     reads as "my process group" and "every process".
//
// # Pitfalls
//
//   - Check then act: between reading the file and renaming over it, another
//     process can change it. Two masters started at the same instant on the
//     same pidfile can both succeed; the listening sockets, bound before the
//     pidfile is written, are what really keeps two masters apart.
//   - "Is this pid a pmux?" is a guess. On Linux it reads the name the
//     process was started as and its executable from /proc, and when it
//     cannot tell (another user's process behind hidepid) it answers yes, so
//     the doubt ends in a clear error rather than two masters. Elsewhere only
//     liveness is checked, so a reused pid blocks start until the file is
//     removed. A pmux binary renamed to something without "pmux" in its name
//     is not recognised.
package pidfile
