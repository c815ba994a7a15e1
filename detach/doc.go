// Package detach is both ends of pmux's -D: the launcher, which is the
// command the user ran, and the daemonized master it starts.
//
// The launcher starts pmux anew in a session of its own, with stdout and
// stderr on the log file (or /dev/null), and waits on a pipe for one
// line: "ready" once the master's first generation serves, or
// "exit N message" when its start failed with exit code N. So the
// launching command's exit status says whether the service runs, as an
// init script expects, and a failed start prints its own one line.
//
// Pitfalls: the master learns the pipe's fd from an environment variable
// that it must clear before anything it starts inherits the environment;
// the pipe is written once, then closed, whichever comes first (ready or
// a failure); a launcher gives up after a bound, leaving a master whose
// workers never get ready to its own retries and naming its pid.
package detach
