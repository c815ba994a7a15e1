//go:build linux

package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Pids lists every process in the file system, in no particular order.
func (fs FS) Pids() ([]int, error) {
	entries, err := os.ReadDir(string(fs))
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	pids := make([]int, 0, len(entries))
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// Stat reads /proc/<pid>/stat.
func (fs FS) Stat(pid int) (Stat, error) {
	data, err := os.ReadFile(fs.path(pid, "stat"))
	if err != nil {
		return Stat{}, err
	}
	s, err := ParseStat(data)
	if err != nil {
		return Stat{}, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	return s, nil
}

// RSS returns the resident set size of pid in bytes, from its statm.
func (fs FS) RSS(pid int) (int64, error) {
	data, err := os.ReadFile(fs.path(pid, "statm"))
	if err != nil {
		return 0, err
	}
	pages, err := ParseStatm(data)
	if err != nil {
		return 0, fmt.Errorf("read rss of %d: %w", pid, err)
	}
	return pages * int64(os.Getpagesize()), nil
}

// Status reads /proc/<pid>/status.
func (fs FS) Status(pid int) (Status, error) {
	data, err := os.ReadFile(fs.path(pid, "status"))
	if err != nil {
		return nil, err
	}
	return ParseStatus(data), nil
}

// TaskStatus reads the status of thread tid of pid.
func (fs FS) TaskStatus(pid, tid int) (Status, error) {
	data, err := os.ReadFile(fs.path(pid, "task/"+strconv.Itoa(tid)+"/status"))
	if err != nil {
		return nil, err
	}
	return ParseStatus(data), nil
}

// Tasks lists the thread ids of pid.
func (fs FS) Tasks(pid int) ([]int, error) {
	return fs.numbers(fs.path(pid, "task"))
}

// FDs lists the open descriptors of pid.
func (fs FS) FDs(pid int) ([]int, error) {
	return fs.numbers(fs.path(pid, "fd"))
}

// SelfFDs lists the calling process's open descriptors, through
// /proc/self, which is right even when pmux's pid namespace is not the one
// the file system was mounted for.
func (fs FS) SelfFDs() ([]int, error) {
	return fs.numbers(string(fs) + "/self/fd")
}

func (fs FS) numbers(dir string) ([]int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]int, 0, len(entries))
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, n)
		}
	}
	return out, nil
}

// FDLink reads the link of pid's descriptor fd: a path, or "socket:[N]"
// for a socket with inode N.
func (fs FS) FDLink(pid, fd int) (string, error) {
	return os.Readlink(fs.path(pid, "fd/"+strconv.Itoa(fd)))
}

// Environ returns the environment pid was started with: what execve(2)
// received, whatever the process did to its own copy since.
func (fs FS) Environ(pid int) ([]string, error) {
	data, err := os.ReadFile(fs.path(pid, "environ"))
	if err != nil {
		return nil, err
	}
	return splitNUL(data), nil
}

// Cmdline returns the arguments of pid (a retitled process's title is its
// first); none for a zombie or a kernel thread.
func (fs FS) Cmdline(pid int) ([]string, error) {
	data, err := os.ReadFile(fs.path(pid, "cmdline"))
	if err != nil {
		return nil, err
	}
	return splitNUL(data), nil
}

// Exe reads the link to pid's executable; it ends in " (deleted)" once the
// file was replaced or removed.
func (fs FS) Exe(pid int) (string, error) {
	return os.Readlink(fs.path(pid, "exe"))
}

// Visible reports whether pid has a directory in the file system; a live
// process may have none under hidepid.
func (fs FS) Visible(pid int) bool {
	_, err := os.Stat(string(fs) + "/" + strconv.Itoa(pid))
	return err == nil
}

// Comm returns the command name of pid.
func (fs FS) Comm(pid int) (string, error) {
	data, err := os.ReadFile(fs.path(pid, "comm"))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

// PSS returns the proportional set size of pid in KiB (smaps_rollup): its
// private pages plus its share of those it shares, so a tree's add up.
func (fs FS) PSS(pid int) (int64, error) {
	data, err := os.ReadFile(fs.path(pid, "smaps_rollup"))
	if err != nil {
		return 0, err
	}
	return ParseStatus(data).Int("Pss")
}

// SelfMaps reads the calling process's memory map.
func (fs FS) SelfMaps() ([]Mapping, error) {
	data, err := os.ReadFile(string(fs) + "/self/maps")
	if err != nil {
		return nil, err
	}
	return ParseMaps(data), nil
}

// SelfExePath resolves the running binary's path.
func (fs FS) SelfExePath() (string, error) {
	return os.Readlink(string(fs) + "/self/exe")
}

// LoadAvg returns the three load averages, "0.52 0.58 0.59".
func (fs FS) LoadAvg() (string, error) {
	data, err := os.ReadFile(string(fs) + "/loadavg")
	if err != nil {
		return "", err
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "", fmt.Errorf("read loadavg: %w", ErrMalformed)
	}
	return strings.Join(f[:3], " "), nil
}

// CPUModel returns the first "model name" of cpuinfo.
func (fs FS) CPUModel() (string, error) {
	data, err := os.ReadFile(string(fs) + "/cpuinfo")
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":")), nil
		}
	}
	return "", fmt.Errorf("read cpuinfo: no model name: %w", ErrMalformed)
}

// KernelRelease returns the running kernel's release, "6.8.0-45-generic".
func (fs FS) KernelRelease() (string, error) {
	data, err := os.ReadFile(string(fs) + "/sys/kernel/osrelease")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

// path names file name of pid.
func (fs FS) path(pid int, name string) string {
	return string(fs) + "/" + strconv.Itoa(pid) + "/" + name
}
