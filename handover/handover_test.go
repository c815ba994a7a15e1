package handover

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pmux/pmux/pidfile"
	"github.com/pmux/pmux/spawn"
)

// pidfiles lists which of P, P.oldbin and P.2 exist, with the pid each holds.
func pidfiles(t *testing.T, p string) string {
	t.Helper()
	var out []string
	for _, path := range []string{p, pidfile.Oldbin(p), pidfile.Next(p)} {
		if pid, err := pidfile.Read(path); err == nil {
			out = append(out, filepath.Base(path)+"="+strconv.Itoa(pid))
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	return strings.Join(out, " ")
}

func executable(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pmux")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// The pidfile moves through a whole upgrade, for each style: the old
// master claims P, starts its successor, which claims its own, and then
// either the old master leaves (commit) or the successor exits (rollback).
func TestPidfileMovesThroughAnUpgrade(t *testing.T) {
	const oldPID, newPID = 100, 200
	for _, tc := range []struct {
		name                           string
		style                          Style
		started, committed, rolledBack string
	}{
		{"unicorn", Oldbin, "pmux.pid=200 pmux.pid.oldbin=100", "pmux.pid=200", "pmux.pid=100"},
		{"gunicorn", Next, "pmux.pid=100 pmux.pid.2=200", "pmux.pid=200", "pmux.pid=100"},
	} {
		for _, commit := range []bool{true, false} {
			t.Run(tc.name+map[bool]string{true: " commit", false: " rollback"}[commit], func(t *testing.T) {
				p := filepath.Join(t.TempDir(), "pmux.pid")
				origin := Origin{Path: executable(t), Args: []string{"pmux", "run"}, Dir: "/"}
				old := &Master{Origin: origin, PID: oldPID, Pidfile: p, Style: tc.style}
				if _, _, err := old.ClaimPidfile(0); err != nil {
					t.Fatal(err)
				}
				var spec spawn.Spec
				pid, err := old.StartSuccessor(func(s spawn.Spec) (int, error) { spec = s; return newPID, nil }, []string{"tcp:a", "unix:b"}, nil)
				if err != nil || pid != newPID {
					t.Fatalf("StartSuccessor = %d, %v", pid, err)
				}
				if !spec.Direct || spec.Path != origin.Path || spec.Dir != "/" {
					t.Errorf("successor spec %+v, want Direct, %s in /", spec, origin.Path)
				}
				env := strings.Join(spec.Env, "\n")
				if !strings.Contains(env, "\n"+fdsVar+`=["tcp:a","unix:b"]`) || !strings.Contains(env, "\n"+parentVar+"=100") {
					t.Errorf("successor environment lacks the hand-over:\n%s", env)
				}
				successor := &Master{Origin: origin, PID: newPID, Pidfile: p, Style: tc.style}
				if _, _, err := successor.ClaimPidfile(oldPID); err != nil {
					t.Fatal(err)
				}
				if got := pidfiles(t, p); got != tc.started {
					t.Errorf("both serving: %s, want %s", got, tc.started)
				}
				want := tc.committed
				if commit {
					if err := old.Leaving(); err != nil {
						t.Fatal(err)
					}
					if err := successor.ParentExited(); err != nil {
						t.Fatal(err)
					}
				} else {
					// The successor's own clean-up on its way out, then the old master's.
					if tc.style == Oldbin {
						pidfile.Remove(p, newPID)
					}
					if err := old.SuccessorExited(newPID); err != nil {
						t.Fatal(err)
					}
					want = tc.rolledBack
				}
				if got := pidfiles(t, p); got != want {
					t.Errorf("after the %s: %s, want %s", map[bool]string{true: "commit", false: "rollback"}[commit], got, want)
				}
			})
		}
	}
}

// A successor that cannot start leaves the pidfile where it was.
func TestStartSuccessorFailureMovesNothing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pmux.pid")
	for _, tc := range []struct {
		name  string
		path  string
		start func(spawn.Spec) (int, error)
		want  string
	}{
		{"binary gone", filepath.Join(t.TempDir(), "nosuch"), nil, "no such file"},
		{"not executable", filepath.Join(t.TempDir()), nil, "not an executable file"},
		{"spawn fails", executable(t), func(spawn.Spec) (int, error) { return 0, errors.New("fork: resource temporarily unavailable") }, "fork"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Master{Origin: Origin{Path: tc.path}, PID: 100, Pidfile: p, Style: Oldbin}
			if _, _, err := m.ClaimPidfile(0); err != nil {
				t.Fatal(err)
			}
			start := tc.start
			if start == nil {
				start = func(spawn.Spec) (int, error) { t.Fatal("started a binary that cannot run"); return 0, nil }
			}
			if _, err := m.StartSuccessor(start, nil, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("StartSuccessor error %v, want one saying %q", err, tc.want)
			}
			if got := pidfiles(t, p); got != "pmux.pid=100" {
				t.Errorf("pidfiles %s after a failed start, want pmux.pid=100", got)
			}
		})
	}
}

// Take reads the hand-over once and clears it; a parent that is not this
// process's parent is gone already, and this master is in charge.
func TestTakeReadsAndClears(t *testing.T) {
	t.Setenv(fdsVar, "[]")
	t.Setenv(parentVar, strconv.Itoa(os.Getppid()))
	if !Pending() {
		t.Fatal("Pending is false with the hand-over set")
	}
	in, err := Take()
	if err != nil || in.Parent != os.Getppid() || len(in.Files) != 0 {
		t.Fatalf("Take = %+v, %v; want parent %d and no files", in, err, os.Getppid())
	}
	if Pending() {
		t.Error("Pending after Take")
	}

	t.Setenv(fdsVar, "[]")
	t.Setenv(parentVar, "1")
	if in, err := Take(); err != nil || in.Parent != 0 {
		t.Errorf("Take with a parent that is not ours = %+v, %v; want parent 0", in, err)
	}

	t.Setenv(fdsVar, "{not json")
	if _, err := Take(); err == nil || !strings.Contains(err.Error(), fdsVar) {
		t.Errorf("Take of a malformed hand-over = %v, want an error naming %s", err, fdsVar)
	}
}
