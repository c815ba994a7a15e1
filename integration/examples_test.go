package integration_test

// The apps of examples/ under the real pmux binary, served by the real
// interpreters and servers (Debian's packages; .ci/run installs them).
// Each test starts its example with two workers on 127.0.0.1:0, hears from
// every worker on the shared socket, reloads with HUP and hears from the
// new generation once the old one is gone, then stops with QUIT (exit 0).
//
// A missing interpreter or server skips its test, unless
// PMUX_REQUIRE_EXAMPLES=1 (set by .ci/run), which makes it a failure.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pmux/pmux/config"
	"github.com/pmux/pmux/internal/pmuxtest"
	"github.com/pmux/pmux/signalmap"
)

// requireRuns checks that argv runs successfully (a library is importable,
// say), or skips the test naming what is missing.
func requireRuns(t *testing.T, what string, argv ...string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	if out, err := cmd.CombinedOutput(); err != nil {
		pmuxtest.Missing(t, "%s: %s: %v: %s", what, strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
}

// requirePython returns a python3 that can import module. PATH's python3
// may be a pyenv build without Debian's modules, so Debian's own is tried
// too.
func requirePython(t *testing.T, module, pkg string) string {
	t.Helper()
	var tried []string
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(py)
		if err != nil || slices.Contains(tried, path) {
			continue
		}
		tried = append(tried, path)
		if exec.Command(path, "-c", "import "+module).Run() == nil {
			return path
		}
	}
	pmuxtest.Missing(t, "no python3 that can import %s (tried %v; Debian package %s)", module, tried, pkg)
	return ""
}

// hello is one answer of an example app:
// "hello from pid=<pid> slot=<slot> gen=<gen> lang=<lang>".
type hello struct {
	pid, slot, gen int
	lang           string
}

var helloLine = regexp.MustCompile(`^hello from pid=(\d+) slot=(\d+) gen=(\d+) lang=(\w+)\n$`)

func getHello(c *http.Client) (hello, error) {
	resp, err := c.Get("http://pmux/")
	if err != nil {
		return hello{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return hello{}, err
	}
	mm := helloLine.FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || mm == nil {
		return hello{}, fmt.Errorf("status %d, answer %q: want a hello line", resp.StatusCode, body)
	}
	h := hello{lang: string(mm[4])}
	h.pid, _ = strconv.Atoi(string(mm[1]))
	h.slot, _ = strconv.Atoi(string(mm[2]))
	h.gen, _ = strconv.Atoi(string(mm[3]))
	return h, nil
}

// hellosFrom asks, a few requests at a time on new connections (so the
// kernel spreads them over the workers), until every slot 0..n-1 has
// answered. Every answer must come from generation gen in language lang.
// It returns the pids that answered (under unicorn and gunicorn those are
// their own workers, children of pmux's).
func hellosFrom(t *testing.T, m *pmuxtest.Master, c *http.Client, lang string, n, gen int) []int {
	t.Helper()
	const parallel = 4
	slots := map[int]bool{}
	var pids []int
	deadline := time.Now().Add(30 * time.Second)
	for len(slots) < n {
		if time.Now().After(deadline) {
			t.Fatalf("heard from slots %v of generation %d, want 0..%d; worker output:\n%s", slots, gen, n-1, strings.Join(m.Output(), "\n"))
		}
		answers := make([]hello, parallel)
		errs := make([]error, parallel)
		var wg sync.WaitGroup
		for i := range parallel {
			wg.Go(func() { answers[i], errs[i] = getHello(c) })
		}
		wg.Wait()
		for i, h := range answers {
			if errs[i] != nil {
				t.Fatalf("GET /: %v; worker output:\n%s", errs[i], strings.Join(m.Output(), "\n"))
			}
			if h.lang != lang || h.gen != gen || h.slot < 0 || h.slot >= n {
				t.Fatalf("answer %+v, want lang=%s gen=%d slot in 0..%d", h, lang, gen, n-1)
			}
			slots[h.slot] = true
			if !slices.Contains(pids, h.pid) {
				pids = append(pids, h.pid)
			}
		}
	}
	return pids
}

// reload sends HUP and waits for n ready workers of generation gen and for
// the exit of every worker that was live before, and of the processes in
// oldServing (the pids that answered for the old generation).
func reload(t *testing.T, m *pmuxtest.Master, n, gen int, oldServing []int) {
	t.Helper()
	before := m.LivePids()
	m.Signal(syscall.SIGHUP)
	m.WaitEvents("worker_ready", n, 60*time.Second, pmuxtest.GenIs(gen))
	m.WaitExited(before, 60*time.Second)
	pmuxtest.WaitProcsGone(t, "old generation", oldServing, 20*time.Second)
}

// example is one app of examples/ and how pmux runs it.
type example struct {
	lang  string   // lang= of its answers
	flags []string // more pmux run flags
	cmd   []string
}

// bootDelay is the examples' APP_BOOT_DELAY: each boots this slowly.
const bootDelay = time.Second

// runExample is the life of an example under pmux, as its README runs it:
// --ready auto, no hook and no config change, each booting for bootDelay.
// Two workers answer on the shared socket; a HUP under load brings a new
// generation that answers once the old one is gone, with no request lost,
// each old worker stopped only once its successor was seen waiting on the
// socket (so no request waited for the boot), and that readiness no sooner
// than the boot; QUIT stops everything with exit 0. Each worker's group
// must hold the socket (pmux checks and would warn).
func runExample(t *testing.T, ex example) {
	t.Helper()
	const workers = 2
	args := []string{"run", "-w", strconv.Itoa(workers), "-b", "127.0.0.1:0", "--graceful-timeout", "20s"}
	args = append(append(append(args, ex.flags...), "--"), ex.cmd...)
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Env: []string{"APP_BOOT_DELAY=" + strconv.FormatFloat(bootDelay.Seconds(), 'f', -1, 64)}}, args...)
	c := pmuxtest.NewClient("tcp", m.Addr())
	m.WaitEvents("worker_ready", workers, 60*time.Second, pmuxtest.GenIs(1))

	gen1 := hellosFrom(t, m, c, ex.lang, workers, 1)
	// New connections from 4 clients, one every 10 ms each, through the
	// reload: every one must be answered.
	load := pmuxtest.StartPacedLoad("tcp", m.Addr(), 4, 10*time.Millisecond, 2000)
	began := time.Now()
	reload(t, m, workers, 2, gen1)
	took := time.Since(began)
	gen2 := hellosFrom(t, m, c, ex.lang, workers, 2)
	load.Stop()
	if load.Failed.Load() != 0 || load.OK.Load() == 0 {
		t.Errorf("load through the reload: %v (first errors %v), want every request answered", load, load.Errors())
	}
	checkReadyAfterBoot(t, m, workers)
	for _, e := range m.Events("worker_seen_waiting") {
		t.Logf("%s: pid %v (worker %v) seen waiting in %v", ex.lang, e["in_pid"], e["pid"], e["wait"])
	}
	t.Logf("%s: reload under load took %v (boot %v): %v", ex.lang, took.Round(time.Millisecond), bootDelay, load)

	// Every worker was seen waiting on the shared socket, so its group
	// held it: no wrapper lost it.
	seen := map[int]bool{}
	for _, e := range m.Events("worker_seen_waiting") {
		seen[pmuxtest.IntField(e, "pid")] = true
	}
	for _, e := range m.Events("worker_ready") {
		if pid := pmuxtest.IntField(e, "pid"); !seen[pid] {
			t.Errorf("worker %d ready without being seen waiting on its socket", pid)
		}
	}

	m.MustStop(syscall.SIGQUIT, 60*time.Second)
	pmuxtest.WaitProcsGone(t, "after QUIT", gen2, 10*time.Second)
	if lost := m.Events("worker_socket_lost"); len(lost) > 0 {
		t.Errorf("pmux warned that a worker lost its socket: %v", lost)
	}
}

