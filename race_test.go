//go:build race

package main

// raceEnabled builds the pmux under test with -race too, so the master's
// own goroutines are checked while integration tests drive it.
const raceEnabled = true
