package integration_test

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/config"
	"github.com/pmux/pmux/internal/pmuxtest"
	"github.com/pmux/pmux/signalmap"
)

var updateReadme = flag.Bool("update-readme", false, "rewrite README.md's generated tables")

// The README's reference tables are generated from the code and checked
// here, so they cannot drift: go test -run TestREADME -update-readme.
func TestREADMEGeneratedTables(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	for name, body := range map[string]string{
		"config-reference": renderConfigReference(),
		"signal-table":     renderSignalTable(),
	} {
		start, end := "<!-- "+name+":start -->\n", "<!-- "+name+":end -->"
		i, j := strings.Index(readme, start), strings.Index(readme, end)
		if i < 0 || j < i {
			t.Fatalf("README.md lacks the %s markers", name)
		}
		current := readme[i+len(start) : j]
		if current == body {
			continue
		}
		if *updateReadme {
			readme = readme[:i+len(start)] + body + readme[j:]
			continue
		}
		t.Errorf("README.md's %s is out of date: run go test -run TestREADME -update-readme", name)
	}
	if *updateReadme {
		os.WriteFile("README.md", []byte(readme), 0o644)
	}
}

func renderConfigReference() string {
	var b strings.Builder
	b.WriteString("| key | type | default | meaning |\n|---|---|---|---|\n")
	for _, k := range config.Reference() {
		b.WriteString("| `" + k.Key + "` | " + k.Type + " | " + k.Default + " | " + strings.ReplaceAll(k.Doc, "|", "\\|") + " |\n")
	}
	return b.String()
}

func renderSignalTable() string {
	profiles := signalmap.Profiles()
	var b strings.Builder
	b.WriteString("| signal |")
	for _, p := range profiles {
		b.WriteString(" " + string(p) + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(profiles)) + "\n")
	for _, sig := range signalmap.For(signalmap.Unicorn).Signals() {
		b.WriteString("| " + signalmap.Name(sig) + " |")
		for _, p := range profiles {
			b.WriteString(" " + string(signalmap.For(p).Action(sig)) + " |")
		}
		b.WriteString("\n")
	}
	b.WriteString("| TTOU floor |")
	for _, p := range profiles {
		b.WriteString(" " + string(rune('0'+signalmap.For(p).Floor())) + " |")
	}
	b.WriteString("\n")
	return b.String()
}

// readmeBlock is one fenced code block of the README and where it is.
type readmeBlock struct {
	section, subsection string // the ## and ### headings above it
	lang                string
	line                int // of the opening fence
	lines               []string
}

func readmeBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []readmeBlock
	var section, subsection string
	var cur *readmeBlock
	for i, line := range strings.Split(string(data), "\n") {
		switch {
		case cur != nil && line == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, line)
		case strings.HasPrefix(line, "```"):
			cur = &readmeBlock{section: section, subsection: subsection, lang: line[3:], line: i + 1}
		case strings.HasPrefix(line, "## "):
			section, subsection = line[3:], ""
		case strings.HasPrefix(line, "### "):
			subsection = line[4:]
		}
	}
	return blocks
}

// The sections whose sh blocks run as written from a fresh clone.
var readmeRunnable = []string{"Install", "Quickstart"}

// readmeRequired are the command lines those sections must hold.
var readmeRequired = []string{
	"go install github.com/pmux/pmux@latest", "make install", "make uninstall",
	"make release", "make run", "make test", "make build",
}

// readmeNotRun are lines not run, and why.
var readmeNotRun = map[string]string{
	"make test": "it is this suite",
}

// serverLine is a command line that starts a master, which serves until
// Ctrl-C.
var serverLine = regexp.MustCompile(`^(bin/pmux (run|start)|make run)\b`)

// lacks reports whether a line's program is missing: a failure when the
// examples are required (PMUX_REQUIRE_EXAMPLES=1, as in .ci/run), else a
// logged reason to pass the line by.
func lacks(t *testing.T, name string) bool {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return false
	}
	if os.Getenv("PMUX_REQUIRE_EXAMPLES") == "1" {
		t.Errorf("%s not found in PATH (PMUX_REQUIRE_EXAMPLES=1: .ci/run installs it)", name)
	} else {
		t.Logf("%s not found in PATH: its line is not run (PMUX_REQUIRE_EXAMPLES=1 makes this a failure)", name)
	}
	return true
}

// readmeServer is a master started by a README line.
type readmeServer struct {
	m       *pmuxtest.Master
	line    string
	workers int
	leaves  []string // the pidfile and socket files it must remove
}

