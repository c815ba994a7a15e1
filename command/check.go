package command

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/pmux/pmux/internal/fault"
	"github.com/pmux/pmux/master"
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
			cfg, err := runSource(c).Load()
			if err != nil {
				return err
			}
			if err := master.Validate(cfg); err != nil {
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
