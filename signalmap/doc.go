// Package signalmap is pmux's signal vocabulary: which master action a
// signal asks for under each signal profile, and how signal names are
// spelled on the command line and in the config file. It is pure data: it
// registers no handler, sends no signal and does no I/O.
//
// # Model
//
// A Profile names the conventions of one upstream server (unicorn, gunicorn,
// puma, pitchfork). For(profile) returns its Map: the signal table's column for
// that profile plus the profile's TTOU floor. Map.With applies the config
// file's [signals] table on top and returns a new Map; a Map is a value and is
// never changed in place, so the manager can swap maps on reload without
// sharing mutable state with anyone.
//
// Every profile handles the same set of signals (Map.Signals): main registers
// exactly that set, once, and hands the channel to the manager, which asks
// Map.Action what to do. A signal outside the set maps to None.
//
// # Invariants
//
//   - The table in signalmap.go is the README's signal table, row for row; the tests and
//     the golden files in testdata/ pin every cell.
//   - Overrides change actions only, never the set of handled signals nor the
//     floor, so the registration made at start-up stays valid across reloads.
//   - Name(ParseSignal(s)) parses back to the same signal for every s that
//     ParseSignal accepts (fuzzed).
//
// # Pitfalls
//
//   - Signal numbers differ between systems (USR1 is 10 on Linux, 30 on
//     macOS), so the [signals] table takes names only; ParseSignal accepts
//     numbers for the command line, where they mean this system's numbers.
//   - Linux has no SIGINFO and macOS has no SIGPWR: status_dump is on PWR on
//     Linux and on INFO (Ctrl-T) on the BSDs and macOS. The platform files
//     define which.
//   - ReopenLogsOrGracefulStop (puma's HUP) depends on run-time state this
//     package does not know; the manager resolves it with Action.Resolve.
//   - Whether stop_workers (WINCH) is honoured depends on the terminal, and a
//     signal's count is not reliable (the kernel coalesces pending signals):
//     both are the manager's business, not this table's.
package signalmap
