package config

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// MaxWorkers is the largest worker count a pool may ask for. It bounds a typo
// (workers = 10000) before it becomes ten thousand forks.
const MaxWorkers = 1024

// Duration is a time.Duration that reads and writes as a Go duration string
// ("30s", "1m30s") in TOML and on the command line. "off" reads as 0, which is
// how the optional limits (watchdog, max_lifetime) are switched off.
type Duration time.Duration

// UnmarshalText parses a Go duration string, or "off" for zero.
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "off" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: write a number and a unit (ns, us, ms, s, m, h), e.g. \"30s\" or \"1h30m\"", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes String, which UnmarshalText reads back to the same
// value.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String returns the duration as time.Duration formats it, less the zero
// units it appends ("2m", not "2m0s"), which people would not write.
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// Set parses s, so that *Duration is a flag.Value (and a urfave/cli Generic).
func (d *Duration) Set(s string) error { return d.UnmarshalText([]byte(s)) }

// Std returns the value as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Size is a byte count. It reads a plain integer ("1048576"), a decimal-SI
// size ("512MB" = 512·10⁶), a binary-IEC size ("1GiB" = 2³⁰), or a bare
// binary suffix as ulimit, systemd and -Xmx use it ("512M" = 512·2²⁰).
// Units are case-insensitive; a fraction ("1.5GiB") is allowed and rounded
// down to whole bytes. "off" and 0 mean no limit.
type Size int64

// sizeUnits maps a lower-cased suffix to its multiplier. K/M/G/T alone are
// binary because that is what every tool that accepts them (ulimit, systemd,
// docker, java) means; "KB" and friends are SI as the standard says.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}

// UnmarshalText parses a size; see Size.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := parseSize(string(b))
	if err != nil {
		return err
	}
	*s = Size(v)
	return nil
}

