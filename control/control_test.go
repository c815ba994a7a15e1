package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pmux/pmux/internal/pmuxtest"
	"github.com/pmux/pmux/manager"
	"github.com/pmux/pmux/signalmap"
	"github.com/pmux/pmux/status"
)

// The helper-process pattern: the test binary re-executed with this
// variable set is a control client that dials the socket it names, asks for
// the status and prints the outcome, so a test can run a client as another
// user.
const dialEnv = "PMUX_CONTROL_TEST_DIAL"

func TestMain(m *testing.M) {
	if path := os.Getenv(dialEnv); path != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := DialPath(ctx, path)
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(0)
		}
		defer c.Close()
		_, err = c.Do(ctx, Request{Cmd: CmdStatus})
		fmt.Println("request:", err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fakeMaster records what it is asked and answers from its fields.
type fakeMaster struct {
	mu      sync.Mutex
	actions []signalmap.Action
	scales  []string
	status  status.Status
	err     error
	// block, when set, makes every call wait for ctx (or for release).
	block   bool
	release chan struct{}
}

func (f *fakeMaster) wait(ctx context.Context) error {
	f.mu.Lock()
	block, release := f.block, f.release
	f.mu.Unlock()
	if !block {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-release:
		return nil
	}
}

func (f *fakeMaster) Status(ctx context.Context) (status.Status, error) {
	if err := f.wait(ctx); err != nil {
		return status.Status{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status, f.err
}

func (f *fakeMaster) Do(ctx context.Context, a signalmap.Action) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions = append(f.actions, a)
	return f.err
}

func (f *fakeMaster) Scale(ctx context.Context, pool string, n int, relative bool) error {
	if err := f.wait(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if pool != "web" {
		return fmt.Errorf("scale %s: %w", pool, status.ErrNoPool)
	}
	f.scales = append(f.scales, fmt.Sprintf("%s %d %v", pool, n, relative))
	return f.err
}

var _ Master = (*manager.Manager)(nil)

// shortDir returns a fresh directory with a path short enough for a unix
// socket (t.TempDir's can exceed sun_path with a long test name).
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pmuxc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func startServer(t *testing.T, m Master, opts Options) *Server {
	t.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(shortDir(t), "pmux", "1.sock")
	}
	opts.Log = zerolog.Nop()
	s, err := Listen(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testStatus() status.Status {
	return status.Status{MasterPID: 42, Phase: "running", Pools: []status.PoolStatus{{
		Name: "web", Target: 1, Generation: 1,
		Workers: []status.WorkerStatus{{Slot: 0, Pid: 43, Generation: 1, State: "ready"}},
	}}}
}

// rawConn is a client that speaks lines by hand.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, path string) *rawConn {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawConn{t: t, conn: conn, r: bufio.NewReader(conn)}
}

func (c *rawConn) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, line); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// recv reads one response, failing the test after 10 s.
func (c *rawConn) recv() Response {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		c.t.Fatalf("read response: %v (got %q)", err, line)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		c.t.Fatalf("response %q: %v", line, err)
	}
	return resp
}

func TestParseRequest(t *testing.T) {
	n4, d1, dm1 := 4, 1, -1
	for _, tc := range []struct {
		name, line string
		want       Request
		err        string // substring of the error; "" for none
	}{
		{"status", `{"cmd":"status"}`, Request{Cmd: CmdStatus}, ""},
		{"status with spaces", ` { "cmd" : "status" } `, Request{Cmd: CmdStatus}, ""},
		{"scale n", `{"cmd":"scale","pool":"web","n":4}`, Request{Cmd: CmdScale, Pool: "web", N: &n4}, ""},
		{"scale up", `{"cmd":"scale","pool":"web","delta":1}`, Request{Cmd: CmdScale, Pool: "web", Delta: &d1}, ""},
		{"scale down", `{"cmd":"scale","pool":"web","delta":-1}`, Request{Cmd: CmdScale, Pool: "web", Delta: &dm1}, ""},
		{"reload", `{"cmd":"reload"}`, Request{Cmd: CmdReload}, ""},
		{"rolling restart", `{"cmd":"rolling_restart"}`, Request{Cmd: CmdRollingRestart}, ""},
		{"reopen logs", `{"cmd":"reopen_logs"}`, Request{Cmd: CmdReopenLogs}, ""},
		{"stop", `{"cmd":"stop"}`, Request{Cmd: CmdStop}, ""},
		{"quick stop", `{"cmd":"stop","quick":true}`, Request{Cmd: CmdStop, Quick: true}, ""},

		{"empty", ``, Request{}, "empty line"},
		{"garbage", `hello`, Request{}, "invalid character"},
		{"array", `[1,2]`, Request{}, "cannot unmarshal"},
		{"null", `null`, Request{}, `no "cmd"`},
		{"no cmd", `{}`, Request{}, `no "cmd"`},
		{"unknown cmd", `{"cmd":"explode"}`, Request{}, `unknown cmd "explode"`},
		{"unknown field", `{"cmd":"status","verbose":true}`, Request{}, `unknown field "verbose"`},
		{"two objects", `{"cmd":"status"}{"cmd":"stop"}`, Request{}, "data after the request"},
		{"trailing junk", `{"cmd":"status"} x`, Request{}, "data after the request"},
		{"truncated", `{"cmd":"sta`, Request{}, "unexpected EOF"},
		{"wrong type", `{"cmd":4}`, Request{}, "cannot unmarshal"},
		{"scale without pool", `{"cmd":"scale","n":4}`, Request{}, `no "pool"`},
		{"scale without count", `{"cmd":"scale","pool":"web"}`, Request{}, "exactly one"},
		{"scale with both", `{"cmd":"scale","pool":"web","n":1,"delta":1}`, Request{}, "exactly one"},
		{"scale negative", `{"cmd":"scale","pool":"web","n":-1}`, Request{}, "out of range"},
		{"scale huge", `{"cmd":"scale","pool":"web","n":100000}`, Request{}, "out of range"},
		{"scale fraction", `{"cmd":"scale","pool":"web","n":1.5}`, Request{}, "cannot unmarshal"},
		{"scale by zero", `{"cmd":"scale","pool":"web","delta":0}`, Request{}, "other than 0"},
		{"scale quick", `{"cmd":"scale","pool":"web","n":1,"quick":true}`, Request{}, `"quick" is for stop`},
		{"status with pool", `{"cmd":"status","pool":"web"}`, Request{}, "are for scale"},
		{"reload quick", `{"cmd":"reload","quick":true}`, Request{}, `"quick" is for stop`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRequest([]byte(tc.line))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrBadRequest) {
					t.Fatalf("ParseRequest(%q) = %+v, %v; want an ErrBadRequest containing %q", tc.line, got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRequest(%q): %v", tc.line, err)
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tc.want)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("ParseRequest(%q) = %s, want %s", tc.line, gotJSON, wantJSON)
			}
		})
	}
}

