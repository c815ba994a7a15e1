//go:build linux

package main

import (
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/pmux/pmux/internal/proc"
)

// info describes the machine and the software measured.
type info struct {
	date, cpu, kernel, goVersion string
	cpus                         int
	pmuxVersion                  string
	gunicorn, unicorn, wrk       string
	python, ruby                 string
	loadBefore, loadAfter        string
	missing                      []string
	took                         time.Duration
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(s)
}

func version(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return "not installed"
	}
	return firstLine(out)
}

func loadAvg() string {
	avg, err := proc.Default.LoadAvg()
	if err != nil {
		return "?"
	}
	return avg
}

func machineInfo(e *env) info {
	in := info{date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), cpus: runtime.NumCPU(), goVersion: runtime.Version()}
	in.cpu, _ = proc.Default.CPUModel()
	in.kernel, _ = proc.Default.KernelRelease()
	in.pmuxVersion = version(e.pmux, "version")
	in.gunicorn = version("gunicorn", "--version")
	in.unicorn = version("unicorn", "-v")
	in.wrk = version("wrk", "--version")
	if in.wrk != "not installed" {
		// wrk prints its usage after the version line and exits 1.
		in.wrk = strings.Fields(in.wrk + " ?")[0] + " " + strings.Fields(in.wrk + " ? ?")[1]
	}
	in.python = version("/usr/bin/python3", "--version")
	in.ruby = version("ruby", "--version")
	if f := strings.Fields(in.ruby); len(f) > 1 {
		in.ruby = f[0] + " " + f[1]
	}
	in.loadBefore = loadAvg()
	return in
}
