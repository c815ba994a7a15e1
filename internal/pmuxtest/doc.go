// Package pmuxtest is the harness of the tests that drive pmux as a user
// does: the real binary, real processes, real signals and sockets.
//
// Main builds the binaries once per test run (pmux itself, a second pmux
// that reports another version, to upgrade to, and the small test worker of
// testdata/worker), with -race when the tests run under the race detector,
// so the master's own goroutines are checked while the tests drive it. It
// runs the tests from the repository's root, where a user types the
// commands, and gives every master a private XDG_RUNTIME_DIR, so no control
// socket lands in the machine's /tmp. Everything it made is gone when the
// run ends.
//
// The helpers that start a command and wait for it bound every wait: a
// command that outlives its deadline is killed with its process group and
// fails the test.
package pmuxtest
