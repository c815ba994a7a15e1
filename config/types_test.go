package config

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		str     string
		wantErr string
	}{
		{in: "30s", want: 30 * time.Second, str: "30s"},
		{in: "2m", want: 2 * time.Minute, str: "2m"},
		{in: "6h", want: 6 * time.Hour, str: "6h"},
		{in: "1h30m", want: 90 * time.Minute, str: "1h30m"},
		{in: "1h0m5s", want: time.Hour + 5*time.Second, str: "1h0m5s"},
		{in: "250ms", want: 250 * time.Millisecond, str: "250ms"},
		{in: "0", want: 0, str: "0s"},
		{in: "off", want: 0, str: "0s"},
		{in: " 5s ", want: 5 * time.Second, str: "5s"},
		{in: "-1s", want: -time.Second, str: "-1s"}, // parses; Validate rejects where it matters
		{in: "30", wantErr: `invalid duration "30": write a number and a unit`},
		{in: "1d", wantErr: "invalid duration"},
		{in: "", wantErr: "invalid duration"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var d Duration
			err := d.Set(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || d.Std() != tt.want || d.String() != tt.str {
				t.Fatalf("got %v %q %v, want %v %q", d.Std(), d.String(), err, tt.want, tt.str)
			}
			var back Duration
			if err := back.UnmarshalText([]byte(d.String())); err != nil || back != d {
				t.Fatalf("round trip: %v %v", back, err)
			}
		})
	}
}

func TestSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		str     string
		wantErr string
	}{
		{in: "1048576", want: 1 << 20, str: "1MiB"},
		{in: "512MB", want: 512e6, str: "512MB"},
		{in: "512mb", want: 512e6, str: "512MB"},
		{in: "1GiB", want: 1 << 30, str: "1GiB"},
		{in: "512M", want: 512 << 20, str: "512MiB"},
		{in: "2k", want: 2048, str: "2KiB"},
		{in: "1.5GiB", want: 3 << 29, str: "1536MiB"},
		{in: "1.5KB", want: 1500, str: "1500"},
		{in: "100 MB", want: 100e6, str: "100MB"},
		{in: "7b", want: 7, str: "7"},
		{in: "0", want: 0, str: "0"},
		{in: "off", want: 0, str: "0"},
		{in: "1TB", want: 1e12, str: "1TB"},
		{in: "8589934592GiB", wantErr: "larger than"},
		{in: "8589934591GiB", want: 8589934591 << 30, str: "8589934591GiB"},
		{in: "-1MB", wantErr: "invalid size"},
		{in: "1.MB", wantErr: "invalid size"},
		{in: ".5MB", wantErr: "invalid size"},
		{in: "1.2.3MB", wantErr: "invalid size"},
		{in: "12 parsecs", wantErr: "invalid size"},
		{in: "", wantErr: "invalid size"},
		{in: strings.Repeat("9", 100), wantErr: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var s Size
			err := s.Set(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || int64(s) != tt.want || s.String() != tt.str {
				t.Fatalf("got %d %q %v, want %d %q", s, s.String(), err, tt.want, tt.str)
			}
			var back Size
			if err := back.UnmarshalText([]byte(s.String())); err != nil || back != s {
				t.Fatalf("round trip via %q: %d %v", s.String(), back, err)
			}
		})
	}
	if got := Size(1500).String(); got != "1500" {
		// 1500 is 1.5KB, but only whole units print: 1500 bytes.
		t.Errorf("Size(1500) = %q", got)
	}
}

func TestReady(t *testing.T) {
	tests := []struct {
		in      string
		want    Ready
		wantErr string
	}{
		{in: "none", want: Ready{Mode: ReadyNone}},
		{in: "notify", want: Ready{Mode: ReadyNotify}},
		{in: "delay=2s", want: Ready{Mode: ReadyDelay, Delay: 2 * time.Second}},
		{in: "delay=0s", want: Ready{Mode: ReadyDelay}},
		{in: "delay=1m30s", want: Ready{Mode: ReadyDelay, Delay: 90 * time.Second}},
		{in: "delay", wantErr: `delay needs a duration`},
		{in: "delay=-1s", wantErr: "non-negative duration"},
		{in: "delay=soon", wantErr: "non-negative duration"},
		{in: "Notify", wantErr: `use "auto", "none", "notify" or "delay=DUR"`},
		{in: "auto", want: Ready{Mode: ReadyAuto}},
		{in: "", wantErr: `invalid ready mode ""`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var r Ready
			err := r.Set(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || r != tt.want {
				t.Fatalf("got %+v %v, want %+v", r, err, tt.want)
			}
			var back Ready
			if err := back.UnmarshalText([]byte(r.String())); err != nil || back != r {
				t.Fatalf("round trip via %q: %+v %v", r.String(), back, err)
			}
		})
	}
	if (Ready{}).String() != "auto" {
		t.Error("zero Ready should print as auto, the default with sockets")
	}
	for _, tt := range []struct {
		p    Pool
		want string
	}{
		{Pool{Bind: []string{"127.0.0.1:0"}}, "auto"},
		{Pool{}, "none"},
		{Pool{Ready: Ready{Mode: ReadyNotify}, Bind: []string{"127.0.0.1:0"}}, "notify"},
		{Pool{Ready: Ready{Mode: ReadyAuto}}, "auto"},
	} {
		if got := tt.p.EffectiveReady().String(); got != tt.want {
			t.Errorf("EffectiveReady of %+v = %s, want %s", tt.p, got, tt.want)
		}
	}
}

func TestParseWorkers(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr string
	}{
		{in: "4", want: 4},
		{in: "0", want: 0},
		{in: "1024", want: 1024},
		{in: "auto", want: min(runtime.NumCPU(), MaxWorkers)},
		{in: "1025", wantErr: "between 0 and 1024 (got 1025)"},
		{in: "-1", wantErr: "(got -1)"},
		{in: "four", wantErr: `invalid worker count "four"`},
		{in: "", wantErr: "invalid worker count"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, err := ParseWorkers(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || n != tt.want {
				t.Fatalf("got %d %v, want %d", n, err, tt.want)
			}
		})
	}
}

func TestParseUmask(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"0022", 0o22, true}, {"022", 0o22, true}, {"0o027", 0o27, true}, {"0777", 0o777, true}, {"0", 0, true},
		{"", 0, false}, {"0999", 0, false}, {"1000", 0, false}, {"0o", 0, false}, {"-1", 0, false}, {"22x", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseUmask(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseUmask(%q) = %o, %v; want %o ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestDefaultBind(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	tests := []struct {
		name   string
		lookup func(string) (string, bool)
		want   string
	}{
		{"PORT set", env(map[string]string{"PORT": "5000"}), "0.0.0.0:5000"},
		{"PORT empty", env(map[string]string{"PORT": ""}), "127.0.0.1:8000"},
		{"PORT unset", env(nil), "127.0.0.1:8000"},
		{"nil lookup", nil, "127.0.0.1:8000"},
	}
	for _, tt := range tests {
		if got := DefaultBind(tt.lookup); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}
