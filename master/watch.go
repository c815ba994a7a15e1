package master

import (
	"context"
	"time"

	"github.com/pmux/pmux/config"
	"github.com/pmux/pmux/manager"
)

// watchDebounce lets an editor's save or a deploy's burst of writes settle
// into one restart.
const watchDebounce = 300 * time.Millisecond

// watchPools rolling-restarts each pool when a path it watches changes.
// A path that cannot be watched fails the start. The paths are those of the
// start-up configuration; a reload does not change them.
func watchPools(cfg *config.Config, mgr *manager.Manager) (stop func(), err error) {
	var watchers []*config.Watcher
	stop = func() {
		for _, w := range watchers {
			w.Close()
		}
	}
	for _, p := range cfg.Pools {
		if len(p.Watch) == 0 {
			continue
		}
		name := p.Name
		w, err := config.NewWatcher(p.Watch, watchDebounce, func(string) {
			// Query waits for the loop, so a burst cannot pile up requests;
			// it fails only once the master is stopping, when there is
			// nothing left to restart.
			_ = mgr.RollingRestart(context.Background(), name)
		})
		if err != nil {
			stop()
			return nil, err
		}
		watchers = append(watchers, w)
	}
	return stop, nil
}
