package manager

import (
	"os"
	"strconv"

	"github.com/pmux/pmux/spawn"
)

// The binary upgrade in the manager's terms: the old master starts a new
// one as a child, handing it every listening socket; both serve; the
// operator stops one of them. The old master tracks its child like a worker
// (its exit arrives through Reap); the new master watches its parent. What
// moves files and starts the process is a Handover's (package handover);
// the manager decides when.

// Handover is the file and process work of a binary upgrade.
type Handover interface {
	// StartSuccessor starts the new master through start, handing it
	// files named by keys, and returns its pid; on failure nothing moved.
	StartSuccessor(start func(spawn.Spec) (int, error), keys []string, files []*os.File) (int, error)
	// SuccessorExited undoes the hand-over once the new master (child; 0
	// if it never started) is gone: this master is in charge again.
	SuccessorExited(child int) error
	// ParentExited is the commit seen from the new master.
	ParentExited() error
	// Leaving is the commit seen from the old master, on its way out.
	Leaving() error
}

// UpgradeOptions is what a master needs for upgrades.
type UpgradeOptions struct {
	Handover Handover
	// Binary, Args and Dir are what a successor is started as, for status.
	Binary string
	Args   []string
	Dir    string
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
	for _, l := range m.opts.Listeners.All() {
		keys = append(keys, l.Key())
		files = append(files, l.File)
	}
	start := m.opts.Spawner.Start
	if m.opts.SupervisorWatchdog > 0 {
		// systemd names the one pid whose pings count (WATCHDOG_PID), and
		// a master pings when that is itself or its parent. A master that
		// feeds the watchdog names itself for its successor, so the duty
		// passes on at every upgrade, not only the first.
		start = func(spec spawn.Spec) (int, error) {
			spec.Env = spawn.MergeEnv(spec.Env, "WATCHDOG_PID="+strconv.Itoa(m.opts.MasterPID))
			return m.opts.Spawner.Start(spec)
		}
	}
	pid, err := u.Handover.StartSuccessor(start, keys, files)
	if err != nil {
		m.upgradeFailed(err)
		return
	}
	m.upgrade.child = pid
	m.supervisorStatus("upgrading: new master " + strconv.Itoa(pid) + " started; ")
	m.log.Info().Str("event", "upgrade_started").Int("child", pid).Str("path", u.Binary).
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
	if err := m.opts.Upgrade.Handover.SuccessorExited(exit.Pid); err != nil {
		m.log.Error().Str("event", "pidfile_restore_failed").Err(err).Msg("could not restore the pidfile")
	}
	m.supervisorStatus("")
	m.log.Warn().Str("event", "upgrade_rolled_back").Int("child", exit.Pid).Str("status", exit.Describe()).
		Int("workers", m.totalTarget()).Msg("the new master exited; this master is in charge again (HUP brings its workers back after WINCH)")
}

// parentMasterExited is the commit, seen from the new master: the old one
// is gone, this one takes over the pidfile and the supervisor's main pid.
func (m *Manager) parentMasterExited() {
	u := m.opts.Upgrade
	m.log.Info().Str("event", "upgrade_committed").Int("parent", m.upgrade.parent).Msg("the old master is gone; this master is in charge")
	m.upgrade.parent = 0
	m.opts.Observer.Upgraded()
	if err := u.Handover.ParentExited(); err != nil {
		m.log.Error().Str("event", "pidfile_takeover_failed").Err(err).Msg("could not take over the pidfile")
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
	state := "MAINPID=" + strconv.Itoa(m.opts.MasterPID)
	if m.opts.SupervisorWatchdog > 0 {
		// Under NotifyAccess=main the pings this master sent before were
		// dropped too, and its next may be half a period away: upgrades
		// in a row would leave systemd without one for longer than its
		// period.
		state += "\nWATCHDOG=1"
	}
	m.opts.Supervisor(state)
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
	// The status goes with MAINPID= in one datagram, which systemd takes
	// from this master while it is the main pid; from then on the status
	// is the new master's to say.
	if m.upgrade.child != 0 && m.opts.Supervisor != nil {
		m.opts.Supervisor("MAINPID=" + strconv.Itoa(m.upgrade.child) +
			"\nSTATUS=handed over to new master " + strconv.Itoa(m.upgrade.child))
	}
	if u == nil || m.upgrade.child == 0 {
		return
	}
	if err := u.Handover.Leaving(); err != nil {
		m.log.Error().Str("event", "pidfile_remove_failed").Err(err).Msg("could not remove the old master's pidfile")
	}
}

// supervisorStatus sends STATUS= with what the master serves, after
// prefix, so that `systemctl status` shows an upgrade under way.
func (m *Manager) supervisorStatus(prefix string) {
	if m.opts.Supervisor != nil && m.phase == running {
		m.opts.Supervisor("STATUS=" + prefix + m.summary())
	}
}

func (m *Manager) totalTarget() int {
	n := 0
	for _, p := range m.pools {
		n += p.target
	}
	return n
}