// Whatever the line, ParseRequest does not panic, and a request it accepts
// survives a round trip through its own encoding.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{`{"cmd":"status"}`, `{"cmd":"scale","pool":"web","n":4}`, `{"cmd":"scale","pool":"w","delta":-1}`,
		`{"cmd":"stop","quick":true}`, `{"cmd":"x"}`, `null`, `[`, "{\"cmd\":\"status\"}\n{}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		req, err := ParseRequest(line)
		if err != nil {
			return
		}
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseRequest(b)
		if err != nil {
			t.Fatalf("%s accepted, its encoding %s refused: %v", line, b, err)
		}
		b2, _ := json.Marshal(again)
		if string(b) != string(b2) {
			t.Fatalf("round trip changed %s into %s", b, b2)
		}
	})
}

func TestRequestsReachTheMaster(t *testing.T) {
	m := &fakeMaster{status: testStatus()}
	s := startServer(t, m, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := DialPath(ctx, s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Do(ctx, Request{Cmd: CmdStatus})
	if err != nil || resp.Status == nil || resp.Status.MasterPID != 42 || resp.Status.Pools[0].Workers[0].Pid != 43 {
		t.Fatalf("status: %+v, %v", resp, err)
	}
	n, d := 3, -1
	for _, req := range []Request{
		{Cmd: CmdScale, Pool: "web", N: &n}, {Cmd: CmdScale, Pool: "web", Delta: &d},
		{Cmd: CmdReload}, {Cmd: CmdRollingRestart}, {Cmd: CmdReopenLogs}, {Cmd: CmdStop}, {Cmd: CmdStop, Quick: true},
	} {
		if _, err := c.Do(ctx, req); err != nil {
			t.Fatalf("%+v: %v", req, err)
		}
	}
	_, err = c.Do(ctx, Request{Cmd: CmdScale, Pool: "api", N: &n})
	var remote *RemoteError
	if !errors.As(err, &remote) || !strings.Contains(err.Error(), "no such pool (this master runs: web)") {
		t.Errorf("scale of an unknown pool: %v", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if got, want := strings.Join(m.scales, "; "), "web 3 false; web -1 true"; got != want {
		t.Errorf("scales %q, want %q", got, want)
	}
	want := []signalmap.Action{signalmap.Reload, signalmap.RollingRestart, signalmap.ReopenLogs, signalmap.GracefulStop, signalmap.QuickStop}
	if fmt.Sprint(m.actions) != fmt.Sprint(want) {
		t.Errorf("actions %v, want %v", m.actions, want)
	}
}

func TestBadRequestsGetAnErrorAndTheConnectionGoesOn(t *testing.T) {
	s := startServer(t, &fakeMaster{status: testStatus()}, Options{})
	c := dialRaw(t, s.Path())
	for _, line := range []string{"garbage\n", "{\"cmd\":\"nope\"}\n", "\x00\xff\xfe\n", "{\"cmd\":\"scale\"}\n"} {
		c.send(line)
		if resp := c.recv(); resp.OK || !strings.HasPrefix(resp.Error, "bad request: ") {
			t.Errorf("%q answered %+v, want a bad request error", line, resp)
		}
	}
	// Blank lines are skipped, and a good request still works.
	c.send("\n  \n{\"cmd\":\"status\"}\n")
	if resp := c.recv(); !resp.OK || resp.Status == nil {
		t.Errorf("status after garbage: %+v", resp)
	}
}

func TestOversizedLineIsRefusedAndTheConnectionClosed(t *testing.T) {
	s := startServer(t, &fakeMaster{status: testStatus()}, Options{})
	c := dialRaw(t, s.Path())
	// Written from a goroutine: the server stops reading midway, so the
	// write may block until the connection closes.
	wrote := make(chan error, 1)
	go func() {
		_, err := c.conn.Write([]byte(`{"cmd":"status","pad":"` + strings.Repeat("x", 2*MaxLine) + "\"}\n"))
		wrote <- err
	}()
	resp := c.recv()
	if resp.OK || !strings.Contains(resp.Error, "longer than") {
		t.Errorf("oversized line answered %+v", resp)
	}
	// Closed with the rest of the line unread, the kernel resets it.
	if _, err := c.r.ReadByte(); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("after an oversized line the connection stays open (read: %v)", err)
	}
	c.conn.Close()
	<-wrote
	// The server itself is unharmed.
	c2 := dialRaw(t, s.Path())
	c2.send(`{"cmd":"status"}` + "\n")
	if resp := c2.recv(); !resp.OK {
		t.Errorf("status after an oversized line: %+v", resp)
	}
}

func TestStalledClientsHoldNothingUp(t *testing.T) {
	s := startServer(t, &fakeMaster{status: testStatus()}, Options{MaxConns: 4, IdleTimeout: time.Minute})
	// One says nothing, one sends half a request.
	dialRaw(t, s.Path())
	half := dialRaw(t, s.Path())
	half.send(`{"cmd":"sta`)
	for i := range 10 {
		c := dialRaw(t, s.Path())
		c.send(`{"cmd":"status"}` + "\n")
		if resp := c.recv(); !resp.OK {
			t.Fatalf("client %d behind stalled ones: %+v", i, resp)
		}
		c.conn.Close()
	}
}

func TestIdleConnectionIsDropped(t *testing.T) {
	s := startServer(t, &fakeMaster{status: testStatus()}, Options{IdleTimeout: 50 * time.Millisecond})
	c := dialRaw(t, s.Path())
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Errorf("an idle connection was not closed by the server: %v", err)
	}
}

func TestConnectionsBeyondTheLimitWaitTheirTurn(t *testing.T) {
	s := startServer(t, &fakeMaster{status: testStatus()}, Options{MaxConns: 1, IdleTimeout: time.Minute})
	first := dialRaw(t, s.Path())
	first.send(`{"cmd":"status"}` + "\n")
	first.recv() // now it surely holds the only slot
	second := dialRaw(t, s.Path())
	second.send(`{"cmd":"status"}` + "\n")
	second.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := second.r.ReadByte(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection beyond the limit was served at once (read: %v)", err)
	}
	first.conn.Close()
	if resp := second.recv(); !resp.OK {
		t.Errorf("the waiting connection, once a slot freed: %+v", resp)
	}
}

func TestWedgedMasterTimesOut(t *testing.T) {
	m := &fakeMaster{status: testStatus(), block: true, release: make(chan struct{})}
	s := startServer(t, m, Options{RequestTimeout: 20 * time.Millisecond})
	c := dialRaw(t, s.Path())
	c.send(`{"cmd":"reload"}` + "\n")
	if resp := c.recv(); resp.OK || !strings.Contains(resp.Error, "reload: the master did not answer within 20ms") {
		t.Errorf("wedged master: %+v", resp)
	}
}

// A stop asked of a master on its way out is the stop that was asked: it
// is answered OK, while other requests say the master is shutting down.
func TestStopOfAStoppingMasterIsDone(t *testing.T) {
	for _, err := range []error{status.ErrStopped, status.ErrStopping} {
		m := &fakeMaster{err: err}
		s := startServer(t, m, Options{})
		c := dialRaw(t, s.Path())
		for _, line := range []string{`{"cmd":"stop"}`, `{"cmd":"stop","quick":true}`} {
			c.send(line + "\n")
			if resp := c.recv(); !resp.OK {
				t.Errorf("%s to a master that says %v: %+v, want OK", line, err, resp)
			}
		}
		c.send(`{"cmd":"reload"}` + "\n")
		if resp := c.recv(); resp.OK {
			t.Errorf("reload of a master that says %v answered OK", err)
		}
	}
}

func TestMasterErrorsAreReported(t *testing.T) {
	m := &fakeMaster{err: status.ErrStopped}
	s := startServer(t, m, Options{})
	c := dialRaw(t, s.Path())
	c.send(`{"cmd":"status"}` + "\n")
	if resp := c.recv(); resp.OK || resp.Error != "status: the master is shutting down" {
		t.Errorf("stopped master: %+v", resp)
	}
}

// Close answers a request it interrupts, ends idle connections, joins
// every goroutine and removes the socket.
func TestCloseEndsEverythingAndRemovesTheSocket(t *testing.T) {
	m := &fakeMaster{status: testStatus(), block: true, release: make(chan struct{})}
	opts := Options{Path: filepath.Join(shortDir(t), "pmux", "7.sock"), Log: zerolog.Nop(), IdleTimeout: time.Minute}
	s, err := Listen(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	idle := dialRaw(t, s.Path())
	busy := dialRaw(t, s.Path())
	busy.send(`{"cmd":"status"}` + "\n")
	// Make sure the busy request reached the master before closing.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stacks(), "(*fakeMaster).wait") {
		if time.Now().After(deadline) {
			t.Fatal("the request never reached the master")
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if resp := busy.recv(); resp.OK || !strings.Contains(resp.Error, "closing") {
		t.Errorf("interrupted request answered %+v", resp)
	}
	idle.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := idle.r.ReadByte(); err != io.EOF {
		t.Errorf("idle connection after Close: %v", err)
	}
	if _, err := os.Lstat(opts.Path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket file after Close: %v", err)
	}
	// Goroutines of other tests' servers may still be unwinding their own
	// cleanups: what Close leaves behind is what stays.
	st := stacks()
	for deadline := time.Now().Add(5 * time.Second); strings.Contains(st, "control.(*Server)") && time.Now().Before(deadline); st = stacks() {
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(st, "control.(*Server)") {
		t.Errorf("server goroutines left after Close:\n%s", st)
	}
	if _, err := net.Dial("unix", opts.Path); err == nil {
		t.Error("dial after Close succeeded")
	}
}

func stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

func TestSocketAndDirectoryArePrivate(t *testing.T) {
	s := startServer(t, &fakeMaster{}, Options{})
	for path, want := range map[string]fs.FileMode{filepath.Dir(s.Path()): fs.ModeDir | 0o700, s.Path(): fs.ModeSocket | 0o600} {
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
		}
	}
}

func TestUnsafeDirectoryIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"group and world access", func(t *testing.T, dir string) { mkdir(t, dir, 0o755) }, "mode 0755, want 0700"},
		{"symbolic link", func(t *testing.T, dir string) {
			target := filepath.Join(filepath.Dir(dir), "elsewhere")
			mkdir(t, target, 0o700)
			if err := os.Symlink(target, dir); err != nil {
				t.Fatal(err)
			}
		}, "it is a symbolic link"},
		{"a file", func(t *testing.T, dir string) {
			if err := os.WriteFile(dir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "it is a regular file"},
		{"another owner", func(t *testing.T, dir string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give a directory away")
			}
			mkdir(t, dir, 0o700)
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, "owned by uid 65534"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(shortDir(t), "pmux")
			tc.setup(t, dir)
			_, err := Listen(&fakeMaster{}, Options{Path: filepath.Join(dir, "1.sock"), Log: zerolog.Nop()})
			if !errors.Is(err, ErrUnsafeDir) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Listen in a %s: %v, want ErrUnsafeDir saying %q", tc.name, err, tc.want)
			}
		})
	}
}

func mkdir(t *testing.T, dir string, mode fs.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}

func TestStaleSocketIsReplacedOtherFilesAreNot(t *testing.T) {
	dir := filepath.Join(shortDir(t), "pmux")
	mkdir(t, dir, 0o700)
	path := filepath.Join(dir, "9.sock")
	// A socket file with no listener: what a SIGKILLed master leaves.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	s, err := Listen(&fakeMaster{}, Options{Path: path, Log: zerolog.Nop()})
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	s.Close()

	if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(&fakeMaster{}, Options{Path: path, Log: zerolog.Nop()}); err == nil || !strings.Contains(err.Error(), "regular file is in the way") {
		t.Errorf("Listen over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Error("a regular file in the way was touched")
	}
}

// Sockets of masters that died without cleaning up are swept; a live
// listener is not, whatever its name says, nor is any other file.
func TestDeadMastersSocketsAreSwept(t *testing.T) {
	dir := filepath.Join(shortDir(t), "pmux")
	mkdir(t, dir, 0o700)
	// A pid that surely exited: a child of ours, reaped.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	pid := dead.Process.Pid
	stale := filepath.Join(dir, strconv.Itoa(pid)+".sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	// Its pid is dead here, but something listens: another pid namespace's.
	listening := filepath.Join(dir, strconv.Itoa(pid+1000000)+".sock")
	live, err := net.Listen("unix", listening)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	other := filepath.Join(dir, strconv.Itoa(pid)+".txt")
	os.WriteFile(other, nil, 0o600)

	s := startServer(t, &fakeMaster{}, Options{Path: filepath.Join(dir, "1.sock")})
	for path, want := range map[string]bool{stale: false, listening: true, other: true, s.Path(): true} {
		if _, err := os.Lstat(path); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(path), err == nil, want)
		}
	}
}

func TestTooLongPathIsRefused(t *testing.T) {
	path := "/tmp/" + strings.Repeat("d", 120) + "/1.sock"
	if _, err := Listen(&fakeMaster{}, Options{Path: path}); err == nil || !strings.Contains(err.Error(), "XDG_RUNTIME_DIR") {
		t.Errorf("Listen at a %d-byte path: %v", len(path), err)
	}
}

func TestSocketPathAndCandidates(t *testing.T) {
	uid := strconv.Itoa(os.Geteuid())
	tmp := filepath.Join(os.TempDir(), "pmux-"+uid, "5.sock")
	xdg := t.TempDir()
	for _, tc := range []struct {
		name, xdg, path string
		candidates      []string
	}{
		{"runtime dir", xdg, filepath.Join(xdg, "pmux", "5.sock"), []string{filepath.Join(xdg, "pmux", "5.sock"), tmp}},
		{"unset", "", tmp, []string{tmp}},
		{"relative is ignored", "run/user", tmp, []string{tmp}},
		{"missing dir", filepath.Join(xdg, "gone"), tmp, []string{filepath.Join(xdg, "gone", "pmux", "5.sock"), tmp}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("XDG_RUNTIME_DIR", tc.xdg)
			if got := SocketPath(5); got != tc.path {
				t.Errorf("SocketPath = %s, want %s", got, tc.path)
			}
			if got := Candidates(5); fmt.Sprint(got) != fmt.Sprint(tc.candidates) {
				t.Errorf("Candidates = %v, want %v", got, tc.candidates)
			}
		})
	}
}

