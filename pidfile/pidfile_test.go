package pidfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// helperEnv selects the helper-process mode of the test binary: "exit" exits
// at once, "wait" lives until its stdin closes, so it cannot outlive the test
// process even if the test is killed.
const helperEnv = "PMUX_PIDFILE_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "exit":
		os.Exit(0)
	case "wait":
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startHelper starts the test binary as a helper process whose argv is
// argv0 and args, and returns its pid. It is stopped and reaped in t.Cleanup.
func startHelper(t *testing.T, argv0 string, args ...string) int {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := &exec.Cmd{Path: exe, Args: append([]string{argv0}, args...), Env: append(os.Environ(), helperEnv+"=wait")}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	// Start returns only once execve succeeded, so /proc already shows argv0.
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return cmd.Process.Pid
}

// deadPid returns the pid of a process that has exited and been reaped.
func deadPid(t *testing.T) int {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), helperEnv+"=exit")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func writeRaw(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readRaw(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// names lists dir's entries, to prove no temporary file is left behind.
func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pmux.pid")
	for _, pid := range []int{123, 4194304, 7} { // create, then replace twice
		if err := Write(path, pid); err != nil {
			t.Fatal(err)
		}
		if got, want := readRaw(t, path), strconv.Itoa(pid)+"\n"; got != want {
			t.Errorf("content = %q, want %q", got, want)
		}
		if got := names(t, dir); !slices.Equal(got, []string{"pmux.pid"}) {
			t.Errorf("directory holds %q, want only pmux.pid", got)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want 0644", fi.Mode().Perm())
	}
}

func TestWriteRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := Write("rel.pid", 42); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"rel.pid"}) {
		t.Errorf("directory holds %q, want only rel.pid", got)
	}
}

func TestWriteFailure(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the pidfile path
		is    error
	}{
		{"missing directory", func(t *testing.T, dir string) string {
			return filepath.Join(dir, "nope", "pmux.pid")
		}, fs.ErrNotExist},
		{"path is a directory", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "pmux.pid")
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
			writeRaw(t, filepath.Join(p, "keep"), "x") // non-empty: rename cannot replace it
			return p
		}, nil},
		{"pid zero", func(t *testing.T, dir string) string { return filepath.Join(dir, "pmux.pid") }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.setup(t, dir)
			before := names(t, dir)
			pid := 123
			if tt.name == "pid zero" {
				pid = 0
			}
			err := Write(path, pid)
			if err == nil {
				t.Fatal("Write succeeded")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
			if !strings.HasPrefix(err.Error(), "write pidfile "+path+": ") {
				t.Errorf("error %q lacks the op and path", err)
			}
			if strings.Count(err.Error(), path) != 1 {
				t.Errorf("error %q names the path more than once", err)
			}
			if after := names(t, dir); !slices.Equal(after, before) {
				t.Errorf("directory changed from %q to %q", before, after)
			}
		})
	}
}

func TestRead(t *testing.T) {
	tests := []struct {
		content string
		want    int // 0: ErrMalformed
	}{
		{"123\n", 123},
		{"123", 123},
		{" 123 \r\n", 123},
		{"\n1\n\n", 1},
		{"2147483647\n", math.MaxInt32},
		{"0000000123\n", 123},
		{"", 0},
		{"\n", 0},
		{"abc\n", 0},
		{"12a\n", 0},
		{"-5\n", 0},
		{"+5\n", 0},
		{"0\n", 0},
		{"2147483648\n", 0},
		{"99999999999999999999\n", 0},
		{"1\n2\n", 0},
		{"1 2\n", 0},
		{"123" + strings.Repeat(" ", 100), 0}, // too big to be a pidfile
		{"\x00\x00\x00", 0},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.content), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pmux.pid")
			writeRaw(t, path, tt.content)
			got, err := Read(path)
			if tt.want == 0 {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Read = %d, %v, want ErrMalformed", got, err)
				}
				if !strings.HasPrefix(err.Error(), "read pidfile "+path+": malformed content ") {
					t.Errorf("error %q", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Read = %d, %v, want %d", got, err, tt.want)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "pmux.pid")
		_, err := Read(path)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Read error = %v, want fs.ErrNotExist", err)
		}
		if want := "read pidfile " + path + ": no such file or directory"; runtime.GOOS == "linux" && err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
	})
}

