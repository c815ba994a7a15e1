package logs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// Options selects pmux's own log: the --log-format, --log-level and
// --log-file flags (and their TOML keys).
type Options struct {
	// Format is "auto" (or empty), "console" or "json". Auto means console
	// when the destination is a terminal, JSON otherwise.
	Format string
	// Level is "trace", "debug", "info" (the default when empty), "warn" or
	// "error", in any case.
	Level string
	// File is the log file pmux owns and reopens on reopen_logs; empty means
	// the stderr passed to New.
	File string
}

// ErrInvalidOption is wrapped by every ValidateOptions error, so a caller can
// map a bad log flag to the usage/config exit code with errors.Is.
var ErrInvalidOption = errors.New("invalid value")

const (
	formatAuto    = "auto"
	formatConsole = "console"
	formatJSON    = "json"
)

// levels is the whole accepted set; zerolog also knows fatal, panic and
// disabled, which make no sense for a supervisor that must keep logging.
var levels = map[string]zerolog.Level{
	"trace": zerolog.TraceLevel,
	"debug": zerolog.DebugLevel,
	"info":  zerolog.InfoLevel,
	"warn":  zerolog.WarnLevel,
	"error": zerolog.ErrorLevel,
}

// ValidateOptions checks Format and Level without opening anything. The
// error names the bad value and the choices.
func ValidateOptions(opts Options) error {
	if _, err := parseFormat(opts.Format); err != nil {
		return err
	}
	_, err := parseLevel(opts.Level)
	return err
}

func parseFormat(s string) (string, error) {
	switch f := strings.ToLower(s); f {
	case "", formatAuto:
		return formatAuto, nil
	case formatConsole, formatJSON:
		return f, nil
	}
	return "", fmt.Errorf("log format %q: %w: want auto, console or json", s, ErrInvalidOption)
}

func parseLevel(s string) (zerolog.Level, error) {
	if s == "" {
		return zerolog.InfoLevel, nil
	}
	if l, ok := levels[strings.ToLower(s)]; ok {
		return l, nil
	}
	return zerolog.NoLevel, fmt.Errorf("log level %q: %w: want trace, debug, info, warn or error", s, ErrInvalidOption)
}

// New builds pmux's own logger. Auto format means console when the
// destination is a terminal, else JSON; console output is coloured only on a
// terminal. It returns the *File when Options.File is set (so reopen_logs can
// reach it, and the caller closes it at exit), else nil. Every record is one
// Write to the destination.
func New(opts Options, stderr *os.File) (zerolog.Logger, *File, error) {
	format, err := parseFormat(opts.Format)
	if err != nil {
		return zerolog.Nop(), nil, err
	}
	level, err := parseLevel(opts.Level)
	if err != nil {
		return zerolog.Nop(), nil, err
	}

	var (
		out  io.Writer = stderr
		tty            = IsTerminal(stderr)
		file *File
	)
	if opts.File != "" {
		if file, err = OpenFile(opts.File); err != nil {
			return zerolog.Nop(), nil, fmt.Errorf("log file: %w", err)
		}
		out, tty = file, file.isTerminal()
	}

	if format == formatConsole || (format == formatAuto && tty) {
		timeFormat := "15:04:05.000"
		if !tty {
			// Console text in a file is read later: keep the date.
			timeFormat = stampLayout
		}
		out = zerolog.ConsoleWriter{Out: out, NoColor: !tty, TimeFormat: timeFormat}
	}

	// zerolog's process-wide floor defaults to debug, which would swallow
	// trace events whatever the logger's own level; lowering the floor
	// changes nothing else, since every logger still applies its own level.
	if level < zerolog.GlobalLevel() {
		zerolog.SetGlobalLevel(level)
	}
	return zerolog.New(out).Level(level).Hook(stampHook{}), file, nil
}

// stampLayout is RFC 3339 with milliseconds: a supervisor's events (a crash,
// its respawn, a signal) often fall within one second. zerolog's console
// writer parses it with its default RFC 3339 layout, since Go accepts a
// fractional second there.
const stampLayout = "2006-01-02T15:04:05.000Z07:00"

// stampHook adds the "time" field. zerolog's own Timestamp reads the global
// TimeFieldFormat (seconds by default); a hook keeps the choice local.
type stampHook struct{}

func (stampHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str(zerolog.TimestampFieldName, time.Now().Format(stampLayout))
}

// IsTerminal reports whether f is a terminal. It reads the fd through
// SyscallConn rather than Fd, because Fd would switch an inherited
// non-blocking stdio descriptor to blocking mode, and that mode lives on the
// open file description pmux shares with its parent and workers.
func IsTerminal(f *os.File) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	tty := false
	if err := rc.Control(func(fd uintptr) { tty = isatty.IsTerminal(fd) }); err != nil {
		return false
	}
	return tty
}
