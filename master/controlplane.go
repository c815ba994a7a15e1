package master

import (
	"errors"

	"github.com/rs/zerolog"

	"github.com/pmux/pmux/config"
	"github.com/pmux/pmux/control"
	"github.com/pmux/pmux/manager"
	"github.com/pmux/pmux/metrics"
	"github.com/pmux/pmux/status"
)

// controlPlane is the master's control socket and metrics server.
type controlPlane struct {
	log         zerolog.Logger
	metricsAddr string           // the --metrics value; "" when off
	metrics     *metrics.Metrics // nil when off

	control    *control.Server
	metricsSrv *metrics.Server
}

// newControlPlane prepares the control plane of cfg; nothing listens yet.
func newControlPlane(cfg *config.Config, log zerolog.Logger) (*controlPlane, error) {
	cp := &controlPlane{log: log}
	if cfg.Metrics != "" && cfg.Metrics != "off" {
		// Checked now, before any worker starts, so a typo fails the start
		// instead of a scrape.
		if _, err := metrics.ListenAddr(cfg.Metrics); err != nil {
			return nil, err
		}
		cp.metricsAddr = cfg.Metrics
		cp.metrics = metrics.New()
	}
	return cp, nil
}

// Observer feeds the metrics; nil when no metrics are served. It returns a
// nil interface, not a nil *metrics.Metrics inside one, so the manager sees
// "no observer".
func (cp *controlPlane) Observer() status.Observer {
	if cp.metrics == nil {
		return nil
	}
	return cp.metrics
}

// OutputDropped counts dropped worker output in the metrics; nil when no
// metrics are served.
func (cp *controlPlane) OutputDropped() func(pool string, n int) {
	if cp.metrics == nil {
		return nil
	}
	return cp.metrics.OutputDropped
}

// Start serves requests against mgr until Stop. On failure nothing is left
// listening.
func (cp *controlPlane) Start(mgr *manager.Manager) error {
	srv, err := control.Listen(mgr, control.Options{Log: cp.log})
	if err != nil {
		return err
	}
	cp.log.Info().Str("event", "control_listening").Str("path", srv.Path()).Msg("control socket ready")
	if cp.metrics != nil {
		ms, err := cp.metrics.Serve(cp.metricsAddr, mgr, cp.log)
		if err != nil {
			return errors.Join(err, srv.Close())
		}
		cp.metricsSrv = ms
		cp.log.Info().Str("event", "metrics_listening").Str("addr", ms.Addr()).Msg("serving metrics, /readyz and /livez")
	}
	cp.control = srv
	return nil
}

// Stop closes the listeners, removes the socket file and waits for the
// handlers.
func (cp *controlPlane) Stop() {
	if cp.metricsSrv != nil {
		if err := cp.metricsSrv.Close(); err != nil {
			cp.log.Warn().Str("event", "metrics_close_failed").Err(err).Msg("closing the metrics server failed")
		}
	}
	if cp.control != nil {
		if err := cp.control.Close(); err != nil {
			cp.log.Warn().Str("event", "control_close_failed").Err(err).Msg("closing the control socket failed")
		}
	}
}