// checkReadyAfterBoot checks, in the log's order, that each worker of
// generation 2 was ready only after bootDelay (auto saw the real boot, not
// the exec) and that each worker of generation 1 was told to stop only
// after the new worker of its slot was ready.
func checkReadyAfterBoot(t *testing.T, m *pmuxtest.Master, workers int) {
	t.Helper()
	readyAt := map[int]int{} // slot → index in the log of its gen-2 worker_ready
	gen1 := map[int]int{}    // pid → slot, of generation 1
	for i, e := range m.Snapshot() {
		slot, gen := pmuxtest.IntField(e, "slot"), pmuxtest.IntField(e, "gen")
		switch {
		case e["event"] == "worker_spawned" && gen == 1:
			gen1[pmuxtest.IntField(e, "pid")] = slot
		case e["event"] == "worker_ready" && gen == 2:
			if _, ok := readyAt[slot]; !ok {
				readyAt[slot] = i
			}
			if boot := time.Duration(e["boot_ms"].(float64) * float64(time.Millisecond)); boot < bootDelay {
				t.Errorf("worker %v ready %v after exec, before its %v boot was over", e["pid"], boot, bootDelay)
			}
		case e["event"] == "worker_stopping":
			if s, old := gen1[pmuxtest.IntField(e, "pid")]; old {
				if r, ok := readyAt[s]; !ok || r > i {
					t.Errorf("worker %v of slot %d told to stop before its successor was ready", e["pid"], s)
				}
			}
		}
	}
	if len(readyAt) != workers {
		t.Errorf("generation 2 ready in slots %v, want %d", readyAt, workers)
	}
}

