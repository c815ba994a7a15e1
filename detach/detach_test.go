package detach

import (
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary plays the daemonized master when this is set: the mode
// says what it tells its launcher.
const roleVar = "DETACH_TEST_MASTER"

func TestMain(m *testing.M) {
	if mode, ok := os.LookupEnv(roleVar); ok {
		os.Unsetenv(roleVar)
		p := Take()
		switch mode {
		case "ready":
			p.Supervisor(nil)("READY=1\nSTATUS=serving")
			p.Failed(1, "never heard: the pipe is closed")
		case "failed":
			p.Failed(2, "config pmux.toml:3: unknown key")
		case "silent":
		case "stuck":
			time.Sleep(time.Minute)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func launch(t *testing.T, mode string, wait time.Duration) (int, error) {
	t.Helper()
	t.Setenv(roleVar, mode)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	return Start(Launch{Path: self, Args: []string{"pmux", "run"}, Output: out, Wait: wait})
}

// awaitGone ends the session the launcher started and reaps its leader
// (the launcher released it, and the test is its parent), so no test
// leaves a daemon or a zombie behind.
func awaitGone(t *testing.T, pid int) {
	t.Helper()
	syscall.Kill(-pid, syscall.SIGKILL)
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		t.Errorf("reap daemon %d: %v", pid, err)
	}
}

func TestLauncherHearsTheMastersWord(t *testing.T) {
	t.Run("ready", func(t *testing.T) {
		pid, err := launch(t, "ready", 10*time.Second)
		if err != nil || pid <= 0 {
			t.Fatalf("Start = %d, %v; want the master's pid", pid, err)
		}
		awaitGone(t, pid)
	})
	t.Run("failed start", func(t *testing.T) {
		_, err := launch(t, "failed", 10*time.Second)
		var failed *FailedError
		if !errors.As(err, &failed) || failed.Code != 2 || failed.Message != "config pmux.toml:3: unknown key" {
			t.Fatalf("Start error %#v, want the master's exit 2 and its line", err)
		}
	})
	t.Run("exit without a word", func(t *testing.T) {
		_, err := launch(t, "silent", 10*time.Second)
		var failed *FailedError
		if err == nil || errors.As(err, &failed) || !strings.Contains(err.Error(), "exited before serving") {
			t.Fatalf("Start error %v, want one saying the master exited before serving", err)
		}
	})
	t.Run("no word in time", func(t *testing.T) {
		_, err := launch(t, "stuck", 200*time.Millisecond)
		m := regexp.MustCompile(`^master (\d+) runs but does not serve`).FindStringSubmatch(errString(err))
		if m == nil {
			t.Fatalf("Start error %v, want one naming the master that does not serve", err)
		}
		pid, _ := strconv.Atoi(m[1])
		awaitGone(t, pid)
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// A master that was not daemonized has no pipe, and telling it anything
// is a no-op.
func TestNoPipeOutsideADaemon(t *testing.T) {
	os.Unsetenv(pipeVar)
	p := Take()
	if p != nil {
		t.Fatalf("Take = %v outside a daemon", p)
	}
	p.Failed(1, "ignored")
	if f := p.Supervisor(nil); f != nil {
		t.Error("Supervisor of no pipe made a notifier")
	}
}
