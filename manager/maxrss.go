package manager

import (
	"time"

	"github.com/pmux/pmux/spawn"
)

// rssInterval is how often resident sizes are sampled for --max-rss. The
// only periodic wake-up of the master, and only while a pool asks for it.
const rssInterval = 5 * time.Second

// armRSSCheck schedules the next --max-rss sample when any pool has a limit.
func (m *Manager) armRSSCheck() {
	if m.rssTimer != nil || m.phase != running {
		return
	}
	for _, p := range m.pools {
		if p.cfg.MaxRSS > 0 {
			m.rssTimer = m.after(rssInterval, m.sampleRSS)
			return
		}
	}
}

// sampleRSS reads the ready workers' sizes off the loop (it is /proc I/O)
// and retires, surge-first, each one past its pool's limit.
func (m *Manager) sampleRSS() {
	m.rssTimer = nil
	var ws []*worker
	for _, p := range m.pools {
		for _, s := range p.slots {
			for _, w := range s.workers {
				if w.cfg.MaxRSS > 0 && w.state == ready && !w.retiring {
					ws = append(ws, w)
				}
			}
		}
	}
	if len(ws) == 0 {
		m.armRSSCheck()
		return
	}
	m.helpers.Add(1)
	go func() {
		defer m.helpers.Done()
		sizes := make([]int64, len(ws))
		for i, w := range ws {
			sizes[i] = m.rss(w.pid)
		}
		m.post(func() {
			for i, w := range ws {
				if w.exited || w.state != ready || w.retiring || sizes[i] <= w.cfg.MaxRSS {
					continue
				}
				m.log.Info().Str("event", "worker_retiring").Str("pool", w.pool.cfg.Name).Int("slot", w.slot.index).
					Int("pid", w.pid).Str("reason", "max_rss").Int64("rss", sizes[i]).Int64("max_rss", w.cfg.MaxRSS).Msg("replacing worker")
				w.retiring = true
				m.reconcile(w.pool)
			}
			m.armRSSCheck()
		})
	}()
}

// rss reads pid's resident size from /proc (0 when it cannot); it is /proc
// I/O, so it is called off the loop only.
func (m *Manager) rss(pid int) int64 {
	read := m.opts.RSS
	if read == nil {
		read = spawn.RSS
	}
	n, _ := read(pid)
	return n
}
