//go:build unix

package sockets

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func mustParse(t *testing.T, s string) Spec {
	t.Helper()
	sp, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func specs(t *testing.T, in ...string) []Spec {
	t.Helper()
	out := make([]Spec, len(in))
	for i, s := range in {
		out[i] = mustParse(t, s)
	}
	return out
}

// openAll opens specs and closes the listeners when the test ends (a
// second Close of one the test closed itself is harmless).
func openAll(t *testing.T, opts OpenOptions, in ...string) []*Listener {
	t.Helper()
	ls, err := Open(specs(t, in...), opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", in, err)
	}
	t.Cleanup(func() {
		for _, l := range ls {
			_ = l.Close()
		}
	})
	return ls
}

func openOne(t *testing.T, s string) *Listener {
	t.Helper()
	ls := openAll(t, OpenOptions{}, s)
	if len(ls) != 1 {
		t.Fatalf("Open(%q) gave %d listeners, want 1", s, len(ls))
	}
	return ls[0]
}

func fdOf(t *testing.T, f *os.File) int {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	if err := rc.Control(func(u uintptr) { fd = int(u) }); err != nil {
		t.Fatal(err)
	}
	return fd
}

// checkFlags asserts the master's invariants: blocking, close-on-exec.
func checkFlags(t *testing.T, f *os.File) {
	t.Helper()
	fd := fdOf(t, f)
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fl&unix.O_NONBLOCK != 0 {
		t.Errorf("fd %d is non-blocking; workers must get blocking sockets", fd)
	}
	fdfl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fdfl&unix.FD_CLOEXEC == 0 {
		t.Errorf("fd %d is not close-on-exec in the master", fd)
	}
}

// checkAccepts dials the listener and accepts the connection on its fd
// with a plain blocking accept, as a worker would.
func checkAccepts(t *testing.T, l *Listener, network, addr string) {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, addr, err)
	}
	defer c.Close()
	// The connection is already queued, so this accept cannot block.
	nfd, _, err := unix.Accept(fdOf(t, l.File))
	if err != nil {
		t.Fatalf("accept on %s: %v", l.Addr(), err)
	}
	unix.Close(nfd)
}

func TestOpenTCP4(t *testing.T) {
	l := openOne(t, "tcp://127.0.0.1:0?backlog=16")
	if l.Port() == 0 {
		t.Fatal("Port() = 0 after binding port 0")
	}
	if want := "127.0.0.1:" + strconv.Itoa(l.Port()); l.Addr() != want {
		t.Errorf("Addr() = %q, want %q", l.Addr(), want)
	}
	if want := "tcp-" + strconv.Itoa(l.Port()); l.Name() != want {
		t.Errorf("Name() = %q, want %q", l.Name(), want)
	}
	if l.Adopted || l.Inherited {
		t.Errorf("Adopted=%v Inherited=%v for a socket pmux bound", l.Adopted, l.Inherited)
	}
	if l.Key() != "tcp://127.0.0.1:0?backlog=16" {
		t.Errorf("Key() = %q", l.Key())
	}
	checkFlags(t, l.File)
	if v, _ := unix.GetsockoptInt(fdOf(t, l.File), unix.SOL_SOCKET, unix.SO_REUSEADDR); v == 0 {
		t.Error("SO_REUSEADDR not set")
	}
	checkAccepts(t, l, "tcp", l.Addr())
}

func TestOpenTCPName(t *testing.T) {
	l := openOne(t, "127.0.0.1:0?name=http")
	if l.Name() != "http" {
		t.Errorf("Name() = %q, want http", l.Name())
	}
}

func TestOpenTCP6(t *testing.T) {
	requireIPv6(t)
	for _, in := range []string{"[::1]:0", "tcp6://[::1]:0"} {
		t.Run(in, func(t *testing.T) {
			l := openOne(t, in)
			if want := "[::1]:" + strconv.Itoa(l.Port()); l.Addr() != want {
				t.Errorf("Addr() = %q, want %q", l.Addr(), want)
			}
			v, err := unix.GetsockoptInt(fdOf(t, l.File), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
			if err != nil || v != 1 {
				t.Errorf("IPV6_V6ONLY = %d, %v; want 1", v, err)
			}
			checkFlags(t, l.File)
			checkAccepts(t, l, "tcp6", l.Addr())
		})
	}
}

// TestIPv6Only checks the option on an unbound socket: Linux forces it on
// for a specific address such as ::1, so only the wildcard [::] depends on
// it, and binding a wildcard would leave loopback.
func TestIPv6Only(t *testing.T) {
	requireIPv6(t)
	fd, err := newTCPSocket(unix.AF_INET6)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if v, err := unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY); err != nil || v != 1 {
		t.Errorf("IPV6_V6ONLY = %d, %v; want 1", v, err)
	}
}

