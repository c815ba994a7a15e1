package config

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Load reads the TOML file at path and returns it decoded over Default() and
// validated. Every error is an *Error naming the file, and where there is
// one the line and the key.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		cause := err
		var pe *fs.PathError
		if errors.As(err, &pe) {
			cause = pe.Err // the path is already in Error.File
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &Error{File: path, Err: fmt.Errorf("cannot read: %w; check the path given with -c", cause)}
		}
		return nil, &Error{File: path, Err: fmt.Errorf("cannot read: %w", cause)}
	}
	return Parse(path, data)
}

// Parse is Load without the read: it decodes data, naming path in errors and
// in Config.File.
//
// Decoding is strict. Keys must match exactly (no case folding), unknown
// keys and wrong types are errors, and each value is checked as it is
// decoded so that an error points at the line that wrote it, even for a
// top-level default that every pool inherits. Errors come in file order.
func Parse(path string, data []byte) (*Config, error) {
	raw, err := decodeTOML(data)
	if err != nil {
		e := &Error{File: path, Err: err}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			e.Line = pe.Position.Line
			e.Err = &kindError{kind: ErrSyntax, msg: "invalid TOML: " + pe.Message}
		}
		return nil, e
	}
	d := &decoder{file: path, lines: indexLines(string(data))}
	c := Default()
	c.File = path
	if err := d.config(&c, raw); err != nil {
		return nil, err
	}
	if err := c.validate(d.lines); err != nil {
		return nil, err
	}
	return &c, nil
}

// decodeTOML parses data into plain maps; the typed decoding is ours, so
// that it can be strict, ordered and precise about lines. The recover turns
// a parser bug into an error: bad input must never crash the master,
// least of all on a reload.
func decodeTOML(data []byte) (raw map[string]any, err error) {
	defer func() {
		if r := recover(); r != nil {
			raw, err = nil, kindf(ErrSyntax, fmt.Sprintf("invalid TOML: the parser failed (%v)", r))
		}
	}()
	raw = map[string]any{}
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

type decoder struct {
	file  string
	lines lineIndex
}

// errAt builds the error for key; the line is that of key or, failing that,
// of the nearest of its ancestors.
func (d *decoder) errAt(key string, ancestors []string, err error) *Error {
	return &Error{File: d.file, Line: d.lines.find(append([]string{key}, ancestors...)...), Key: key, Err: err}
}

// ordered returns the keys of a table in file order, so that the first error
// reported is the first one in the file. Ties (keys the line index could not
// place) fall back to name order, which keeps errors deterministic.
func (d *decoder) ordered(parent string, m map[string]any) []string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(d.lines[joinKey(parent, a)], d.lines[joinKey(parent, b)]), cmp.Compare(a, b))
	})
	return keys
}

func (d *decoder) config(c *Config, raw map[string]any) error {
	var (
		poolsRaw  any
		poolsSeen bool
	)
	cv := reflect.ValueOf(c).Elem()
	for _, k := range d.ordered("", raw) {
		v, key := raw[k], joinKey("", k)
		var err error
		switch f, isMaster := findField(masterFields, k); {
		case k == "signals":
			err = d.signals(c, v)
		case k == "log":
			err = d.log(&c.Log, v)
		case k == "pool":
			poolsRaw, poolsSeen = v, true
			if _, inline := v.([]any); !inline {
				// [[pool]] sections follow every top-level key, as TOML
				// requires, so the defaults are complete: decode them in
				// file order. pool = [...] may precede defaults; it waits.
				err = d.pools(c, v)
			}
		case isMaster && !strings.Contains(k, "."):
			if err = setValue(k, cv.Field(f.index), v); err == nil {
				err = checkMasterKey(k, c)
			}
			if err != nil {
				err = d.errAt(key, nil, err)
			}
		case isPoolDefaultKey(k):
			err = d.poolKey(&c.PoolDefaults, k, key, v, nil)
		default:
			err = d.errAt(key, nil, unknownKey(k, topLevelKeys(), topLevelHint(k)))
		}
		if err != nil {
			return err
		}
	}
	if _, inline := poolsRaw.([]any); inline {
		return d.pools(c, poolsRaw)
	}
	if !poolsSeen && len(c.PoolDefaults.Command) > 0 {
		// A file with a top-level command and no [[pool]] is one pool, as
		// "pmux run -- CMD" is.
		c.Pools = []Pool{c.PoolDefaults.Clone()}
	}
	return nil
}

// pools decodes the array of pool tables, each over the top-level defaults.
func (d *decoder) pools(c *Config, v any) error {
	tables, err := d.tables("pool", v)
	if err != nil {
		return err
	}
	for i, t := range tables {
		p := c.PoolDefaults.Clone()
		key := indexKey("pool", i)
		for _, k := range d.ordered(key, t) {
			if _, ok := findField(poolFields, k); !ok {
				return d.errAt(joinKey(key, k), []string{key, "pool"}, unknownKey(k, keysOf(poolFields), poolHint(k)))
			}
			if err := d.poolKey(&p, k, joinKey(key, k), t[k], []string{key, "pool"}); err != nil {
				return err
			}
		}
		c.Pools = append(c.Pools, p)
	}
	return nil
}

