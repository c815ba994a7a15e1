package master

import (
	"github.com/pmux/pmux/config"
	"github.com/pmux/pmux/logs"
	"github.com/pmux/pmux/metrics"
	"github.com/pmux/pmux/signalmap"
)

// Validate checks what config's Validate cannot without looking at the
// machine or other packages' grammars: the signal profile and overrides,
// log settings, binds, signal names, users and commands. It binds nothing.
func Validate(cfg *config.Config) error {
	if err := validateMasterSettings(cfg); err != nil {
		return err
	}
	if _, _, err := resolveSignals(cfg); err != nil {
		return err
	}
	_, err := resolvePools(cfg)
	return err
}

// validateMasterSettings checks the settings of the master itself.
func validateMasterSettings(cfg *config.Config) error {
	if err := logs.ValidateOptions(logs.Options(cfg.Log)); err != nil {
		return err
	}
	if cfg.Metrics != "" && cfg.Metrics != "off" {
		if _, err := metrics.ListenAddr(cfg.Metrics); err != nil {
			return err
		}
	}
	return nil
}

// resolveSignals returns the profile and the signal table of cfg.
func resolveSignals(cfg *config.Config) (signalmap.Profile, signalmap.Map, error) {
	profile, err := signalmap.ParseProfile(cfg.Signals)
	if err != nil {
		return "", signalmap.Map{}, err
	}
	sigmap, err := signalmap.For(profile).With(cfg.SignalOverrides)
	return profile, sigmap, err
}
