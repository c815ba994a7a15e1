//go:build !linux

package proc

// ListenQueues needs Linux's sock_diag.
func ListenQueues() (map[uint64]ListenQueue, error) { return nil, ErrNotSupported }
