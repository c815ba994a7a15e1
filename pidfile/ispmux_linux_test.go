package pidfile

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/pmux/pmux/internal/proc"
)

func TestIsPmux(t *testing.T) {
	tests := []struct {
		name string
		pid  int
		want bool
	}{
		{"pmux-named helper", startHelper(t, "pmux-test-helper"), true},
		{"path to pmux", startHelper(t, "/usr/local/bin/pmux"), true},
		{"other helper", startHelper(t, "sleeper"), false},
		{"pmux in an argument only", startHelper(t, "sleeper", "-c", "pmux.toml"), false},
		{"this test binary", os.Getpid(), false},
		{"reaped", deadPid(t), false},
		{"zero", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsPmux(tt.pid); got != tt.want {
				t.Errorf("IsPmux(%d) = %v, want %v", tt.pid, got, tt.want)
			}
		})
	}
}

// TestLooksLikePmux drives the /proc reading branches with a fake /proc.
func TestLooksLikePmux(t *testing.T) {
	alive, dead := os.Getpid(), deadPid(t)
	tests := []struct {
		name    string
		pid     int
		cmdline string // "-": no file
		exe     string // "-": no link; "/dir": a directory, so readlink fails with EINVAL
		noDir   bool   // /proc/<pid> invisible
		want    bool
	}{
		{"argv0 pmux", alive, "/usr/bin/pmux\x00run\x00", "/usr/bin/pmux", false, true},
		{"argv0 relative", alive, "./pmux\x00", "-", false, true},
		{"exe pmux, argv0 renamed", alive, "web\x00", "/opt/pmux", false, true},
		{"exe replaced by upgrade", alive, "-", "/usr/bin/pmux (deleted)", false, true},
		{"ruby", alive, "ruby\x00app.rb\x00", "/usr/bin/ruby", false, false},
		{"pmux only in args", alive, "vim\x00pmux.toml\x00", "/usr/bin/vim", false, false},
		{"pmux only in a directory", alive, "/opt/pmux/bin/app\x00", "/opt/pmux/bin/app", false, false},
		{"exe unreadable, argv0 not pmux", alive, "ruby\x00", "/dir", false, false},
		{"exe and argv unreadable", alive, "-", "/dir", false, true},
		{"zombie or kernel thread", alive, "", "-", false, false},
		{"hidden by hidepid", alive, "-", "-", true, true},
		{"gone", dead, "-", "-", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, strconv.Itoa(tt.pid))
			if !tt.noDir {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if tt.cmdline != "-" {
					writeRaw(t, filepath.Join(dir, "cmdline"), tt.cmdline)
				}
				switch tt.exe {
				case "-":
				case "/dir":
					if err := os.Mkdir(filepath.Join(dir, "exe"), 0o755); err != nil {
						t.Fatal(err)
					}
				default:
					if err := os.Symlink(tt.exe, filepath.Join(dir, "exe")); err != nil {
						t.Fatal(err)
					}
				}
			}
			if got := looksLikePmux(proc.FS(root), tt.pid); got != tt.want {
				t.Errorf("looksLikePmux = %v, want %v", got, tt.want)
			}
		})
	}
}
