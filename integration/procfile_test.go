package integration_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/internal/pmuxtest"
)

func TestProcfileMode(t *testing.T) {
	dir := t.TempDir()
	procfile := filepath.Join(dir, "Procfile")
	os.WriteFile(procfile, []byte(fmt.Sprintf(`# web serves, jobs ticks
web: %s
jobs: echo "tick from $PMUX_WORKER port $PORT greeting $GREETING"; exec sleep 1000
`, pmuxtest.Worker())), 0o644)
	env := filepath.Join(dir, "app.env")
	os.WriteFile(env, []byte("GREETING=hello\n"), 0o644)
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "start", "-f", procfile, "-e", env, "-m", "web=2,jobs=1", "-p", "6000", "-b", "127.0.0.1:0")
	m.ReadyWorkers(3)
	reports := pmuxtest.ReportsFrom(t, pmuxtest.NewClient("tcp", m.Addr()), 2)
	for _, r := range reports {
		if r.Env["GREETING"] != "hello" || r.Env["LISTEN_PID"] != fmt.Sprint(r.Pid) {
			t.Errorf("web worker env GREETING=%q LISTEN_PID=%q pid %d", r.Env["GREETING"], r.Env["LISTEN_PID"], r.Pid)
		}
	}
	// Output is tagged foreman-style; jobs got the next type's port.
	want := regexp.MustCompile(`^jobs\.1\s* \| tick from 0 port 6100 greeting hello$`)
	m.WaitOutput("the jobs line", 10*time.Second, func(out []string) bool {
		for _, l := range out {
			if want.MatchString(l) {
				return true
			}
		}
		return false
	})
	// Ctrl-C: a graceful stop.
	m.MustStop(syscall.SIGINT, 30*time.Second)
	for _, e := range m.Events("worker_stopping") {
		if e["signal"] != "TERM" {
			t.Errorf("Ctrl-C sent %v to a worker, want TERM (graceful)", e["signal"])
		}
	}
}

func TestProcfileSecondInterruptHurries(t *testing.T) {
	dir := t.TempDir()
	procfile := filepath.Join(dir, "Procfile")
	os.WriteFile(procfile, []byte("stubborn: trap '' TERM; echo trapped; exec sleep 1000\n"), 0o644)
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "start", "-f", procfile, "--graceful-timeout", "60s")
	m.ReadyWorkers(1)
	m.WaitOutput("the shell to set its trap", 10*time.Second, func(out []string) bool {
		for _, l := range out {
			if strings.HasSuffix(l, "| trapped") {
				return true
			}
		}
		return false
	})
	m.Signal(syscall.SIGINT)
	m.WaitEvents("worker_stopping", 1, 10*time.Second, nil)
	m.MustStop(syscall.SIGINT, 20*time.Second)
	stops := m.Events("worker_stopping")
	if len(stops) != 2 || stops[1]["signal"] != "INT" {
		t.Errorf("stops %v, want TERM then INT", stops)
	}
}

func TestProcfileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "Procfile")
	os.WriteFile(bad, []byte("web: ok\nthis is not a process line\n"), 0o644)
	good := filepath.Join(dir, "Procfile.good")
	os.WriteFile(good, []byte("web: sleep 100\n"), 0o644)
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"-f", filepath.Join(dir, "missing")}, "missing"},
		{[]string{"-f", bad}, ":2"},
		{[]string{"-f", good, "-m", "worker=2"}, "worker"},
	} {
		out, code := pmuxtest.RunPmux(t, append([]string{"start"}, tc.args...)...)
		if code != 2 || !strings.Contains(out, tc.says) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Errorf("start %v: exit %d, output %q; want exit 2, one line naming %q", tc.args, code, out, tc.says)
		}
	}
}
