package pmuxtest

import (
	"os"
	"testing"
)

// PublicTempDir is a temporary directory any user may search, removed at
// the end of the test. t.TempDir's is not: its parent is private to the
// user running the tests.
func PublicTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pmux-public-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
