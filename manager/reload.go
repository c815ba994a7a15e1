package manager

import (
	"github.com/pmux/pmux/internal/sdnotify"
	"github.com/pmux/pmux/signalmap"
	"github.com/pmux/pmux/sockets"
)

// Reloaded is a configuration read anew for a reload: the pools as they
// should be now, their listeners already open (reused or new), and the
// signal table.
type Reloaded struct {
	Pools   []PoolConfig
	Signals signalmap.Map
}

// A reload re-reads the configuration off the loop (it is file I/O and may
// bind sockets), then applies it on the loop: pools are matched by name;
// a new pool starts, a removed one is stopped gracefully and dropped once
// empty, and every remaining pool gets a new generation, surge-first, with
// its new settings. A configuration that fails changes nothing.

func (m *Manager) reload() {
	if m.opts.Reload == nil {
		m.restart(true)
		return
	}
	if m.reloadPending {
		m.log.Info().Str("event", "reload_coalesced").Msg("a configuration reload is already under way")
		return
	}
	m.reloadPending = true
	m.reloading = true
	if m.opts.Supervisor != nil {
		m.opts.Supervisor(sdnotify.ReloadingState())
	}
	m.helpers.Add(1)
	ctx := m.running
	go func() {
		defer m.helpers.Done()
		cfg, err := m.opts.Reload(ctx)
		m.post(func() { m.applyReload(cfg, err) })
	}()
}

func (m *Manager) applyReload(cfg *Reloaded, err error) {
	m.reloadPending = false
	if err != nil && m.phase != running {
		m.log.Info().Str("event", "config_reload_abandoned").Err(err).Msg("the master is stopping; reload given up")
		m.releaseUnused(nil)
		return
	}
	if err != nil {
		m.log.Error().Str("event", "config_reload_failed").Err(err).Msg("configuration not reloaded; the workers keep serving as they are")
		m.reloading = true // so READY=1 follows the RELOADING=1 already sent
		m.updateSupervisor()
		m.releaseUnused(nil) // what was held back while the reload was read
		return
	}
	if m.phase != running {
		m.releaseUnused(cfg.Pools)
		return
	}
	m.opts.Signals = cfg.Signals
	byName := make(map[string]*pool, len(m.pools))
	for _, p := range m.pools {
		byName[p.cfg.Name] = p
	}
	var pools []*pool
	for i := range cfg.Pools {
		pc := cfg.Pools[i]
		p, ok := byName[pc.Name]
		if !ok {
			m.log.Info().Str("event", "pool_added").Str("pool", pc.Name).Int("workers", pc.Workers).Msg("new pool")
			p = &pool{generation: 0}
		}
		delete(byName, pc.Name)
		p.cfg = &pc
		pools = append(pools, p)
	}
	for _, p := range byName {
		m.log.Info().Str("event", "pool_removed").Str("pool", p.cfg.Name).Msg("pool no longer configured; stopping its workers")
		p.removed = true
		pools = append(pools, p)
	}
	m.pools = pools
	m.armRSSCheck()
	m.armTimeouts()
	m.restart(true)
	m.releaseUnused(nil)
}

// dropEmptyRemovedPools forgets removed pools whose last worker has gone.
func (m *Manager) dropEmptyRemovedPools() {
	kept := m.pools[:0]
	for _, p := range m.pools {
		if p.removed && p.live() == 0 {
			m.log.Info().Str("event", "pool_dropped").Str("pool", p.cfg.Name).Msg("removed pool has stopped")
			continue
		}
		kept = append(kept, p)
	}
	m.pools = kept
}

func (p *pool) live() int {
	n := 0
	for _, s := range p.slots {
		n += len(s.workers)
	}
	return n
}

// releaseUnused hands back every listener that no pool and no live worker
// uses any more (plus those of extra, a reload that came too late), so a
// removed bind closes once its last worker has gone.
//
// Nothing is released while a reload is being read: the reload may keep a
// bind, and so reuse its listener, which must stay open until it applies.
func (m *Manager) releaseUnused(extra []PoolConfig) {
	if m.opts.ReleaseListener == nil || m.reloadPending {
		return
	}
	inUse := map[*sockets.Listener]bool{}
	for _, p := range m.pools {
		for _, l := range p.cfg.Listeners {
			inUse[l] = true
		}
		for _, s := range p.slots {
			for _, w := range s.workers {
				for _, l := range w.cfg.Listeners {
					inUse[l] = true
				}
			}
		}
	}
	for _, pc := range extra {
		for _, l := range pc.Listeners {
			m.known[l] = true
		}
	}
	for _, p := range m.pools {
		for _, l := range p.cfg.Listeners {
			m.known[l] = true
		}
	}
	for l := range m.known {
		if !inUse[l] {
			delete(m.known, l)
			m.opts.ReleaseListener(l)
		}
	}
}
