package spawn

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
	shimPathVar  = "__PMUX_SHIM_EXEC"
	shimUmaskVar = "__PMUX_SHIM_UMASK"
)

// ShimExitCode is what the shim exits with when it cannot exec the
// command: what a shell reports for a command it cannot run.
const ShimExitCode = 127

// IsShim reports whether the master started this process as the exec
// shim. main checks it first thing and then calls RunShim.
func IsShim() bool {
	_, ok := os.LookupEnv(shimPathVar)
	return ok
}

// RunShim sets LISTEN_PID, the umask and a default signal state, then execs
// the command; it returns only with the reason the exec failed.
func RunShim() error {
	path := os.Getenv(shimPathVar)
	if err := runShim(path); err != nil {
		return fmt.Errorf("exec %s: %w", path, err)
	}
	return nil
}

func runShim(path string) error {
	env := make([]string, 0, len(os.Environ())+1)
	umask := -1
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, shimPathVar+"="):
		case strings.HasPrefix(kv, shimUmaskVar+"="):
			m, err := strconv.ParseInt(strings.TrimPrefix(kv, shimUmaskVar+"="), 8, 32)
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

func signalName(sig syscall.Signal) string {
	name := unix.SignalName(sig)
	if name == "" {
		return strconv.Itoa(int(sig))
	}
	return strings.TrimPrefix(name, "SIG")
}
