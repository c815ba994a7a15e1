package manager

import (
	"errors"
	"fmt"
	"syscall"
)

// limitError is an error that reached a limit only the operator can raise,
// with the limit and how to raise it.
type limitError struct {
	err  error
	hint string
}

func (e *limitError) Error() string { return e.err.Error() + ": " + e.hint }
func (e *limitError) Unwrap() error { return e.err }

// ExplainLimit adds to err, when it is EMFILE or ENFILE, which limit was
// reached and how to raise it: waiting does not fix either. Any other error,
// or one already explained, comes back as it is.
func ExplainLimit(err error) error {
	var le *limitError
	if err == nil || errors.As(err, &le) {
		return err
	}
	var hint string
	switch {
	case errors.Is(err, syscall.EMFILE):
		hint = "pmux reached its open-files limit"
		var lim syscall.Rlimit
		if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
			hint = fmt.Sprintf("pmux reached its open-files limit (%d)", lim.Cur)
		}
		hint += ": raise it (ulimit -n, or LimitNOFILE= in the systemd unit)"
	case errors.Is(err, syscall.ENFILE):
		hint = "the system's table of open files is full: raise fs.file-max (sysctl), or close files elsewhere"
	default:
		return err
	}
	return &limitError{err: err, hint: hint}
}
