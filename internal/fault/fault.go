// Package fault marks whose fault a failure is, where the failure is made,
// the one place that knows: the input's (a flag, a value, a config file:
// what was asked is wrong) or the machine's (what was asked is valid, but
// this machine cannot do it). Nothing re-marks an error on its way up, so
// every command that resolves a configuration with the same code agrees.
// The command line turns the mark into an exit code; nothing else does.
package fault

import "errors"

// Kind is whose fault a failure is.
type Kind int

const (
	// Unmarked: no one said; the command line decides (urfave/cli's own
	// errors, an unknown command say, are the input's).
	Unmarked Kind = iota
	// Input: what was asked is wrong.
	Input
	// Machine: what was asked is valid, but this machine cannot do it.
	Machine
)

type marked struct {
	kind Kind
	err  error
}

func (m *marked) Error() string { return m.err.Error() }
func (m *marked) Unwrap() error { return m.err }

// OfInput marks err as the input's fault.
func OfInput(err error) error { return &marked{Input, err} }

// OfMachine marks err as the machine's fault.
func OfMachine(err error) error { return &marked{Machine, err} }

// Of returns the mark nearest the top of err's chain.
func Of(err error) Kind {
	var m *marked
	if errors.As(err, &m) {
		return m.kind
	}
	return Unmarked
}
