package pmuxtest

import (
	"os"
	"os/user"
	"strconv"
	"testing"
)

// Nobody returns the uid and gid of the user nobody, for a test that acts
// as another user; it skips the test unless it runs as root on a machine
// that has that user. why says what root is needed for.
func Nobody(t *testing.T, why string) (uid, gid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root, " + why + " (run the suite as root)")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody:", err)
	}
	uid, _ = strconv.Atoi(nobody.Uid)
	gid, _ = strconv.Atoi(nobody.Gid)
	return uid, gid
}
