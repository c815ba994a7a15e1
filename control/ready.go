package control

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pmux/pmux/status"
)

// ErrNotReady is wrapped by CheckReady's verdict against a master that is
// not fully up.
var ErrNotReady = errors.New("not ready")

// CheckReady says whether the master in st is fully up: running (not
// stopping) with every pool at its target number of ready workers of its
// current generation. A worker being retired past its lifetime still
// serves, so it counts. The error names every pool that falls short.
// `pmux status --check` and the metrics server's /readyz share this
// verdict.
func CheckReady(st status.Status) error {
	if st.Phase != "running" {
		return fmt.Errorf("pmux %d: %w: the master is %s", st.MasterPID, ErrNotReady, st.Phase)
	}
	var short []string
	for _, p := range st.Pools {
		ready := 0
		for _, w := range p.Workers {
			if w.Generation == p.Generation && (w.State == "ready" || w.State == "retiring") {
				ready++
			}
		}
		if ready < p.Target {
			short = append(short, fmt.Sprintf("pool %s has %d of %d workers of generation %d ready", p.Name, ready, p.Target, p.Generation))
		}
	}
	if len(short) > 0 {
		return fmt.Errorf("pmux %d: %w: %s", st.MasterPID, ErrNotReady, strings.Join(short, "; "))
	}
	return nil
}
