package config

import (
	"bytes"
	"encoding"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MarshalTOML writes c as a TOML document that Parse reads back to the same
// configuration; it is what "pmux check" prints. Every key is written, and
// every pool in full with the top-level defaults already applied, so the
// output is the resolved config with nothing left implicit. Top-level pool
// defaults are written only when there are no pools, the one case where
// nothing else carries them. Invalid UTF-8, which TOML cannot hold, is
// written as U+FFFD.
func (c *Config) MarshalTOML() ([]byte, error) {
	var b bytes.Buffer
	cv := reflect.ValueOf(c).Elem()
	for _, f := range masterFields {
		switch {
		case f.key == "signals":
			if len(c.SignalOverrides) == 0 {
				writeKV(&b, f.key, cv.Field(f.index))
			}
		case strings.Contains(f.key, ".") || f.key == "log" || f.key == "pool":
		default:
			writeKV(&b, f.key, cv.Field(f.index))
		}
	}
	if len(c.Pools) == 0 {
		pv := reflect.ValueOf(c.PoolDefaults)
		for _, f := range poolFields {
			if !isPoolDefaultKey(f.key) || f.key == "command" && len(c.PoolDefaults.Command) == 0 ||
				f.key == "ready" && c.PoolDefaults.Ready.Mode == "" {
				continue // unset: each pool's default depends on its binds
			}
			writeKV(&b, f.key, pv.Field(f.index))
		}
	}
	if len(c.SignalOverrides) > 0 {
		b.WriteString("\n[signals]\n")
		b.WriteString("profile = " + tomlString(c.Signals) + "\n")
		for _, k := range slices.Sorted(maps.Keys(c.SignalOverrides)) {
			b.WriteString(tomlKey(k) + " = " + tomlString(c.SignalOverrides[k]) + "\n")
		}
	}
	b.WriteString("\n[log]\n")
	lv := reflect.ValueOf(c.Log)
	for _, f := range logFields {
		writeKV(&b, f.key, lv.Field(f.index))
	}
	for _, p := range c.Pools {
		b.WriteString("\n[[pool]]\n")
		p.Ready = p.EffectiveReady()
		pv := reflect.ValueOf(p)
		for _, f := range poolFields {
			writeKV(&b, f.key, pv.Field(f.index))
		}
	}
	return b.Bytes(), nil
}

func writeKV(b *bytes.Buffer, key string, v reflect.Value) {
	b.WriteString(tomlKey(key) + " = " + tomlValue(v) + "\n")
}

func tomlValue(v reflect.Value) string {
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		t, _ := m.MarshalText()
		return tomlString(string(t))
	}
	switch v.Kind() {
	case reflect.String:
		return tomlString(v.String())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = tomlString(v.Index(i).String())
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.Map:
		m := v.Interface().(map[string]string)
		parts := make([]string, 0, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			parts = append(parts, tomlKey(k)+" = "+tomlString(m[k]))
		}
		if len(parts) == 0 {
			return "{}"
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	}
	panic(fmt.Sprintf("config: no TOML encoding for %s", v.Type())) // schema and encoder out of step: a test catches it
}

func tomlKey(k string) string {
	if isBareKey(k) {
		return k
	}
	return tomlString(k)
}

// tomlString quotes s as a TOML basic string. strconv.Quote is not enough:
// TOML 1.0 has no \x escape and no \a or \v.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				b.WriteRune(utf8.RuneError)
				continue
			}
		}
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
