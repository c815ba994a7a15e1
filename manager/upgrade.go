package manager

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/pmux/pmux/pidfile"
	"github.com/pmux/pmux/spawn"
)

// The binary upgrade in the manager's terms: the old master
// fork-execs the binary at its start path as a child, handing it every
// listening socket; both serve; the operator stops one of them. The old
// master tracks its child like a worker (its exit arrives through Reap) and
// restores the pidfile when the child goes. The new master watches its
// parent and takes over the pidfile once the parent is gone.

// Environment variables that carry an upgrade from the old master to the
// new one; main reads and clears them.
const (
	UpgradeFDsVar    = "PMUX_UPGRADE_FDS"    // JSON list of listener keys, for fds 3, 4, …
	UpgradeParentVar = "PMUX_UPGRADE_PARENT" // the old master's pid
)

// PidfileStyle is how the pidfile moves during an upgrade.
type PidfileStyle int

const (
	// OldbinStyle (unicorn): the old master renames P to P.oldbin, the new
	// master writes P.
	OldbinStyle PidfileStyle = iota
	// NextStyle (gunicorn): the new master writes P.2 and renames it to P
	// once the old master is gone.
	NextStyle
)

// UpgradeOptions is what a master needs to start its successor.
type UpgradeOptions struct {
	Path    string   // the path pmux was started as, re-resolved at each upgrade
	Args    []string // its arguments, argv[0] included
	Dir     string   // its working directory at start
	Pidfile string
	Style   PidfileStyle
	// Parent is the old master's pid when this master is the new one of an
	// upgrade, while that old master lives; 0 otherwise.
	Parent int
	// ParentExited delivers once when Parent exits; nil without a parent.
	ParentExited <-chan struct{}
}

// upgradeState is the master's part in an upgrade.
type upgradeState struct {
	child  int // pid of the new master this one started, while it lives
	parent int // pid of the old master that started this one, while it lives
}

// HandedOff reports, once Run has returned, whether another master still
// serves the same sockets, so their unix socket files must stay.
func (m *Manager) HandedOff() bool {
	return m.upgrade.child != 0 || m.upgrade.parent != 0
}

func (m *Manager) startUpgrade() {
	u := m.opts.Upgrade
	switch {
	case u == nil:
		m.log.Warn().Str("event", "upgrade_unavailable").Msg("this master cannot upgrade itself")
		return
	case m.phase != running:
		return
	case m.upgrade.child != 0:
		m.log.Warn().Str("event", "upgrade_ignored").Int("child", m.upgrade.child).
			Msg("an upgrade is already in progress; stop one of the two masters first")
		return
	case m.upgrade.parent != 0:
		m.log.Warn().Str("event", "upgrade_ignored").Int("parent", m.upgrade.parent).
			Msg("this master is the new one of an upgrade in progress; stop one of the two masters first")
		return
	}
	var keys []string
	var files []*os.File
	for l := range m.known {
		keys = append(keys, l.Key())
		files = append(files, l.File)
	}
	encoded, err := json.Marshal(keys)
	if err != nil {
		m.upgradeFailed(fmt.Errorf("encode listener keys: %w", err))
		return
	}
	// The file at the start path now, which a deploy may have replaced.
	if err := checkExecutableFile(u.Path); err != nil {
		m.upgradeFailed(err)
		return
	}
	if u.Pidfile != "" && u.Style == OldbinStyle {
		if err := pidfile.Rename(u.Pidfile, pidfile.Oldbin(u.Pidfile), m.opts.MasterPID); err != nil {
			m.upgradeFailed(err)
			return
		}
	}
	env := MergeEnv(os.Environ(),
		UpgradeFDsVar+"="+string(encoded),
		UpgradeParentVar+"="+strconv.Itoa(m.opts.MasterPID))
	pid, err := m.opts.Spawner.Start(spawn.Spec{
		Path:   u.Path,
		Args:   u.Args,
		Env:    env,
		Dir:    u.Dir,
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Files:  files,
		Umask:  -1,
		Direct: true,
	})
	if err != nil {
		m.restorePidfile(0)
		m.upgradeFailed(err)
		return
	}
	m.upgrade.child = pid
	m.log.Info().Str("event", "upgrade_started").Int("child", pid).Str("path", u.Path).
		Msg("new master started; WINCH or QUIT this one to commit, QUIT the new one to roll back")
}

