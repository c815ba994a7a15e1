package logs

import (
	"strings"
	"testing"
)

func TestPrefix(t *testing.T) {
	tests := []struct {
		name      string
		pool      string
		slot, pid int
		color     bool
		want      string
	}{
		{name: "plain", pool: "web", slot: 0, pid: 12345, want: "web.0 12345 | "},
		{name: "other pool", pool: "jobs", slot: 3, pid: 7, want: "jobs.3 7 | "},
		{name: "colour", pool: "web", slot: 0, pid: 12345, color: true,
			want: poolColor("web") + "web.0 12345 |" + colorReset + " "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Prefix(tt.pool, tt.slot, tt.pid, tt.color); got != tt.want {
				t.Errorf("Prefix = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestProcfilePrefix(t *testing.T) {
	tests := []struct {
		name  string
		pool  string
		index int
		color bool
		width int
		want  string
	}{
		{name: "no padding", pool: "web", index: 1, want: "web.1 | "},
		{name: "padded", pool: "web", index: 1, width: 8, want: "web.1    | "},
		{name: "longest", pool: "worker", index: 1, width: 8, want: "worker.1 | "},
		{name: "too long not cut", pool: "scheduler", index: 12, width: 8, want: "scheduler.12 | "},
		{name: "runes not bytes", pool: "wéb", index: 1, width: 6, want: "wéb.1  | "},
		{name: "colour", pool: "web", index: 2, color: true, width: 6,
			want: poolColor("web") + "web.2  |" + colorReset + " "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ProcfilePrefix(tt.pool, tt.index, tt.color, tt.width); got != tt.want {
				t.Errorf("ProcfilePrefix = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPoolColorStable: a pool's colour depends on its name alone and pools
// spread over the palette.
func TestPoolColorStable(t *testing.T) {
	pools := []string{"web", "worker", "jobs", "clock", "release", "scheduler", "mailer", "api"}
	used := map[string]bool{}
	for _, p := range pools {
		c := poolColor(p)
		if c != poolColor(p) {
			t.Fatalf("colour of %q changed between calls", p)
		}
		if !strings.HasPrefix(c, "\x1b[") || strings.Contains(c, "31m") {
			t.Errorf("colour of %q = %q", p, c)
		}
		used[c] = true
	}
	if len(used) < 3 {
		t.Errorf("%d pools share %d colours", len(pools), len(used))
	}
	// Pin one value so a change of hash or palette is a visible decision.
	if got := poolColor("web"); got != pinnedWebColor {
		t.Errorf(`poolColor("web") = %q, want %q`, got, pinnedWebColor)
	}
}

// pinnedWebColor is bright cyan: FNV-1a of "web" modulo the palette size.
const pinnedWebColor = "\x1b[96m"