// TestREADMECommands runs the command lines of the README's Install and
// Quickstart sections as written, one after the other, in a fresh clone
// (see freshClone). What keeps them off this machine's ports and files:
// 127.0.0.1:8000 becomes 127.0.0.1:0, and so does a master's default bind
// (PMUX_BIND); DESTDIR, HOME and GOBIN are temporary directories; go
// install fetches this tree from a local module proxy (goInstallEnv). A
// line that starts a master runs until it serves, through the lines after
// it, then gets Ctrl-C (INT to its process group) and must leave nothing
// behind; every other line must exit 0, within a bound.
func TestREADMECommands(t *testing.T) {
	t.Parallel()
	pmuxtest.RequireCommand(t, "make")
	pmuxtest.RequireCommand(t, "git")
	if gitHead(t) == "" {
		pmuxtest.Missing(t, "not a git checkout: a fresh clone cannot be made")
	}
	clone := freshClone(t)
	tmp := t.TempDir()
	stage, home, gobin := filepath.Join(tmp, "stage"), filepath.Join(tmp, "home"), filepath.Join(tmp, "gobin")
	for _, d := range []string{stage, home, gobin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := append(goInstallEnv(t, clone, gobin), "DESTDIR="+stage, "HOME="+home)

	var lines []string
	for _, b := range readmeBlocks(t) {
		if b.lang == "sh" && slices.Contains(readmeRunnable, b.section) {
			lines = append(lines, "") // a block ends: its master stops
			for _, l := range b.lines {
				if cmd, _, _ := strings.Cut(l, " #"); strings.TrimSpace(cmd) != "" {
					lines = append(lines, strings.TrimSpace(cmd))
				}
			}
		}
	}
	for _, want := range readmeRequired {
		if !slices.ContainsFunc(lines, func(l string) bool { return l == want || strings.HasPrefix(l, want+" ") }) {
			t.Errorf("README's %v sections lack the command line %q", readmeRunnable, want)
		}
	}

	var cur *readmeServer
	stop := func() {
		if cur == nil {
			return
		}
		syscall.Kill(-cur.m.Pid(), syscall.SIGINT)
		code := cur.m.Wait(60 * time.Second)
		// make dies of the INT itself once pmux has stopped; pmux exits 0.
		if strings.HasPrefix(cur.line, "bin/pmux") && code != 0 {
			t.Errorf("%s: exit %d after Ctrl-C, want 0", cur.line, code)
		}
		for _, f := range cur.leaves {
			if _, err := os.Stat(filepath.Join(clone, f)); !os.IsNotExist(err) {
				t.Errorf("%s left %s behind (%v)", cur.line, f, err)
			}
		}
		cur = nil
	}
	defer stop()
	for _, line := range append(lines, "") {
		if line == "" {
			stop()
			continue
		}
		if why, ok := readmeNotRun[line]; ok {
			t.Logf("not run: %s (%s)", line, why)
			continue
		}
		cmd := strings.ReplaceAll(line, "127.0.0.1:8000", "127.0.0.1:0")
		argv := strings.Fields(cmd)
		if i := slices.Index(argv, "--"); i >= 0 && i+1 < len(argv) && !strings.Contains(argv[i+1], "/") && lacks(t, argv[i+1]) {
			continue
		}
		start := time.Now()
		if serverLine.MatchString(cmd) {
			stop()
			// Only a master binds: PMUX_BIND would make a two-pool check fail.
			cur = startReadmeServer(t, clone, append(env, "PMUX_BIND=127.0.0.1:0"), line, cmd, argv)
			t.Logf("%s: serving after %v", line, time.Since(start).Round(time.Millisecond))
			continue
		}
		out, err := pmuxtest.RunToEnd(t, clone, env, 10*time.Minute, "sh", "-c", cmd)
		t.Logf("%s: %v", line, time.Since(start).Round(time.Millisecond))
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		checkReadmeLine(t, line, out, clone, stage, home, gobin, cur)
	}
}

// startReadmeServer starts a line that runs a master and waits until each
// of its sockets answers.
func startReadmeServer(t *testing.T, clone string, env []string, line, cmd string, argv []string) *readmeServer {
	t.Helper()
	s := &readmeServer{line: line, workers: 1}
	binds := 1
	for i, a := range argv[:max(slices.Index(argv, "--"), 0)] {
		if i+1 >= len(argv) {
			break
		}
		switch a {
		case "-w", "--workers":
			s.workers, _ = strconv.Atoi(argv[i+1])
		case "-p", "--pidfile":
			s.leaves = append(s.leaves, argv[i+1])
		case "-b", "--bind":
			binds++
			if path, ok := strings.CutPrefix(strings.Trim(argv[i+1], "'"), "unix:"); ok {
				s.leaves = append(s.leaves, strings.Split(path, "?")[0])
			}
		}
	}
	if binds > 1 {
		binds-- // an explicit -b replaces the default one
	}
	if strings.HasPrefix(cmd, "make run") {
		s.workers = 4
	}
	s.m = pmuxtest.StartMasterAt(t, "sh", pmuxtest.Opts{Env: env, Wrap: inDir(clone)}, "-c", "exec "+cmd)
	// make run builds first.
	for _, e := range s.m.WaitEvents("listening", binds, 3*time.Minute, nil) {
		network, addr := "tcp", fmt.Sprint(e["addr"])
		if strings.HasPrefix(fmt.Sprint(e["bind"]), "unix:") {
			network = "unix"
			if !filepath.IsAbs(addr) {
				addr = filepath.Join(clone, addr)
			}
		}
		c := pmuxtest.NewClient(network, addr)
		deadline := time.Now().Add(60 * time.Second)
		for {
			h, err := getHello(c)
			if err == nil {
				t.Logf("%s: %s %s answers from pid %d (%s)", line, network, addr, h.pid, h.lang)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s %s does not answer: %v\n%s", line, network, addr, err, s.m.Dump())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return s
}

// checkReadmeLine checks what a line that ran to its end must have done.
func checkReadmeLine(t *testing.T, line, out, clone, stage, home, gobin string, cur *readmeServer) {
	t.Helper()
	prefix := filepath.Join(stage, "usr", "local")
	switch {
	case line == "make build":
		for _, b := range []string{"pmux", "example-go"} {
			if _, err := os.Stat(filepath.Join(clone, "bin", b)); err != nil {
				t.Errorf("make build: %v", err)
			}
		}
	case line == "make install":
		if out, err := pmuxtest.RunToEnd(t, clone, nil, 10*time.Second, filepath.Join(prefix, "bin", "pmux"), "version"); err != nil {
			t.Errorf("make install: the installed pmux version: %v %s", err, out)
		}
	case line == "make uninstall":
		if left := fileTree(t, stage); slices.ContainsFunc(slices.Collect(maps.Keys(left)), func(p string) bool { return strings.HasPrefix(p, "usr/local/") }) {
			t.Errorf("make uninstall left\n%s", treeLines(left))
		}
	case strings.HasPrefix(line, "make install PREFIX=$HOME/.local"):
		if _, err := os.Stat(filepath.Join(stage, home, ".local", "bin", "pmux")); err != nil {
			t.Errorf("%s: %v", line, err)
		}
	case line == "make release":
		// The version is git describe's, read back from a binary's name.
		found, _ := filepath.Glob(filepath.Join(clone, "bin", "release", "pmux-*-linux-amd64"))
		if len(found) != 1 {
			t.Fatalf("make release: bin/release holds %q, want one pmux-<version>-linux-amd64", found)
		}
		version := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(found[0]), "pmux-"), "-linux-amd64")
		checkRelease(t, filepath.Join(clone, "bin", "release"), version, releaseTargets)
	case strings.HasPrefix(line, "go install github.com/pmux/pmux@latest"):
		if out, err := pmuxtest.RunToEnd(t, gobin, nil, 10*time.Second, filepath.Join(gobin, "pmux"), "version"); err != nil || !strings.HasPrefix(out, "pmux "+proxyVersion+" (") {
			t.Errorf("go install's pmux says %q (%v), want pmux %s (…)", out, err, proxyVersion)
		}
	case strings.HasPrefix(line, "kill -HUP"):
		if cur == nil {
			t.Fatalf("%s: no master runs", line)
		}
		cur.m.WaitEvents("worker_ready", cur.workers, 60*time.Second, pmuxtest.GenIs(2))
	case strings.Contains(line, " status "):
		if cur == nil || !strings.HasPrefix(out, fmt.Sprintf("pmux %d: running", cur.m.Pid())) {
			t.Errorf("%s: %q, want the running master's status", line, out)
		}
	}
}

// outputPattern turns a line of output quoted in the README into a
// pattern: "…" stands for anything, and so does a number's digits.
func outputPattern(line string) *regexp.Regexp {
	var b strings.Builder
	for i, part := range strings.Split(line, "…") {
		if i > 0 {
			b.WriteString(".*")
		}
		b.WriteString(regexp.MustCompile(`\d+`).ReplaceAllString(regexp.QuoteMeta(part), `\d+`))
	}
	return regexp.MustCompile("^" + b.String() + "$")
}

// TestREADMETroubleshooting produces every error of the README's
// Troubleshooting section with the real binary: each entry's console
// block holds one "$ command" and what pmux (and the worker) then print,
// which must appear in what the command prints, line for line. The
// command runs in a tree laid out like the clone after make build, with
// pmux's log as on a terminal (console), 127.0.0.1:8000 made free
// (127.0.0.1:0) except where the entry is about a port in use.
func TestREADMETroubleshooting(t *testing.T) {
	t.Parallel()
	// What an entry needs before its command runs; the default binds
	// 127.0.0.1:0 instead of port 8000.
	setups := map[string]func(t *testing.T) (port string){
		"Address already in use": func(t *testing.T) string {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			return port
		},
		"Permission denied after `--user`": func(t *testing.T) string {
			if os.Geteuid() != 0 {
				t.Skip("needs root, to start workers as nobody")
			}
			if _, err := user.Lookup("nobody"); err != nil {
				t.Skip("no user nobody:", err)
			}
			return "0"
		},
		"A worker failed to boot": func(t *testing.T) string {
			pmuxtest.RequireCommand(t, "ruby")
			return "0"
		},
		"The server binds its own port instead of fd 3": func(t *testing.T) string {
			pmuxtest.RequireCommand(t, "python3")
			return "0"
		},
	}
	entries := 0
	for _, b := range readmeBlocks(t) {
		if b.section != "Troubleshooting" {
			continue
		}
		entries++
		t.Run(b.subsection, func(t *testing.T) {
			t.Parallel()
			if b.lang != "console" || len(b.lines) < 2 || !strings.HasPrefix(b.lines[0], "$ ") {
				t.Fatalf("README.md:%d: want a console block: one \"$ command\" line, then its output", b.line)
			}
			port := "0"
			if setup, ok := setups[b.subsection]; ok {
				port = setup(t)
			}
			dir := exampleTree(t)
			if err := os.Symlink(pmuxtest.Pmux(), filepath.Join(dir, "bin", "pmux")); err != nil {
				t.Fatal(err)
			}
			cmd := strings.ReplaceAll(strings.TrimPrefix(b.lines[0], "$ "), "127.0.0.1:8000", "127.0.0.1:"+port)
			// A failed start ends with pmux's one line, and exit 1.
			failedStart := strings.HasPrefix(b.lines[1], "pmux: ")
			out, exited := runUntilSaid(t, dir, cmd, b.lines[1:], failedStart)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if failedStart && (exited != 1 || !outputPattern(b.lines[1]).MatchString(lines[len(lines)-1])) {
				t.Errorf("%s: exit %d, output\n%s\nwant exit 1 after the line %s", cmd, exited, out, b.lines[1])
			}
		})
	}
	if entries == 0 {
		t.Fatal("README.md has no Troubleshooting entries")
	}
}

// runUntilSaid runs the shell command line in dir until every wanted line
// has appeared in its output (unless untilExit), or it exits, or 30 s pass;
// a command still running then gets Ctrl-C (INT to its process group). It
// returns the output and the exit code, -1 when it was stopped.
func runUntilSaid(t *testing.T, dir, line string, want []string, untilExit bool) (string, int) {
	t.Helper()
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PMUX_LOG_FORMAT=console")
	var mu sync.Mutex
	var out bytes.Buffer
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	missingLines := func() []string {
		mu.Lock()
		got := strings.Split(strings.ReplaceAll(out.String(), "\r", ""), "\n")
		mu.Unlock()
		var missed []string
		for _, l := range want {
			if re := outputPattern(l); !slices.ContainsFunc(got, re.MatchString) {
				missed = append(missed, l)
			}
		}
		return missed
	}
	exited := -1
	deadline := time.After(30 * time.Second)
wait:
	for {
		select {
		case <-done:
			exited = cmd.ProcessState.ExitCode()
			break wait
		case <-deadline:
			break wait
		case <-time.After(50 * time.Millisecond):
			if !untilExit && len(missingLines()) == 0 {
				break wait
			}
		}
	}
	if exited == -1 {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			t.Errorf("%s: still running 15 s after Ctrl-C", line)
		}
	}
	waitGroupGone(t, cmd.Process.Pid, 10*time.Second)
	mu.Lock()
	text := out.String()
	mu.Unlock()
	if missed := missingLines(); len(missed) > 0 {
		t.Errorf("%s does not print, as README.md says:\n%s\nit printed:\n%s", line, strings.Join(missed, "\n"), text)
	}
	return text, exited
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// waitGroupGone waits until no process of group pgid is left (the workers
// of a stopped pmux), killing what remains after timeout.
func waitGroupGone(t *testing.T, pgid int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for syscall.Kill(-pgid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(-pgid, syscall.SIGKILL)
			t.Errorf("process group %d still has processes %v after its command ended", pgid, timeout)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