func TestExampleGo(t *testing.T) {
	t.Parallel()
	bin := pmuxtest.GoBuild(t, "./examples/go")
	runExample(t, example{lang: "go", cmd: []string{bin}})
}

func TestExampleRubyStdlib(t *testing.T) {
	t.Parallel()
	ruby := pmuxtest.RequireCommand(t, "ruby")
	runExample(t, example{lang: "ruby", cmd: []string{ruby, "examples/ruby/stdlib.rb"}})
}

func TestExampleRubyPuma(t *testing.T) {
	t.Parallel()
	ruby := pmuxtest.RequireCommand(t, "ruby")
	puma := pmuxtest.RequireCommand(t, "puma")
	requireRuns(t, "rack (Debian package ruby-rack)", ruby, "-e", "require 'rack'")
	runExample(t, example{lang: "rack",
		cmd: []string{puma, "-C", "examples/ruby/puma.rb", "examples/ruby/config.ru"}})
}

func TestExampleRubyUnicorn(t *testing.T) {
	t.Parallel()
	ruby := pmuxtest.RequireCommand(t, "ruby")
	unicorn := pmuxtest.RequireCommand(t, "unicorn")
	requireRuns(t, "rack (Debian package ruby-rack)", ruby, "-e", "require 'rack'")
	// QUIT is unicorn's graceful stop; its TERM drops in-flight requests.
	runExample(t, example{lang: "rack", flags: []string{"--stop-signal", "QUIT"},
		cmd: []string{unicorn, "-c", "examples/ruby/unicorn.conf.rb", "examples/ruby/config.ru"}})
}

func TestExamplePythonStdlib(t *testing.T) {
	t.Parallel()
	python := pmuxtest.RequireCommand(t, "python3")
	runExample(t, example{lang: "python", cmd: []string{python, "examples/python/stdlib.py"}})
}

func TestExamplePythonGunicorn(t *testing.T) {
	t.Parallel()
	gunicorn := pmuxtest.RequireCommand(t, "gunicorn")
	runExample(t, example{lang: "wsgi", cmd: []string{gunicorn, "-c", "examples/python/gunicorn.conf.py"}})
}

func TestExamplePythonUvicorn(t *testing.T) {
	t.Parallel()
	python := requirePython(t, "uvicorn", "python3-uvicorn")
	runExample(t, example{lang: "asgi", cmd: []string{python, "-m", "uvicorn", "--fd", "3", "--app-dir", "examples/python", "asgi:app"}})
}

func TestExampleNode(t *testing.T) {
	t.Parallel()
	node := pmuxtest.RequireCommand(t, "node")
	runExample(t, example{lang: "node", cmd: []string{node, "examples/node/server.js"}})
}

// inDir is a startOpts.wrap that runs pmux from dir, where the examples'
// relative paths (bin/example-go) resolve.
func inDir(dir string) []string {
	return []string{"sh", "-c", `cd '` + dir + `' && exec "$0" "$@"`}
}

// exampleTree lays out dir like the repository after `make build`:
// bin/example-go (built here) and the given example files copied in.
func exampleTree(t *testing.T, files ...string) string {
	t.Helper()
	dir := t.TempDir()
	bin := pmuxtest.GoBuild(t, "./examples/go")
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bin, filepath.Join(dir, "bin", "example-go")); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestExampleProcfileParses(t *testing.T) {
	data, err := os.ReadFile("examples/Procfile")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := config.ParseProcfile("examples/Procfile", data)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
	}
	if !slices.Equal(names, []string{"web", "jobs"}) {
		t.Fatalf("process types %v, want web and jobs", names)
	}
	// The server must replace the shell, or LISTEN_PID names the shell.
	if !strings.HasPrefix(entries[0].Command, "exec ") {
		t.Errorf("web: %q does not exec the server", entries[0].Command)
	}
	if !strings.Contains(entries[1].Command, "trap") {
		t.Errorf("jobs: %q does not trap TERM (it would die of it, not exit 0)", entries[1].Command)
	}
}

