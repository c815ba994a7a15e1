package pmuxtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// debianPackage names the package that provides a command, for skip messages.
var debianPackage = map[string]string{
	"ruby": "ruby", "puma": "puma", "unicorn": "unicorn", "bundle": "ruby-bundler",
	"python3": "python3", "gunicorn": "gunicorn", "node": "nodejs",
	"make": "make", "man": "man-db", "zsh": "zsh", "fish": "fish",
}

// Missing skips the test, or fails it when the examples are required.
func Missing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("PMUX_REQUIRE_EXAMPLES") == "1" {
		t.Fatalf("%s (PMUX_REQUIRE_EXAMPLES=1: .ci/run installs it)", msg)
	}
	t.Skip(msg + " (skipping; PMUX_REQUIRE_EXAMPLES=1 makes this a failure)")
}

// RequireCommand returns the path of the command name, or skips the test
// with a line saying what is missing.
func RequireCommand(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		hint := ""
		if pkg := debianPackage[name]; pkg != "" {
			hint = " (Debian package " + pkg + ")"
		}
		Missing(t, "%s not found in PATH%s", name, hint)
	}
	return path
}

// RunGroup runs the prepared cmd as the leader of a process group and
// waits for it. A command still running after timeout is killed with its
// group and fails the test.
func RunGroup(t *testing.T, cmd *exec.Cmd, timeout time.Duration) error {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Fatalf("%s did not finish within %v", strings.Join(cmd.Args, " "), timeout)
		return nil
	}
}

// RunToEnd runs argv in dir with env added to the test's environment, and
// returns its combined output.
func RunToEnd(t *testing.T, dir string, env []string, timeout time.Duration, argv ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := RunGroup(t, cmd, timeout)
	return out.String(), err
}
