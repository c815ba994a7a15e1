package integration_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/internal/pmuxtest"
)

func TestMaxRSSRecyclesWorkerSurgeFirst(t *testing.T) {
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "1", "-b", "127.0.0.1:0", "--max-rss", "30MiB",
		"--env", "WORKER_ALLOC_MB=64", "--", pmuxtest.Worker())
	first := pmuxtest.IntField(m.ReadyWorkers(1)[0], "pid")
	e := m.WaitEvents("worker_retiring", 1, 30*time.Second, nil)[0]
	if e["reason"] != "max_rss" || pmuxtest.IntField(e, "pid") != first {
		t.Errorf("retiring %v, want pid %d for max_rss", e, first)
	}
	// The replacement is ready before the big one is stopped.
	m.WaitEvents("worker_stopping", 1, 20*time.Second, func(e map[string]any) bool { return pmuxtest.IntField(e, "pid") == first })
	if len(m.Events("worker_ready")) < 2 {
		t.Errorf("old worker stopped before its replacement was ready")
	}
}

func TestForwardedSignalsReachWorkers(t *testing.T) {
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "2", "-b", "127.0.0.1:0", "--forward", "USR2", "--signals", "puma",
		"--env", "WORKER_SIGNALS=1", "--", pmuxtest.Worker())
	pmuxtest.ReportsFrom(t, pmuxtest.NewClient("tcp", m.Addr()), 2) // serving: their handlers are in place
	// puma's USR2 is a reload; the forward also hands it to the workers.
	m.Signal(syscall.SIGUSR2)
	got := regexp.MustCompile(`\| worker \d+ got user defined signal 2$`)
	m.WaitOutput("both workers to report USR2", 10*time.Second, func(out []string) bool {
		n := 0
		for _, l := range out {
			if got.MatchString(l) {
				n++
			}
		}
		return n >= 2
	})
}

// USR1 reopens pmux's log and the worker output file without losing or
// splitting a line, while workers write as fast as they can.
func TestReopenLogsLosesNoLine(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "workers.log")
	logFile := filepath.Join(dir, "pmux.log")
	const lines = 100000
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, "run", "-w", "2", "-b", "127.0.0.1:0", "--worker-output", out, "--log-file", logFile,
		"--log-format", "json", "--env", "WORKER_OUTPUT_LINES="+strconv.Itoa(lines), "--", pmuxtest.Worker())
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if fi, err := os.Stat(out); err == nil && fi.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("workers wrote nothing")
		}
	}
	// Rotate as logrotate does: rename, then USR1.
	var rotated []string
	for i := 0; i < 5; i++ {
		time.Sleep(40 * time.Millisecond)
		name := out + "." + strconv.Itoa(i)
		if err := os.Rename(out, name); err != nil {
			t.Fatal(err)
		}
		os.Rename(logFile, logFile+"."+strconv.Itoa(i))
		rotated = append(rotated, name)
		m.Signal(syscall.SIGUSR1)
	}
	files := append(rotated, out)
	line := regexp.MustCompile(`^web\.\d \d+ \| line (\d+) of \d+ from (\d+) (x*)$`)
	deadline := time.Now().Add(60 * time.Second)
	for {
		counts := map[string]int{}
		bad := ""
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				continue
			}
			sc := bufio.NewScanner(fh)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				mm := line.FindStringSubmatch(sc.Text())
				if mm == nil {
					bad = sc.Text()
					continue
				}
				i, _ := strconv.Atoi(mm[1])
				if len(mm[3]) != i%200 {
					bad = sc.Text()
				}
				counts[mm[2]]++
			}
			fh.Close()
		}
		if bad != "" {
			t.Fatalf("torn line in worker output: %q", bad)
		}
		total := 0
		for _, n := range counts {
			total += n
		}
		if total == 2*lines {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lines across %d files, want %d", total, len(files), 2*lines)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// pmux's own log moved on to the new file too.
	data, _ := os.ReadFile(logFile)
	if !strings.Contains(string(data), `"event":"logs_reopened"`) {
		t.Errorf("pmux log not reopened: %s", data)
	}
}
