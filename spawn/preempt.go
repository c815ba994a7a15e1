package spawn

import (
	"os"
	"strings"
	"syscall"
)

// The Go runtime preempts long-running goroutines with SIGURG, and a
// program that registers SIGURG receives those too. puma's profile maps
// URG to a rolling restart, so a master must not see signals it did not
// get from outside: it runs with async preemption off. GODEBUG is read only
// at start-up, hence the re-exec, which keeps the pid. The user's own
// GODEBUG is kept aside and restored for the workers.
const (
	asyncPreemptOff = "asyncpreemptoff=1"
	savedGodebugVar = "__PMUX_GODEBUG" // "set:<value>" or "unset:"
)

// DisableAsyncPreemption re-execs a master with async preemption off; it
// returns at once in the re-exec'd process, or if the re-exec fails.
func DisableAsyncPreemption() {
	if _, done := os.LookupEnv(savedGodebugVar); done {
		return
	}
	self, err := SelfExecutable()
	if err != nil {
		return
	}
	orig, had := os.LookupEnv("GODEBUG")
	saved := "unset:"
	godebug := asyncPreemptOff
	if had {
		saved = "set:" + orig
		if orig != "" {
			godebug = orig + "," + asyncPreemptOff
		}
	}
	env := append(os.Environ(), savedGodebugVar+"="+saved, "GODEBUG="+godebug)
	// On failure pmux goes on as it is: only puma's URG mapping is affected.
	_ = syscall.Exec(self, os.Args, env)
}

// WorkerGodebug returns the GODEBUG the user gave pmux, for the workers.
func WorkerGodebug() (string, bool) {
	saved, ok := os.LookupEnv(savedGodebugVar)
	if !ok {
		return os.LookupEnv("GODEBUG")
	}
	if v, ok := strings.CutPrefix(saved, "set:"); ok {
		return v, true
	}
	return "", false
}
