package integration_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/internal/pmuxtest"
)

func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	pmuxtest.WriteFile(t, good, fmt.Sprintf(`
signals = "gunicorn"
graceful_timeout = "10s"

[[pool]]
name = "web"
command = [%q]
workers = 3
bind = ["127.0.0.1:0"]

[[pool]]
name = "jobs"
command = ["sleep", "100"]
`, pmuxtest.Worker()))
	out, err := exec.Command(pmuxtest.Pmux(), "check", "-c", good).CombinedOutput()
	if err != nil {
		t.Fatalf("check of a good file: %v\n%s", err, out)
	}
	for _, want := range []string{`signals = "gunicorn"`, `name = "jobs"`, `graceful_timeout = "10s"`, "workers = 3"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("resolved config lacks %q:\n%s", want, out)
		}
	}
	for _, tc := range []struct {
		name, text, says string
	}{
		{"unknown key", "[[pool]]\nname = \"web\"\ncommand = [\"sleep\"]\nworkerz = 2\n", "4"},
		{"wrong type", "[[pool]]\ncommand = [\"sleep\"]\nworkers = \"many\"\n", "workers"},
		{"duplicate pools", "[[pool]]\nname = \"a\"\ncommand = [\"sleep\"]\n[[pool]]\nname = \"a\"\ncommand = [\"sleep\"]\n", "a"},
		{"bad profile", "signals = \"nginx\"\n[[pool]]\ncommand = [\"sleep\"]\n", "nginx"},
		{"bad bind", "[[pool]]\ncommand = [\"sleep\"]\nbind = [\"tcp://x:y\"]\n", "tcp://x:y"},
		{"bad signal", "[[pool]]\ncommand = [\"sleep\"]\nstop_signal = \"NOPE\"\n", "NOPE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".toml")
			pmuxtest.WriteFile(t, path, tc.text)
			cmd := exec.Command(pmuxtest.Pmux(), "check", "-c", path)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			if code := cmd.ProcessState.ExitCode(); code != 2 {
				t.Errorf("exit %d (%v), want 2", code, err)
			}
			msg := strings.TrimSpace(stderr.String())
			if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, tc.says) {
				t.Errorf("want one line naming %q, got %q", tc.says, msg)
			}
		})
	}
}

func TestRunFromConfigFileAndFlagPrecedence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pmux.toml")
	pmuxtest.WriteFile(t, path, fmt.Sprintf(`
[[pool]]
name = "web"
command = [%q]
workers = 1
bind = ["127.0.0.1:0"]
env = { FROM = "file", BOTH = "file" }
`, pmuxtest.Worker()))
	// env beats file, flag beats env.
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Env: []string{"PMUX_WORKERS=3"}}, "run", "-c", path, "-w", "2", "--env", "BOTH=flag")
	m.ReadyWorkers(2)
	r := pmuxtest.GetReport(t, pmuxtest.NewClient("tcp", m.Addr()))
	if r.Env["FROM"] != "file" || r.Env["BOTH"] != "flag" {
		t.Errorf("env FROM=%q BOTH=%q, want file and flag", r.Env["FROM"], r.Env["BOTH"])
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(m.Events("worker_spawned")); n != 2 {
		t.Errorf("%d workers, want 2 (flag beats PMUX_WORKERS beats file)", n)
	}
}

// HUP re-reads the file and reconciles: a pool resized and rebound, one
// removed, one added; a broken file changes nothing.
func TestReloadReconcilesConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pmux.toml")
	sockA, sockB := filepath.Join(dir, "a.sock"), filepath.Join(dir, "b.sock")
	pool := func(name string, workers int, binds ...string) string {
		quoted := make([]string, len(binds))
		for i, b := range binds {
			quoted[i] = fmt.Sprintf("%q", b)
		}
		return fmt.Sprintf("[[pool]]\nname = %q\ncommand = [%q]\nworkers = %d\nbind = [%s]\nready = \"notify\"\n\n",
			name, pmuxtest.Worker(), workers, strings.Join(quoted, ", "))
	}
	pmuxtest.WriteFile(t, path, "worker_output = \"inherit\"\n"+pool("web", 2, "unix:"+sockA)+pool("jobs", 1))
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-c", path)
	m.ReadyWorkers(3)
	pmuxtest.GetReport(t, pmuxtest.NewClient("unix", sockA))

	// Broken: nothing changes.
	pmuxtest.WriteFile(t, path, "worker_output = \"inherit\"\n[[pool]]\nname = \"web\"\nworkers = \"many\"\n")
	m.Signal(syscall.SIGHUP)
	failed := m.WaitEvents("config_reload_failed", 1, 10*time.Second, nil)[0]
	if !strings.Contains(fmt.Sprint(failed["error"]), "workers") {
		t.Errorf("reload error %v does not name the key", failed["error"])
	}
	if n := len(m.Events("generation_started")); n != 0 {
		t.Fatalf("a broken config restarted workers")
	}
	pmuxtest.GetReport(t, pmuxtest.NewClient("unix", sockA))

	// web: 3 workers on b.sock instead of a.sock; jobs removed; extra added.
	pmuxtest.WriteFile(t, path, "worker_output = \"inherit\"\n"+pool("web", 3, "unix:"+sockB)+pool("extra", 1))
	m.Signal(syscall.SIGHUP)
	m.WaitEvents("pool_removed", 1, 10*time.Second, func(e map[string]any) bool { return e["pool"] == "jobs" })
	m.WaitEvents("pool_added", 1, 10*time.Second, func(e map[string]any) bool { return e["pool"] == "extra" })
	m.WaitEvents("pool_dropped", 1, 20*time.Second, func(e map[string]any) bool { return e["pool"] == "jobs" })
	m.WaitFor("web to run 3 new workers", 30*time.Second, func(logs []map[string]any) bool {
		n := 0
		for _, e := range pmuxtest.LiveWorkers(logs) {
			if e["pool"] == "web" && pmuxtest.IntField(e, "gen") == 2 {
				n++
			}
		}
		return n == 3 && !pmuxtest.AnyStopping(logs, pmuxtest.LiveWorkers(logs))
	})
	reports := pmuxtest.ReportsFrom(t, pmuxtest.NewClient("unix", sockB), 3)
	for _, r := range reports {
		if r.Env["PMUX_GENERATION"] != "2" {
			t.Errorf("worker of generation %s serves b.sock", r.Env["PMUX_GENERATION"])
		}
	}
	// The removed bind is closed once its last worker has gone.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := os.Stat(sockA)
		if os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a.sock still there after its pool moved away")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c, err := net.Dial("unix", sockA); err == nil {
		c.Close()
		t.Errorf("a.sock still accepts")
	}
	m.MustStop(syscall.SIGQUIT, 30*time.Second)
}
