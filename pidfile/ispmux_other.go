//go:build !linux

package pidfile

// IsPmux reports whether pid is a live process. Without /proc there is no
// portable way to learn what program a pid runs, so any live process counts
// as a pmux: a reused pid blocks start, with an error that says to remove the
// file, rather than risk two masters.
func IsPmux(pid int) bool { return Alive(pid) }
