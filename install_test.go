package main

// pmux as users and packagers take it up: make install and make uninstall
// into a temporary DESTDIR, the man page and the shell completions they
// install (rendered by man, completed by bash, zsh and fish), make release,
// and what pmux version reports after go build, go install and -ldflags -X.

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pmux/pmux/signalmap"
)

// runGroup runs the prepared cmd as the leader of a process group and
// waits for it. A command still running after timeout is killed with its
// group and fails the test.
func runGroup(t *testing.T, cmd *exec.Cmd, timeout time.Duration) error {
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

// runToEnd runs argv in dir with env added to the test's environment, and
// returns its combined output.
func runToEnd(t *testing.T, dir string, env []string, timeout time.Duration, argv ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := runGroup(t, cmd, timeout)
	return out.String(), err
}

// sourceFiles lists the files a fresh clone of this tree has: those git
// tracks or would add (not those it ignores), as they are in the working
// tree. Outside a git checkout (a tarball), every file but .git and bin/.
func sourceFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	if out, err := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output(); err == nil {
		for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
			// A tracked file deleted in the working tree is not in the clone.
			if fi, err := os.Lstat(f); err == nil && fi.Mode().IsRegular() {
				files = append(files, f)
			}
		}
		return files
	}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (path == ".git" || path == "bin") {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// gitHead is the revision checked out, or "" outside a git checkout.
func gitHead(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// freshClone lays out a temporary directory as a fresh clone of this tree
// would be, with the working tree's changes on top: in a git checkout it is
// a git clone at the same HEAD (so go build stamps the revision), elsewhere
// a plain copy. Nothing is built in it.
func freshClone(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if rev := gitHead(t); rev != "" {
		src, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		// A local clone shares every object, so HEAD is there even when
		// detached; reset (not checkout) leaves the files to the copy below.
		for _, argv := range [][]string{
			{"git", "clone", "--quiet", "--no-checkout", src, dir},
			{"git", "-C", dir, "reset", "--quiet", rev},
		} {
			if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
			}
		}
	}
	for _, f := range sourceFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// proxyVersion is the version a local module proxy serves this tree as.
const proxyVersion = "v0.99.0"

// goInstallEnv is the environment under which go install
// github.com/pmux/pmux@latest installs the files of clone, published as
// proxyVersion on a module proxy in a temporary directory, into gobin:
// no network, and the machine's module cache is not written to (the other
// modules come from it, through a temporary one). -trimpath and cgo off
// share make build's build cache.
func goInstallEnv(t *testing.T, clone, gobin string) []string {
	t.Helper()
	tmp := t.TempDir()
	proxy := filepath.Join(tmp, "proxy", "github.com", "pmux", "pmux", "@v")
	if err := os.MkdirAll(proxy, 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(clone, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(clone, path)
		if d.IsDir() && (rel == ".git" || rel == "bin") {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		w, err := zw.Create("github.com/pmux/pmux@" + proxyVersion + "/" + filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(clone, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"list":                 []byte(proxyVersion + "\n"),
		proxyVersion + ".info": fmt.Appendf(nil, `{"Version":%q,"Time":"2026-01-02T03:04:05Z"}`, proxyVersion),
		proxyVersion + ".mod":  mod,
		proxyVersion + ".zip":  buf.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(proxy, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	goenv := func(key string) string {
		out, err := exec.Command("go", "env", key).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", key, err)
		}
		return strings.TrimSpace(string(out))
	}
	return []string{
		"GOPROXY=file://" + filepath.Join(tmp, "proxy") + ",file://" + filepath.Join(goenv("GOMODCACHE"), "cache", "download"),
		"GOMODCACHE=" + filepath.Join(tmp, "modcache"),
		"GOCACHE=" + goenv("GOCACHE"),
		"GOFLAGS=-modcacherw -trimpath",
		"GOSUMDB=off",
		"GOTOOLCHAIN=local",
		"CGO_ENABLED=0",
		"GOBIN=" + gobin,
	}
}

// The files make install puts under PREFIX, and their modes.
var installedFiles = map[string]os.FileMode{
	"bin/pmux":                                  0o755,
	"share/man/man1/pmux.1":                     0o644,
	"share/bash-completion/completions/pmux":    0o644,
	"share/zsh/site-functions/_pmux":            0o644,
	"share/fish/vendor_completions.d/pmux.fish": 0o644,
	"share/doc/pmux/README.md":                  0o644,
	"share/doc/pmux/systemd/pmux-app.service":   0o644,
	"share/doc/pmux/systemd/pmux-app.socket":    0o644,
}

// fileTree maps every file under root to its mode.
func fileTree(t *testing.T, root string) map[string]os.FileMode {
	t.Helper()
	tree := map[string]os.FileMode{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		tree[filepath.ToSlash(rel)] = fi.Mode()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func treeLines(tree map[string]os.FileMode) string {
	var lines []string
	for path, mode := range tree {
		lines = append(lines, mode.String()+" "+path)
	}
	slices.SortFunc(lines, func(a, b string) int { return strings.Compare(a[11:], b[11:]) })
	return strings.Join(lines, "\n")
}

func TestMakeInstall(t *testing.T) {
	t.Parallel()
	requireCommand(t, "make")
	dest := t.TempDir()
	// Files of other packages, which make uninstall must leave alone.
	others := map[string]os.FileMode{
		"usr/local/bin/other":                               0o755,
		"usr/local/share/man/man1/other.1":                  0o644,
		"usr/local/share/bash-completion/completions/other": 0o644,
	}
	for path, mode := range others {
		full := filepath.Join(dest, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("not pmux's\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	// The harness's binary: make install copies it instead of building.
	if out, err := runToEnd(t, ".", nil, time.Minute, "make", "--no-print-directory", "install", "DESTDIR="+dest, "INSTALL_BIN="+pmuxBin); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	tree := fileTree(t, dest)
	t.Logf("make install DESTDIR=%s:\n%s", dest, treeLines(tree))
	want := maps.Clone(others)
	for path, mode := range installedFiles {
		want["usr/local/"+path] = mode
	}
	if got := treeLines(tree); got != treeLines(want) {
		t.Errorf("make install put\n%s\nwant\n%s", got, treeLines(want))
	}
	prefix := filepath.Join(dest, "usr", "local")

	if out, err := runToEnd(t, ".", nil, 10*time.Second, filepath.Join(prefix, "bin", "pmux"), "version"); err != nil || !strings.HasPrefix(out, "pmux ") {
		t.Errorf("installed pmux version: %v, %q", err, out)
	}
	page, err := os.ReadFile(filepath.Join(prefix, "share", "man", "man1", "pmux.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("man page names every flag", func(t *testing.T) { checkManPage(t, string(page)) })
	t.Run("man renders the page", func(t *testing.T) {
		requireCommand(t, "man")
		renderMan(t, filepath.Join(prefix, "share", "man", "man1", "pmux.1"))
	})
	share := filepath.Join(prefix, "share")
	t.Run("bash", func(t *testing.T) {
		checkCompletion(t, bashCompletes(t, filepath.Join(share, "bash-completion", "completions", "pmux")))
	})
	t.Run("zsh", func(t *testing.T) {
		requireCommand(t, "zsh")
		checkCompletion(t, zshCompletes(t, filepath.Join(share, "zsh", "site-functions")))
	})
	t.Run("fish", func(t *testing.T) {
		requireCommand(t, "fish")
		checkCompletion(t, fishCompletes(t, filepath.Join(share, "fish", "vendor_completions.d", "pmux.fish")))
	})

	if out, err := runToEnd(t, ".", nil, time.Minute, "make", "--no-print-directory", "uninstall", "DESTDIR="+dest); err != nil {
		t.Fatalf("make uninstall: %v\n%s", err, out)
	}
	if got := treeLines(fileTree(t, dest)); got != treeLines(others) {
		t.Errorf("after make uninstall\n%s\nwant only the other packages' files\n%s", got, treeLines(others))
	}
	if _, err := os.Stat(filepath.Join(prefix, "share", "doc", "pmux")); !os.IsNotExist(err) {
		t.Errorf("share/doc/pmux is left after make uninstall (%v)", err)
	}

	// PREFIX moves everything; nothing lands outside it.
	dest2 := t.TempDir()
	if out, err := runToEnd(t, ".", nil, time.Minute, "make", "--no-print-directory", "install", "DESTDIR="+dest2, "PREFIX=/opt/pmux", "INSTALL_BIN="+pmuxBin); err != nil {
		t.Fatalf("make install PREFIX=/opt/pmux: %v\n%s", err, out)
	}
	want = map[string]os.FileMode{}
	for path, mode := range installedFiles {
		want["opt/pmux/"+path] = mode
	}
	if got := treeLines(fileTree(t, dest2)); got != treeLines(want) {
		t.Errorf("make install PREFIX=/opt/pmux put\n%s\nwant\n%s", got, treeLines(want))
	}
}

// checkManPage checks that pmux(1) has a section for every visible command
// naming each of its flags, and that every signal action is explained.
func checkManPage(t *testing.T, page string) {
	t.Helper()
	sections := map[string]string{}
	for _, s := range strings.Split(page, "\n.SS ")[1:] {
		title, body, _ := strings.Cut(s, "\n")
		name := strings.Fields(strings.Trim(title, `"`))[1]
		sections[strings.ReplaceAll(name, `\-`, "-")] = body[:strings.Index(body+"\n.SH ", "\n.SH ")]
	}
	app := newApp()
	for _, cmd := range app.VisibleCommands() {
		body, ok := sections[cmd.Name]
		if !ok {
			t.Errorf("pmux(1) has no section for pmux %s", cmd.Name)
			continue
		}
		for _, f := range cmd.VisibleFlags() {
			for _, n := range f.Names() {
				if want := `\fB` + roff(flagName(n)) + `\fR`; !strings.Contains(body, want) {
					t.Errorf("pmux(1): pmux %s does not name %s", cmd.Name, flagName(n))
				}
			}
		}
	}
	for _, cmd := range app.Commands {
		if _, ok := sections[cmd.Name]; cmd.Hidden && ok {
			t.Errorf("pmux(1) documents the hidden command %s", cmd.Name)
		}
	}
	for _, row := range signalTable()[1:] {
		if !strings.Contains(page, ".TP\n"+bold(row[0])+"\n") {
			t.Errorf("pmux(1) SIGNALS lacks %s", row[0])
		}
	}
	for _, a := range signalmap.Actions() {
		if actionDoc[a] == "" || !strings.Contains(page, bold(string(a))+"\n"+roff(actionDoc[a])) {
			t.Errorf("pmux(1) does not explain the action %s", a)
		}
	}
}

// renderMan formats the page with man(1) and groff's warnings on: no
// warning, and the flags come out as typed (ASCII hyphens, for copying).
func renderMan(t *testing.T, path string) {
	t.Helper()
	cmd := exec.Command("man", "--warnings", "-l", path)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat", "LANG=C.UTF-8")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("man -l %s: %v\n%s", path, err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("man -l %s warns:\n%s", path, stderr.String())
	}
	text := stdout.String()
	lines := strings.SplitN(text, "\n", 31)
	t.Logf("man -l pmux.1 (first 30 lines):\n%s", strings.Join(lines[:min(30, len(lines))], "\n"))
	for _, want := range []string{"PMUX(1)", "NAME", "SYNOPSIS", "COMMANDS", "SIGNALS", "EXIT STATUS", "--graceful-timeout DUR", "pmux run [OPTIONS] -- CMD [ARG...]"} {
		if !strings.Contains(text, want) {
			t.Errorf("man -l %s: the rendered page lacks %q", path, want)
		}
	}
}

// completionCase is a command line typed up to the cursor and what the
// completion must offer there.
type completionCase struct {
	words []string // the last one is the word being completed
	exact []string // exactly these candidates (in any order), or
	has   []string // at least these
}

// completionCases are the lines every shell's completion is tried on, in
// dir: the commands, every command's flags, and values of each kind.
func completionCases(t *testing.T) (dir string, cases []completionCase) {
	dir = t.TempDir()
	for _, p := range []string{"pmux.toml", "procs/Procfile"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), nil, 0o644)
	}
	app := newApp()
	var names []string
	for _, cmd := range app.VisibleCommands() {
		names = append(names, cmd.Name)
	}
	cases = []completionCase{
		{words: []string{"pmux", ""}, has: names},
		{words: []string{"pmux", "rel"}, exact: []string{"reload"}},
		{words: []string{"pmux", "run", "--signals", ""}, exact: []string{"unicorn", "gunicorn", "puma", "pitchfork"}},
		{words: []string{"pmux", "run", "-w", "4", "--", "ech"}, has: []string{"echo"}},
		{words: []string{"pmux", "check", "-c", "pm"}, exact: []string{"pmux.toml"}},
		{words: []string{"pmux", "run", "--chdir", "pr"}, exact: []string{"procs"}},
		{words: []string{"pmux", "start", "--procfile", "procs/"}, exact: []string{"procs/Procfile"}},
	}
	for _, cmd := range app.VisibleCommands() {
		flags := []string{"--help", "-h"}
		for _, f := range cmd.VisibleFlags() {
			for _, n := range f.Names() {
				flags = append(flags, flagName(n))
			}
		}
		cases = append(cases, completionCase{words: []string{"pmux", cmd.Name, "-"}, exact: flags})
	}
	return dir, cases
}

// checkCompletion compares what a shell offered for each case.
func checkCompletion(t *testing.T, complete func(dir string, cases []completionCase) [][]string) {
	t.Helper()
	dir, cases := completionCases(t)
	got := complete(dir, cases)
	for i, c := range cases {
		offered := slices.Compact(slices.Sorted(slices.Values(got[i])))
		// A directory may be offered with its trailing slash.
		for j, o := range offered {
			offered[j] = strings.TrimSuffix(o, "/")
		}
		line := strings.Join(c.words, " ")
		if c.exact != nil {
			want := slices.Sorted(slices.Values(c.exact))
			if !slices.Equal(offered, want) {
				t.Errorf("%q offers %q, want %q", line, offered, want)
			}
		}
		for _, w := range c.has {
			if !slices.Contains(offered, w) {
				t.Errorf("%q offers %q, want %s among them", line, offered, w)
			}
		}
	}
}

// splitCandidates splits a shell's output into one list per case, each
// ended by an "@@end" line.
func splitCandidates(t *testing.T, out string, n int) [][]string {
	t.Helper()
	var lists [][]string
	var cur []string
	for _, line := range strings.Split(out, "\n") {
		switch line = strings.TrimRight(line, "\r"); {
		case line == "@@end":
			lists = append(lists, cur)
			cur = nil
		case line != "":
			cur = append(cur, line)
		}
	}
	if len(lists) != n {
		t.Fatalf("%d candidate lists for %d command lines:\n%s", len(lists), n, out)
	}
	return lists
}

func bashCompletes(t *testing.T, script string) func(string, []completionCase) [][]string {
	return func(dir string, cases []completionCase) [][]string {
		var b strings.Builder
		b.WriteString(`source "$1" || exit 3
complete -p pmux >/dev/null || { echo "pmux has no completion" >&2; exit 3; }
try() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _pmux 2>/dev/null; printf '%s\n' "${COMPREPLY[@]}"; echo @@end; }
`)
		for _, c := range cases {
			b.WriteString("try")
			for _, w := range c.words {
				b.WriteString(" " + shellQuote(w, false))
			}
			b.WriteString("\n")
		}
		out, err := runToEnd(t, dir, nil, time.Minute, "bash", "--norc", "--noprofile", "-c", b.String(), "bash", script)
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return splitCandidates(t, out, len(cases))
	}
}

func zshCompletes(t *testing.T, fpathDir string) func(string, []completionCase) [][]string {
	return func(dir string, cases []completionCase) [][]string {
		capture, err := filepath.Abs("testdata/completion/capture.zsh")
		if err != nil {
			t.Fatal(err)
		}
		argv := []string{"zsh", "-f", capture, fpathDir}
		for _, c := range cases {
			argv = append(argv, strings.Join(c.words, " "))
		}
		out, err := runToEnd(t, dir, []string{"TERM=dumb"}, 2*time.Minute, argv...)
		if err != nil {
			t.Fatalf("zsh: %v\n%s", err, out)
		}
		return splitCandidates(t, out, len(cases))
	}
}

func fishCompletes(t *testing.T, script string) func(string, []completionCase) [][]string {
	return func(dir string, cases []completionCase) [][]string {
		argv := []string{"fish", "--no-config", "-c", `source $argv[1]; or exit 3
for line in $argv[2..]
    complete -C $line | string replace -r '\t.*' ''
    echo @@end
end`, script}
		for _, c := range cases {
			argv = append(argv, strings.Join(c.words, " "))
		}
		out, err := runToEnd(t, dir, nil, time.Minute, argv...)
		if err != nil {
			t.Fatalf("fish: %v\n%s", err, out)
		}
		return splitCandidates(t, out, len(cases))
	}
}

// checkRelease checks a make release directory: one binary per target,
// named for the version, static where the platform allows, cgo off,
// trimmed paths, the version stamped, and a SHA256SUMS that matches.
func checkRelease(t *testing.T, dir, version string, targets []string) {
	t.Helper()
	want := []string{"SHA256SUMS"}
	for _, target := range targets {
		want = append(want, "pmux-"+version+"-"+strings.ReplaceAll(target, "/", "-"))
	}
	slices.Sort(want)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s holds %q, want %q", dir, got, want)
	}
	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q is not \"<sha256>  <file>\"", line)
		}
		listed[name] = sum
	}
	for _, target := range targets {
		goos, goarch, _ := strings.Cut(target, "/")
		name := "pmux-" + version + "-" + goos + "-" + goarch
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(data); listed[name] != hex.EncodeToString(sum[:]) {
			t.Errorf("SHA256SUMS gives %s %q, the file hashes to %x", name, listed[name], sum)
		}
		bi, err := buildinfo.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		for key, value := range map[string]string{"GOOS": goos, "GOARCH": goarch, "CGO_ENABLED": "0", "-trimpath": "true"} {
			if settings[key] != value {
				t.Errorf("%s: built with %s=%q, want %q", name, key, settings[key], value)
			}
		}
		// With -trimpath the build info leaves -ldflags out: the stamped
		// string itself must be in the binary.
		if !bytes.Contains(data, []byte(version)) {
			t.Errorf("%s does not hold its version %s: not stamped", name, version)
		}
		if goos == "linux" {
			f, err := elf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			libs, _ := f.ImportedLibraries()
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					libs = append(libs, "an interpreter")
				}
			}
			f.Close()
			if len(libs) > 0 {
				t.Errorf("%s is not static: it needs %v", name, libs)
			}
		}
		if goos == runtime.GOOS && goarch == runtime.GOARCH {
			out, err := runToEnd(t, dir, nil, 10*time.Second, path, "version")
			if err != nil || !strings.HasPrefix(out, "pmux "+version+" (") {
				t.Errorf("%s version: %v, %q; want pmux %s (…)", name, err, out, version)
			}
		}
	}
}

// releaseTargets are make release's platforms.
var releaseTargets = []string{"linux/amd64", "linux/arm64", "darwin/arm64"}

func TestMakeRelease(t *testing.T) {
	t.Parallel()
	requireCommand(t, "make")
	bin := t.TempDir()
	const version = "v0.0.0-release-test"
	start := time.Now()
	if out, err := runToEnd(t, ".", nil, 10*time.Minute, "make", "--no-print-directory", "release", "BIN="+bin, "VERSION="+version); err != nil {
		t.Fatalf("make release: %v\n%s", err, out)
	}
	t.Logf("make release of %d targets: %v", len(releaseTargets), time.Since(start).Round(time.Millisecond))
	checkRelease(t, filepath.Join(bin, "release"), version, releaseTargets)
}

// pmux version names what the build info knows unless -ldflags -X stamps a
// version, which wins.
func TestVersion(t *testing.T) {
	t.Parallel()
	t.Run("-ldflags -X wins", func(t *testing.T) {
		t.Parallel()
		out, err := runToEnd(t, ".", nil, 10*time.Second, pmuxV2Bin, "version")
		if err != nil || !strings.HasPrefix(out, "pmux upgrade-v2 (") {
			t.Errorf("pmux built with -X main.version=upgrade-v2 says %q (%v)", out, err)
		}
	})
	t.Run("go build", func(t *testing.T) {
		t.Parallel()
		clone := freshClone(t)
		bin := filepath.Join(t.TempDir(), "pmux")
		// -buildvcs=auto is go build's default; given here so that a
		// GOFLAGS of this machine cannot turn the stamping off.
		if out, err := runToEnd(t, clone, []string{"CGO_ENABLED=0"}, 5*time.Minute, "go", "build", "-trimpath", "-buildvcs=auto", "-o", bin, "."); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		out, err := runToEnd(t, clone, nil, 10*time.Second, bin, "version")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("go build: %s", strings.TrimSpace(out))
		rev := gitHead(t)
		if rev == "" {
			if !strings.HasPrefix(out, "pmux (devel) (") {
				t.Errorf("outside git, go build's pmux says %q, want pmux (devel) (…)", out)
			}
			return
		}
		status, err := exec.Command("git", "-C", clone, "status", "--porcelain").Output()
		if err != nil {
			t.Fatal(err)
		}
		modified := len(bytes.TrimSpace(status)) > 0
		// Go stamps a pseudo-version naming the commit (or its tag).
		if !strings.HasPrefix(out, "pmux v") || !strings.Contains(out, "revision "+rev) {
			t.Errorf("go build's pmux says %q, want its module version and revision %s", out, rev)
		}
		if strings.Contains(out, ", modified;") != modified {
			t.Errorf("go build's pmux says %q; the tree is modified: %v", out, modified)
		}
	})
	t.Run("go install @latest", func(t *testing.T) {
		t.Parallel()
		gobin := t.TempDir()
		env := goInstallEnv(t, freshClone(t), gobin)
		if out, err := runToEnd(t, t.TempDir(), env, 5*time.Minute, "go", "install", "github.com/pmux/pmux@latest"); err != nil {
			t.Fatalf("go install: %v\n%s", err, out)
		}
		out, err := runToEnd(t, gobin, nil, 10*time.Second, filepath.Join(gobin, "pmux"), "version")
		if err != nil || !strings.HasPrefix(out, "pmux "+proxyVersion+" (go") {
			t.Errorf("go install's pmux says %q (%v), want pmux %s (go…)", out, err, proxyVersion)
		}
	})
}