func TestExampleProcfileStart(t *testing.T) {
	t.Parallel()
	dir := exampleTree(t, "examples/Procfile")
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Wrap: inDir(dir)},
		"start", "-f", "Procfile", "-m", "web=2,jobs=1", "-p", "0")
	_, port, err := net.SplitHostPort(m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c := pmuxtest.NewClient("tcp", net.JoinHostPort("127.0.0.1", port))
	m.WaitEvents("worker_ready", 3, 60*time.Second, nil)
	gen1 := hellosFrom(t, m, c, "go", 2, 1)
	m.WaitOutput("a jobs tick", 20*time.Second, func(out []string) bool {
		return slices.ContainsFunc(out, func(l string) bool { return strings.Contains(l, "jobs: tick") })
	})
	reload(t, m, 3, 2, gen1)
	hellosFrom(t, m, c, "go", 2, 2)
	m.MustStop(syscall.SIGQUIT, 60*time.Second)
}

// tomlExample is examples/pmux.toml made local to dir: the pidfile and the
// unix socket in dir, TCP on 127.0.0.1:0 instead of port 8000, two web
// workers. Everything else is the example's.
func tomlExample(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile("examples/pmux.toml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, r := range [][2]string{
		{`"/tmp/pmux-example.pid"`, strconv.Quote(filepath.Join(dir, "pmux.pid"))},
		{`"tcp://127.0.0.1:8000"`, `"tcp://127.0.0.1:0"`},
		{`"unix:///tmp/pmux-example-web.sock?mode=0660"`, strconv.Quote("unix://" + filepath.Join(dir, "web.sock") + "?mode=0660")},
		{"workers = 4", "workers = 2"},
	} {
		if !strings.Contains(s, r[0]) {
			t.Fatalf("examples/pmux.toml no longer has %s; update this test", r[0])
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	path := filepath.Join(dir, "pmux.toml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExampleTOMLParses(t *testing.T) {
	cfg, err := config.Load("examples/pmux.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Pools) != 2 {
		t.Fatalf("%d pools, want web and jobs", len(cfg.Pools))
	}
	web, jobs := cfg.Pools[0], cfg.Pools[1]
	if web.Name != "web" || len(web.Bind) != 2 || web.Ready.Mode != config.ReadyNotify || !slices.Equal(web.Command, []string{"bin/example-go"}) {
		t.Errorf("web pool %+v, want bin/example-go on two binds with ready = notify", web)
	}
	if jobs.Name != "jobs" || len(jobs.Bind) != 0 || jobs.Workers != 2 {
		t.Errorf("jobs pool %+v, want 2 workers and no bind", jobs)
	}
}

func TestExampleTOMLRun(t *testing.T) {
	t.Parallel()
	dir := exampleTree(t)
	path := tomlExample(t, dir)
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Wrap: inDir(dir)}, "run", "-c", path)
	c := pmuxtest.NewClient("tcp", m.Addr())
	m.WaitEvents("worker_ready", 4, 60*time.Second, nil)
	if data, err := os.ReadFile(filepath.Join(dir, "pmux.pid")); err != nil || string(data) != strconv.Itoa(m.Pid())+"\n" {
		t.Errorf("pidfile %q (%v), want the master's pid", data, err)
	}
	gen1 := hellosFrom(t, m, c, "go", 2, 1)
	hellosFrom(t, m, pmuxtest.NewClient("unix", filepath.Join(dir, "web.sock")), "go", 2, 1)
	m.WaitOutput("a jobs tick", 20*time.Second, func(out []string) bool {
		return slices.ContainsFunc(out, func(l string) bool { return strings.Contains(l, "jobs: tick") })
	})
	// HUP re-reads the file and replaces both pools' workers.
	reload(t, m, 4, 2, gen1)
	hellosFrom(t, m, c, "go", 2, 2)
	m.MustStop(syscall.SIGQUIT, 60*time.Second)
	for _, left := range []string{"pmux.pid", "web.sock"} {
		if _, err := os.Stat(filepath.Join(dir, left)); !os.IsNotExist(err) {
			t.Errorf("%s left behind after stop: %v", left, err)
		}
	}
}

func TestExampleTOMLCheck(t *testing.T) {
	t.Parallel()
	dir := exampleTree(t)
	path := tomlExample(t, dir)
	stdout, stderr, code := pmuxtest.RunPmuxIn(t, dir, "check", "-c", path)
	if code != 0 || !strings.Contains(stdout, "jobs") || !strings.Contains(stdout, "example-go") {
		t.Errorf("pmux check -c %s: exit %d, stdout %q, stderr %q; want 0 and the resolved pools", path, code, stdout, stderr)
	}
	bad := filepath.Join(dir, "bad.toml")
	data, _ := os.ReadFile(path)
	os.WriteFile(bad, bytes.Replace(data, []byte("workers = 2"), []byte(`workers = "many"`), 1), 0o644)
	if _, stderr, code := pmuxtest.RunPmuxIn(t, dir, "check", "-c", bad); code != 2 || !strings.Contains(stderr, "workers") {
		t.Errorf("pmux check of a bad file: exit %d, stderr %q; want 2 naming the key", code, stderr)
	}
}

// yamlDocs decodes every document of a multi-document YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []map[string]any
	dec := yaml.NewDecoder(f)
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if err == io.EOF {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, doc)
	}
}