// tables accepts both spellings of an array of tables: [[pool]] sections
// and pool = [{...}, {...}].
func (d *decoder) tables(key string, v any) ([]map[string]any, error) {
	switch t := v.(type) {
	case []map[string]any:
		return t, nil
	case []any:
		out := make([]map[string]any, 0, len(t))
		for i, e := range t {
			m, ok := e.(map[string]any)
			if !ok {
				ek := indexKey(key, i)
				return nil, d.errAt(ek, []string{key}, typeErr("a table", e))
			}
			out = append(out, m)
		}
		return out, nil
	}
	return nil, d.errAt(key, nil, typeErr("an array of tables (write [[pool]] sections)", v))
}

// poolKey decodes one pool setting into p and checks it.
func (d *decoder) poolKey(p *Pool, k, key string, v any, ancestors []string) error {
	f, _ := findField(poolFields, k)
	fv := reflect.ValueOf(p).Elem().Field(f.index)
	if f.typ == envType {
		// env tables merge with the top-level env (entries here win): a
		// shared RAILS_ENV plus per-pool variables is the common case.
		m, ok := v.(map[string]any)
		if !ok {
			return d.errAt(key, ancestors, typeErr(`a table such as { RACK_ENV = "production" }`, v))
		}
		env := maps.Clone(p.Env)
		if env == nil {
			env = make(map[string]string, len(m))
		}
		for _, name := range d.ordered(key, m) {
			s, err := envValue(m[name])
			if err == nil {
				err = checkEnvEntry(name, s)
			}
			if err != nil {
				return d.errAt(joinKey(key, name), append([]string{key}, ancestors...), err)
			}
			env[name] = s
		}
		if len(env) == 0 {
			env = nil
		}
		p.Env = env
		return nil
	}
	err := setValue(k, fv, v)
	if err == nil {
		err = checkPoolKey(k, p)
	}
	if err != nil {
		return d.errAt(key, ancestors, err)
	}
	return nil
}

func envValue(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case int64, bool:
		return fmt.Sprint(t), nil
	case float64:
		return fmt.Sprint(t), nil
	}
	return "", typeErr("a string, number or boolean", v)
}

func (d *decoder) signals(c *Config, v any) error {
	switch t := v.(type) {
	case string:
		c.Signals = t
		if err := checkMasterKey("signals", c); err != nil {
			return d.errAt("signals", nil, err)
		}
		return nil
	case map[string]any:
		for _, k := range d.ordered("signals", t) {
			key := joinKey("signals", k)
			s, ok := t[k].(string)
			if !ok {
				want := `an action name such as "rolling_restart"`
				if k == "profile" {
					want = "a profile name"
				}
				return d.errAt(key, []string{"signals"}, typeErr(want, t[k]))
			}
			var err error
			if k == "profile" {
				c.Signals = s
				err = checkMasterKey("signals", c)
			} else {
				err = checkOverride(k, s)
				if c.SignalOverrides == nil {
					c.SignalOverrides = map[string]string{}
				}
				c.SignalOverrides[k] = s
			}
			if err != nil {
				return d.errAt(key, []string{"signals"}, err)
			}
		}
		return nil
	}
	return d.errAt("signals", nil, typeErr(`a profile name or a [signals] table`, v))
}

func (d *decoder) log(l *Log, v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return d.errAt("log", nil, typeErr("a [log] table", v))
	}
	lv := reflect.ValueOf(l).Elem()
	for _, k := range d.ordered("log", m) {
		key := joinKey("log", k)
		f, ok := findField(logFields, k)
		if !ok {
			return d.errAt(key, []string{"log"}, unknownKey(k, keysOf(logFields), ""))
		}
		err := setValue(k, lv.Field(f.index), m[k])
		if err == nil {
			err = checkLogKey(k, l)
		}
		if err != nil {
			return d.errAt(key, []string{"log"}, err)
		}
	}
	return nil
}

