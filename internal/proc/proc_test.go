package proc

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The samples were recorded from a live kernel: stat-comm-parens is a copy
// of sleep(1) renamed "w) (x y)", whose command name holds spaces and both
// parentheses.
func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		want    Stat
		wantErr bool
	}{
		{"comm with spaces and parentheses", readSample(t, "stat-comm-parens"),
			Stat{State: 'S', PPID: 8955, Pgrp: 8949, Session: 2415, UTime: 0, STime: 0, StartTime: 4450140}, false},
		{"shell", readSample(t, "stat-bash"),
			Stat{State: 'S', PPID: 2414, Pgrp: 2415, Session: 2415, UTime: 0, STime: 4, StartTime: 4436761}, false},
		{"zombie", []byte("77 (a)b) Z 1 77 77 0 -1 4194380 0 0 0 0 12 34 0 0 20 0 1 0 999 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"),
			Stat{State: 'Z', PPID: 1, Pgrp: 77, Session: 77, UTime: 12, STime: 34, StartTime: 999}, false},
		{"short", readSample(t, "stat-short"), Stat{}, true},
		{"no command name", []byte("1 init S 0 1 1"), Stat{}, true},
		{"not a number", []byte("1 (x) S 0 one 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0"), Stat{}, true},
		{"empty", nil, Stat{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStat(tt.data)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseStat error = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr && !errors.Is(err, ErrMalformed) && !errors.Is(err, strconv.ErrSyntax) {
				t.Errorf("ParseStat error = %v, want ErrMalformed or a number syntax error", err)
			}
			if got != tt.want {
				t.Errorf("ParseStat = %+v, want %+v", got, tt.want)
			}
			if got.Zombie() != (tt.want.State == 'Z') {
				t.Errorf("Zombie() = %v for state %q", got.Zombie(), got.State)
			}
		})
	}
}

func TestParseStatm(t *testing.T) {
	pages, err := ParseStatm(readSample(t, "statm"))
	if err != nil || pages != 455 {
		t.Errorf("ParseStatm = %d, %v; want 455", pages, err)
	}
	for _, bad := range []string{"", "730", "730 x 427"} {
		if _, err := ParseStatm([]byte(bad)); err == nil {
			t.Errorf("ParseStatm(%q) succeeded", bad)
		}
	}
}

func TestParseStatus(t *testing.T) {
	s := ParseStatus(readSample(t, "status"))
	if s["Name"] != "w) (x y)" {
		t.Errorf("Name = %q", s["Name"])
	}
	if rss, err := s.Int("VmRSS"); err != nil || rss != 1820 {
		t.Errorf("VmRSS = %d, %v; want 1820", rss, err)
	}
	if n, err := s.Int("voluntary_ctxt_switches"); err != nil || n != 1 {
		t.Errorf("voluntary_ctxt_switches = %d, %v; want 1", n, err)
	}
	if _, err := s.Int("NoSuchKey"); !errors.Is(err, ErrMalformed) {
		t.Errorf("Int(NoSuchKey) error = %v, want ErrMalformed", err)
	}
	if uid, ok := s.EffectiveUID(); !ok || uid != 0 {
		t.Errorf("EffectiveUID = %d, %v; want 0, true", uid, ok)
	}
	if uid, ok := ParseStatus([]byte("Uid:\t1000\t1001\t1000\t1000\n")).EffectiveUID(); !ok || uid != 1001 {
		t.Errorf("EffectiveUID of real 1000 effective 1001 = %d, %v", uid, ok)
	}
	if _, ok := ParseStatus([]byte("Name:\tx\n")).EffectiveUID(); ok {
		t.Error("EffectiveUID without a Uid line succeeded")
	}
}

func TestParseMaps(t *testing.T) {
	maps := ParseMaps(readSample(t, "maps"))
	if len(maps) < 4 {
		t.Fatalf("ParseMaps found %d mappings", len(maps))
	}
	first := maps[0]
	if first.Path != "/tmp/rec/w) (x y)" || first.Perms != "r--p" || first.Start != 0x55d080386000 || first.End != 0x55d080388000 {
		t.Errorf("first mapping = %+v", first)
	}
	anon := 0
	for _, m := range maps {
		if m.Path == "" {
			anon++
		}
	}
	if anon == 0 {
		t.Error("no anonymous mapping parsed")
	}
}

func TestSplitNUL(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"pmux\x00run\x00", []string{"pmux", "run"}},
		{"unicorn master -c x\x00\x00\x00", []string{"unicorn master -c x"}},
		{"A=1\x00B=\x00", []string{"A=1", "B="}},
	}
	for _, tt := range tests {
		got := splitNUL([]byte(tt.in))
		if len(got) != len(tt.want) {
			t.Errorf("splitNUL(%q) = %q, want %q", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("splitNUL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		}
	}
}

func FuzzParseStat(f *testing.F) {
	for _, name := range []string{"stat-comm-parens", "stat-bash", "stat-short"} {
		f.Add(readSample(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseStat(data)
		if err != nil && s != (Stat{}) {
			t.Errorf("ParseStat failed with a non-zero Stat %+v", s)
		}
	})
}