// dig walks a decoded YAML tree: string keys index maps, ints index lists.
func dig(t *testing.T, v any, path ...any) any {
	t.Helper()
	for i, k := range path {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok || m[k] == nil {
				t.Fatalf("no %v in the manifest", path[:i+1])
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("no %v in the manifest", path[:i+1])
			}
			v = l[k]
		}
	}
	return v
}

func stringList(t *testing.T, v any) []string {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("%v: want a list of strings", v)
	}
	out := make([]string, len(l))
	for i, x := range l {
		out[i] = fmt.Sprint(x)
	}
	return out
}

// flagValue finds --name=V or --name V in argv (before "--").
func flagValue(argv []string, name string) (string, bool) {
	for i, a := range argv {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
		if a == name && i+1 < len(argv) {
			return argv[i+1], true
		}
	}
	return "", false
}

// The Kubernetes manifest: pmux is the container's command (PID 1, no
// shell or init in front), TERM from kubelet is a graceful stop, preStop
// stops pmux gracefully, and the readiness probe asks pmux itself.
func TestExampleKubernetes(t *testing.T) {
	pod, ctr := kubernetesContainer(t)
	command := stringList(t, dig(t, ctr, "command"))
	if len(command) < 2 || filepath.Base(command[0]) != "pmux" || command[1] != "run" {
		t.Fatalf("container command %v: want pmux run as PID 1", command)
	}
	if !slices.Contains(command, "--") || slices.Index(command, "--") == len(command)-1 {
		t.Errorf("command %v: want the app after --", command)
	}
	pidfile, ok := flagValue(command, "--pidfile")
	if !ok {
		t.Fatalf("command %v has no --pidfile: the probes and preStop find pmux by it", command)
	}
	profile, _ := flagValue(command, "--signals")
	p, err := signalmap.ParseProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	if act := signalmap.For(p).Action(syscall.SIGTERM); act != signalmap.GracefulStop {
		t.Errorf("--signals=%s: kubelet's TERM is %s, want graceful_stop", profile, act)
	}

	preStop := strings.Join(stringList(t, dig(t, ctr, "lifecycle", "preStop", "exec", "command")), " ")
	if !strings.Contains(preStop, "pmux stop --pidfile "+pidfile) {
		t.Errorf("preStop %q: want pmux stop --pidfile %s", preStop, pidfile)
	}
	probe := stringList(t, dig(t, ctr, "readinessProbe", "exec", "command"))
	if filepath.Base(probe[0]) != "pmux" || !slices.Contains(probe, "status") || !slices.Contains(probe, "--check") {
		t.Errorf("readiness probe %v: want pmux status --check", probe)
	}
	if v, _ := flagValue(probe, "--pidfile"); v != pidfile {
		t.Errorf("readiness probe %v: want --pidfile %s", probe, pidfile)
	}

	// kubelet's KILL must come after preStop and pmux's graceful timeout.
	grace, _ := dig(t, pod, "terminationGracePeriodSeconds").(int)
	timeout, err := time.ParseDuration(func() string { v, _ := flagValue(command, "--graceful-timeout"); return v }())
	if err != nil {
		t.Fatalf("--graceful-timeout: %v", err)
	}
	if time.Duration(grace)*time.Second <= timeout {
		t.Errorf("terminationGracePeriodSeconds %d does not cover --graceful-timeout %v", grace, timeout)
	}

	// The pidfile's directory and /tmp (the control socket, without
	// XDG_RUNTIME_DIR) must be writable under readOnlyRootFilesystem.
	var mounts []string
	for _, m := range dig(t, ctr, "volumeMounts").([]any) {
		mounts = append(mounts, fmt.Sprint(m.(map[string]any)["mountPath"]))
	}
	for _, need := range []string{filepath.Dir(pidfile), "/tmp"} {
		if !slices.Contains(mounts, need) {
			t.Errorf("volumeMounts %v: want a writable %s", mounts, need)
		}
	}

	t.Run("command runs", func(t *testing.T) {
		t.Parallel()
		runKubernetesCommand(t, command, preStop, probe, pidfile)
	})
}