func requireIPv6(t *testing.T) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Skipf("no IPv6: %v", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet6{Addr: [16]byte{15: 1}}); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
}

func TestOpenTCPHostname(t *testing.T) {
	if _, err := net.LookupHost("localhost"); err != nil {
		t.Skipf("localhost does not resolve here: %v", err)
	}
	l := openOne(t, "tcp4://localhost:0")
	if !strings.HasPrefix(l.Addr(), "127.") {
		t.Errorf("tcp4://localhost bound %s, want a 127.x address", l.Addr())
	}
}

func TestOpenPortInUse(t *testing.T) {
	first := openOne(t, "127.0.0.1:0")
	in := fmt.Sprintf("127.0.0.1:%d", first.Port())
	_, err := Open(specs(t, in), OpenOptions{})
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second bind of %s: %v, want EADDRINUSE", in, err)
	}
	var be *BindError
	if !errors.As(err, &be) {
		t.Fatalf("error %T, want *BindError", err)
	}
	want := fmt.Sprintf("bind tcp://127.0.0.1:%d: address already in use (is another server running? pick another port)", first.Port())
	if err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
}

func TestOpenUnix(t *testing.T) {
	for _, mode := range []os.FileMode{0o600, 0o666, 0o640} {
		t.Run(mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "web.sock")
			l := openOne(t, fmt.Sprintf("unix:%s?mode=%04o", path, uint32(mode)))
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Type() != fs.ModeSocket {
				t.Errorf("%s is %v, want a socket", path, fi.Mode())
			}
			if fi.Mode().Perm() != mode {
				t.Errorf("mode %v, want %v", fi.Mode().Perm(), mode)
			}
			if l.Addr() != path || l.Port() != 0 {
				t.Errorf("Addr() = %q, Port() = %d; want %q, 0", l.Addr(), l.Port(), path)
			}
			if l.Name() != "unix-web.sock" {
				t.Errorf("Name() = %q, want unix-web.sock", l.Name())
			}
			checkFlags(t, l.File)
			checkAccepts(t, l, "unix", path)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Close left %s behind (%v)", path, err)
			}
		})
	}
}

func TestOpenUnixRelative(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	l := openOne(t, "unix:rel.sock")
	if l.Addr() != "rel.sock" {
		t.Errorf("Addr() = %q, want rel.sock", l.Addr())
	}
	// Close must unlink the file it created even after a chdir.
	t.Chdir(t.TempDir())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "rel.sock")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Close after chdir left the socket file (%v)", err)
	}
}

func TestOpenUnixOwner(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Skipf("no current user: %v", err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Skipf("no current group: %v", err)
	}
	cases := []struct{ name, owner, group, wantUID, wantGID string }{
		{"numeric", u.Uid, u.Gid, u.Uid, u.Gid},
		{"names", u.Username, g.Name, u.Uid, u.Gid},
		{"owner only", u.Username, "", u.Uid, u.Gid},
	}
	if os.Geteuid() == 0 {
		cases = append(cases, struct{ name, owner, group, wantUID, wantGID string }{"other ids", "65534", "65533", "65534", "65533"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.sock")
			in := "unix:" + path + "?owner=" + tc.owner
			if tc.group != "" {
				in += "&group=" + tc.group
			}
			openOne(t, in)
			var st unix.Stat_t
			if err := unix.Lstat(path, &st); err != nil {
				t.Fatal(err)
			}
			if got := strconv.Itoa(int(st.Uid)); got != tc.wantUID {
				t.Errorf("uid %s, want %s", got, tc.wantUID)
			}
			if got := strconv.Itoa(int(st.Gid)); got != tc.wantGID {
				t.Errorf("gid %s, want %s", got, tc.wantGID)
			}
		})
	}
}

func TestOpenUnixUnknownOwner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.sock")
	_, err := Open(specs(t, "unix:"+path+"?owner=no-such-user-pmux"), OpenOptions{})
	if err == nil || !strings.Contains(err.Error(), `owner "no-such-user-pmux"`) {
		t.Fatalf("error = %v, want one naming the owner", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("failed bind left %s behind", path)
	}
}

// staleSocket leaves a socket file with nobody behind it, as a crashed
// server does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != fs.ModeSocket {
		t.Fatalf("stale socket not left at %s: %v", path, err)
	}
}

func TestOpenUnixStale(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stale.sock")
	staleSocket(t, path)
	l := openOne(t, "unix:"+path)
	checkAccepts(t, l, "unix", path)
}

