package handover

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Origin is where a master was started from: an upgrade runs the binary
// found at Path then, with the same arguments, in the same directory.
type Origin struct {
	Path string   // absolute, resolved through PATH when argv[0] had no slash
	Args []string // argv[0] included
	Dir  string
}

// StartedFrom resolves this process's origin. Call it first thing, before
// anything could change the working directory.
func StartedFrom() Origin {
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
	return Origin{Path: path, Args: os.Args, Dir: dir}
}
