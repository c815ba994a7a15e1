package master

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pmux/pmux/internal/pmuxtest"
)

// TestCheckRunnable: whether a user may run a program, from the mode bits
// of the file and every directory above it, for the class (owner, group,
// other) the kernel would pick. Needs root, to give the files other owners.
func TestCheckRunnable(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to chown the test files (run the suite as root)")
	}
	top := pmuxtest.PublicTempDir(t)
	// mk makes dir (mode dirMode, owned by uid:gid) holding prog (fileMode).
	mk := func(name string, dirMode, fileMode os.FileMode, uid, gid int) string {
		dir := filepath.Join(top, name)
		if err := os.Mkdir(dir, dirMode); err != nil {
			t.Fatal(err)
		}
		prog := filepath.Join(dir, "prog")
		if err := os.WriteFile(prog, []byte("#!/bin/sh\n"), fileMode); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{dir, prog} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		os.Chmod(dir, dirMode)
		os.Chmod(prog, fileMode)
		return prog
	}
	groupDir := mk("group", 0o750, 0o755, 0, 4242)
	ownerOnly := mk("owner", 0o755, 0o070, 1234, 4242)
	private := mk("private", 0o700, 0o755, 0, 0)
	noX := mk("nox", 0o755, 0o644, 0, 0)
	link := filepath.Join(top, "link")
	if err := os.Symlink(private, link); err != nil {
		t.Fatal(err)
	}
	user := func(uid uint32, gids ...uint32) runner { return runner{uid: uid, gids: gids, desc: "user u"} }
	for _, tc := range []struct {
		name string
		path string
		who  runner
		want string // "" when it may run
	}{
		{"a supplementary group may search", groupDir, user(1234, 100, 4242), ""},
		{"no group of the user may search", groupDir, user(1234, 100), "user u cannot search " + filepath.Dir(groupDir)},
		{"owner bits apply to the owner, whatever the group grants", ownerOnly, user(1234, 4242), "user u cannot execute it"},
		{"another member of the group may execute", ownerOnly, user(999, 4242), ""},
		{"other bits for everyone else", private, user(1234, 100), "cannot search " + filepath.Dir(private) + " (drwx------"},
		{"root searches anything", private, user(0, 0), ""},
		{"even root needs an x bit", noX, user(0, 0), "not executable"},
		{"a symbolic link's target directory counts", link, user(1234, 100), "cannot search " + filepath.Dir(private)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkRunnable(tc.path, tc.who)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("checkRunnable: %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("checkRunnable: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
