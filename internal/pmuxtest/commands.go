package pmuxtest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RunPmux runs pmux with args to its end in the current directory, with
// the JSON log, and returns its stderr and exit code; its stdout is
// discarded.
func RunPmux(t *testing.T, args ...string) (string, int) {
	t.Helper()
	_, stderr, code := runPmux(t, "", false, args)
	return stderr, code
}

// RunPmuxIn is RunPmux in dir, and returns pmux's stdout too.
func RunPmuxIn(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runPmux(t, dir, true, args)
}

func runPmux(t *testing.T, dir string, keepStdout bool, args []string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(Pmux(), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PMUX_LOG_FORMAT=json")
	var stdout, stderr strings.Builder
	if keepStdout {
		cmd.Stdout = &stdout
	}
	cmd.Stderr = &stderr
	if err := RunGroup(t, cmd, 30*time.Second); err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// CtlResult is what a pmux client command said and how it ended.
type CtlResult struct {
	Stdout, Stderr string
	Code           int
}

// Ctl runs a pmux client command (status, scale, stop…) to its end, with
// env added to the test's environment.
func Ctl(t *testing.T, env []string, args ...string) CtlResult {
	t.Helper()
	return CtlAt(t, Pmux(), nil, env, args...)
}

// CtlAt is Ctl with the pmux binary at bin, run as cred (nil: as the test).
func CtlAt(t *testing.T, bin string, cred *syscall.Credential, env []string, args ...string) CtlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	// The race runtime would sleep a second at each client's exit.
	cmd.Env = append(append(os.Environ(), "GORACE=atexit_sleep_ms=0"), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("pmux %v did not finish: %s", args, stderr.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("pmux %v: %v", args, err)
	}
	return CtlResult{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

// Expect checks a client's exit code, and that its stderr is empty on
// success, else one line holding want.
func (r CtlResult) Expect(t *testing.T, what string, code int, want string) {
	t.Helper()
	if r.Code != code {
		t.Errorf("%s: exit %d, want %d; stdout %q stderr %q", what, r.Code, code, r.Stdout, r.Stderr)
		return
	}
	if code == 0 {
		if r.Stderr != "" {
			t.Errorf("%s: stderr %q", what, r.Stderr)
		}
		return
	}
	if strings.Count(r.Stderr, "\n") != 1 || !strings.HasPrefix(r.Stderr, "pmux: ") || !strings.Contains(r.Stderr, want) {
		t.Errorf("%s: stderr %q, want one line saying %q", what, r.Stderr, want)
	}
}

// PidArg is the client flag that names the master pid.
func PidArg(pid int) string { return "--pid=" + strconv.Itoa(pid) }

// RuntimeDir gives one test's masters and clients, in-process ones
// included, a private XDG_RUNTIME_DIR, short enough for a socket path. It
// returns the directory and the variable to pass to a child.
func RuntimeDir(t *testing.T) (string, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "pmuxrt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	t.Setenv("XDG_RUNTIME_DIR", dir)
	return dir, "XDG_RUNTIME_DIR=" + dir
}

// WriteFile replaces path with text by a rename, as an editor or a deploy
// does, so a reader never sees half of it.
func WriteFile(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// CopyFile copies the program from to the path to, by a rename as deploys
// do: a binary running from to keeps its inode.
func CopyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	tmp := to + ".tmp"
	if err := os.WriteFile(tmp, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}

// GoBuild builds the Go package pkg into the test's temporary directory
// and returns the binary's path.
func GoBuild(t *testing.T, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}