func TestOpenUnixLive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "live.sock")
	first := openOne(t, "unix:"+path)
	_, err := Open(specs(t, "unix:"+path), OpenOptions{})
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "live listener") {
		t.Fatalf("bind over a live socket: %v, want EADDRINUSE by a live listener", err)
	}
	// The refused bind must not have disturbed the live one.
	checkAccepts(t, first, "unix", path)
}

func TestOpenUnixNotSocket(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "live.sock")
	openOne(t, "unix:"+live)
	for _, tc := range []struct {
		name string
		make func(path string) error
	}{
		{"regular file", func(p string) error { return os.WriteFile(p, []byte("precious"), 0o600) }},
		{"directory", func(p string) error { return os.Mkdir(p, 0o700) }},
		{"symlink to a live socket", func(p string) error { return os.Symlink(live, p) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := tc.make(path); err != nil {
				t.Fatal(err)
			}
			before, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Open(specs(t, "unix:"+path), OpenOptions{})
			if !errors.Is(err, ErrNotSocket) {
				t.Fatalf("bind over a %s: %v, want ErrNotSocket", tc.name, err)
			}
			after, err := os.Lstat(path)
			if err != nil {
				t.Fatalf("%s was removed: %v", path, err)
			}
			if !os.SameFile(before, after) || before.Size() != after.Size() {
				t.Errorf("%s was changed", path)
			}
		})
	}
}

func TestOpenUnixErrors(t *testing.T) {
	dir := t.TempDir()
	long := "/" + strings.Repeat("x", len(unix.RawSockaddrUnix{}.Path))
	for _, tc := range []struct{ name, in, want string }{
		{"missing directory", "unix:" + filepath.Join(dir, "nope", "x.sock"), "create the directory"},
		{"path too long", "unix:" + long, "at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(specs(t, tc.in), OpenOptions{})
			var be *BindError
			if !errors.As(err, &be) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want a *BindError containing %q", err, tc.want)
			}
		})
	}
}

func TestCloseKeepPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.sock")
	l := openOne(t, "unix:"+path)
	if err := l.CloseKeepPath(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("CloseKeepPath removed the socket file: %v", err)
	}
	// A later Close must not unlink it either.
	if err := l.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second close: %v, want os.ErrClosed", err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("Close after CloseKeepPath removed the socket file: %v", err)
	}
}

func TestCloseLeavesReplacedPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.sock")
	l := openOne(t, "unix:"+path)
	// Someone replaced the socket file with a regular file: not ours.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("Close removed a file that was no longer our socket: %v", err)
	}
}

// rawListener makes a listening socket the way another program would hand
// one to pmux: inheritable and, to test the fix-up, non-blocking. The
// caller owns fd unless Open adopts it.
func rawListener(t *testing.T, family int, sa unix.Sockaddr, listen bool) int {
	t.Helper()
	fd, err := unix.Socket(family, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	if listen {
		if err := unix.Listen(fd, 8); err != nil {
			unix.Close(fd)
			t.Fatal(err)
		}
	}
	return fd
}

func loopback4() *unix.SockaddrInet4 { return &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}} }

func TestOpenFD(t *testing.T) {
	t.Run("tcp", func(t *testing.T) {
		fd := rawListener(t, unix.AF_INET, loopback4(), true)
		l := openOne(t, fmt.Sprintf("fd://%d", fd))
		if !l.Adopted || l.Inherited {
			t.Errorf("Adopted=%v Inherited=%v, want true, false", l.Adopted, l.Inherited)
		}
		if fdOf(t, l.File) != fd {
			t.Errorf("adopted fd %d, want %d itself", fdOf(t, l.File), fd)
		}
		if l.Port() == 0 || l.Addr() != "127.0.0.1:"+strconv.Itoa(l.Port()) {
			t.Errorf("Addr() = %q, Port() = %d", l.Addr(), l.Port())
		}
		if l.Name() != "tcp-"+strconv.Itoa(l.Port()) {
			t.Errorf("Name() = %q", l.Name())
		}
		checkFlags(t, l.File)
		checkAccepts(t, l, "tcp", l.Addr())
	})
	t.Run("unix is never unlinked", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "adopted.sock")
		fd := rawListener(t, unix.AF_UNIX, &unix.SockaddrUnix{Name: path}, true)
		l := openOne(t, fmt.Sprintf("fd://%d?name=app", fd))
		if l.Addr() != path || l.Name() != "app" {
			t.Errorf("Addr() = %q, Name() = %q", l.Addr(), l.Name())
		}
		checkFlags(t, l.File)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(path); err != nil {
			t.Errorf("Close unlinked an adopted socket's path: %v", err)
		}
	})
}

