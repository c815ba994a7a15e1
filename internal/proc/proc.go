package proc

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrNotSupported is returned by every reader outside Linux.
var ErrNotSupported = errors.New("not supported on this system: /proc is Linux only")

// ErrMalformed reports a /proc file that does not have the expected shape.
var ErrMalformed = errors.New("malformed")

// Stat is what pmux reads of /proc/<pid>/stat (see proc(5)).
type Stat struct {
	State   byte   // field 3: R, S, D, Z (zombie), X (dead), ...
	PPID    int    // field 4
	Pgrp    int    // field 5: the process group
	Session int    // field 6
	UTime   uint64 // field 14: user CPU time, in clock ticks
	STime   uint64 // field 15: system CPU time, in clock ticks
	// StartTime (field 22) is when the process started, in clock ticks
	// since boot: with the pid, it names one process, whatever pid reuse
	// does.
	StartTime uint64
}

// Zombie reports whether the process has exited and waits to be reaped.
func (s Stat) Zombie() bool { return s.State == 'Z' }

// ParseStat parses the contents of a /proc/<pid>/stat file.
func ParseStat(data []byte) (Stat, error) {
	// The command name may hold spaces and parentheses: count from its
	// last ')'. fields[0] is then field 3.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return Stat{}, fmt.Errorf("parse stat: no command name: %w", ErrMalformed)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return Stat{}, fmt.Errorf("parse stat: %d fields after the command name: %w", len(f), ErrMalformed)
	}
	s := Stat{State: f[0][0]}
	var err error
	for _, p := range []struct {
		dst   *int
		field int
	}{{&s.PPID, 1}, {&s.Pgrp, 2}, {&s.Session, 3}} {
		if *p.dst, err = strconv.Atoi(f[p.field]); err != nil {
			return Stat{}, fmt.Errorf("parse stat field %d: %w", p.field+3, err)
		}
	}
	for _, p := range []struct {
		dst   *uint64
		field int
	}{{&s.UTime, 11}, {&s.STime, 12}, {&s.StartTime, 19}} {
		if *p.dst, err = strconv.ParseUint(f[p.field], 10, 64); err != nil {
			return Stat{}, fmt.Errorf("parse stat field %d: %w", p.field+3, err)
		}
	}
	return s, nil
}

// ParseStatm returns the resident set size, in pages, from the contents of
// a /proc/<pid>/statm file (its second field).
func ParseStatm(data []byte) (int64, error) {
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0, fmt.Errorf("parse statm: %d fields: %w", len(f), ErrMalformed)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse statm: %w", err)
	}
	return pages, nil
}

// Status is a /proc/<pid>/status file (or a thread's), as key → value with
// the value's surrounding white space trimmed: "VmRSS" → "1234 kB".
type Status map[string]string

// ParseStatus parses the "Key:\tvalue" lines of a status file.
func ParseStatus(data []byte) Status {
	s := Status{}
	for line := range strings.Lines(string(data)) {
		if k, v, ok := strings.Cut(line, ":"); ok {
			s[k] = strings.TrimSpace(v)
		}
	}
	return s
}

// Int returns the value of key as a number, with a " kB" suffix dropped:
// VmRSS, RssAnon and the like are in KiB.
func (s Status) Int(key string) (int64, error) {
	v, ok := s[key]
	if !ok {
		return 0, fmt.Errorf("status %s: no such line: %w", key, ErrMalformed)
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("status %s: %w", key, err)
	}
	return n, nil
}

// EffectiveUID returns the effective uid, the second number of the Uid line.
func (s Status) EffectiveUID() (int, bool) {
	f := strings.Fields(s["Uid"])
	if len(f) < 2 {
		return 0, false
	}
	uid, err := strconv.Atoi(f[1])
	return uid, err == nil
}

// Mapping is one line of a /proc/<pid>/maps file.
type Mapping struct {
	Start, End uint64
	Perms      string // "r-xp"
	Path       string // "" for an anonymous mapping
}

// ParseMaps parses a maps file; lines it cannot read are skipped.
func ParseMaps(data []byte) []Mapping {
	var out []Mapping
	for line := range strings.Lines(string(data)) {
		// The path, the sixth column, may hold spaces: it is the rest of
		// the line after the fifth.
		f := strings.SplitN(strings.TrimSpace(line), " ", 6)
		if len(f) < 5 {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		m := Mapping{Start: start, End: end, Perms: f[1]}
		if len(f) == 6 {
			m.Path = strings.TrimSpace(f[5])
		}
		out = append(out, m)
	}
	return out
}

// splitNUL splits a NUL-separated file (cmdline, environ); trailing NULs
// (the terminator, or a retitled process's padding) are dropped, and an
// empty file gives no entries.
func splitNUL(data []byte) []string {
	s := strings.TrimRight(string(data), "\x00")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\x00")
}

// FS is a proc file system mounted at a directory.
type FS string

// Default is the system's /proc; the package-level readers use it.
const Default FS = "/proc"

// SelfExe is the path of the running binary's link. The kernel resolves it
// in the process that opens it, at the time it does, so a child exec'ing it
// runs its parent's binary even after a deploy replaced the file.
const SelfExe = "/proc/self/exe"