func TestDialErrors(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", shortDir(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// No master has pid 0, so nothing listens there.
	_, err := Dial(ctx, 0)
	var de *DialError
	if !errors.As(err, &de) || !errors.Is(err, ErrNoSocket) || len(de.Paths) != 2 {
		t.Errorf("Dial with no socket: %v", err)
	}
	// A stale socket file: connection refused.
	path := SocketPath(0)
	mkdir(t, filepath.Dir(path), 0o700)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := Dial(ctx, 0); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Dial of a stale socket: %v, want ECONNREFUSED", err)
	}
}

func TestCheckReady(t *testing.T) {
	w := func(gen int, state string) status.WorkerStatus {
		return status.WorkerStatus{Generation: gen, State: state}
	}
	pool := func(name string, target, gen int, ws ...status.WorkerStatus) status.PoolStatus {
		return status.PoolStatus{Name: name, Target: target, Generation: gen, Workers: ws}
	}
	for _, tc := range []struct {
		name  string
		phase string
		pools []status.PoolStatus
		want  string // "" for ready
	}{
		{"all ready", "running", []status.PoolStatus{pool("web", 2, 1, w(1, "ready"), w(1, "ready")), pool("jobs", 0, 1)}, ""},
		{"retiring still serves", "running", []status.PoolStatus{pool("web", 1, 1, w(1, "retiring"), w(1, "starting"))}, ""},
		{"booting", "running", []status.PoolStatus{pool("web", 2, 1, w(1, "ready"), w(1, "starting"))}, "pool web has 1 of 2 workers of generation 1 ready"},
		{"old generation", "running", []status.PoolStatus{pool("web", 1, 2, w(1, "ready"), w(2, "starting"))}, "pool web has 0 of 1 workers of generation 2 ready"},
		{"two pools short", "running", []status.PoolStatus{pool("web", 1, 1), pool("jobs", 1, 1, w(1, "stopping"))},
			"pool web has 0 of 1 workers of generation 1 ready; pool jobs has 0 of 1"},
		{"stopping", "stopping", []status.PoolStatus{pool("web", 1, 1, w(1, "ready"))}, "the master is stopping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckReady(status.Status{MasterPID: 9, Phase: tc.phase, Pools: tc.pools})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckReady: %v, want ready", err)
			case tc.want != "" && (err == nil || !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("CheckReady: %v, want not ready: %s", err, tc.want)
			}
		})
	}
}

