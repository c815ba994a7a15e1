//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package signalmap

import "syscall"

// statusSignal asks for status_dump. These systems have SIGINFO, which a
// terminal sends on Ctrl-T precisely to ask for status, and macOS has no
// SIGPWR.
const statusSignal = syscall.SIGINFO

var platformNames = []struct {
	name string
	sig  syscall.Signal
}{
	{"EMT", syscall.SIGEMT},
	{"INFO", syscall.SIGINFO},
}

var aliasNames = []struct {
	name string
	sig  syscall.Signal
}{
	{"IOT", syscall.SIGIOT},
}
