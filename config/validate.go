package config

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Validate checks c as a whole: every value (profile, worker range,
// durations, ready mode, worker_output, log format and level, compat names,
// umask), then what no single value shows: duplicate pool names, two pools
// binding the same address, a watchdog without ready = "notify".
//
// It does no I/O: paths, users and signal names are checked where they are
// used (signalmap, sockets, spawn). A config with no pools is valid; the
// command may still come from the command line. Errors are *Error; Line is
// 0 here because after flags are overlaid a value may not come from the
// file, and a wrong line is worse than none. (Parse reports lines.)
func (c *Config) Validate() error { return c.validate(nil) }

func (c *Config) validate(ix lineIndex) error {
	fail := func(key string, lineKeys []string, err error) error {
		return &Error{File: c.File, Line: ix.find(lineKeys...), Key: key, Err: err}
	}
	for _, f := range masterFields {
		if strings.Contains(f.key, ".") || f.key == "log" || f.key == "pool" {
			continue
		}
		if err := checkMasterKey(f.key, c); err != nil {
			// signals may be written as a table, whose profile key has the line.
			return fail(f.key, []string{f.key, "signals.profile"}, err)
		}
	}
	for _, sig := range slices.Sorted(maps.Keys(c.SignalOverrides)) {
		if err := checkOverride(sig, c.SignalOverrides[sig]); err != nil {
			key := joinKey("signals", sig)
			return fail(key, []string{key, "signals"}, err)
		}
	}
	for _, f := range logFields {
		if err := checkLogKey(f.key, &c.Log); err != nil {
			key := joinKey("log", f.key)
			return fail(key, []string{key, "log"}, err)
		}
	}

	names := map[string]int{}
	binds := map[string]int{}
	for i := range c.Pools {
		p := &c.Pools[i]
		pk := indexKey("pool", i)
		// A pool's value may have come from the top-level default of the
		// same name, so that line is the next best after the pool's own.
		lineKeys := func(k string) []string { return []string{joinKey(pk, k), k, pk, "pool"} }
		for _, f := range poolFields {
			if err := checkPoolKey(f.key, p); err != nil {
				key := joinKey(pk, f.key)
				var ee *envError
				if errors.As(err, &ee) {
					key = joinKey(key, ee.name)
				}
				return fail(key, lineKeys(f.key), err)
			}
		}
		if j, dup := names[p.Name]; dup {
			return fail(joinKey(pk, "name"), lineKeys("name"), kindf(ErrDuplicate,
				fmt.Sprintf("pool name %q is also used by pool[%d]; give every pool a unique name (an unnamed pool is %q)", p.Name, j, DefaultPool().Name)))
		}
		names[p.Name] = i
		for _, b := range p.Bind {
			if j, dup := binds[b]; dup && j != i {
				return fail(joinKey(pk, "bind"), lineKeys("bind"), kindf(ErrDuplicate,
					fmt.Sprintf("%q is also bound by pool %q; a socket belongs to one pool, so give each pool its own bind", b, c.Pools[j].Name)))
			}
			binds[b] = i
		}
	}
	return nil
}

func oneOf(v string, set []string) error {
	if slices.Contains(set, v) {
		return nil
	}
	return fmt.Errorf("must be one of %s (got %q)", strings.Join(set, ", "), v)
}

func noNUL(s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return errNUL
	}
	return nil
}

func checkMasterKey(k string, c *Config) error {
	switch k {
	case "pidfile":
		return noNUL(c.Pidfile)
	case "metrics":
		return noNUL(c.Metrics)
	case "signals":
		return oneOf(c.Signals, profiles)
	case "worker_output":
		if c.WorkerOutput == "" {
			return fmt.Errorf("must be %s or a file path (got \"\")", strings.Join(workerOutputs, ", "))
		}
		return noNUL(c.WorkerOutput)
	}
	return nil
}

// checkOverride checks a [signals] entry only for shape; which signal and
// action names exist is signalmap's to say.
func checkOverride(sig, action string) error {
	if strings.TrimSpace(sig) == "" {
		return errors.New(`signal name must not be empty; write e.g. USR2 = "rolling_restart"`)
	}
	if sig == "profile" {
		// Reserved: in the [signals] table it names the profile.
		return errors.New(`"profile" is not a signal; set the profile with signals = "..."`)
	}
	if strings.TrimSpace(action) == "" {
		return errors.New(`action must not be empty; write e.g. USR2 = "rolling_restart"`)
	}
	return nil
}

func checkLogKey(k string, l *Log) error {
	switch k {
	case "format":
		return oneOf(l.Format, logFormats)
	case "level":
		return oneOf(l.Level, logLevels)
	case "file":
		return noNUL(l.File)
	}
	return nil
}

