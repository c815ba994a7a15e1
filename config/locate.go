package config

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// lineIndex maps keys, spelled as Error.Key spells them ("pool[1].workers"),
// to the 1-based line they are written on.
//
// The TOML library knows positions but keeps them private and keyed without
// array indices, so every [[pool]] would report the last pool's line. This
// small scanner runs only over documents the library has already accepted,
// so it needs to understand valid TOML, not diagnose invalid TOML; on input
// it does not understand it records less, never panics, and always advances.
type lineIndex map[string]int

// find returns the line of the first key that has one, so callers can pass a
// key followed by its ancestors (a value inherited from the top level, an
// entry inside an inline table) and get the nearest line that exists.
func (ix lineIndex) find(keys ...string) int {
	for _, k := range keys {
		if n := ix[k]; n > 0 {
			return n
		}
	}
	return 0
}

func indexLines(src string) lineIndex {
	s := &lineScanner{src: src, line: 1, lines: lineIndex{}, arrays: map[string]int{}}
	for s.pos < len(s.src) {
		start := s.pos
		s.skip(true)
		if s.pos >= len(s.src) {
			break
		}
		if s.src[s.pos] == '[' {
			s.header()
		} else {
			s.keyValue(s.table, 0)
		}
		if s.pos == start {
			s.advance()
		}
	}
	return s.lines
}

type lineScanner struct {
	src    string
	pos    int
	line   int
	lines  lineIndex
	arrays map[string]int // array-of-tables key → elements seen so far
	table  string         // key of the table the following keys belong to
}

// maxDepth bounds recursion into nested arrays and inline tables.
const maxDepth = 64

func (s *lineScanner) advance() {
	if s.src[s.pos] == '\n' {
		s.line++
	}
	s.pos++
}

// skip passes blanks and comments, and newlines too when nl is set.
func (s *lineScanner) skip(nl bool) {
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ' ', '\t', '\r':
			s.pos++
		case '\n':
			if !nl {
				return
			}
			s.advance()
		case '#':
			for s.pos < len(s.src) && s.src[s.pos] != '\n' {
				s.pos++
			}
		default:
			return
		}
	}
}

func (s *lineScanner) header() {
	line := s.line
	s.pos++ // [
	array := s.pos < len(s.src) && s.src[s.pos] == '['
	if array {
		s.pos++
	}
	segs := s.keyPath()
	if len(segs) == 0 {
		return
	}
	for i := 0; i < 2 && s.pos < len(s.src) && s.src[s.pos] == ']'; i++ {
		s.pos++
	}
	key := joinKey(s.resolve(segs[:len(segs)-1]), segs[len(segs)-1])
	if array {
		if s.lines[key] == 0 {
			s.lines[key] = line // the array as a whole starts at its first element
		}
		n := s.arrays[key]
		s.arrays[key] = n + 1
		key = indexKey(key, n)
	}
	s.table = key
	s.lines[key] = line
}

// resolve spells a table path the way Error.Key does: a path through an
// array of tables goes through its latest element, as TOML defines it.
func (s *lineScanner) resolve(segs []string) string {
	cur := ""
	for _, seg := range segs {
		cur = joinKey(cur, seg)
		if n := s.arrays[cur]; n > 0 {
			cur = indexKey(cur, n-1)
		}
	}
	return cur
}

func (s *lineScanner) keyValue(table string, depth int) {
	line := s.line
	segs := s.keyPath()
	if len(segs) == 0 {
		return
	}
	key := table
	for _, seg := range segs {
		key = joinKey(key, seg)
		if s.lines[key] == 0 {
			s.lines[key] = line
		}
	}
	if s.pos >= len(s.src) || s.src[s.pos] != '=' {
		return
	}
	s.pos++
	s.skip(false)
	s.value(key, depth)
}

// keyPath reads a dotted key and the blanks after it.
func (s *lineScanner) keyPath() []string {
	var segs []string
	for {
		s.skip(false)
		seg, ok := s.keySegment()
		if !ok {
			return nil
		}
		segs = append(segs, seg)
		s.skip(false)
		if s.pos < len(s.src) && s.src[s.pos] == '.' {
			s.pos++
			continue
		}
		return segs
	}
}

