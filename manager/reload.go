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
		m.reloads.Started++
		m.restart(true)
		return
	}
	if m.reloadPending {
		m.log.Info().Str("event", "reload_coalesced").Msg("a configuration reload is already under way")
		return
	}
	m.reloadPending = true
	m.reloading = true
	m.reloads.Started++
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
		return
	}
	if err != nil {
		m.log.Error().Str("event", "config_reload_failed").Err(err).Msg("configuration not reloaded; the workers keep serving as they are")
		m.reloads.Finished = m.reloads.Started
		m.reloads.Error = err.Error()
		m.reloading = true // so READY=1 follows the RELOADING=1 already sent
		m.updateSupervisor()
		return
	}
	if m.phase != running {
		for _, pc := range cfg.Pools {
			m.opts.Listeners.Release(pc.Listeners)
		}
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
		if p.cfg != nil {
			m.opts.Listeners.Release(p.cfg.Listeners)
		}
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
}

// dropEmptyRemovedPools forgets removed pools whose last worker has gone.
func (m *Manager) dropEmptyRemovedPools() {
	kept := m.pools[:0]
	for _, p := range m.pools {
		if p.removed && p.live() == 0 {
			m.log.Info().Str("event", "pool_dropped").Str("pool", p.cfg.Name).Msg("removed pool has stopped")
			m.opts.Listeners.Release(p.cfg.Listeners)
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

// Listeners counts the users of listening sockets (package sockets'
// Pool is one); a listener closes when its last user lets it go. Called on
// the loop: it must not block.
type Listeners interface {
	Retain([]*sockets.Listener)
	Release([]*sockets.Listener)
	// All lists every open listener, for a successor in an upgrade.
	All() []*sockets.Listener
}

// unreleased is the Listeners of a master that keeps every listener to the
// end: it hands over those of its pools.
type unreleased struct{ m *Manager }

func (unreleased) Retain([]*sockets.Listener)  {}
func (unreleased) Release([]*sockets.Listener) {}
func (u unreleased) All() []*sockets.Listener {
	seen := map[*sockets.Listener]bool{}
	var all []*sockets.Listener
	for _, p := range u.m.pools {
		for _, l := range p.cfg.Listeners {
			if !seen[l] {
				seen[l] = true
				all = append(all, l)
			}
		}
	}
	return all
}
