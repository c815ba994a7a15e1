package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Error is every error this package returns about the contents of a config
// file, Procfile or env file: where (File, Line), which key, and why (Err).
// main maps it to exit code 2.
type Error struct {
	File string // path as given; "" when the config came from flags
	Line int    // 1-based; 0 when unknown (a default, a value from flags)
	Key  string // dotted key, pool index in brackets: "pool[1].workers"; may be ""
	Err  error  // the cause; wraps the sentinels below where one applies
}

// Sentinels wrapped by Error.Err, for errors.Is.
var (
	// ErrSyntax: the file is not valid TOML.
	ErrSyntax = errors.New("invalid TOML")
	// ErrUnknownKey: a key the schema does not have (a typo, usually).
	ErrUnknownKey = errors.New("unknown key")
	// ErrType: a value of the wrong TOML type.
	ErrType = errors.New("wrong type")
	// ErrDuplicate: two pools, Procfile entries or formation entries share a
	// name, or two pools share a bind address.
	ErrDuplicate = errors.New("duplicate")
)

// Error formats one line: "config pmux.toml:12: key pool[1].workers: must be
// between 0 and 1024 (got -3)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config")
	switch {
	case e.File != "" && e.Line > 0:
		b.WriteString(" " + e.File + ":" + strconv.Itoa(e.Line))
	case e.File != "":
		b.WriteString(" " + e.File)
	case e.Line > 0:
		b.WriteString(" line " + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString("key " + e.Key + ": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("invalid")
	}
	return oneLine(b.String())
}

// oneLine escapes control characters, so that a message quoting the input
// (the TOML parser's do) stays one line in a log and on a terminal.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case unicode.IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// kindError gives a cause its own words while errors.Is still finds the
// sentinel: "unknown key; did you mean ..." is ErrUnknownKey.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func kindf(kind error, msg string) error { return &kindError{kind: kind, msg: msg} }

// joinKey appends one key segment to a dotted key, quoting the segment the
// way TOML would need it when it is not a bare key, so the key in a message
// can be pasted back into a file.
func joinKey(parent, seg string) string {
	s := seg
	if !isBareKey(seg) {
		s = strconv.Quote(seg)
	}
	if parent == "" {
		return s
	}
	return parent + "." + s
}

// indexKey names element i of an array of tables: "pool[1]".
func indexKey(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

// isNameByte is the character class of bare TOML keys, pool names and
// Procfile process types alike: [A-Za-z0-9_-].
func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}
