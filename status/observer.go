package status

import "time"

// Observer is told of what happens to workers, for metrics. Its methods are
// called on the master's loop and must not block.
type Observer interface {
	WorkerSpawned(pool string, spawnTime time.Duration)
	// WorkerExited reports an exit; cause is "stopped" (asked to), "crashed"
	// (unexpected), "boot_timeout", "watchdog" or "start_failed".
	WorkerExited(pool, cause string)
	GenerationStarted(pool string, rolling bool)
	// Upgraded reports a binary upgrade that left this master in charge.
	Upgraded()
}
