//go:build !race

package pmuxtest

const raceEnabled = false
