package command

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pmux/pmux/manager"
)

// Where this master was started from: an upgrade runs the binary found at
// that path then, with the same arguments, in the same directory. Set by
// runAction, before anything could change the working directory.
var startPath, startDir string

func resolveStart() (string, string) {
	dir, _ := os.Getwd()
	path := os.Args[0]
	if !strings.Contains(path, "/") {
		if found, err := exec.LookPath(path); err == nil {
			path = found
		}
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	return path, dir
}

// handover is what an old master passed to this one in an upgrade.
type handover struct {
	parent int                 // the old master's pid; 0 when not an upgrade or it is gone
	files  map[string]*os.File // its listening sockets by listener key
}

// takeUpgradeHandover reads and clears the upgrade variables. The files are
// the caller's to close once the listeners are open.
func takeUpgradeHandover() (handover, error) {
	var h handover
	encoded, ok := os.LookupEnv(manager.UpgradeFDsVar)
	parent := os.Getenv(manager.UpgradeParentVar)
	os.Unsetenv(manager.UpgradeFDsVar)
	os.Unsetenv(manager.UpgradeParentVar)
	if !ok {
		return h, nil
	}
	var keys []string
	if err := json.Unmarshal([]byte(encoded), &keys); err != nil {
		return h, fmt.Errorf("upgrade hand-over %s: %w", manager.UpgradeFDsVar, err)
	}
	h.files = make(map[string]*os.File, len(keys))
	for i, key := range keys {
		h.files[key] = os.NewFile(uintptr(3+i), key)
	}
	// If the old master is already gone, this one is simply in charge.
	if pid, err := strconv.Atoi(parent); err == nil && pid == os.Getppid() {
		h.parent = pid
	}
	return h, nil
}

func (h handover) close() {
	for _, f := range h.files {
		f.Close()
	}
}
