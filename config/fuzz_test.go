package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Seeds live in testdata/fuzz/<Target>; the good and bad example configs are
// added here as well, so the corpus grows with the examples.

func addFiles(f *testing.F, glob string) {
	files, _ := filepath.Glob(glob)
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// FuzzParse: Parse never panics; what it accepts validates, and prints as
// TOML that parses back to the same Config. The line index, which Parse only
// runs on valid TOML, must also survive any input.
func FuzzParse(f *testing.F) {
	addFiles(f, "testdata/good/*.toml")
	addFiles(f, "testdata/bad/*.toml")
	f.Fuzz(func(t *testing.T, data []byte) {
		indexLines(string(data))
		c, err := Parse("fuzz.toml", data)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error is %T, not *Error: %v", err, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate rejects: %v", err)
		}
		assertRoundTrip(t, c)
	})
}

// FuzzProcfile: never panics; accepted entries have valid, unique names and
// non-empty commands.
func FuzzProcfile(f *testing.F) {
	f.Add([]byte("web: bundle exec puma -p $PORT\nworker: sidekiq\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseProcfile("Procfile", data)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error is %T, not *Error", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, e := range entries {
			if checkName(e.Name) != nil || seen[e.Name] || strings.TrimSpace(e.Command) == "" || e.Line < 1 {
				t.Fatalf("bad entry %+v", e)
			}
			seen[e.Name] = true
		}
	})
}

// FuzzEnvFile: never panics; every accepted entry is KEY=VALUE with a key
// a process environment can carry.
func FuzzEnvFile(f *testing.F) {
	f.Add([]byte("export A=1\nB=\"x\\n${A}\"\nC='lit $A'\n# c\nD=v # c\n"))
	lookup := func(k string) (string, bool) {
		if k == "HOME" {
			return "/home/x", true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := ParseEnvFile(".env", data, lookup)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error is %T, not *Error", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, kv := range env {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || checkEnvEntry(k, v) != nil || seen[k] {
				t.Fatalf("bad entry %q in %q", kv, env)
			}
			seen[k] = true
		}
	})
}

// FuzzFormation: never panics; accepted counts are in range.
func FuzzFormation(f *testing.F) {
	f.Add("web=2,jobs=1")
	f.Add("all=2")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseFormation(s)
		if err != nil {
			return
		}
		for name, n := range m {
			if checkName(name) != nil || n < 0 || n > MaxWorkers {
				t.Fatalf("bad entry %q=%d", name, n)
			}
		}
	})
}

// FuzzValues: the text forms of Size, Duration and Ready never panic and
// round-trip through String.
func FuzzValues(f *testing.F) {
	for _, s := range []string{"512MB", "1.5GiB", "1048576", "30s", "1h30m", "delay=2s", "notify", "off"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var sz Size
		if sz.Set(s) == nil {
			var back Size
			if err := back.Set(sz.String()); err != nil || back != sz {
				t.Fatalf("Size %q -> %q -> %d, %v", s, sz.String(), back, err)
			}
		}
		var d Duration
		if d.Set(s) == nil {
			var back Duration
			if err := back.Set(d.String()); err != nil || back != d {
				t.Fatalf("Duration %q -> %q -> %v, %v", s, d.String(), back, err)
			}
		}
		var r Ready
		if r.Set(s) == nil {
			var back Ready
			if err := back.Set(r.String()); err != nil || back != r {
				t.Fatalf("Ready %q -> %q -> %+v, %v", s, r.String(), back, err)
			}
		}
		_, _ = ParseWorkers(s)
		_, _ = ParseUmask(s)
	})
}
