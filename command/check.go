package command

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/pmux/pmux/config"
	"github.com/pmux/pmux/internal/fault"
	"github.com/pmux/pmux/logs"
	"github.com/pmux/pmux/metrics"
	"github.com/pmux/pmux/signalmap"
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "validate a configuration and print it resolved; exit 0 when it can run, 2 when it is wrong, 1 when this machine cannot run it",
		ArgsUsage: "[-c pmux.toml] [run flags] [-- CMD [ARG...]]",
		Flags:     runFlags(),
		// Errors keep the kind they were made with (see exitError), so
		// check exits as run would for the same configuration.
		Action: func(c *cli.Context) error {
			cfg, err := buildConfig(c)
			if err != nil {
				return err
			}
			if err := validateResolved(cfg); err != nil {
				return err
			}
			out, err := cfg.MarshalTOML()
			if err != nil {
				return fault.OfMachine(fmt.Errorf("print the resolved config: %w", err))
			}
			fmt.Fprint(c.App.Writer, string(out))
			return nil
		},
	}
}

// validateResolved checks what Validate cannot without looking at the
// machine or other packages' grammars: the signal profile and overrides,
// log settings, binds, signal names, users and commands. It binds nothing.
func validateResolved(cfg *config.Config) error {
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
