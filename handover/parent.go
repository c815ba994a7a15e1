package handover

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/pmux/pmux/pidfile"
	"github.com/pmux/pmux/spawn"
)

// Style is how the pidfile moves during an upgrade.
type Style int

const (
	// Oldbin (unicorn): the old master renames P to P.oldbin, the new
	// master writes P.
	Oldbin Style = iota
	// Next (gunicorn): the new master writes P.2 and renames it to P once
	// the old master is gone.
	Next
)

// Master is one master's part in upgrades: it starts its successor and
// moves the pidfile as the hand-over goes. A master is both ends in
// turn: the new master of one upgrade is the old one of the next.
type Master struct {
	Origin
	PID     int
	Pidfile string // "" without a pidfile
	Style   Style
}

// ClaimPidfile writes this master's pidfile at start: P, or P.2 for the
// new master of a gunicorn-style upgrade while its parent lives. It
// returns the pid of a dead master whose stale pidfile it replaced (0 if
// none) and a release that removes whichever of this master's pidfiles
// still name it, for the master's way out.
func (m *Master) ClaimPidfile(parent int) (stale int, release func(), err error) {
	if m.Pidfile == "" {
		return 0, func() {}, nil
	}
	path := m.Pidfile
	if parent != 0 && m.Style == Next {
		path = pidfile.Next(m.Pidfile)
	}
	stale, err = pidfile.Acquire(path, m.PID)
	if err != nil {
		return 0, nil, err
	}
	return stale, func() {
		pidfile.Remove(m.Pidfile, m.PID)
		pidfile.Remove(pidfile.Next(m.Pidfile), m.PID)
	}, nil
}

// StartSuccessor starts the new master through start, handing it files
// named by keys, and returns its pid. On failure the pidfile is as it was.
func (m *Master) StartSuccessor(start func(spawn.Spec) (int, error), keys []string, files []*os.File) (int, error) {
	encoded, err := json.Marshal(keys)
	if err != nil {
		return 0, fmt.Errorf("encode listener keys: %w", err)
	}
	// The file at the start path now, which a deploy may have replaced.
	if err := checkExecutableFile(m.Path); err != nil {
		return 0, err
	}
	if m.Pidfile != "" && m.Style == Oldbin {
		if err := pidfile.Rename(m.Pidfile, pidfile.Oldbin(m.Pidfile), m.PID); err != nil {
			return 0, err
		}
	}
	pid, err := start(spawn.Spec{
		Path:   m.Path,
		Args:   m.Args,
		Env:    spawn.MergeEnv(os.Environ(), fdsVar+"="+string(encoded), parentVar+"="+strconv.Itoa(m.PID)),
		Dir:    m.Dir,
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Files:  files,
		Umask:  -1,
		Direct: true,
	})
	if err != nil {
		if rerr := m.SuccessorExited(0); rerr != nil {
			err = fmt.Errorf("%w (and %v)", err, rerr)
		}
		return 0, err
	}
	return pid, nil
}

// SuccessorExited undoes the hand-over's pidfile moves once the new master
// (pid child, 0 when it never started) is gone: a rollback or a failed
// boot. This master is in charge again.
func (m *Master) SuccessorExited(child int) error {
	if m.Pidfile == "" {
		return nil
	}
	switch m.Style {
	case Oldbin:
		return pidfile.Rename(pidfile.Oldbin(m.Pidfile), m.Pidfile, m.PID)
	case Next:
		if child != 0 {
			return pidfile.Remove(pidfile.Next(m.Pidfile), child)
		}
	}
	return nil
}

// ParentExited is the commit seen from the new master: the old one is
// gone, and this one takes over the pidfile.
func (m *Master) ParentExited() error {
	if m.Pidfile == "" || m.Style != Next {
		return nil
	}
	return pidfile.Rename(pidfile.Next(m.Pidfile), m.Pidfile, m.PID)
}

// Leaving is the commit seen from the old master, on its way out while
// its successor serves: its P.oldbin goes.
func (m *Master) Leaving() error {
	if m.Pidfile == "" || m.Style != Oldbin {
		return nil
	}
	return pidfile.Remove(pidfile.Oldbin(m.Pidfile), m.PID)
}

func checkExecutableFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("new binary %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("new binary %s: not an executable file", path)
	}
	return nil
}
