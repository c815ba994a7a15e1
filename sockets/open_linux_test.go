package sockets

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// openFDs lists /proc/self/fd, so a test can prove nothing leaked.
func openFDs(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []string
	for _, e := range ents {
		fds = append(fds, e.Name())
	}
	return fds
}

// TestOpenFailureLeavesNothing fails the last spec and checks that the
// sockets opened before it are closed and their files gone, while an
// inherited unix socket's path (still served by the old master) stays.
func TestOpenFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	busy := openOne(t, "127.0.0.1:0")
	oldPath := filepath.Join(dir, "old.sock")
	old := openOne(t, "unix:"+oldPath)
	newPath := filepath.Join(dir, "new.sock")
	in := []string{
		"unix:" + newPath,
		"127.0.0.1:0",
		"unix:" + oldPath,
		fmt.Sprintf("127.0.0.1:%d", busy.Port()),
	}
	opts := OpenOptions{Inherited: map[string]*os.File{old.Key(): old.File}}

	before := openFDs(t)
	_, err := Open(specs(t, in...), opts)
	after := openFDs(t)

	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Open: %v, want EADDRINUSE from the last spec", err)
	}
	// ReadDir's own directory fd is the same number in both listings.
	if strings.Join(before, " ") != strings.Join(after, " ") {
		t.Errorf("fds before Open %v, after the failed Open %v", before, after)
	}
	if _, err := os.Lstat(newPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("failed Open left %s behind (%v)", newPath, err)
	}
	if _, err := os.Lstat(oldPath); err != nil {
		t.Errorf("failed Open unlinked the inherited %s: %v", oldPath, err)
	}
	checkAccepts(t, old, "unix", oldPath)
}

func TestOpenAbstract(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	name := fmt.Sprintf("@pmux-test-%d-%s", os.Getpid(), t.Name())
	l := openOne(t, "unix:"+name)
	if l.Addr() != name {
		t.Errorf("Addr() = %q, want %q", l.Addr(), name)
	}
	if l.Name() != "unix-pmux-test-"+fmt.Sprint(os.Getpid())+"-TestOpenAbstract" {
		t.Errorf("Name() = %q", l.Name())
	}
	checkFlags(t, l.File)
	checkAccepts(t, l, "unix", name)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("abstract socket created a file: %v", ents)
	}
}