// setValue stores a TOML value into a schema field, checking its type.
func setValue(k string, fv reflect.Value, v any) error {
	switch fv.Type() {
	case durationType:
		s, ok := v.(string)
		if !ok {
			return typeErr(`a duration string such as "30s"`, v)
		}
		var d Duration
		if err := d.UnmarshalText([]byte(s)); err != nil {
			return err
		}
		fv.Set(reflect.ValueOf(d))
		return nil
	case sizeType:
		switch t := v.(type) {
		case int64:
			if t < 0 {
				return fmt.Errorf("must not be negative (got %d)", t)
			}
			fv.SetInt(t)
			return nil
		case string:
			var s Size
			if err := s.UnmarshalText([]byte(t)); err != nil {
				return err
			}
			fv.SetInt(int64(s))
			return nil
		}
		return typeErr(`a size such as "512MB" or a number of bytes`, v)
	case readyType:
		s, ok := v.(string)
		if !ok {
			return typeErr(`a string: "none", "notify" or "delay=DUR"`, v)
		}
		var r Ready
		if err := r.UnmarshalText([]byte(s)); err != nil {
			return err
		}
		fv.Set(reflect.ValueOf(r))
		return nil
	case stringsType:
		l, err := stringList(k, v)
		if err != nil {
			return err
		}
		fv.Set(reflect.ValueOf(l))
		return nil
	}
	switch fv.Kind() {
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			return typeErr("a string", v)
		}
		fv.SetString(s)
		return nil
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return typeErr("true or false", v)
		}
		fv.SetBool(b)
		return nil
	case reflect.Int: // workers, the only integer
		switch t := v.(type) {
		case int64:
			if err := checkWorkers(t); err != nil {
				return err
			}
			fv.SetInt(t)
			return nil
		case string:
			if t == "auto" {
				fv.SetInt(int64(autoWorkers()))
				return nil
			}
		}
		return typeErr(`an integer or "auto"`, v)
	}
	// Unreachable while every schema type is handled above; a test decodes
	// every key of Reference to keep it so.
	return fmt.Errorf("internal error: no decoder for %s", fv.Type())
}

// stringList decodes an array of strings. A single string is taken as a
// one-element list (gunicorn's bind = "..." habit), except for command,
// where it would be ambiguous between a program name and a shell line.
func stringList(k string, v any) ([]string, error) {
	want := "an array of strings"
	if k == "command" {
		want = `an array of strings such as ["bundle", "exec", "puma"] (for a shell line: ["sh", "-c", "..."])`
	}
	switch t := v.(type) {
	case string:
		if k != "command" {
			return []string{t}, nil
		}
	case []any:
		if len(t) == 0 {
			return nil, nil // an empty list means none, whichever way it was written
		}
		out := make([]string, len(t))
		for i, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, kindf(ErrType, fmt.Sprintf("must be %s; element %d is %s", want, i, describeTOML(e)))
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, typeErr(want, v)
}

func typeErr(want string, v any) error {
	return kindf(ErrType, fmt.Sprintf("must be %s, not %s", want, describeTOML(v)))
}

// describeTOML names a decoded TOML value's type, with the value when it is
// short enough to help.
func describeTOML(v any) string {
	switch t := v.(type) {
	case string:
		if len(t) > 40 {
			return fmt.Sprintf("a string (%q...)", t[:40])
		}
		return fmt.Sprintf("a string (%q)", t)
	case int64:
		return fmt.Sprintf("an integer (%d)", t)
	case float64:
		return fmt.Sprintf("a float (%v)", t)
	case bool:
		return fmt.Sprintf("a boolean (%v)", t)
	case time.Time:
		return "a date-time"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("a %T", v)
}

func keysOf(fs []field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.key
	}
	return out
}

func topLevelKeys() []string {
	var keys []string
	for _, f := range masterFields {
		if !strings.Contains(f.key, ".") {
			keys = append(keys, f.key)
		}
	}
	for _, f := range poolFields {
		if isPoolDefaultKey(f.key) {
			keys = append(keys, f.key)
		}
	}
	return keys
}

func topLevelHint(k string) string {
	if k == "name" {
		return "name belongs in a [[pool]] table"
	}
	return ""
}

// poolHint catches the classic TOML slip: a top-level key written below a
// [[pool]] header belongs to that pool.
func poolHint(k string) string {
	if _, ok := findField(masterFields, k); ok || k == "log" || k == "signals" {
		return k + " is a top-level key but is written inside [[pool]]: move it above the first table header"
	}
	return ""
}

// unknownKey words ErrUnknownKey with a fix: the caller's hint, or the
// nearest valid key.
func unknownKey(k string, valid []string, hint string) error {
	msg := "unknown key"
	switch {
	case hint != "":
		msg += "; " + hint
	case suggest(k, valid) != "":
		msg += fmt.Sprintf("; did you mean %q?", suggest(k, valid))
	default:
		msg += "; valid keys here: " + strings.Join(valid, ", ")
	}
	return kindf(ErrUnknownKey, msg)
}

// suggest returns the valid key nearest to k, if it is near enough to be the
// intended one: the same up to case and -/_, or within two edits.
func suggest(k string, valid []string) string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	best, bestDist := "", 3
	for _, v := range valid {
		if norm(v) == norm(k) {
			return v
		}
		if d := editDistance(k, v); d < bestDist && d < len(v) {
			best, bestDist = v, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64 // not a typo of any key, and keeps the cost bounded
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