// kubernetesContainer returns the pod spec of the manifest's Deployment
// and its first container.
func kubernetesContainer(t *testing.T) (pod, ctr any) {
	t.Helper()
	docs := yamlDocs(t, "examples/kubernetes/deployment.yaml")
	var deploy map[string]any
	for _, d := range docs {
		if d["kind"] == "Deployment" {
			deploy = d
		}
	}
	if deploy == nil || deploy["apiVersion"] != "apps/v1" {
		t.Fatalf("no apps/v1 Deployment among %d documents", len(docs))
	}
	pod = dig(t, deploy, "spec", "template", "spec")
	return pod, dig(t, pod, "containers", 0)
}

// dockerInstruction is one instruction of a Dockerfile: FROM, RUN, COPY …
type dockerInstruction struct {
	cmd  string // upper case
	args string
}

// dockerfile reads a Dockerfile's instructions, continuation lines
// joined, comments and parser directives dropped.
func dockerfile(t *testing.T, path string) []dockerInstruction {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []dockerInstruction
	var cur string
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur += strings.TrimSuffix(trimmed, "\\") + " "
			continue
		}
		cur += trimmed
		cmd, args, _ := strings.Cut(cur, " ")
		out = append(out, dockerInstruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur = ""
	}
	return out
}

// execForm decodes an instruction's JSON exec form: ["a", "b"].
func execForm(t *testing.T, in dockerInstruction) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(in.args), &argv); err != nil || len(argv) == 0 {
		t.Fatalf("%s %s: want the exec form [\"cmd\", \"arg\"…] (no shell in front): %v", in.cmd, in.args, err)
	}
	return argv
}