func TestOpenFDRejects(t *testing.T) {
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	notListening := rawListener(t, unix.AF_INET, loopback4(), false)
	t.Cleanup(func() { unix.Close(notListening) })
	dgram, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(dgram) })

	for _, tc := range []struct {
		name string
		fd   int
		want error
	}{
		{"pipe", p[0], ErrNotSocket},
		{"socket not listening", notListening, ErrNotListening},
		{"datagram socket", dgram, ErrNotListening},
		// Far above any RLIMIT_NOFILE, so it cannot be open.
		{"closed fd", 1 << 30, syscall.EBADF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(specs(t, fmt.Sprintf("fd://%d", tc.fd)), OpenOptions{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("adopt %s: %v, want %v", tc.name, err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("adopt fd://%d: ", tc.fd)) {
				t.Errorf("error %q does not name the bind", err)
			}
			// A refused fd is not ours: it must still be open.
			if tc.want != syscall.EBADF {
				if _, err := unix.FcntlInt(uintptr(tc.fd), unix.F_GETFD, 0); err != nil {
					t.Errorf("refused fd %d was closed: %v", tc.fd, err)
				}
			}
		})
	}
}

func TestOpenInherited(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "up.sock")
	old := openAll(t, OpenOptions{}, "127.0.0.1:0", "unix:"+path)
	inherited := map[string]*os.File{}
	for _, l := range old {
		inherited[l.Key()] = l.File
	}
	// The old master keeps serving; the new one adopts the same sockets.
	ls := openAll(t, OpenOptions{Inherited: inherited}, "127.0.0.1:0", "unix:"+path)
	for i, l := range ls {
		if !l.Inherited || l.Adopted {
			t.Errorf("%s: Inherited=%v Adopted=%v, want true, false", l.Key(), l.Inherited, l.Adopted)
		}
		if l.Addr() != old[i].Addr() || l.Name() != old[i].Name() {
			t.Errorf("%s: Addr %q Name %q, want %q %q", l.Key(), l.Addr(), l.Name(), old[i].Addr(), old[i].Name())
		}
		if fdOf(t, l.File) == fdOf(t, old[i].File) {
			t.Errorf("%s: adopted the caller's fd instead of a duplicate", l.Key())
		}
		checkFlags(t, l.File)
	}
	checkAccepts(t, ls[0], "tcp", ls[0].Addr())
	checkAccepts(t, ls[1], "unix", path)

	// The old master hands off: it must keep the path for its successor.
	for _, l := range old {
		if err := l.CloseKeepPath(); err != nil {
			t.Fatal(err)
		}
	}
	checkAccepts(t, ls[1], "unix", path)
	// The successor stops for good: the lineage created the path, so it goes.
	if err := ls[1].Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("last master's Close left %s (%v)", path, err)
	}
}