func parseSize(in string) (int64, error) {
	t := strings.TrimSpace(in)
	if t == "off" {
		return 0, nil
	}
	// Bound the input so a fuzzer (or a typo) cannot make big.Rat chew on
	// thousands of digits.
	if len(t) > 64 {
		return 0, fmt.Errorf("invalid size %.20q...: too long", t)
	}
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	if num == "" || !ok || strings.Count(num, ".") > 1 || num[0] == '.' || num[len(num)-1] == '.' {
		return 0, fmt.Errorf("invalid size %q: write bytes or a number and a unit (KB, MB, GB, KiB, MiB, GiB, K, M, G), e.g. \"512MB\" or \"1GiB\"", in)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("invalid size %q: %q is not a number", in, num)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	q := new(big.Int).Quo(r.Num(), r.Denom())
	if !q.IsInt64() {
		return 0, fmt.Errorf("invalid size %q: larger than %d bytes", in, int64(math.MaxInt64))
	}
	return q.Int64(), nil
}

// sizeOrder lists the units String may use, largest first; SI and IEC are
// interleaved so that the largest exact unit wins whichever family it is.
var sizeOrder = []struct {
	name string
	mult int64
}{
	{"TiB", 1 << 40}, {"TB", 1e12}, {"GiB", 1 << 30}, {"GB", 1e9},
	{"MiB", 1 << 20}, {"MB", 1e6}, {"KiB", 1 << 10}, {"KB", 1e3},
}

// String returns the size in the largest unit that divides it exactly, so
// that it parses back to the same number of bytes.
func (s Size) String() string {
	if s > 0 {
		for _, u := range sizeOrder {
			if int64(s)%u.mult == 0 {
				return strconv.FormatInt(int64(s)/u.mult, 10) + u.name
			}
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// MarshalText writes String.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Set parses v, so that *Size is a flag.Value.
func (s *Size) Set(v string) error { return s.UnmarshalText([]byte(v)) }

// Readiness modes of Ready.Mode.
const (
	ReadyAuto   = "auto"   // ready once seen waiting on one of its sockets
	ReadyNone   = "none"   // ready as soon as the command is exec'd
	ReadyNotify = "notify" // ready on sd_notify READY=1
	ReadyDelay  = "delay"  // ready Ready.Delay after exec
)

// Ready says when a new worker counts as ready. Its text form is
// "auto", "none", "notify" or "delay=DUR". The zero Ready is unset: auto
// for a pool with sockets, none for one without (Pool.EffectiveReady).
type Ready struct {
	Mode  string        // ReadyAuto, ReadyNone, ReadyNotify, ReadyDelay, or "" for unset
	Delay time.Duration // only for ReadyDelay
}

// UnmarshalText parses "auto", "none", "notify" or "delay=DUR".
func (r *Ready) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	switch {
	case s == ReadyAuto || s == ReadyNone || s == ReadyNotify:
		*r = Ready{Mode: s}
		return nil
	case s == ReadyDelay:
		return fmt.Errorf("invalid ready mode %q: delay needs a duration, e.g. \"delay=2s\"", s)
	case strings.HasPrefix(s, ReadyDelay+"="):
		d, err := time.ParseDuration(s[len(ReadyDelay)+1:])
		if err != nil || d < 0 {
			return fmt.Errorf("invalid ready mode %q: the delay must be a non-negative duration, e.g. \"delay=2s\"", s)
		}
		*r = Ready{Mode: ReadyDelay, Delay: d}
		return nil
	}
	return fmt.Errorf("invalid ready mode %q: use \"auto\", \"none\", \"notify\" or \"delay=DUR\"", s)
}

// String returns the text form UnmarshalText reads. The zero Ready prints as
// "auto", the default for a pool with sockets; a pool's own is named by
// EffectiveReady.
func (r Ready) String() string {
	switch r.Mode {
	case "":
		return ReadyAuto
	case ReadyDelay:
		return ReadyDelay + "=" + Duration(r.Delay).String()
	}
	return r.Mode
}

// MarshalText writes String.
func (r Ready) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// Set parses s, so that *Ready is a flag.Value.
func (r *Ready) Set(s string) error { return r.UnmarshalText([]byte(s)) }

// ParseWorkers parses a worker count as the --workers flag and PMUX_WORKERS
// give it: an integer in 0..MaxWorkers, or "auto" for runtime.NumCPU().
func ParseWorkers(s string) (int, error) {
	t := strings.TrimSpace(s)
	if t == "auto" {
		return autoWorkers(), nil
	}
	n, err := strconv.Atoi(t)
	if err != nil {
		return 0, fmt.Errorf("invalid worker count %q: use an integer 0..%d or \"auto\"", s, MaxWorkers)
	}
	if err := checkWorkers(int64(n)); err != nil {
		return 0, err
	}
	return n, nil
}

// autoWorkers is what "auto" means: one worker per CPU the process may use.
// NumCPU already honours the affinity mask, so a container pinned to two
// cores gets two workers.
func autoWorkers() int { return min(runtime.NumCPU(), MaxWorkers) }

func checkWorkers(n int64) error {
	if n < 0 || n > MaxWorkers {
		return fmt.Errorf("must be between 0 and %d (got %d)", MaxWorkers, n)
	}
	return nil
}

// ParseUmask parses an octal umask such as "0022", "022" or "0o022". The
// empty string is an error: an unset umask means "inherit", which callers
// test for before parsing.
func ParseUmask(s string) (uint32, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O")
	v, err := strconv.ParseUint(t, 8, 32)
	if err != nil || t == "" || v > 0o777 {
		return 0, fmt.Errorf("invalid umask %q: write an octal mode 0000..0777, e.g. \"0022\"", s)
	}
	return uint32(v), nil
}

// DefaultBind is the address --bind defaults to: 0.0.0.0:$PORT
// when PORT is set, as Heroku-style platforms expect, else 127.0.0.1:8000.
// It takes a lookup function rather than reading the environment so that
// this package stays free of I/O and tests need no t.Setenv.
func DefaultBind(lookup func(string) (string, bool)) string {
	if lookup != nil {
		if p, ok := lookup("PORT"); ok && p != "" {
			return "0.0.0.0:" + p
		}
	}
	return "127.0.0.1:8000"
}

// errNUL is returned for strings that cannot reach the kernel: every path,
// name and environment entry pmux passes on is a C string.
var errNUL = errors.New("must not contain a NUL byte")
