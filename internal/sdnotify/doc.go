// Package sdnotify is pmux's one implementation of systemd's sd_notify
// protocol, in both directions.
//
// Towards pmux's own supervisor (systemd, or a -D launcher's stand-in):
// Notifier queues states and sends them from a goroutine of its own, so the
// master's loop never blocks on a supervisor that reads slowly or not at
// all; WatchdogPeriod reads the watchdog systemd asked of this process.
// Send is the one-shot form for a process with nothing else to do.
//
// From pmux's workers: Listen opens the master's notify socket, in the
// abstract namespace (no file to remove), and delivers each datagram as a
// Message with the sender's pid as the kernel vouched for it
// (SCM_CREDENTIALS); a datagram without credentials is dropped, so a
// process cannot speak for a worker. Parse splits a datagram into fields.
//
// Pitfalls: a leading '@' in NOTIFY_SOCKET names an abstract socket;
// RELOADING=1 must carry MONOTONIC_USEC (ReloadingState); credentials need
// Linux, so Listen returns ErrNotSupported elsewhere.
package sdnotify