func (m *Manager) upgradeFailed(err error) {
	m.log.Error().Str("event", "upgrade_failed").Err(err).Msg("binary upgrade failed; this master keeps serving")
}

// childMasterExited handles the exit of the new master this one started:
// a rollback, a failed boot or a crash. The old master takes back the
// pidfile and carries on.
func (m *Manager) childMasterExited(exit spawn.Exit) {
	m.upgrade.child = 0
	m.restorePidfile(exit.Pid)
	m.log.Warn().Str("event", "upgrade_rolled_back").Int("child", exit.Pid).Str("status", exit.Describe()).
		Int("workers", m.totalTarget()).Msg("the new master exited; this master is in charge again (HUP brings its workers back after WINCH)")
}

// restorePidfile undoes the upgrade's pidfile moves; child is the new
// master's pid, 0 when it never started.
func (m *Manager) restorePidfile(child int) {
	u := m.opts.Upgrade
	if u == nil || u.Pidfile == "" {
		return
	}
	var err error
	switch u.Style {
	case OldbinStyle:
		err = pidfile.Rename(pidfile.Oldbin(u.Pidfile), u.Pidfile, m.opts.MasterPID)
	case NextStyle:
		if child != 0 {
			err = pidfile.Remove(pidfile.Next(u.Pidfile), child)
		}
	}
	if err != nil {
		m.log.Error().Str("event", "pidfile_restore_failed").Err(err).Msg("could not restore the pidfile")
	}
}

// parentMasterExited is the commit, seen from the new master: the old one
// is gone, this one takes over the pidfile and the supervisor's main pid.
func (m *Manager) parentMasterExited() {
	u := m.opts.Upgrade
	m.log.Info().Str("event", "upgrade_committed").Int("parent", m.upgrade.parent).Msg("the old master is gone; this master is in charge")
	m.upgrade.parent = 0
	m.opts.Observer.Upgraded()
	if u.Pidfile != "" && u.Style == NextStyle {
		if err := pidfile.Rename(pidfile.Next(u.Pidfile), u.Pidfile, m.opts.MasterPID); err != nil {
			m.log.Error().Str("event", "pidfile_takeover_failed").Err(err).Msg("could not take over the pidfile")
		}
	}
	m.takeOverSupervisor()
}

// takeOverSupervisor runs once this master is the supervisor's main pid:
// the old master told systemd MAINPID=<this one> and exited. Under
// NotifyAccess=main (systemd's default for Type=notify) systemd dropped
// every datagram this master sent while it was not the main pid, so its
// READY=1 and STATUS= are sent again, after the MAINPID= that covers an
// old master that died before it could say it. One that is not ready yet
// says READY=1 when it is, as at any start.
func (m *Manager) takeOverSupervisor() {
	if m.opts.Supervisor == nil {
		return
	}
	m.opts.Supervisor("MAINPID=" + strconv.Itoa(m.opts.MasterPID))
	if m.phase != running {
		return
	}
	if m.announcedReady && !m.reloading {
		m.opts.Supervisor("READY=1\nSTATUS=" + m.summary())
		return
	}
	m.opts.Supervisor("STATUS=" + m.summary())
}

// beforeExit runs as the last worker has gone: an old master hands the
// supervisor's main pid to its successor, and cleans its own pidfile.
func (m *Manager) beforeExit() {
	u := m.opts.Upgrade
	if m.upgrade.child != 0 && m.opts.Supervisor != nil {
		m.opts.Supervisor("MAINPID=" + strconv.Itoa(m.upgrade.child))
	}
	if u == nil || u.Pidfile == "" || m.upgrade.child == 0 {
		return
	}
	if u.Style == OldbinStyle {
		pidfile.Remove(pidfile.Oldbin(u.Pidfile), m.opts.MasterPID)
	}
}

func (m *Manager) totalTarget() int {
	n := 0
	for _, p := range m.pools {
		n += p.target
	}
	return n
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