func (s *lineScanner) keySegment() (string, bool) {
	if s.pos >= len(s.src) {
		return "", false
	}
	switch s.src[s.pos] {
	case '"':
		raw := s.stringBody('"')
		return unescapeBasic(raw)
	case '\'':
		return s.stringBody('\''), true
	}
	start := s.pos
	for s.pos < len(s.src) && isNameByte(s.src[s.pos]) {
		s.pos++
	}
	return s.src[start:s.pos], s.pos > start
}

// stringBody consumes a one-line string opened by q at s.pos and returns its
// raw content; escapes are left for unescapeBasic.
func (s *lineScanner) stringBody(q byte) string {
	s.pos++
	start := s.pos
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == q:
			s.pos++
			return s.src[start : s.pos-1]
		case c == '\n':
			return s.src[start:s.pos]
		case c == '\\' && q == '"' && s.pos+1 < len(s.src) && s.src[s.pos+1] != '\n':
			s.pos += 2
		default:
			s.pos++
		}
	}
	return s.src[start:]
}

func (s *lineScanner) value(key string, depth int) {
	if s.pos >= len(s.src) {
		return
	}
	switch c := s.src[s.pos]; c {
	case '"', '\'':
		if strings.HasPrefix(s.src[s.pos:], strings.Repeat(string(c), 3)) {
			s.multiline(c)
		} else {
			s.stringBody(c)
		}
	case '[':
		s.container(key, ']', depth)
	case '{':
		s.container(key, '}', depth)
	default:
		s.scalar()
	}
}

// container walks an array or an inline table, recording the lines of the
// keys of inline tables in it ("pool[0].name" in pool = [{ name = "web" }]).
func (s *lineScanner) container(key string, end byte, depth int) {
	line := s.line
	s.pos++
	if depth >= maxDepth {
		return
	}
	idx := 0
	for s.pos < len(s.src) {
		s.skip(true)
		if s.pos >= len(s.src) {
			return
		}
		start := s.pos
		switch c := s.src[s.pos]; {
		case c == end:
			s.pos++
			return
		case c == ',':
			s.pos++
			idx++
			continue
		case end == '}':
			if s.lines[key] == 0 {
				s.lines[key] = line
			}
			s.keyValue(key, depth+1)
		default:
			elem := indexKey(key, idx)
			if c == '{' && s.lines[elem] == 0 {
				s.lines[elem] = s.line
			}
			s.value(elem, depth+1)
		}
		if s.pos == start {
			s.advance()
		}
	}
}

func (s *lineScanner) multiline(q byte) {
	s.pos += 3
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == '\\' && q == '"' && s.pos+1 < len(s.src):
			s.pos++
			s.advance()
		case c == q && strings.HasPrefix(s.src[s.pos:], strings.Repeat(string(q), 3)):
			s.pos += 3
			// Up to two more quotes may end the content: """a""""
			for i := 0; i < 2 && s.pos < len(s.src) && s.src[s.pos] == q; i++ {
				s.pos++
			}
			return
		default:
			s.advance()
		}
	}
}

// scalar consumes a number, boolean or date-time. A date and a time may be
// separated by one space ("1979-05-27 07:32:00Z"), so a space after a date
// followed by a digit does not end it.
func (s *lineScanner) scalar() {
	start := s.pos
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ' ':
			if s.pos-start == 10 && s.src[start+4] == '-' && s.pos+1 < len(s.src) &&
				s.src[s.pos+1] >= '0' && s.src[s.pos+1] <= '9' {
				s.pos++
				continue
			}
			return
		case '\t', '\r', '\n', ',', ']', '}', '#':
			return
		}
		s.pos++
	}
}

// unescapeBasic decodes the escapes of a TOML basic string, so that a quoted
// key is indexed under the same text the decoder sees.
func unescapeBasic(raw string) (string, bool) {
	if !strings.Contains(raw, `\`) {
		return raw, true
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(raw) {
			return "", false
		}
		switch raw[i] {
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'e':
			b.WriteByte(0x1b)
		case '"', '\\':
			b.WriteByte(raw[i])
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[raw[i]]
			if i+1+n > len(raw) {
				return "", false
			}
			v, err := strconv.ParseUint(raw[i+1:i+1+n], 16, 32)
			if err != nil || !utf8.ValidRune(rune(v)) {
				return "", false
			}
			b.WriteRune(rune(v))
			i += n
		default:
			return "", false
		}
	}
	return b.String(), true
}