// The container example builds the image the Kubernetes manifest runs:
// multi-stage, pmux and the app where the manifest's command finds them,
// the manifest's non-root user and port, pmux as PID 1 with the manifest's
// very command, and its readiness probe as the health check.
func TestExampleContainer(t *testing.T) {
	_, ctr := kubernetesContainer(t)
	command := stringList(t, dig(t, ctr, "command"))
	instructions := dockerfile(t, "examples/container/Dockerfile")

	// The stages: a Go build stage, then a small final one.
	var stages []string // the FROM arguments
	final := map[string][]dockerInstruction{}
	for _, in := range instructions {
		if in.cmd == "FROM" {
			stages = append(stages, in.args)
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("%s before the first FROM", in.cmd)
		}
		if len(stages) > 1 {
			final[in.cmd] = append(final[in.cmd], in)
		}
	}
	if len(stages) != 2 {
		t.Fatalf("stages %q: want a build stage and the image", stages)
	}
	build := strings.Fields(stages[0])
	if len(build) != 3 || !strings.HasPrefix(build[0], "golang:") || !strings.EqualFold(build[1], "AS") {
		t.Fatalf("first stage FROM %s: want golang:<version> AS <name>", stages[0])
	}
	goMod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	if goLine == nil || !strings.HasPrefix(strings.TrimPrefix(build[0], "golang:"), string(goLine[1])) {
		t.Errorf("FROM %s does not match go.mod's go %s", build[0], goLine[1])
	}
	if base := strings.Fields(stages[1])[0]; base == "scratch" || strings.HasPrefix(base, "golang") {
		t.Errorf("final stage FROM %s: want a small image with the /bin/sh the preStop hook runs", base)
	}
	var built string
	for _, in := range instructions {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			built += in.args + "\n"
		}
	}
	for _, want := range []string{"CGO_ENABLED=0 go build -trimpath", " .", "./examples/go"} {
		if !strings.Contains(built, want) {
			t.Errorf("the build stage's go build runs lack %q:\n%s", want, built)
		}
	}

	// The binaries where the manifest runs them.
	app := command[slices.Index(command, "--")+1]
	copied := map[string]bool{}
	for _, in := range final["COPY"] {
		f := strings.Fields(in.args)
		if len(f) == 3 && f[0] == "--from="+build[2] {
			copied[f[2]] = true
		}
	}
	for _, path := range []string{command[0], app} {
		if !copied[path] {
			t.Errorf("the image has no %s from the %s stage, which the manifest runs", path, build[2])
		}
	}

	// The user: not root, the manifest's.
	uid := fmt.Sprint(dig(t, ctr, "securityContext", "runAsUser"))
	if users := final["USER"]; len(users) != 1 || strings.Split(users[0].args, ":")[0] != uid || uid == "0" {
		t.Errorf("USER %v: want the manifest's runAsUser %s, numeric and not root", users, uid)
	}
	// The port: the manifest's containerPort, which pmux binds.
	port := fmt.Sprint(dig(t, ctr, "ports", 0, "containerPort"))
	if expose := final["EXPOSE"]; len(expose) != 1 || expose[0].args != port {
		t.Errorf("EXPOSE %v: want the manifest's containerPort %s", expose, port)
	}
	if bind, _ := flagValue(command, "--bind"); !strings.HasSuffix(bind, ":"+port) {
		t.Errorf("the manifest binds %s, not its containerPort %s", bind, port)
	}
	// pmux is PID 1 with the manifest's command, and the health check is
	// its readiness probe.
	if eps := final["ENTRYPOINT"]; len(eps) != 1 || !slices.Equal(execForm(t, eps[0]), command) {
		t.Errorf("ENTRYPOINT %v: want the manifest's command %q in exec form", eps, command)
	}
	probe := stringList(t, dig(t, ctr, "readinessProbe", "exec", "command"))
	hc := final["HEALTHCHECK"]
	if len(hc) != 1 || !strings.Contains(hc[0].args, "CMD [") {
		t.Fatalf("HEALTHCHECK %v: want one, CMD in exec form", hc)
	}
	_, check, _ := strings.Cut(hc[0].args, "CMD ")
	if argv := execForm(t, dockerInstruction{"HEALTHCHECK CMD", check}); !slices.Equal(argv, probe) {
		t.Errorf("HEALTHCHECK CMD %q: want the readiness probe %q", argv, probe)
	}
	// The stop signal is the graceful stop kubelet's TERM is.
	profile, _ := flagValue(command, "--signals")
	p, err := signalmap.ParseProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	if stop := final["STOPSIGNAL"]; len(stop) != 1 || signalmap.For(p).Action(mustSignal(t, stop[0].args)) != signalmap.GracefulStop {
		t.Errorf("STOPSIGNAL %v: want a graceful stop of the %s profile", stop, profile)
	}
	// What the build copies in must exist.
	for _, in := range instructions {
		if f := strings.Fields(in.args); in.cmd == "COPY" && !strings.HasPrefix(f[0], "--from=") {
			for _, src := range f[:len(f)-1] {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("COPY %s: %v", in.args, err)
				}
			}
		}
	}
}

func mustSignal(t *testing.T, name string) syscall.Signal {
	t.Helper()
	sig, err := signalmap.ParseSignal(name)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// runKubernetesCommand runs the container's command with the image's paths
// mapped to this machine, probes it as kubelet would until ready, then
// runs preStop's pmux stop and expects a clean exit.
func runKubernetesCommand(t *testing.T, command []string, preStop string, probe []string, pidfile string) {
	dir := t.TempDir()
	app := pmuxtest.GoBuild(t, "./examples/go")
	local := filepath.Join(dir, "pmux.pid")
	var args []string
	for _, a := range command[1:] {
		switch {
		case a == "/app/server":
			a = app
		case strings.HasPrefix(a, "--pidfile"):
			a = "--pidfile=" + local
		case strings.HasPrefix(a, "--bind"):
			a = "--bind=127.0.0.1:0"
		case strings.HasPrefix(a, "--workers"):
			a = "--workers=2"
		}
		args = append(args, a)
	}
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{}, args...)
	c := pmuxtest.NewClient("tcp", m.Addr())

	probeArgs := slices.Clone(probe[1:])
	for i, a := range probeArgs {
		if a == pidfile {
			probeArgs[i] = local
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, stderr, code := pmuxtest.RunPmuxIn(t, dir, probeArgs...)
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness probe pmux %v: exit %d (%s) 30s after start", probeArgs, code, stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	hellosFrom(t, m, c, "go", 2, 1)

	stop := strings.Fields(preStop[strings.Index(preStop, "pmux stop"):])[1:]
	for i, a := range stop {
		if a == pidfile {
			stop[i] = local
		}
	}
	if _, stderr, code := pmuxtest.RunPmuxIn(t, dir, stop...); code != 0 {
		t.Errorf("preStop pmux %v: exit %d: %s", stop, code, stderr)
	}
	m.MustExit(0, 60*time.Second)
}

// systemdUnit reads a unit file's Key=Value lines, continuation lines
// joined, comments dropped.
func systemdUnit(t *testing.T, path string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unit := map[string][]string{}
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not Key=Value", path, line)
		}
		unit[k] = append(unit[k], strings.TrimSpace(v))
	}
	return unit
}

