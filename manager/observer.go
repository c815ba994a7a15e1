package manager

import "time"

// nopObserver is the Observer of a master without metrics.
type nopObserver struct{}

func (nopObserver) WorkerSpawned(string, time.Duration) {}
func (nopObserver) WorkerExited(string, string)         {}
func (nopObserver) GenerationStarted(string, bool)      {}
func (nopObserver) Upgraded()                           {}