// A client of another uid is refused, whether the file system stops it (the
// normal case: directory 0700, socket 0600) or, should the permissions be
// loosened, SO_PEERCRED does.
func TestOtherUserIsRefused(t *testing.T) {
	uid, gid := pmuxtest.Nobody(t, "to run a client as nobody")
	// The test binary lives in a private build directory: nobody needs a
	// copy it can run.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bindir := shortDir(t)
	os.Chmod(bindir, 0o755)
	bin := filepath.Join(bindir, "control.test")
	copyFile(t, self, bin, 0o755)

	s := startServer(t, &fakeMaster{status: testStatus()}, Options{})
	runAsNobody := func() string {
		t.Helper()
		cmd := exec.Command(bin, "-test.run=^$")
		// The race runtime sleeps a second at exit unless told not to.
		cmd.Env = append(os.Environ(), dialEnv+"="+s.Path(), "GORACE=atexit_sleep_ms=0")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("client as nobody: %v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}

	if out := runAsNobody(); !strings.Contains(out, "dial:") || !strings.Contains(out, "permission denied") {
		t.Errorf("nobody connecting to a 0600 socket in a 0700 directory: %q, want permission denied", out)
	}
	for _, p := range []string{filepath.Dir(filepath.Dir(s.Path())), filepath.Dir(s.Path()), s.Path()} {
		if err := os.Chmod(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	out := runAsNobody()
	want := fmt.Sprintf("request: permission denied: uid %d may not control this pmux, which runs as uid 0", uid)
	if !strings.HasPrefix(out, want) {
		t.Errorf("nobody connecting through loosened permissions: %q, want %q", out, want)
	}
	// The server is unharmed and still serves its own user.
	c := dialRaw(t, s.Path())
	c.send(`{"cmd":"status"}` + "\n")
	if resp := c.recv(); !resp.OK {
		t.Errorf("status after a refused peer: %+v", resp)
	}
}

func copyFile(t *testing.T, from, to string, mode fs.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
