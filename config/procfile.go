package config

import (
	"fmt"
	"strconv"
	"strings"
)

// ProcfileEntry is one "name: command" line of a Procfile.
type ProcfileEntry struct {
	Name    string // process type, [A-Za-z0-9_-]+
	Command string // shell command line, as written (trimmed)
	Line    int    // 1-based line number, for messages
}

// ParseProcfile parses a foreman/honcho Procfile: "name: command" lines,
// with blank lines and lines starting with # skipped. Unlike foreman, which
// silently drops a line it cannot read, any other line is an error: a
// process type that quietly never starts is worse than a refusal. Errors are
// *Error naming path and line.
func ParseProcfile(path string, data []byte) ([]ProcfileEntry, error) {
	var out []ProcfileEntry
	first := map[string]int{}
	for n, line := range splitLines(data) {
		lineNo := n + 1
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' {
			continue
		}
		name, cmd, ok := strings.Cut(t, ":")
		if !ok {
			return nil, &Error{File: path, Line: lineNo, Err: fmt.Errorf("expected \"name: command\", got %q", clip(t))}
		}
		if err := checkName(name); err != nil {
			return nil, &Error{File: path, Line: lineNo, Err: fmt.Errorf("process type %w", err)}
		}
		cmd = strings.TrimSpace(cmd)
		if cmd == "" {
			return nil, &Error{File: path, Line: lineNo, Key: name, Err: fmt.Errorf("empty command; write \"%s: program args\"", name)}
		}
		if prev, dup := first[name]; dup {
			return nil, &Error{File: path, Line: lineNo, Key: name, Err: kindf(ErrDuplicate,
				fmt.Sprintf("process type %q is already defined on line %d; rename or remove one", name, prev))}
		}
		first[name] = lineNo
		out = append(out, ProcfileEntry{Name: name, Command: cmd, Line: lineNo})
	}
	return out, nil
}

// splitLines splits on \n, dropping a \r before it and a UTF-8 byte-order
// mark at the start (both common in files edited on Windows).
func splitLines(data []byte) []string {
	s := strings.TrimPrefix(string(data), "\ufeff")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// FormationAll is the formation name that applies to every process type not
// named on its own, as in foreman's "all=2".
const FormationAll = "all"

// ParseFormation parses foreman's --formation / -m value: "web=2,jobs=1",
// or "all=2" for every type. Counts are 0..MaxWorkers; names follow
// Procfile rules. The empty string is an empty formation. Callers resolve a
// type's count as its own entry, else FormationAll, else 1.
func ParseFormation(s string) (map[string]int, error) {
	out := map[string]int{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		name, num, ok := strings.Cut(strings.TrimSpace(part), "=")
		name, num = strings.TrimSpace(name), strings.TrimSpace(num)
		if !ok {
			return nil, fmt.Errorf("formation %q: %q is not NAME=COUNT; write e.g. web=2,worker=1", s, clip(part))
		}
		if err := checkName(name); err != nil {
			return nil, fmt.Errorf("formation %q: process type %w", s, err)
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 || n > MaxWorkers {
			return nil, fmt.Errorf("formation %q: count for %s must be an integer 0..%d (got %q)", s, name, MaxWorkers, clip(num))
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("formation %q: %w process type %s; give each type once", s, ErrDuplicate, name)
		}
		out[name] = n
	}
	return out, nil
}

func lookupOK(lookup func(string) (string, bool), name string) (string, bool) {
	if lookup == nil {
		return "", false
	}
	return lookup(name)
}

// varRef reports whether s[i:] starts with $NAME or ${NAME}, returning the
// name and the index just past the reference.
func varRef(s string, i int) (name string, end int, ok bool) {
	if s[i] != '$' || i+1 >= len(s) {
		return "", 0, false
	}
	if s[i+1] == '{' {
		j := strings.IndexByte(s[i+2:], '}')
		if j < 0 {
			return "", 0, false
		}
		name = s[i+2 : i+2+j]
		if !isVarName(name) {
			return "", 0, false
		}
		return name, i + 3 + j, true
	}
	j := i + 1
	for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || j > i+1 && s[j] >= '0' && s[j] <= '9') {
		j++
	}
	if j == i+1 {
		return "", 0, false
	}
	return s[i+1 : j], j, true
}

// isVarName is the shell's name rule: [A-Za-z_][A-Za-z0-9_]*.
func isVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
