package pmuxtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// V2Version is what the second build of pmux reports as its version.
const V2Version = "upgrade-v2"

var pmuxBin, pmuxV2Bin, workerBin string

// Pmux is the path of the pmux binary under test.
func Pmux() string { return pmuxBin }

// PmuxV2 is the path of a second pmux build, reporting V2Version, to
// upgrade to.
func PmuxV2() string { return pmuxV2Bin }

// Worker is the path of the test worker (testdata/worker).
func Worker() string { return workerBin }

// Root is the repository's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Main builds the binaries, runs the tests from the repository's root and
// removes what it made. A test package's TestMain calls
// os.Exit(pmuxtest.Main(m)).
func Main(m *testing.M) int {
	if err := os.Chdir(Root()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "pmux-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Control sockets of the masters under test go here, not to the
	// machine's /tmp/pmux-<uid>, and vanish with the run.
	runtimeDir, err := os.MkdirTemp("", "pmux-test-run-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(runtimeDir)
	os.Setenv("XDG_RUNTIME_DIR", runtimeDir)
	// Workers that drop privileges must still reach the binaries.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	pmuxBin = filepath.Join(dir, "pmux")
	pmuxV2Bin = filepath.Join(dir, "pmux-v2")
	workerBin = filepath.Join(dir, "worker")
	builds := []struct {
		out, pkg string
		race     bool
		ldflags  string
	}{
		{pmuxBin, ".", raceEnabled, ""},
		{pmuxV2Bin, ".", raceEnabled, "-X github.com/pmux/pmux/command.version=" + V2Version},
		{workerBin, "./testdata/worker", false, ""},
	}
	for _, b := range builds {
		args := []string{"build", "-o", b.out}
		if b.race {
			args = append(args, "-race")
		}
		if b.ldflags != "" {
			args = append(args, "-ldflags", b.ldflags)
		}
		cmd := exec.Command("go", append(args, b.pkg)...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n", b.out, err)
			return 1
		}
	}
	return m.Run()
}
