// Package proc is the one place pmux reads the Linux process file system
// (/proc) outside its tests: the stat, statm and status of a process, its
// environment, command line, open descriptors and threads, the master's own
// memory map, and the few machine-wide files the benchmarks report; and,
// for --ready auto and --timeout, what a thread waits on (Group): the
// system call it is blocked in (task/<tid>/syscall), the sets an epoll
// descriptor watches (fdinfo), and the poll array or select set in the
// thread's memory (mem).
//
// Keeping every reader here means each format is parsed once, and its
// pitfalls handled once:
//
//   - The command name, field 2 of /proc/<pid>/stat, is whatever the program
//     called itself: it may hold spaces and ')' (a worker named "a) b (c"),
//     so the other fields are counted from the LAST ')' of the line, never
//     by splitting the whole line on spaces.
//   - Times in stat are in clock ticks (USER_HZ, 100 on every Linux ABI Go
//     supports); the start time, with the pid, names one process whatever
//     pid reuse does.
//   - A process may exit between listing /proc and reading its files: every
//     reader returns the error (fs.ErrNotExist, fs.ErrPermission for another
//     user's process) and lets the caller decide; none panics or retries.
//   - /proc/<pid>/cmdline and environ are NUL-separated and empty for a
//     zombie or a kernel thread.
//   - A syscall file is only as true as the moment it was read: a thread
//     seen in accept may have returned by the time its fd is resolved, so
//     Group reads it again before it believes it. Its numbers are the
//     architecture's own (arm64 has no poll, select or epoll_wait, only
//     ppoll, pselect6 and epoll_pwait), in syscalls_<arch>.go. Reading
//     syscall, fdinfo and mem needs the right to ptrace the process: an
//     ancestor has it (pmux is every worker's), and root has it whatever
//     user the worker runs as.
//
// The parsers (ParseStat, ParseStatm, ParseStatus, ParseMaps, ParseSyscall,
// ParseEpollTargets, ParsePollFDs, ParseFDSet) are pure and
// build everywhere, so they are tested on recorded samples in testdata. The
// readers touch /proc and exist on Linux only; elsewhere they return
// ErrNotSupported. An FS names a mount point, so a test can point a reader
// at a fake tree; the package-level functions read /proc.
package proc
