//go:build !linux

package sdnotify

import "errors"

// Socket needs SCM_CREDENTIALS, which only Linux has: `--ready notify`
// and `--watchdog` are refused elsewhere.
type Socket struct{}

// ErrNotSupported is returned by Listen outside Linux.
var ErrNotSupported = errors.New("sd_notify readiness is supported on Linux only")

// Listen fails outside Linux.
func Listen() (*Socket, error) { return nil, ErrNotSupported }

// Addr is empty outside Linux.
func (n *Socket) Addr() string { return "" }

// Messages is nil outside Linux.
func (n *Socket) Messages() <-chan Message { return nil }

// Close does nothing outside Linux.
func (n *Socket) Close() error { return nil }
