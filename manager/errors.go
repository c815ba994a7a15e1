package manager

import "errors"

// ErrStopped is returned by requests made after the loop has returned.
var ErrStopped = errors.New("manager stopped")