func TestRunningError(t *testing.T) {
	err := error(&RunningError{Path: "/run/x.pid", Pid: 123})
	want := "pidfile /run/x.pid: pmux already running as pid 123 (stop it first, or remove the file if that is wrong)"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
	if !errors.Is(err, ErrRunning) {
		t.Error("RunningError is not ErrRunning")
	}
	wrapped := fmt.Errorf("start: %w", err)
	var re *RunningError
	if !errors.As(wrapped, &re) || re.Pid != 123 || re.Path != "/run/x.pid" {
		t.Errorf("errors.As through a wrap = %+v", re)
	}
}

func TestAcquire(t *testing.T) {
	const me, other = 1000, 2000
	tests := []struct {
		name      string
		content   string // "-" : no file
		isPmux    bool
		wantStale int
		wantRun   bool
	}{
		{"no file", "-", false, 0, false},
		{"live pmux", "2000\n", true, 0, true},
		{"live pmux no newline", "2000", true, 0, true},
		{"dead or not pmux", "2000\n", false, other, false},
		{"garbage", "hello\n", true, StaleUnreadable, false},
		{"empty", "", true, StaleUnreadable, false},
		{"our own pid", "1000\n", true, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "pmux.pid")
			if tt.content != "-" {
				writeRaw(t, path, tt.content)
			}
			var asked []int
			check := func(pid int) bool { asked = append(asked, pid); return tt.isPmux }
			stale, err := acquire(path, me, check)
			if tt.wantRun {
				var re *RunningError
				if !errors.As(err, &re) || re.Pid != other || re.Path != path || !errors.Is(err, ErrRunning) {
					t.Fatalf("acquire = %d, %v, want *RunningError for pid %d", stale, err, other)
				}
				if got := readRaw(t, path); got != tt.content {
					t.Errorf("refused acquire changed the file to %q", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if stale != tt.wantStale {
				t.Errorf("stale = %d, want %d", stale, tt.wantStale)
			}
			if got := readRaw(t, path); got != "1000\n" {
				t.Errorf("content = %q, want 1000\\n", got)
			}
			if got := names(t, dir); !slices.Equal(got, []string{"pmux.pid"}) {
				t.Errorf("directory holds %q", got)
			}
			for _, p := range asked {
				if p != other {
					t.Errorf("pmux check asked about pid %d, want only %d", p, other)
				}
			}
		})
	}
}

func TestAcquireInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pmux.pid")
	for _, pid := range []int{0, -1, math.MaxInt32 + 1} {
		if _, err := Acquire(path, pid); err == nil {
			t.Errorf("Acquire(pid %d) succeeded", pid)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("invalid Acquire created the file: %v", err)
	}
	if _, err := Acquire(filepath.Join(t.TempDir(), "no", "pmux.pid"), 1); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Acquire in a missing directory: %v", err)
	}
}

// TestAcquireThisProcess: a pidfile naming the test process itself, which
// is alive, taken for a pmux by the injected check, is refused.
func TestAcquireThisProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pmux.pid")
	self := os.Getpid()
	writeRaw(t, path, strconv.Itoa(self)+"\n")
	isPmux := func(pid int) bool { return Alive(pid) && pid == self }
	_, err := acquire(path, self+1, isPmux)
	var re *RunningError
	if !errors.As(err, &re) || re.Pid != self {
		t.Fatalf("acquire = %v, want *RunningError for pid %d", err, self)
	}
	if want := fmt.Sprintf("pmux already running as pid %d", self); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

