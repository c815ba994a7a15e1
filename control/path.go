package control

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// maxSocketPath is the longest path a unix socket address holds on Linux
// (sun_path is 108 bytes, one for the terminating NUL).
const maxSocketPath = 107

// ErrNotSupported means this system cannot tell who is on the other end of
// a unix socket, so the control socket is not served at all rather than
// served to anyone.
var ErrNotSupported = errors.New("peer credentials not supported on this system")

// ErrUnsafeDir means the socket directory exists but is not a directory
// private to this user, so a socket in it could be reached or replaced by
// someone else.
var ErrUnsafeDir = errors.New("not a private directory")

// runtimeDir returns $XDG_RUNTIME_DIR when it names an absolute directory;
// the XDG spec says a relative one must be ignored, and a runtime directory
// that is gone (a `su` keeps the variable) is as good as unset.
func runtimeDir() string {
	d := os.Getenv("XDG_RUNTIME_DIR")
	if d == "" || !filepath.IsAbs(d) {
		return ""
	}
	if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
		return ""
	}
	return d
}

// SocketDir returns the directory this process's control socket lives in.
func SocketDir() string {
	if d := runtimeDir(); d != "" {
		return filepath.Join(d, "pmux")
	}
	return filepath.Join(os.TempDir(), "pmux-"+strconv.Itoa(os.Geteuid()))
}

// SocketPath returns the control socket of the master with pid, as a master
// running with this process's environment and user would create it.
func SocketPath(pid int) string {
	return filepath.Join(SocketDir(), strconv.Itoa(pid)+".sock")
}

// Candidates returns where the control socket of pid may be, most likely
// first: the master may have been started with a runtime directory the
// client does not have (a systemd service, a login shell) or the reverse.
func Candidates(pid int) []string {
	name := strconv.Itoa(pid) + ".sock"
	var out []string
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		out = append(out, filepath.Join(d, "pmux", name))
	}
	tmp := filepath.Join(os.TempDir(), "pmux-"+strconv.Itoa(os.Geteuid()), name)
	if len(out) == 0 || out[0] != tmp {
		out = append(out, tmp)
	}
	return out
}

// ensurePrivateDir creates dir 0700 or checks that an existing one is a
// real directory (not a symlink) owned by this user with no access for
// anyone else. In a shared /tmp a directory planted by someone else would
// otherwise let them swap the socket for their own.
func ensurePrivateDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err == nil {
		// The umask may have taken more than asked; say exactly 0700.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("control socket directory %s: %w", dir, err)
		}
		return nil
	} else if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("control socket directory %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("control socket directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("control socket directory %s: %w: it is a %s (remove it)", dir, ErrUnsafeDir, kind(fi.Mode()))
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("control socket directory %s: %w: owned by uid %d, not %d (remove it)", dir, ErrUnsafeDir, st.Uid, os.Geteuid())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("control socket directory %s: %w: mode %#o, want 0700 (chmod 700 %s)", dir, ErrUnsafeDir, perm, dir)
	}
	return nil
}

// removeStale removes a socket file left at path by a process that had
// this pid before (a master killed with SIGKILL cannot clean up). Any
// other kind of file is not ours to delete.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("control socket %s: a %s is in the way (remove it)", path, kind(fi.Mode()))
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("control socket %s: remove stale socket: %w", path, err)
	}
	return nil
}

// sweepDead removes the sockets that masters killed with SIGKILL left in
// dir, so that the directory lists live masters only. A socket goes only
// when both its pid is gone and nothing listens on it: a master of another
// pid namespace sharing the directory still answers its connects. It is
// best effort; what it cannot remove stays.
func sweepDead(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".sock")
		pid, err := strconv.Atoi(name)
		if !ok || err != nil || pid <= 0 || e.Type() != fs.ModeSocket {
			continue
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		conn, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			conn.Close()
			continue
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			os.Remove(path)
		}
	}
}

// kind names a file type for an error message.
func kind(m fs.FileMode) string {
	switch m.Type() {
	case 0:
		return "regular file"
	case fs.ModeDir:
		return "directory"
	case fs.ModeSymlink:
		return "symbolic link"
	case fs.ModeSocket:
		return "socket"
	case fs.ModeNamedPipe:
		return "named pipe"
	default:
		return "special file"
	}
}
