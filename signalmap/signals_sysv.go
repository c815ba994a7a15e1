//go:build aix || solaris

package signalmap

import "syscall"

// statusSignal asks for status_dump. These systems have SIGPWR and no
// SIGINFO, as Linux.
const statusSignal = syscall.SIGPWR

var platformNames = []struct {
	name string
	sig  syscall.Signal
}{
	{"PWR", syscall.SIGPWR},
}

var aliasNames = []struct {
	name string
	sig  syscall.Signal
}{
	{"IOT", syscall.SIGIOT},
}
