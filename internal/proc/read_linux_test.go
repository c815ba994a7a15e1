package proc

import (
	"os"
	"slices"
	"syscall"
	"testing"
)

// TestReadSelf reads this test process's own files and checks them against
// what the system calls say.
func TestReadSelf(t *testing.T) {
	pid := os.Getpid()
	st, err := Default.Stat(pid)
	if err != nil {
		t.Fatal(err)
	}
	if st.PPID != os.Getppid() || st.Pgrp != syscall.Getpgrp() || st.State == 'Z' || st.StartTime == 0 {
		t.Errorf("Stat(self) = %+v, want ppid %d, pgrp %d, alive", st, os.Getppid(), syscall.Getpgrp())
	}
	if rss, err := Default.RSS(pid); err != nil || rss <= 0 {
		t.Errorf("RSS(self) = %d, %v", rss, err)
	}
	status, err := Default.Status(pid)
	if err != nil {
		t.Fatal(err)
	}
	if uid, ok := status.EffectiveUID(); !ok || uid != os.Geteuid() {
		t.Errorf("EffectiveUID = %d, %v; want %d", uid, ok, os.Geteuid())
	}
	tasks, err := Default.Tasks(pid)
	if err != nil || !slices.Contains(tasks, pid) {
		t.Errorf("Tasks(self) = %v, %v; want the main thread %d among them", tasks, err, pid)
	}
	if _, err := Default.TaskStatus(pid, pid); err != nil {
		t.Errorf("TaskStatus(self, self): %v", err)
	}
	if pids, err := Default.Pids(); err != nil || !slices.Contains(pids, pid) {
		t.Errorf("Pids() misses %d: %v", pid, err)
	}
	if args, err := Default.Cmdline(pid); err != nil || len(args) == 0 || args[0] != os.Args[0] {
		t.Errorf("Cmdline(self) = %q, %v; want %q first", args, err, os.Args[0])
	}
	if env, err := Default.Environ(pid); err != nil || len(env) == 0 {
		t.Errorf("Environ(self) = %d entries, %v", len(env), err)
	}

	f, err := os.Create(t.TempDir() + "/held")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	for name, list := range map[string]func() ([]int, error){
		"FDs":     func() ([]int, error) { return Default.FDs(pid) },
		"SelfFDs": Default.SelfFDs,
	} {
		if fds, err := list(); err != nil || !slices.Contains(fds, fd) {
			t.Errorf("%s() = %v, %v; want %d among them", name, fds, err, fd)
		}
	}
	if link, err := Default.FDLink(pid, fd); err != nil || link != f.Name() {
		t.Errorf("FDLink = %q, %v; want %q", link, err, f.Name())
	}

	exe, err := Default.SelfExePath()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Default.Exe(pid); err != nil || got != exe {
		t.Errorf("Exe(self) = %q, %v; want %q", got, err, exe)
	}
	maps, err := Default.SelfMaps()
	if err != nil || !slices.ContainsFunc(maps, func(m Mapping) bool { return m.Path == exe }) {
		t.Errorf("SelfMaps() has no mapping of %s (%v)", exe, err)
	}
	if !Default.Visible(pid) {
		t.Error("Visible(self) = false")
	}
}

func TestReadGone(t *testing.T) {
	// A pid above pid_max's largest value (4194304) never exists.
	const gone = 1 << 23
	if _, err := Default.Stat(gone); !os.IsNotExist(err) {
		t.Errorf("Stat(gone) error = %v, want not-exist", err)
	}
	if Default.Visible(gone) {
		t.Error("Visible(gone) = true")
	}
}
