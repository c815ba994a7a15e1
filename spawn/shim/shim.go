// Package shim is the first thing a worker runs: pmux's own binary, exec'd
// by the master with an environment marker, which sets LISTEN_PID to its own
// pid, the umask and a default signal state, then execs the command (see
// package spawn for why).
//
// It is a package of its own, with few and light imports, so that its init
// can exec the command before the rest of the binary initialises: Go
// initialises packages in import-path order as their dependencies allow,
// and nothing here waits on the CLI, metrics or man page packages, whose
// inits would otherwise cost every worker start several milliseconds of CPU
// (a reload of a thousand workers, seconds). When the exec fails, init
// returns and main runs the shim again, which reports the error.
package shim

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The shim's instructions travel in the environment, under names the shim
// removes before it execs, so they never reach the worker.
const (
	PathVar  = "__PMUX_SHIM_EXEC"
	UmaskVar = "__PMUX_SHIM_UMASK"
)

// ExitCode is what the shim exits with when it cannot exec the command:
// what a shell reports for a command it cannot run.
const ExitCode = 127

func init() {
	if Is() {
		_ = Run() // on failure main runs it again and says why
	}
}

// Is reports whether the master started this process as the exec shim.
func Is() bool {
	_, ok := os.LookupEnv(PathVar)
	return ok
}

// Run sets LISTEN_PID, the umask and a default signal state, then execs
// the command; it returns only with the reason the exec failed.
func Run() error {
	path := os.Getenv(PathVar)
	if err := run(path); err != nil {
		return fmt.Errorf("exec %s: %w", path, err)
	}
	return nil
}

func run(path string) error {
	env := make([]string, 0, len(os.Environ())+1)
	umask := -1
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, PathVar+"="):
		case strings.HasPrefix(kv, UmaskVar+"="):
			m, err := strconv.ParseInt(strings.TrimPrefix(kv, UmaskVar+"="), 8, 32)
			if err != nil {
				return fmt.Errorf("bad umask from master: %w", err)
			}
			umask = int(m)
		case strings.HasPrefix(kv, "LISTEN_PID="):
		default:
			env = append(env, kv)
		}
	}
	passed := 0
	if n, ok := os.LookupEnv("LISTEN_FDS"); ok {
		env = append(env, "LISTEN_PID="+strconv.Itoa(os.Getpid()))
		passed, _ = strconv.Atoi(n)
	}
	// Only 0, 1, 2 and the listeners may reach the program.
	if err := CloseOnExecFrom(3 + passed); err != nil {
		return err
	}
	if umask >= 0 {
		syscall.Umask(umask)
	}
	if err := resetSignals(); err != nil {
		return err
	}
	return unix.Exec(path, os.Args, env)
}