func TestOpenInheritedMismatch(t *testing.T) {
	old := openOne(t, "127.0.0.1:0")
	path := filepath.Join(t.TempDir(), "x.sock")
	key := "unix://" + path
	_, err := Open(specs(t, key), OpenOptions{Inherited: map[string]*os.File{key: old.File}})
	if err == nil || !strings.HasPrefix(err.Error(), "inherit "+key+": handed-over socket is bound to 127.0.0.1:") {
		t.Fatalf("error = %v, want an inherit mismatch", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("refused hand-over created %s", path)
	}
	checkAccepts(t, old, "tcp", old.Addr()) // the caller's file is untouched
}

func TestOpenSystemd(t *testing.T) {
	var files []NamedFile
	for _, name := range []string{"web", "admin", "web"} {
		fd := rawListener(t, unix.AF_INET, loopback4(), true)
		f := os.NewFile(uintptr(fd), name)
		t.Cleanup(func() { f.Close() })
		files = append(files, NamedFile{Name: name, File: f})
	}
	ls := openAll(t, OpenOptions{Systemd: files}, "systemd:admin", "systemd")
	wantNames := []string{"admin", "web", "web"}
	wantKeys := []string{"systemd:admin#0#admin", "systemd#0#web", "systemd#1#web"}
	if len(ls) != 3 {
		t.Fatalf("got %d listeners, want 3", len(ls))
	}
	for i, l := range ls {
		if l.Name() != wantNames[i] || l.Key() != wantKeys[i] {
			t.Errorf("listener %d: Name %q Key %q, want %q %q", i, l.Name(), l.Key(), wantNames[i], wantKeys[i])
		}
		if !l.Adopted || l.Inherited {
			t.Errorf("listener %d: Adopted=%v Inherited=%v, want true, false", i, l.Adopted, l.Inherited)
		}
		checkFlags(t, l.File)
		checkAccepts(t, l, "tcp", l.Addr())
	}
	if ls[0].Addr() != addrOf(t, files[1].File) || ls[2].Addr() != addrOf(t, files[2].File) {
		t.Error("listeners do not follow LISTEN_FDS order")
	}

	// An upgraded master reproduces the same listeners from the hand-over
	// alone (its LISTEN_PID is not its own, so it has no Systemd files).
	inherited := map[string]*os.File{}
	for _, l := range ls {
		inherited[l.Key()] = l.File
	}
	next := openAll(t, OpenOptions{Inherited: inherited}, "systemd:admin", "systemd")
	if len(next) != 3 {
		t.Fatalf("successor got %d listeners, want 3", len(next))
	}
	for i, l := range next {
		if l.Name() != ls[i].Name() || l.Key() != ls[i].Key() || l.Addr() != ls[i].Addr() {
			t.Errorf("successor listener %d: %q %q %q, want %q %q %q", i, l.Name(), l.Key(), l.Addr(), ls[i].Name(), ls[i].Key(), ls[i].Addr())
		}
		if !l.Adopted || !l.Inherited {
			t.Errorf("successor listener %d: Adopted=%v Inherited=%v, want true, true", i, l.Adopted, l.Inherited)
		}
	}
}

func addrOf(t *testing.T, f *os.File) string {
	t.Helper()
	sa, err := unix.Getsockname(fdOf(t, f))
	if err != nil {
		t.Fatal(err)
	}
	in4 := sa.(*unix.SockaddrInet4)
	return fmt.Sprintf("%d.%d.%d.%d:%d", in4.Addr[0], in4.Addr[1], in4.Addr[2], in4.Addr[3], in4.Port)
}

func TestOpenSystemdErrors(t *testing.T) {
	fd := rawListener(t, unix.AF_INET, loopback4(), true)
	f := os.NewFile(uintptr(fd), "web")
	t.Cleanup(func() { f.Close() })
	web := []NamedFile{{Name: "web", File: f}}
	// fd:// hands Open the descriptor itself, which it closes on failure,
	// so that case gets its own descriptor for the same socket.
	same, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	dgramFD, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	dgram := os.NewFile(uintptr(dgramFD), "dgram")
	t.Cleanup(func() { dgram.Close() })
	for _, tc := range []struct {
		name  string
		files []NamedFile
		in    []string
		want  string
	}{
		{"not activated", nil, []string{"systemd"}, "adopt systemd: no matching LISTEN_FDS socket (pmux was not socket-activated"},
		{"unknown name", web, []string{"systemd:api"}, `adopt systemd:api: no matching LISTEN_FDS socket (unclaimed LISTEN_FDNAMES: "web")`},
		{"already taken", web, []string{"systemd", "systemd:web"}, "every LISTEN_FDS socket is taken by an earlier bind"},
		{"same socket twice", web, []string{"systemd", fmt.Sprintf("fd://%d", same)}, "same socket as systemd#0#web"},
		// The error names the fd systemd passed, not pmux's duplicate.
		{"not listening", []NamedFile{{Name: "udp", File: dgram}}, []string{"systemd"}, fmt.Sprintf("adopt systemd#0#udp: fd %d is not a listening stream socket", dgramFD)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(specs(t, tc.in...), OpenOptions{Systemd: tc.files})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// The failed Opens closed their duplicates, never the caller's file.
	if _, err := unix.FcntlInt(uintptr(fdOf(t, f)), unix.F_GETFD, 0); err != nil {
		t.Errorf("caller's LISTEN_FDS file was closed: %v", err)
	}
}

func TestOpenDuplicate(t *testing.T) {
	_, err := Open(specs(t, "127.0.0.1:0", "tcp://127.0.0.1:0"), OpenOptions{})
	if !errors.Is(err, ErrDuplicate) {
		t.Fatalf("error = %v, want ErrDuplicate", err)
	}
}

func TestOpenRejectsHandBuiltSpec(t *testing.T) {
	_, err := Open([]Spec{{Kind: KindTCP, Network: "tcp", Port: 80}}, OpenOptions{})
	var se *SpecError
	if !errors.As(err, &se) {
		t.Fatalf("error = %v, want *SpecError", err)
	}
}

func TestOpenNothing(t *testing.T) {
	ls, err := Open(nil, OpenOptions{})
	if err != nil || len(ls) != 0 {
		t.Fatalf("Open(nil) = %v, %v", ls, err)
	}
}