// envError carries the variable name, so Validate can name the entry.
type envError struct {
	name string
	err  error
}

func (e *envError) Error() string { return e.err.Error() }
func (e *envError) Unwrap() error { return e.err }

func checkEnvEntry(name, value string) error {
	switch {
	case name == "":
		return errors.New("variable name must not be empty")
	case strings.ContainsRune(name, '='):
		return fmt.Errorf("variable name %q must not contain '='", name)
	case strings.IndexByte(name, 0) >= 0 || strings.IndexByte(value, 0) >= 0:
		return errNUL
	}
	return nil
}

// checkName checks a pool name or Procfile process type.
func checkName(name string) error {
	if name == "" {
		return errors.New("must not be empty; use letters, digits, _ and -")
	}
	for i := 0; i < len(name); i++ {
		if !isNameByte(name[i]) {
			return fmt.Errorf("%q may only use letters, digits, _ and - (it is used in log prefixes and on the command line)", name)
		}
	}
	return nil
}

// checkPoolKey checks the value of one pool key. It runs as each key is
// decoded (so the error has the key's own line) and again from Validate.
func checkPoolKey(k string, p *Pool) error {
	f, _ := findField(poolFields, k)
	fv := reflect.ValueOf(p).Elem().Field(f.index)
	switch fv.Kind() {
	case reflect.String:
		if err := noNUL(fv.String()); err != nil {
			return err
		}
	case reflect.Slice:
		for i := range fv.Len() {
			s := fv.Index(i).String()
			// An empty argument is legitimate in a command; nowhere else.
			if s == "" && (k != "command" || i == 0) {
				return fmt.Errorf("element %d is empty", i)
			}
			if err := noNUL(s); err != nil {
				return fmt.Errorf("element %d %w", i, err)
			}
		}
	}
	positive := func(d Duration) error {
		if d <= 0 {
			return fmt.Errorf("must be greater than zero (got %s)", d)
		}
		return nil
	}
	nonNegative := func(d Duration) error {
		if d < 0 {
			return fmt.Errorf("must not be negative (got %s); use \"off\" or 0 to disable", d)
		}
		return nil
	}
	switch k {
	case "name":
		return checkName(p.Name)
	case "command":
		if len(p.Command) == 0 {
			return errors.New(`is required: write command = ["program", "arg", ...]`)
		}
	case "workers":
		return checkWorkers(int64(p.Workers))
	case "bind":
		for i, b := range p.Bind {
			if slices.Index(p.Bind, b) < i {
				return kindf(ErrDuplicate, fmt.Sprintf("%q is listed twice; each address is bound once", b))
			}
		}
	case "ready":
		if p.Ready.Mode == "" {
			return nil // unset: the default
		}
		if err := oneOf(p.Ready.Mode, readyModes); err != nil {
			return err
		}
		if p.Ready.Delay < 0 {
			return fmt.Errorf("delay must not be negative (got %s)", p.Ready.Delay)
		}
	case "boot_timeout":
		return positive(p.BootTimeout)
	case "graceful_timeout":
		return positive(p.GracefulTimeout)
	case "quick_timeout":
		return positive(p.QuickTimeout)
	case "watchdog":
		return nonNegative(p.Watchdog)
	case "timeout":
		if err := nonNegative(p.Timeout); err != nil || p.Timeout == 0 {
			return err
		}
		if p.Timeout < Duration(time.Second) {
			return fmt.Errorf("must be at least 1s (got %s): it is sampled every timeout/4", p.Timeout)
		}
		if len(p.Bind) == 0 {
			return errors.New("needs the pool's sockets: a worker is timed out when none of its processes waits on them; give the pool a bind or drop timeout")
		}
	case "max_lifetime":
		return nonNegative(p.MaxLifetime)
	case "max_rss":
		if p.MaxRSS < 0 {
			return fmt.Errorf("must not be negative (got %d); use \"off\" or 0 to disable", p.MaxRSS)
		}
	case "stop_signal", "quick_signal":
		if strings.TrimSpace(fv.String()) == "" {
			return errors.New(`must name a signal, e.g. "TERM"`)
		}
	case "env":
		for _, name := range slices.Sorted(maps.Keys(p.Env)) {
			if err := checkEnvEntry(name, p.Env[name]); err != nil {
				return &envError{name: name, err: err}
			}
		}
	case "umask":
		if p.Umask != "" {
			if _, err := ParseUmask(p.Umask); err != nil {
				return err
			}
		}
	case "compat":
		for _, name := range p.Compat {
			if err := oneOf(name, compatNames); err != nil {
				return err
			}
		}
	}
	return nil
}
