package status

import "time"

// Status is a snapshot of the master, for status_dump, the control socket
// and `pmux status`.
type Status struct {
	MasterPID int    `json:"master_pid"`
	Phase     string `json:"phase"`
	// UpgradeChild is the new master this one started, while it lives;
	// UpgradeParent the old master that started this one, while it lives.
	UpgradeChild  int `json:"upgrade_child,omitempty"`
	UpgradeParent int `json:"upgrade_parent,omitempty"`
	// Binary, Args and Dir are what an upgrade would run: the path this
	// master was started as, its arguments and working directory.
	Binary string       `json:"binary,omitempty"`
	Args   []string     `json:"args,omitempty"`
	Dir    string       `json:"dir,omitempty"`
	Pools  []PoolStatus `json:"pools"`
	// Reload counts the reloads this master was asked for, so a client
	// can wait for the one it asked for (pmux reload --wait).
	Reload ReloadStatus `json:"reload"`
}

// ReloadStatus is how far the reloads (HUP, pmux reload) have got. A
// reload is finished once every pool serves with its new generation alone,
// or once its configuration failed; reloads that overlap finish together.
type ReloadStatus struct {
	Started  int `json:"started"`
	Finished int `json:"finished"`
	// Error is why the last finished reload changed nothing; "" when it
	// served.
	Error string `json:"error,omitempty"`
}

// PoolStatus is one pool in a Status.
type PoolStatus struct {
	Name       string         `json:"name"`
	Target     int            `json:"target"`
	Generation int            `json:"generation"`
	Workers    []WorkerStatus `json:"workers"`
	// Listeners are the pool's sockets, in bind order.
	Listeners []ListenerStatus `json:"listeners"`
}

// ListenerStatus is one listening socket of a pool and its accept queue:
// what unicorn users read with raindrops.
type ListenerStatus struct {
	Bind string `json:"bind"` // as configured: tcp://127.0.0.1:8000, unix:/run/app.sock
	Addr string `json:"addr"` // where it listens
	// Queued is how many connections wait in the socket's accept backlog,
	// complete but accepted by no worker yet; Backlog is how many the
	// kernel queues at most. Both are missing where the kernel cannot say
	// (outside Linux).
	Queued  *int `json:"queued,omitempty"`
	Backlog int  `json:"backlog,omitempty"`

	Inode uint64 `json:"-"` // the socket's, to find it in the kernel's tables
}

// WorkerStatus is one live worker in a Status.
type WorkerStatus struct {
	Slot       int       `json:"slot"`
	Pid        int       `json:"pid"`
	Generation int       `json:"generation"`
	State      string    `json:"state"`
	Started    time.Time `json:"started"`
	AgeSeconds float64   `json:"age_seconds"`
	Restarts   int       `json:"restarts"`
	RSS        int64     `json:"rss_bytes"`
	LastExit   string    `json:"last_exit,omitempty"`
	Status     string    `json:"status,omitempty"`
	// Activity is what the worker does: booting (not ready yet), waiting
	// (a process of it waits on the pool's sockets: idle) or busy (none
	// does: serving); empty when pmux cannot tell (a worker stopping, a
	// pool without sockets, no /proc). ActivitySeconds is how long it has
	// been so, as far as pmux's looks know.
	Activity        string  `json:"activity,omitempty"`
	ActivitySeconds float64 `json:"activity_seconds,omitempty"`
}
