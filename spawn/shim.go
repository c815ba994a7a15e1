package spawn

import (
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/pmux/pmux/spawn/shim"
)

// The shim's instructions travel in the environment (see package shim).
const (
	shimPathVar  = shim.PathVar
	shimUmaskVar = shim.UmaskVar
)

// ShimExitCode is what the shim exits with when it cannot exec the
// command: what a shell reports for a command it cannot run.
const ShimExitCode = shim.ExitCode

// IsShim reports whether the master started this process as the exec
// shim. main checks it first thing and then calls RunShim. By then the
// shim's own init has tried the exec already (see package shim): main gets
// here only when it failed, and RunShim says why.
func IsShim() bool { return shim.Is() }

// RunShim sets LISTEN_PID, the umask and a default signal state, then execs
// the command; it returns only with the reason the exec failed.
func RunShim() error { return shim.Run() }

func signalName(sig syscall.Signal) string {
	name := unix.SignalName(sig)
	if name == "" {
		return strconv.Itoa(int(sig))
	}
	return strings.TrimPrefix(name, "SIG")
}
