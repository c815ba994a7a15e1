package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testDebounce is short to keep the tests quick; the burst test, which
// needs a whole burst to fit inside it even on a loaded machine, uses more.
const testDebounce = 100 * time.Millisecond

// startWatcher watches paths and returns the channel its callbacks land on.
func startWatcher(t *testing.T, debounce time.Duration, paths ...string) (*Watcher, <-chan string) {
	t.Helper()
	ch := make(chan string, 64)
	w, err := NewWatcher(paths, debounce, func(p string) { ch <- p })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, ch
}

// nextCall waits, up to a generous deadline, for one callback.
func nextCall(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no callback within 10s")
		return ""
	}
}

// expectQuiet asserts no callback arrives for a few debounce intervals: the
// only way to observe that nothing happens.
func expectQuiet(t *testing.T, ch <-chan string, debounce time.Duration) {
	t.Helper()
	select {
	case p := <-ch:
		t.Fatalf("unexpected callback for %q", p)
	case <-time.After(3 * debounce):
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWatcherRenameSave(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "pmux.toml")
	write(t, file, "a")
	_, ch := startWatcher(t, testDebounce, file)

	// What editors do: write a temporary file, rename it over the original.
	tmp := filepath.Join(dir, ".pmux.toml.tmp")
	write(t, tmp, "b")
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	if got := nextCall(t, ch); got != file {
		t.Errorf("callback path = %q, want %q", got, file)
	}
	expectQuiet(t, ch, testDebounce)

	// The watch survives the rename, and other files in the directory are
	// not the watched file.
	write(t, filepath.Join(dir, "other.txt"), "x")
	expectQuiet(t, ch, testDebounce)
	write(t, file, "c")
	if got := nextCall(t, ch); got != file {
		t.Errorf("callback path = %q, want %q", got, file)
	}
}

func TestWatcherBurstIsOneCallback(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// 20 writes take about a millisecond; the debounce leaves room for a
	// scheduler stall on a busy CI machine without making the burst two.
	const debounce = 500 * time.Millisecond
	_, ch := startWatcher(t, debounce, dir)
	f := filepath.Join(dir, "app.rb")
	for i := range 20 {
		write(t, f, strings.Repeat("x", i))
	}
	if got := nextCall(t, ch); got != f {
		t.Errorf("callback path = %q, want %q", got, f)
	}
	expectQuiet(t, ch, debounce)
}

func TestWatcherIgnoresEditorFilesAndGit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.rb")
	write(t, existing, "x")
	if err := os.MkdirAll(filepath.Join(dir, ".git", "refs"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, ch := startWatcher(t, testDebounce, dir)

	for _, name := range []string{".app.rb.swp", "app.rb.swx", "app.rb.swo", "app.rb~", ".#app.rb", "#app.rb#", "4913"} {
		write(t, filepath.Join(dir, name), "junk")
	}
	write(t, filepath.Join(dir, ".git", "index"), "x")
	write(t, filepath.Join(dir, ".git", "refs", "HEAD"), "x")
	if err := os.Chmod(existing, 0o600); err != nil {
		t.Fatal(err)
	}
	expectQuiet(t, ch, testDebounce)

	real := filepath.Join(dir, "real.rb")
	write(t, real, "x")
	if got := nextCall(t, ch); got != real {
		t.Errorf("callback path = %q, want %q", got, real)
	}
}

func TestWatcherRecursiveAndNewDirectories(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	deep := filepath.Join(dir, "app", "models")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	_, ch := startWatcher(t, testDebounce, dir)

	f := filepath.Join(deep, "user.rb")
	write(t, f, "x")
	if got := nextCall(t, ch); got != f {
		t.Errorf("callback path = %q, want %q", got, f)
	}

	sub := filepath.Join(dir, "lib")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := nextCall(t, ch); got != sub {
		t.Errorf("callback path = %q, want %q", got, sub)
	}
	g := filepath.Join(sub, "new.rb")
	write(t, g, "x")
	if got := nextCall(t, ch); got != g {
		t.Errorf("callback path = %q, want %q", got, g)
	}
}

func TestWatcherClose(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, ch := startWatcher(t, testDebounce, dir)
	write(t, filepath.Join(dir, "a"), "x")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Whatever was pending is dropped: no callback after Close returns.
	expectQuiet(t, ch, testDebounce)
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestNewWatcherErrors(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "does-not-exist")
	_, err := NewWatcher([]string{t.TempDir(), missing}, testDebounce, func(string) {})
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("err = %v, want one naming %s", err, missing)
	}
	if _, err := NewWatcher([]string{t.TempDir()}, testDebounce, nil); err == nil {
		t.Error("nil callback accepted")
	}
}

func TestIgnored(t *testing.T) {
	for name, want := range map[string]bool{
		".x.swp": true, "x.swx": true, "x~": true, ".#x": true, "#x#": true, "4913": true, ".git": true,
		"x.go": false, "#": false, "x.swp.go": false, "49130": false, ".gitignore": false,
	} {
		if got := ignored(name); got != want {
			t.Errorf("ignored(%q) = %v, want %v", name, got, want)
		}
	}
}
