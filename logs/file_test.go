package logs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// openTempLog opens pmux.log in a new temporary directory, closed at the
// end of the test.
func openTempLog(t *testing.T) (*File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pmux.log")
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, path
}

func TestFileReopenAfterRename(t *testing.T) {
	f, path := openTempLog(t)

	mustWrite := func(s string) {
		t.Helper()
		if _, err := f.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite("before\n")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	// logrotate has moved the file but not signalled yet: the fd follows it.
	mustWrite("between\n")
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	mustWrite("after\n")

	if got, want := readFile(t, path+".1"), "before\nbetween\n"; got != want {
		t.Errorf("rotated file = %q, want %q", got, want)
	}
	if got, want := readFile(t, path), "after\n"; got != want {
		t.Errorf("new file = %q, want %q", got, want)
	}
	if f.Path() != path {
		t.Errorf("Path() = %q, want %q", f.Path(), path)
	}
	if fi, err := os.Stat(path); err != nil {
		t.Fatal(err)
	} else if perm := fi.Mode().Perm(); perm&^0o644 != 0 {
		t.Errorf("mode = %v, want at most 0644", perm)
	}
}

// TestFileReopenFailureKeepsOldFd: when the path cannot be opened, writing
// goes on to the old file and the error is reported.
func TestFileReopenFailureKeepsOldFd(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(filepath.Join(sub, "pmux.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })

	// Moving the directory away makes the path unopenable even for root.
	moved := filepath.Join(dir, "moved")
	if err := os.Rename(sub, moved); err != nil {
		t.Fatal(err)
	}
	err = f.Reopen()
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Reopen error = %v, want ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), "pmux.log") {
		t.Errorf("Reopen error %q does not name the path", err)
	}
	if _, err := f.Write([]byte("still here\n")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(moved, "pmux.log")); got != "still here\n" {
		t.Errorf("old file = %q", got)
	}
}

func TestFileClosed(t *testing.T) {
	f, err := OpenFile(filepath.Join(t.TempDir(), "pmux.log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("x\n")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
	if err := f.Reopen(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Reopen after Close = %v, want ErrClosed", err)
	}
	if err := f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
}

// TestFileReopenUnderLoad rotates the file many times while writers hammer
// it: every record lands whole in exactly one of the files.
func TestFileReopenUnderLoad(t *testing.T) {
	const (
		writers   = 4
		perWriter = 20000
		rotations = 50
	)
	f, path := openTempLog(t)

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	progress := make(chan struct{}, rotations)
	for w := range writers {
		wg.Go(func() {
			var buf []byte
			for i := range perWriter {
				buf = appendRecord(buf[:0], w, i)
				if _, err := f.Write(buf); err != nil {
					errs <- err
					return
				}
				// Pace rotations against real progress, so they are spread
				// over the run rather than all done before writing starts.
				if w == 0 && i%(perWriter/rotations) == 0 {
					progress <- struct{}{}
				}
			}
		})
	}
	for r := range rotations {
		<-progress
		if err := os.Rename(path, fmt.Sprintf("%s.%d", path, r)); err != nil {
			t.Fatal(err)
		}
		if err := f.Reopen(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	files, err := filepath.Glob(path + "*")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != rotations+1 {
		t.Fatalf("got %d files, want %d", len(files), rotations+1)
	}
	seen := make([][]bool, writers)
	for w := range seen {
		seen[w] = make([]bool, perWriter)
	}
	total := 0
	for _, name := range files {
		fh, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			w, i, ok := parseRecord(sc.Text())
			if !ok || w >= writers || i >= perWriter {
				fh.Close()
				t.Fatalf("%s: torn or foreign line %q", name, sc.Text())
			}
			if seen[w][i] {
				fh.Close()
				t.Fatalf("%s: duplicate line %q", name, sc.Text())
			}
			seen[w][i] = true
			total++
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if total != writers*perWriter {
		t.Fatalf("read %d lines, wrote %d", total, writers*perWriter)
	}
}

// appendRecord builds "w=W i=I <filler>" whose filler length varies with I
// and whose last field repeats I, so a torn record cannot parse.
func appendRecord(buf []byte, w, i int) []byte {
	buf = fmt.Appendf(buf, "w=%d i=%d ", w, i)
	for range i % 97 {
		buf = append(buf, 'a'+byte(i%26))
	}
	return fmt.Appendf(buf, " end=%d\n", i)
}

// parseRecord returns the writer and index of an intact record, rebuilding
// it to compare byte for byte.
func parseRecord(s string) (w, i int, ok bool) {
	if _, err := fmt.Sscanf(s, "w=%d i=%d ", &w, &i); err != nil || w < 0 || i < 0 {
		return 0, 0, false
	}
	return w, i, s+"\n" == string(appendRecord(nil, w, i))
}
