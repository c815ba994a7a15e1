package status

import "errors"

// MaxWorkers bounds a pool's worker count.
const MaxWorkers = 1024

var (
	// ErrStopped is returned by requests made after the loop has returned.
	ErrStopped = errors.New("manager stopped")
	// ErrNoPool is returned for a pool name the master does not run.
	ErrNoPool = errors.New("no such pool")
	// ErrBadCount is returned for a worker count out of range.
	ErrBadCount = errors.New("worker count out of range 0..1024")
	// ErrBelowFloor is returned for a decrease below the profile's floor.
	ErrBelowFloor = errors.New("below the signal profile's minimum")
	// ErrStopping is returned for a change asked of a stopping master.
	ErrStopping = errors.New("the master is stopping")
)
