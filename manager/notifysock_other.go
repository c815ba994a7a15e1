//go:build !linux

package manager

import "errors"

// NotifySocket needs SCM_CREDENTIALS, which only Linux has: `--ready notify`
// and `--watchdog` are refused elsewhere.
type NotifySocket struct{}

// ErrNotifyUnsupported is returned by ListenNotify outside Linux.
var ErrNotifyUnsupported = errors.New("sd_notify readiness is supported on Linux only")

// ListenNotify fails outside Linux.
func ListenNotify() (*NotifySocket, error) { return nil, ErrNotifyUnsupported }

// Addr is empty outside Linux.
func (n *NotifySocket) Addr() string { return "" }

// Messages is nil outside Linux.
func (n *NotifySocket) Messages() <-chan NotifyMessage { return nil }

// Close does nothing outside Linux.
func (n *NotifySocket) Close() error { return nil }
