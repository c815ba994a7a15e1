// Package spawn starts one worker process and nothing more.
//
// The model: the master asks a Spawner to start a command with a prepared
// environment and a list of listening sockets. The child becomes the leader
// of a new process group, gets the sockets as fds 3, 4, … and nothing else
// beyond 0, 1 and 2, and runs with default signal dispositions and an empty
// signal mask. The master never waits on a single pid: Reap collects every
// exited child (workers and orphans alike, since pmux is a subreaper) when
// SIGCHLD arrives, so no per-worker waiter goroutine exists.
//
// Pitfalls this package exists to handle:
//
//   - LISTEN_PID must equal the pid the exec'd program reads from getpid(),
//     but Go cannot run code between fork and exec. So the master execs its
//     own binary (the shim, recognised by an environment marker); the shim
//     sets LISTEN_PID to its own pid, resets signal state and the umask, and
//     execs the command. exec keeps the pid, so the value is exact. The shim
//     does it from the init of package shim, before the rest of the binary
//     initialises, so that a start costs the CPU of a small program, not
//     of pmux's whole CLI.
//   - A parent-death signal belongs to the OS thread that forked, not to the
//     process (golang/go#27505): if that thread exits, the kernel signals the
//     child as if the master had died. Every fork therefore happens on one
//     of a few goroutines, each locked to its thread for the Spawner's
//     whole life; several, so that StartAll forks a reload's workers side
//     by side and one slow start holds up only its own thread.
//   - A parent-death signal reaches the direct child only. A worker that
//     is a wrapper (sh -c 'app; echo bye', npm start) forks the app, which
//     would outlive a master killed with SIGKILL, re-parented to init. So
//     each master starts a guard (StartGuard): pmux again, in a group of
//     its own, stopped, with the read end of a pipe whose write end only
//     the master has. However the master ends, the kernel closes the pipe and
//     continues the guard (its parent-death signal is SIGCONT), which
//     SIGKILLs every process whose environment names the master in
//     PMUX_MASTER_PID (inherited by whatever a worker forks, even a child
//     that left the group with setsid) and each one's process group. A
//     cgroup would need root or a delegated subtree, and under systemd the
//     unit's cgroup already gets this (KillMode=control-group); the guard
//     works unprivileged, in a terminal, a container or an init script.
//     It escapes only what both clears its environment at exec and leaves
//     the group, and needs /proc, so it runs on Linux only.
//   - Go keeps an inherited SIG_IGN for INT and HUP, and exec keeps ignored
//     dispositions, so a master started with `&` from a shell would hand
//     ignored signals to its workers. The shim resets every disposition.
package spawn
