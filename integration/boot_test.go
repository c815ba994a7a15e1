package integration_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pmux/pmux/internal/pmuxtest"
)

// cannotBoot is a command that fails the way a typo in an app's file name
// does: one line of error, exit 1.
var cannotBoot = []string{"sh", "-c", "echo 'ruby: No such file or directory -- nosuchfile.rb (LoadError)' >&2; exit 1"}

// A first start whose workers cannot boot fails fast: the master stops
// its workers, closes its sockets, removes its pidfile and exits 1 with
// one line naming the pool, the command and its last output, in the
// foreground and through -D alike, and also when another pool of the
// same master boots fine.
func TestFirstBootThatFailsStopsTheStart(t *testing.T) {
	says := func(t *testing.T, line, pool string) {
		t.Helper()
		for _, want := range []string{"pool " + pool + ": worker failed to boot, 3 times in a row", "nosuchfile.rb (LoadError)", "exit 1"} {
			if !strings.Contains(line, want) {
				t.Errorf("error line %q does not say %q", line, want)
			}
		}
	}
	leftNothing := func(t *testing.T, paths ...string) {
		t.Helper()
		for _, p := range paths {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("%s left behind (%v)", p, err)
			}
		}
	}

	t.Run("foreground", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		sock, pidPath := filepath.Join(dir, "web.sock"), filepath.Join(dir, "pmux.pid")
		began := time.Now()
		m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, append([]string{"run", "-w", "2", "-b", "unix:" + sock, "-p", pidPath, "--"}, cannotBoot...)...)
		m.MustExit(1, 30*time.Second)
		t.Logf("failed start took %v", time.Since(began).Round(time.Millisecond))
		says(t, lastRawLine(m), "web")
		leftNothing(t, sock, pidPath)
		for _, pid := range m.WorkerPids() {
			if pmuxtest.Alive(pid) {
				t.Errorf("worker %d outlived the master", pid)
			}
		}
	})

	t.Run("daemon", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		sock, pidPath := filepath.Join(dir, "web.sock"), filepath.Join(dir, "pmux.pid")
		out, code := pmuxtest.RunPmux(t, append([]string{"run", "-D", "-w", "2", "-b", "unix:" + sock, "-p", pidPath, "--"}, cannotBoot...)...)
		if code != 1 {
			t.Fatalf("launcher exit %d, output %q; want 1", code, out)
		}
		says(t, out, "web")
		leftNothing(t, sock, pidPath)
	})

	t.Run("beside a pool that boots", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		path := filepath.Join(dir, "pmux.toml")
		toml := fmt.Sprintf(`[[pool]]
name = "web"
command = [%q]
workers = 2
bind = ["tcp://127.0.0.1:0"]

[[pool]]
name = "jobs"
command = [%q, %q, %q]
`, pmuxtest.Worker(), cannotBoot[0], cannotBoot[1], cannotBoot[2])
		if err := os.WriteFile(path, []byte(toml), 0o644); err != nil {
			t.Fatal(err)
		}
		m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-c", path)
		m.MustExit(1, 30*time.Second)
		says(t, lastRawLine(m), "jobs")
		web := 0
		for _, e := range m.Events("worker_spawned") {
			if e["pool"] == "web" {
				web++
				if pid := pmuxtest.IntField(e, "pid"); pmuxtest.Alive(pid) {
					t.Errorf("web worker %d outlived the master", pid)
				}
			}
		}
		if web == 0 {
			t.Errorf("pool web never started; log:\n%s", m.Dump())
		}
	})
}

// lastRawLine is the last line pmux wrote to stderr outside its JSON log:
// the error line of a failed start.
func lastRawLine(m *pmuxtest.Master) string {
	raw := m.Events("raw")
	if len(raw) == 0 {
		return ""
	}
	msg, _ := raw[len(raw)-1]["message"].(string)
	return msg
}