// TestAcquireRealProcesses uses real processes and the real pmux check.
func TestAcquireRealProcesses(t *testing.T) {
	me := os.Getpid()
	t.Run("reaped pid is stale", func(t *testing.T) {
		dead := deadPid(t)
		path := filepath.Join(t.TempDir(), "pmux.pid")
		writeRaw(t, path, strconv.Itoa(dead)+"\n")
		stale, err := Acquire(path, me)
		if err != nil {
			t.Fatal(err)
		}
		if stale != dead {
			t.Errorf("stale = %d, want %d", stale, dead)
		}
		if got := readRaw(t, path); got != strconv.Itoa(me)+"\n" {
			t.Errorf("content = %q", got)
		}
	})
	t.Run("live pmux refused", func(t *testing.T) {
		pid := startHelper(t, "pmux-test-helper")
		path := filepath.Join(t.TempDir(), "pmux.pid")
		writeRaw(t, path, strconv.Itoa(pid)+"\n")
		_, err := Acquire(path, me)
		var re *RunningError
		if !errors.As(err, &re) || re.Pid != pid {
			t.Fatalf("Acquire = %v, want *RunningError for pid %d", err, pid)
		}
	})
	t.Run("live non-pmux", func(t *testing.T) {
		pid := startHelper(t, "sleeper")
		path := filepath.Join(t.TempDir(), "pmux.pid")
		writeRaw(t, path, strconv.Itoa(pid)+"\n")
		stale, err := Acquire(path, me)
		if runtime.GOOS != "linux" {
			// Only liveness is known here: any live pid is refused.
			if !errors.Is(err, ErrRunning) {
				t.Fatalf("Acquire = %d, %v, want ErrRunning", stale, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if stale != pid {
			t.Errorf("stale = %d, want %d", stale, pid)
		}
	})
}

func TestAlive(t *testing.T) {
	tests := []struct {
		name string
		pid  int
		want bool
	}{
		{"self", os.Getpid(), true},
		{"init", 1, true}, // EPERM for a non-root test still means alive
		{"zero", 0, false},
		{"minus one", -1, false},
		{"beyond pid_t", math.MaxInt32 + 1 + os.Getpid(), false},
		{"reaped", deadPid(t), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Alive(tt.pid); got != tt.want {
				t.Errorf("Alive(%d) = %v, want %v", tt.pid, got, tt.want)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	const me = 1000
	tests := []struct {
		name     string
		content  string // "-": no file
		wantGone bool
	}{
		{"ours", "1000\n", true},
		{"ours without newline", "1000", true},
		{"another pid", "2000\n", false},
		{"garbage", "x\n", false},
		{"missing", "-", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pmux.pid")
			if tt.content != "-" {
				writeRaw(t, path, tt.content)
			}
			if err := Remove(path, me); err != nil {
				t.Fatal(err)
			}
			_, err := os.Stat(path)
			if gone := errors.Is(err, fs.ErrNotExist); gone != tt.wantGone {
				t.Fatalf("file gone = %v, want %v", gone, tt.wantGone)
			}
			if !tt.wantGone && readRaw(t, path) != tt.content {
				t.Error("Remove changed a file it should leave alone")
			}
		})
	}
}

func TestRename(t *testing.T) {
	const me = 1000
	tests := []struct {
		name   string
		from   string // "-": no file
		to     string // "-": no file
		is     error  // nil: success
		inText string
	}{
		{"ours to nothing", "1000\n", "-", nil, ""},
		{"ours over a stale file", "1000\n", "2000\n", nil, ""},
		{"another pid", "2000\n", "-", ErrNotOurs, "(it holds pid 2000, not 1000)"},
		{"garbage", "x\n", "3000\n", ErrMalformed, "malformed content"},
		{"missing", "-", "3000\n", fs.ErrNotExist, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			from, to := filepath.Join(dir, "pmux.pid"), Oldbin(filepath.Join(dir, "pmux.pid"))
			if tt.from != "-" {
				writeRaw(t, from, tt.from)
			}
			if tt.to != "-" {
				writeRaw(t, to, tt.to)
			}
			before := names(t, dir)
			err := Rename(from, to, me)
			if tt.is != nil {
				if !errors.Is(err, tt.is) {
					t.Fatalf("Rename = %v, want %v", err, tt.is)
				}
				if prefix := "rename pidfile " + from + " to " + to + ": "; !strings.HasPrefix(err.Error(), prefix) ||
					!strings.Contains(err.Error(), tt.inText) {
					t.Errorf("error %q, want prefix %q and %q", err, prefix, tt.inText)
				}
				if after := names(t, dir); !slices.Equal(after, before) {
					t.Errorf("failed Rename changed the directory from %q to %q", before, after)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(from); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("from still exists: %v", err)
			}
			if got := readRaw(t, to); got != tt.from {
				t.Errorf("to holds %q, want %q", got, tt.from)
			}
		})
	}
}

// TestUpgradeDance walks the pidfile steps of the USR2 upgrade for both profiles.
func TestUpgradeDance(t *testing.T) {
	const oldPid, newPid = 1000, 2000
	// In these flows the other master is alive and a pmux.
	isPmux := func(int) bool { return true }
	want := func(t *testing.T, path, content string) {
		t.Helper()
		if content == "" {
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s exists: %v", filepath.Base(path), err)
			}
			return
		}
		if got := readRaw(t, path); got != content {
			t.Errorf("%s = %q, want %q", filepath.Base(path), got, content)
		}
	}

	t.Run("unicorn commit and rollback", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "pmux.pid")
		if _, err := acquire(p, oldPid, isPmux); err != nil {
			t.Fatal(err)
		}
		// A second master is refused while the old one holds P.
		if _, err := acquire(p, newPid, isPmux); !errors.Is(err, ErrRunning) {
			t.Fatalf("second master: %v", err)
		}
		// USR2: the old master moves P aside, the new one writes P.
		if err := Rename(p, Oldbin(p), oldPid); err != nil {
			t.Fatal(err)
		}
		if stale, err := acquire(p, newPid, isPmux); err != nil || stale != 0 {
			t.Fatalf("new master acquire = %d, %v", stale, err)
		}
		want(t, p, "2000\n")
		want(t, Oldbin(p), "1000\n")
		// Rollback: the new master exits; its Remove and the old master's
		// rename back may come in either order.
		if err := Rename(Oldbin(p), p, oldPid); err != nil {
			t.Fatal(err)
		}
		if err := Remove(p, newPid); err != nil {
			t.Fatal(err)
		}
		want(t, p, "1000\n")
		want(t, Oldbin(p), "")
		// Commit this time: upgrade again, then the old master exits.
		if err := Rename(p, Oldbin(p), oldPid); err != nil {
			t.Fatal(err)
		}
		if _, err := acquire(p, newPid, isPmux); err != nil {
			t.Fatal(err)
		}
		if err := Remove(Oldbin(p), oldPid); err != nil {
			t.Fatal(err)
		}
		if err := Remove(p, oldPid); err != nil { // the old master's exit path must not take P
			t.Fatal(err)
		}
		want(t, p, "2000\n")
		want(t, Oldbin(p), "")
	})

	t.Run("gunicorn commit", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "pmux.pid")
		if _, err := acquire(p, oldPid, isPmux); err != nil {
			t.Fatal(err)
		}
		if _, err := acquire(Next(p), newPid, isPmux); err != nil {
			t.Fatal(err)
		}
		want(t, p, "1000\n")
		want(t, Next(p), "2000\n")
		// The old master is gone: it removed P; the new one renames P.2.
		if err := Remove(p, oldPid); err != nil {
			t.Fatal(err)
		}
		if err := Rename(Next(p), p, newPid); err != nil {
			t.Fatal(err)
		}
		want(t, p, "2000\n")
		want(t, Next(p), "")
	})
}

func TestSuffixes(t *testing.T) {
	if got := Oldbin("/run/x.pid"); got != "/run/x.pid.oldbin" {
		t.Errorf("Oldbin = %q", got)
	}
	if got := Next("/run/x.pid"); got != "/run/x.pid.2" {
		t.Errorf("Next = %q", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"123\n", "", "\n", "0", "-1", "2147483648", " 7 ", "1\n2", "abc"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pid, err := parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("parse(%q) error %v does not wrap ErrMalformed", b, err)
			}
			return
		}
		if pid <= 0 || pid > math.MaxInt32 {
			t.Fatalf("parse(%q) = %d", b, pid)
		}
		// What Write writes parses back to the same pid.
		back, err := parse([]byte(strconv.Itoa(pid) + "\n"))
		if err != nil || back != pid {
			t.Fatalf("parse(%q) = %d; round trip = %d, %v", b, pid, back, err)
		}
	})
}
