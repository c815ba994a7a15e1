package logs

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestValidateOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string // substring; "" means valid
	}{
		{name: "zero value", opts: Options{}},
		{name: "auto", opts: Options{Format: "auto", Level: "info"}},
		{name: "console", opts: Options{Format: "console", Level: "trace"}},
		{name: "json", opts: Options{Format: "json", Level: "error"}},
		{name: "upper case", opts: Options{Format: "JSON", Level: "DEBUG"}},
		{name: "warn", opts: Options{Level: "warn"}},
		{name: "bad format", opts: Options{Format: "xml"}, wantErr: `log format "xml": invalid value: want auto, console or json`},
		{name: "bad level", opts: Options{Level: "loud"}, wantErr: `log level "loud": invalid value: want trace, debug, info, warn or error`},
		{name: "fatal refused", opts: Options{Level: "fatal"}, wantErr: `log level "fatal"`},
		{name: "disabled refused", opts: Options{Level: "disabled"}, wantErr: `log level "disabled"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateOptions(tt.opts)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateOptions = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ValidateOptions = %v, want error containing %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidOption) {
				t.Errorf("error %v does not wrap ErrInvalidOption", err)
			}
		})
	}
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in   string
		want zerolog.Level
	}{
		{"", zerolog.InfoLevel},
		{"trace", zerolog.TraceLevel},
		{"debug", zerolog.DebugLevel},
		{"info", zerolog.InfoLevel},
		{"Warn", zerolog.WarnLevel},
		{"error", zerolog.ErrorLevel},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseLevel(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("parseLevel(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

// newToFile builds a logger whose destination is a fresh log file (never a
// terminal) and returns it with the file's path.
func newToFile(t *testing.T, opts Options) (zerolog.Logger, string) {
	t.Helper()
	opts.File = filepath.Join(t.TempDir(), "pmux.log")
	log, f, err := New(opts, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if f == nil || f.Path() != opts.File {
		t.Fatalf("New returned file %v, want one at %s", f, opts.File)
	}
	t.Cleanup(func() { f.Close() })
	return log, opts.File
}

func TestNewFormatSelection(t *testing.T) {
	tests := []struct {
		name     string
		format   string
		wantJSON bool
	}{
		{name: "auto off a terminal is JSON", format: "auto", wantJSON: true},
		{name: "empty is auto", format: "", wantJSON: true},
		{name: "json", format: "json", wantJSON: true},
		{name: "console forced", format: "console", wantJSON: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, path := newToFile(t, Options{Format: tt.format})
			log.Info().Str("event", "worker_spawned").Str("pool", "web").Int("pid", 42).Msg("spawned")
			out := readFile(t, path)
			var rec map[string]any
			isJSON := json.Unmarshal([]byte(out), &rec) == nil
			if isJSON != tt.wantJSON {
				t.Fatalf("output %q: JSON = %v, want %v", out, isJSON, tt.wantJSON)
			}
			if strings.Contains(out, "\x1b[") {
				t.Errorf("colour codes off a terminal: %q", out)
			}
			if !tt.wantJSON {
				for _, want := range []string{"INF", "spawned", "event=worker_spawned", "pool=web", "pid=42"} {
					if !strings.Contains(out, want) {
						t.Errorf("console output %q lacks %q", out, want)
					}
				}
				// The date stays in console text written to a file.
				if !strings.Contains(out, time.Now().Format("2006-01-02T")) {
					t.Errorf("console output %q lacks the date", out)
				}
				return
			}
			if rec["event"] != "worker_spawned" || rec["pool"] != "web" || rec["pid"] != float64(42) ||
				rec["level"] != "info" || rec["message"] != "spawned" {
				t.Errorf("record = %v", rec)
			}
			ts, ok := rec["time"].(string)
			if !ok {
				t.Fatalf("no time field in %v", rec)
			}
			if _, err := time.Parse(stampLayout, ts); err != nil {
				t.Errorf("time %q: %v", ts, err)
			}
		})
	}
}

func TestNewLevel(t *testing.T) {
	tests := []struct {
		level string
		want  []string // messages that get through, of trace..error
	}{
		{level: "trace", want: []string{"trace", "debug", "info", "warn", "error"}},
		{level: "debug", want: []string{"debug", "info", "warn", "error"}},
		{level: "", want: []string{"info", "warn", "error"}},
		{level: "warn", want: []string{"warn", "error"}},
		{level: "error", want: []string{"error"}},
	}
	for _, tt := range tests {
		t.Run("level="+tt.level, func(t *testing.T) {
			log, path := newToFile(t, Options{Format: "json", Level: tt.level})
			log.Trace().Msg("trace")
			log.Debug().Msg("debug")
			log.Info().Msg("info")
			log.Warn().Msg("warn")
			log.Error().Msg("error")
			var got []string
			for line := range strings.Lines(readFile(t, path)) {
				var rec struct{ Message string }
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("line %q: %v", line, err)
				}
				got = append(got, rec.Message)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewStderrAndErrors(t *testing.T) {
	// A pipe as stderr: not a terminal, so auto is JSON and no File is made.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	log, f, err := New(Options{}, w)
	if err != nil {
		t.Fatal(err)
	}
	if f != nil {
		t.Errorf("New without File returned a File")
	}
	log.Info().Str("event", "started").Msg("")
	w.Close()
	var rec map[string]any
	if err := json.NewDecoder(r).Decode(&rec); err != nil {
		t.Fatal(err)
	}
	if rec["event"] != "started" {
		t.Errorf("record = %v", rec)
	}

	if _, _, err := New(Options{Level: "chatty"}, os.Stderr); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("New with a bad level = %v, want ErrInvalidOption", err)
	}
	_, _, err = New(Options{File: filepath.Join(t.TempDir(), "no", "such", "pmux.log")}, os.Stderr)
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "log file: open ") {
		t.Errorf("New with an unopenable file = %v", err)
	}
}

// TestNewLogFileReopen: the File New returns is the logger's destination,
// so reopening it moves the log to the new file.
func TestNewLogFileReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pmux.log")
	log, f, err := New(Options{Format: "json", File: path}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	log.Info().Msg("one")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	log.Info().Msg("two")
	if old := readFile(t, path+".1"); !strings.Contains(old, `"one"`) || strings.Contains(old, `"two"`) {
		t.Errorf("rotated log = %q", old)
	}
	if cur := readFile(t, path); !strings.Contains(cur, `"two"`) || strings.Contains(cur, `"one"`) {
		t.Errorf("new log = %q", cur)
	}
}
