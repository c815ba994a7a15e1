package manager

// pingSupervisor keeps systemd's watchdog fed (WatchdogSec=) at half its
// period. Both masters of an upgrade ping, so the pings never pause during
// the hand-over. This is the master's only periodic wake-up, and it exists
// only when the supervisor asked for it.
func (m *Manager) pingSupervisor() {
	if m.opts.Supervisor == nil || m.opts.SupervisorWatchdog <= 0 {
		return
	}
	m.opts.Supervisor("WATCHDOG=1")
	m.after(m.opts.SupervisorWatchdog/2, m.pingSupervisor)
}
