package integration_test

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
	"testing"
	"time"

	"github.com/pmux/pmux/internal/pmuxtest"
)

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
	pmuxtest.RequireCommand(t, "make")
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
	if out, err := pmuxtest.RunToEnd(t, ".", nil, time.Minute, "make", "--no-print-directory", "install", "DESTDIR="+dest, "INSTALL_BIN="+pmuxtest.Pmux()); err != nil {
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

	if out, err := pmuxtest.RunToEnd(t, ".", nil, 10*time.Second, filepath.Join(prefix, "bin", "pmux"), "version"); err != nil || !strings.HasPrefix(out, "pmux ") {
		t.Errorf("installed pmux version: %v, %q", err, out)
	}
	// What the page and the scripts say is checked where they are made
	// (package command's tests); here, that make install put what pmux
	// prints.
	for path, argv := range map[string][]string{
		"share/man/man1/pmux.1":                     {"man"},
		"share/bash-completion/completions/pmux":    {"completion", "bash"},
		"share/zsh/site-functions/_pmux":            {"completion", "zsh"},
		"share/fish/vendor_completions.d/pmux.fish": {"completion", "fish"},
	} {
		printed, err := exec.Command(pmuxtest.Pmux(), argv...).Output()
		if err != nil {
			t.Fatalf("pmux %s: %v", strings.Join(argv, " "), err)
		}
		if installed, err := os.ReadFile(filepath.Join(prefix, path)); err != nil || !bytes.Equal(installed, printed) {
			t.Errorf("make install put a %s that is not what pmux %s prints (%v)", path, strings.Join(argv, " "), err)
		}
	}

	if out, err := pmuxtest.RunToEnd(t, ".", nil, time.Minute, "make", "--no-print-directory", "uninstall", "DESTDIR="+dest); err != nil {
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
	if out, err := pmuxtest.RunToEnd(t, ".", nil, time.Minute, "make", "--no-print-directory", "install", "DESTDIR="+dest2, "PREFIX=/opt/pmux", "INSTALL_BIN="+pmuxtest.Pmux()); err != nil {
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
			out, err := pmuxtest.RunToEnd(t, dir, nil, 10*time.Second, path, "version")
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
	pmuxtest.RequireCommand(t, "make")
	bin := t.TempDir()
	const version = "v0.0.0-release-test"
	start := time.Now()
	if out, err := pmuxtest.RunToEnd(t, ".", nil, 10*time.Minute, "make", "--no-print-directory", "release", "BIN="+bin, "VERSION="+version); err != nil {
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
		out, err := pmuxtest.RunToEnd(t, ".", nil, 10*time.Second, pmuxtest.PmuxV2(), "version")
		if err != nil || !strings.HasPrefix(out, "pmux upgrade-v2 (") {
			t.Errorf("pmux built with -X github.com/pmux/pmux/command.version=upgrade-v2 says %q (%v)", out, err)
		}
	})
	t.Run("go build", func(t *testing.T) {
		t.Parallel()
		clone := freshClone(t)
		bin := filepath.Join(t.TempDir(), "pmux")
		// -buildvcs=auto is go build's default; given here so that a
		// GOFLAGS of this machine cannot turn the stamping off.
		if out, err := pmuxtest.RunToEnd(t, clone, []string{"CGO_ENABLED=0"}, 5*time.Minute, "go", "build", "-trimpath", "-buildvcs=auto", "-o", bin, "."); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		out, err := pmuxtest.RunToEnd(t, clone, nil, 10*time.Second, bin, "version")
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
		if out, err := pmuxtest.RunToEnd(t, t.TempDir(), env, 5*time.Minute, "go", "install", "github.com/pmux/pmux@latest"); err != nil {
			t.Fatalf("go install: %v\n%s", err, out)
		}
		out, err := pmuxtest.RunToEnd(t, gobin, nil, 10*time.Second, filepath.Join(gobin, "pmux"), "version")
		if err != nil || !strings.HasPrefix(out, "pmux "+proxyVersion+" (go") {
			t.Errorf("go install's pmux says %q (%v), want pmux %s (go…)", out, err, proxyVersion)
		}
	})
}
