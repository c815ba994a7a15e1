package pidfile

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/pmux/pmux/internal/proc"
)

// IsPmux reports whether pid is a live process that is a pmux: the base name
// of the program it was started as (argv[0]) or of its executable contains
// "pmux". When /proc cannot say (another user's process, /proc mounted with
// hidepid), a live pid counts as a pmux: refusing to start with a clear error
// is better than two masters on one pidfile.
func IsPmux(pid int) bool {
	return Alive(pid) && looksLikePmux(proc.Default, pid)
}

// looksLikePmux answers for a pid already known to be alive; procfs is
// the proc file system it is read from.
func looksLikePmux(procfs proc.FS, pid int) bool {
	argv0 := ""
	if args, err := procfs.Cmdline(pid); err == nil && len(args) > 0 {
		argv0 = args[0]
		if namesPmux(argv0) {
			return true
		}
	}
	// The link reads "/usr/bin/pmux (deleted)" once an upgrade replaced the
	// binary, which still names pmux.
	exe, exeErr := procfs.Exe(pid)
	switch {
	case exeErr == nil:
		return namesPmux(exe)
	case argv0 != "":
		// exe is unreadable (EACCES for another user's process) but argv[0]
		// was read and does not name pmux, which never renames itself.
		return false
	case errors.Is(exeErr, fs.ErrNotExist):
		if procfs.Visible(pid) {
			// Visible but with neither argv nor executable: a zombie or a
			// kernel thread. A zombie pmux is a dead one.
			return false
		}
		// Invisible yet alive: hidepid hides it, unless it just died.
		return Alive(pid)
	default:
		return true
	}
}

func namesPmux(path string) bool {
	return strings.Contains(filepath.Base(path), "pmux")
}
