package config

import (
	"errors"
	"fmt"
	"strings"
)

// ParseEnvFile parses a .env file as foreman and dotenv read it and returns
// its entries as "KEY=VALUE" strings in order of first appearance (a key
// given twice keeps its first place and its last value).
//
//	KEY=value            unquoted: trimmed; " #..." starts a comment
//	export KEY=value     the shell prefix is allowed
//	KEY='a $literal'     single quotes: verbatim, may span lines
//	KEY="a\nb ${HOME}"   double quotes: \n \t \r \" \\ \$ escapes, may span lines
//	# comment, blank lines
//
// $VAR and ${VAR} are expanded in unquoted and double-quoted values, as
// dotenv does, from keys earlier in the file first and then lookup (which
// may be nil); an unknown variable expands to "". Errors are *Error naming
// path, line and key.
func ParseEnvFile(path string, data []byte, lookup func(string) (string, bool)) ([]string, error) {
	p := &envParser{src: strings.TrimPrefix(string(data), "\ufeff"), line: 1, path: path, lookup: lookup, vals: map[string]string{}}
	if err := p.parse(); err != nil {
		return nil, err
	}
	out := make([]string, len(p.order))
	for i, k := range p.order {
		out[i] = k + "=" + p.vals[k]
	}
	return out, nil
}

type envParser struct {
	src    string
	pos    int
	line   int
	path   string
	lookup func(string) (string, bool)
	order  []string
	vals   map[string]string
}

func (p *envParser) fail(line int, key string, format string, args ...any) error {
	return &Error{File: p.path, Line: line, Key: key, Err: fmt.Errorf(format, args...)}
}

func (p *envParser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *envParser) blanks() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\r') {
		p.pos++
	}
}

func (p *envParser) toEOL() string {
	start := p.pos
	for p.pos < len(p.src) && p.src[p.pos] != '\n' {
		p.pos++
	}
	return strings.TrimSuffix(p.src[start:p.pos], "\r")
}

func (p *envParser) parse() error {
	for p.pos < len(p.src) {
		p.blanks()
		switch p.peek() {
		case 0:
			return nil
		case '\n':
			p.pos++
			p.line++
			continue
		case '#':
			p.toEOL()
			continue
		}
		line := p.line
		if rest := p.src[p.pos:]; strings.HasPrefix(rest, "export") && len(rest) > 6 && (rest[6] == ' ' || rest[6] == '\t') {
			p.pos += 6
			p.blanks()
		}
		start := p.pos
		for p.pos < len(p.src) && (isNameByte(p.src[p.pos]) && p.src[p.pos] != '-' || p.src[p.pos] == '.') {
			p.pos++
		}
		key := p.src[start:p.pos]
		p.blanks()
		if key == "" || key[0] >= '0' && key[0] <= '9' || p.peek() != '=' {
			return p.fail(line, "", "expected KEY=VALUE with KEY of letters, digits, _ and . (got %q)", clip(strings.TrimSpace(p.src[start:p.pos]+p.toEOL())))
		}
		p.pos++ // =
		eq := p.pos
		p.blanks()
		val, err := p.value(line, key, p.pos > eq)
		if err != nil {
			return err
		}
		if strings.IndexByte(val, 0) >= 0 {
			return &Error{File: p.path, Line: line, Key: key, Err: errNUL}
		}
		if _, seen := p.vals[key]; !seen {
			p.order = append(p.order, key)
		}
		p.vals[key] = val
	}
	return nil
}

// value reads the value at p.pos; spaced says blanks preceded it, which
// makes a leading # a comment rather than part of the value.
func (p *envParser) value(line int, key string, spaced bool) (string, error) {
	var val string
	switch q := p.peek(); q {
	case '\'', '"':
		p.pos++
		var b strings.Builder
		closed := false
		for p.pos < len(p.src) && !closed {
			c := p.src[p.pos]
			switch {
			case c == q:
				closed = true
			case c == '\n':
				p.line++
				b.WriteByte(c)
			case q == '"' && c == '\\' && p.pos+1 < len(p.src):
				p.pos++
				switch e := p.src[p.pos]; e {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case 'r':
					b.WriteByte('\r')
				case '"', '\\', '$':
					b.WriteByte(e)
				default:
					// Unknown escapes stay as written, as in dotenv, so a
					// Windows path "C:\dir" survives.
					b.WriteByte('\\')
					if e == '\n' {
						p.line++
					}
					b.WriteByte(e)
				}
			case q == '"' && c == '$':
				// A reference ends inside the quotes and on this line.
				ref := p.src[p.pos:]
				if i := strings.IndexAny(ref, "\"\n"); i >= 0 {
					ref = ref[:i]
				}
				s, n, err := p.expand(ref)
				if err != nil {
					return "", p.fail(line, key, "%v", err)
				}
				b.WriteString(s)
				p.pos += n - 1
			default:
				b.WriteByte(c)
			}
			p.pos++
		}
		if !closed {
			return "", p.fail(line, key, "unterminated %c-quoted value; add the closing %c", q, q)
		}
		val = b.String()
		p.blanks()
		if c := p.peek(); c == '#' {
			p.toEOL()
		} else if c != 0 && c != '\n' {
			return "", p.fail(p.line, key, "unexpected %q after the closing quote; quote the whole value", clip(p.toEOL()))
		}
	default:
		raw := p.toEOL()
		if spaced && strings.HasPrefix(raw, "#") {
			raw = ""
		}
		for i := 1; i < len(raw); i++ {
			if raw[i] == '#' && (raw[i-1] == ' ' || raw[i-1] == '\t') {
				raw = raw[:i]
				break
			}
		}
		raw = strings.TrimSpace(raw)
		var b strings.Builder
		for i := 0; i < len(raw); {
			if raw[i] != '$' {
				b.WriteByte(raw[i])
				i++
				continue
			}
			s, n, err := p.expand(raw[i:])
			if err != nil {
				return "", p.fail(line, key, "%v", err)
			}
			b.WriteString(s)
			i += n
		}
		val = b.String()
	}
	return val, nil
}

var errUnterminatedRef = errors.New("unterminated ${ in value; close it with }")

// expand expands the reference at the start of s (which starts with '$') and
// returns its value and length. A '$' that starts no reference stands for
// itself.
func (p *envParser) expand(s string) (string, int, error) {
	name, end, ok := varRef(s, 0)
	if !ok {
		if strings.HasPrefix(s, "${") {
			if !strings.Contains(s, "}") {
				return "", 0, errUnterminatedRef
			}
			return "", 0, fmt.Errorf("%q is not a variable name; use letters, digits and _", clip(s[2:strings.IndexByte(s, '}')]))
		}
		return "$", 1, nil
	}
	if v, ok := p.vals[name]; ok {
		return v, end, nil
	}
	v, _ := lookupOK(p.lookup, name)
	return v, end, nil
}