// The systemd units: what they rely on is checked by running the
// service's ExecStart as systemd would, with an adopted socket and a
// notify socket: READY=1 once workers serve, RELOADING=1 … READY=1 around
// a reload, STOPPING=1 and exit 0 on KillSignal. (systemd_linux_test.go
// runs the units under a real systemd.)
func TestExampleSystemd(t *testing.T) {
	t.Parallel()
	svc := systemdUnit(t, "examples/systemd/pmux-app.service")
	sock := systemdUnit(t, "examples/systemd/pmux-app.socket")
	for key, want := range map[string]string{
		"Type": "notify", "NotifyAccess": "all", "KillSignal": "SIGQUIT", "KillMode": "mixed",
		"ExecReload": "/usr/local/bin/pmux reload --wait --pid $MAINPID",
		"ExecStop":   `/bin/sh -c 'test -z "$$MAINPID" || exec /usr/local/bin/pmux stop --pid "$$MAINPID"'`,
	} {
		if got := svc[key]; len(got) != 1 || got[0] != want {
			t.Errorf("pmux-app.service %s=%v, want %s", key, got, want)
		}
	}
	if got := sock["FileDescriptorName"]; len(got) != 1 || got[0] != "http" {
		t.Errorf("pmux-app.socket FileDescriptorName=%v, want http", got)
	}
	// KillSignal must be the default profile's graceful stop.
	if act := signalmap.For(signalmap.Unicorn).Action(syscall.SIGQUIT); act != signalmap.GracefulStop {
		t.Errorf("KillSignal=SIGQUIT is %s in the unicorn profile, want graceful_stop", act)
	}
	execStart := strings.Fields(svc["ExecStart"][0])
	if filepath.Base(execStart[0]) != "pmux" || execStart[1] != "run" {
		t.Fatalf("ExecStart %v: want pmux run", execStart)
	}
	if v, _ := flagValue(execStart, "-b"); v != "systemd" {
		t.Errorf("ExecStart %v: want -b systemd (adopt the .socket unit's sockets)", execStart)
	}

	// Run it: the socket as fd 3 with LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES
	// for pmux's own pid, and NOTIFY_SOCKET.
	dir := t.TempDir()
	app := pmuxtest.GoBuild(t, "./examples/go")
	var args []string
	for i := 1; i < len(execStart); i++ {
		a := execStart[i]
		switch {
		case a == "/usr/local/bin/example-go":
			a = app
		case a == "--pidfile":
			args = append(args, a, filepath.Join(dir, "pmux.pid"))
			i++
			continue
		case a == "-w":
			args = append(args, a, "2")
			i++
			continue
		}
		args = append(args, a)
	}
	f, addr := pmuxtest.ListenerFile(t)
	sd := pmuxtest.NewFakeSystemd(t)
	wrap := pmuxtest.SocketActivated(1, "http")
	m := pmuxtest.StartMaster(t, pmuxtest.Opts{Wrap: wrap, ExtraFiles: []*os.File{f}, Env: []string{sd.Env()}}, args...)
	f.Close()
	c := pmuxtest.NewClient("tcp", addr)
	sd.Await(0, "READY=1")
	gen1 := hellosFrom(t, m, c, "go", 2, 1)
	reload(t, m, 2, 2, gen1)
	sd.Await(0, "RELOADING=1")
	sd.Await(0, "READY=1")
	hellosFrom(t, m, c, "go", 2, 2)
	m.Signal(syscall.SIGQUIT) // KillSignal
	sd.Await(0, "STOPPING=1")
	m.MustExit(0, 60*time.Second)
}
