//go:build unix

package sockets

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestListenFDsEnv(t *testing.T) {
	const pid = 4242
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // "" means nil, nil
	}{
		{"unset", nil, ""},
		{"unset LISTEN_FDS with a pid", map[string]string{"LISTEN_PID": "4242"}, ""},
		{"another process", map[string]string{"LISTEN_PID": "1", "LISTEN_FDS": "2"}, ""},
		{"another process with bad names", map[string]string{"LISTEN_PID": "1", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "a"}, ""},
		{"no pid", map[string]string{"LISTEN_FDS": "1"}, "without LISTEN_PID"},
		{"pid not a number", map[string]string{"LISTEN_PID": "abc", "LISTEN_FDS": "1"}, `LISTEN_PID="abc" is not a process id`},
		{"pid zero", map[string]string{"LISTEN_PID": "0", "LISTEN_FDS": "1"}, "not a process id"},
		{"pid signed", map[string]string{"LISTEN_PID": "+4242", "LISTEN_FDS": "1"}, "not a process id"},
		{"fds not a number", map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "x"}, `LISTEN_FDS="x" is not a positive integer`},
		{"fds zero", map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "0"}, "not a positive integer"},
		{"fds negative", map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "-1"}, "not a positive integer"},
		{"fds with space", map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": " 1"}, "not a positive integer"},
		{"fds overflow", map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "99999999999999999999"}, "not a positive integer"},
		{"too few names", map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "web"}, "has 1 names for LISTEN_FDS=2"},
		{"too many names", map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "a:b"}, "has 2 names for LISTEN_FDS=1"},
		// Far above any RLIMIT_NOFILE, so the last fd cannot be open.
		{"fds not open", map[string]string{"LISTEN_PID": "4242", "LISTEN_FDS": "1073741800"}, "is not open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			files, err := ListenFDs(getenv, pid)
			if tc.want == "" {
				if files != nil || err != nil {
					t.Fatalf("ListenFDs = %v, %v; want nil, nil", files, err)
				}
				return
			}
			if !errors.Is(err, ErrActivationEnv) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ListenFDs error = %v, want ErrActivationEnv containing %q", err, tc.want)
			}
			if files != nil {
				t.Errorf("ListenFDs returned files with its error: %v", files)
			}
		})
	}
}

// helperEnv selects the child-process mode of the test binary: fds 3 and
// 4 are then real activation sockets, as systemd would pass them.
const helperEnv = "PMUX_SOCKETS_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "listenfds-refused" {
		refusedChild()
		os.Exit(0)
	}
	if os.Getenv(helperEnv) == "listenfds" {
		if err := listenFDsChild(); err != nil {
			fmt.Println("FAIL:", err)
			os.Exit(1)
		}
		fmt.Println("OK")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestListenFDsActivation runs the test binary with two listening sockets
// on fds 3 and 4 and LISTEN_* set, as systemd starts a service.
func TestListenFDsActivation(t *testing.T) {
	ls := openAll(t, OpenOptions{}, "127.0.0.1:0", "127.0.0.1:0?name=other")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.ExtraFiles = []*os.File{ls[0].File, ls[1].File}
	cmd.Env = append(os.Environ(),
		helperEnv+"=listenfds",
		"LISTEN_FDS=2",
		"LISTEN_FDNAMES=http:admin",
		"WANT_ADDRS="+ls[0].Addr()+" "+ls[1].Addr(),
	)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "OK" {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// TestListenFDsNamesTheFirstFDNotPassed: a LISTEN_FDS larger than what was
// passed, or a passed fd that is not a socket, is refused naming that fd,
// even where the Go runtime opened files of its own (cgroup limits, read
// before main) at the numbers the short count left free.
func TestListenFDsNamesTheFirstFDNotPassed(t *testing.T) {
	ls := openAll(t, OpenOptions{}, "127.0.0.1:0")
	plain, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	for _, tc := range []struct {
		name  string
		files []*os.File
		fds   string
		want  string
	}{
		{"one passed, three claimed", []*os.File{ls[0].File}, "3", "LISTEN_FDS=3: fd 4 is not open"},
		{"none passed", nil, "2", "LISTEN_FDS=2: fd 3 is not open"},
		{"a huge claim", []*os.File{ls[0].File}, "2147483645", "LISTEN_FDS=2147483645: fd 4 is not open"},
		{"a file, not a socket", []*os.File{ls[0].File, plain}, "2", "LISTEN_FDS=2: fd 4 is not a socket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.ExtraFiles = tc.files
			cmd.Env = append(os.Environ(), helperEnv+"=listenfds-refused", "LISTEN_FDS="+tc.fds)
			out, err := cmd.CombinedOutput()
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if err != nil || len(lines) != 2 || !strings.Contains(lines[0], tc.want) {
				t.Fatalf("child: %v\n%s\nwant an error containing %q", err, out, tc.want)
			}
			t.Logf("%s; %s", lines[0], lines[1])
		})
	}
}

// refusedChild prints ListenFDs' error, then which fds the process holds
// that were not passed to it (the runtime's own, if any).
func refusedChild() {
	files, err := ListenFDs(func(k string) string {
		if k == "LISTEN_PID" {
			return strconv.Itoa(os.Getpid())
		}
		return os.Getenv(k)
	}, os.Getpid())
	if err == nil {
		fmt.Printf("ListenFDs accepted %d files\n", len(files))
	} else {
		fmt.Println("error:", err)
	}
	var own []string
	for fd := 3; fd < 16; fd++ {
		if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && fl&unix.FD_CLOEXEC != 0 {
			own = append(own, strconv.Itoa(fd))
		}
	}
	fmt.Printf("the process's own fds below 16: %v\n", own)
}

// listenFDsChild is the activated service: LISTEN_PID must be its own pid,
// which only it knows, so it supplies that one variable itself.
func listenFDsChild() error {
	getenv := func(k string) string {
		if k == "LISTEN_PID" {
			return strconv.Itoa(os.Getpid())
		}
		return os.Getenv(k)
	}
	files, err := ListenFDs(getenv, os.Getpid())
	if err != nil {
		return err
	}
	if len(files) != 2 || files[0].Name != "http" || files[1].Name != "admin" {
		return fmt.Errorf("ListenFDs = %v, want http and admin", files)
	}
	for fd := 3; fd <= 4; fd++ {
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || fl&unix.FD_CLOEXEC == 0 {
			return fmt.Errorf("fd %d not made close-on-exec (flags %#x, %v)", fd, fl, err)
		}
	}
	sp1, _ := Parse("systemd:admin")
	sp2, _ := Parse("systemd")
	ls, err := Open([]Spec{sp1, sp2}, OpenOptions{Systemd: files})
	if err != nil {
		return err
	}
	want := strings.Fields(os.Getenv("WANT_ADDRS"))
	if len(ls) != 2 || ls[0].Name() != "admin" || ls[0].Addr() != want[1] || ls[1].Name() != "http" || ls[1].Addr() != want[0] {
		return fmt.Errorf("Open gave %d listeners, first %s %s, want admin %s then http %s", len(ls), ls[0].Name(), ls[0].Addr(), want[1], want[0])
	}
	for _, nf := range files {
		if err := nf.File.Close(); err != nil {
			return err
		}
	}
	for _, l := range ls {
		if err := l.Close(); err != nil {
			return err
		}
	}
	return nil
}
