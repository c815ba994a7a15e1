package handover

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
)

// Environment variables that carry an upgrade from the old master to the
// new one.
const (
	fdsVar    = "PMUX_UPGRADE_FDS"    // JSON list of listener keys, for fds 3, 4, …
	parentVar = "PMUX_UPGRADE_PARENT" // the old master's pid
)

// Inherited is what an old master passed to this one.
type Inherited struct {
	// Parent is the old master's pid; 0 when this is no upgrade or the old
	// master was gone before this one looked.
	Parent int
	// Files are its listening sockets by listener key, the caller's to
	// close once its listeners are open.
	Files map[string]*os.File
}

// Pending reports whether this process is the new master of an upgrade
// that has not been taken yet.
func Pending() bool {
	_, ok := os.LookupEnv(fdsVar)
	return ok
}

// Take reads and clears the hand-over's variables.
func Take() (Inherited, error) {
	var in Inherited
	encoded, ok := os.LookupEnv(fdsVar)
	parent := os.Getenv(parentVar)
	os.Unsetenv(fdsVar)
	os.Unsetenv(parentVar)
	if !ok {
		return in, nil
	}
	var keys []string
	if err := json.Unmarshal([]byte(encoded), &keys); err != nil {
		return in, fmt.Errorf("upgrade hand-over %s: %w", fdsVar, err)
	}
	in.Files = make(map[string]*os.File, len(keys))
	for i, key := range keys {
		in.Files[key] = os.NewFile(uintptr(3+i), key)
	}
	if pid, err := strconv.Atoi(parent); err == nil && pid == os.Getppid() {
		in.Parent = pid
	}
	return in, nil
}

// Close closes the inherited files.
func (in Inherited) Close() {
	for _, f := range in.Files {
		f.Close()
	}
}
