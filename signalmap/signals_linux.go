package signalmap

import "syscall"

// statusSignal asks for status_dump. Linux has no SIGINFO, so pmux borrows
// SIGPWR, which nothing else sends to a server process.
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
	{"POLL", syscall.SIGPOLL},
	{"CLD", syscall.SIGCHLD},
}
