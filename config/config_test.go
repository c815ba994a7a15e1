package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func sec(n int) Duration { return Duration(time.Duration(n) * time.Second) }

// sentinels maps the names used in testdata/bad headers to the values.
var sentinels = map[string]error{
	"ErrSyntax": ErrSyntax, "ErrUnknownKey": ErrUnknownKey, "ErrType": ErrType, "ErrDuplicate": ErrDuplicate,
}

// want is what a testdata/bad file's first line declares:
// "# want: line=N key=K is=ErrX msg=substring" (msg runs to end of line).
type want struct {
	line int
	key  string
	is   error
	msg  string
}

func parseWant(t *testing.T, first string) want {
	t.Helper()
	rest, ok := strings.CutPrefix(first, "# want: ")
	if !ok {
		t.Fatalf("first line %q is not a '# want:' header", first)
	}
	var w want
	if i := strings.Index(rest, "msg="); i >= 0 {
		w.msg = rest[i+4:]
		rest = rest[:i]
	}
	for _, f := range strings.Fields(rest) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "line":
			w.line, _ = strconv.Atoi(v)
		case "key":
			w.key = v
		case "is":
			w.is = sentinels[v]
			if w.is == nil {
				t.Fatalf("unknown sentinel %q", v)
			}
		}
	}
	return w
}

func checkErr(t *testing.T, err error, file string, w want) {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *config.Error", err, err)
	}
	if ce.File != file || ce.Line != w.line || ce.Key != w.key {
		t.Errorf("got File=%q Line=%d Key=%q, want %q %d %q\n  error: %v", ce.File, ce.Line, ce.Key, file, w.line, w.key, err)
	}
	if w.is != nil && !errors.Is(err, w.is) {
		t.Errorf("errors.Is(%v, %v) = false", err, w.is)
	}
	if !strings.Contains(err.Error(), w.msg) {
		t.Errorf("error %q does not contain %q", err, w.msg)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
}

func TestLoadBadFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.toml")
	if len(files) == 0 {
		t.Fatal("no testdata/bad files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			w := parseWant(t, strings.SplitN(string(data), "\n", 2)[0])
			c, err := Load(f)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", c)
			}
			checkErr(t, err, f, w)
			prefix := "config " + f + ":" + strconv.Itoa(w.line) + ": "
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q does not start with %q", err, prefix)
			}
		})
	}
}

func TestLoadGoodFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/good/*.toml")
	if len(files) == 0 {
		t.Fatal("no testdata/good files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if c.File != f {
				t.Errorf("File = %q, want %q", c.File, f)
			}
			if len(c.Pools) == 0 {
				t.Error("no pools")
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate after Load: %v", err)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.toml")
	_, err := Load(p)
	var ce *Error
	if !errors.As(err, &ce) || ce.File != p || ce.Line != 0 {
		t.Fatalf("got %v, want *Error for %s", err, p)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("errors.Is(err, ErrNotExist) = false: %v", err)
	}
	if strings.Count(err.Error(), p) != 1 {
		t.Errorf("path should appear once: %q", err)
	}
}

func TestSpecExample(t *testing.T) {
	c, err := Load("testdata/good/spec.toml")
	if err != nil {
		t.Fatal(err)
	}
	web := DefaultPool()
	web.Command = []string{"bundle", "exec", "ruby", "app.rb"}
	web.Workers = 4
	web.Bind = []string{"tcp://0.0.0.0:8000", "unix:///run/app/web.sock?mode=0660"}
	web.Ready = Ready{Mode: ReadyNotify}
	web.Env = map[string]string{"RACK_ENV": "production"}
	jobs := DefaultPool()
	jobs.Name = "jobs"
	jobs.Command = []string{"bundle", "exec", "sidekiq"}
	jobs.Workers = 2

	wantCfg := Default()
	wantCfg.File = "testdata/good/spec.toml"
	wantCfg.Pidfile = "/run/app/pmux.pid"
	wantCfg.Log = Log{Format: "json", Level: "info", File: "/var/log/app/pmux.log"}
	wantCfg.Pools = []Pool{web, jobs}
	if !reflect.DeepEqual(*c, wantCfg) {
		t.Errorf("got\n%+v\nwant\n%+v", *c, wantCfg)
	}
}

func TestDefaults(t *testing.T) {
	c := Default()
	if c.Signals != "unicorn" || c.Log != (Log{Format: "auto", Level: "info"}) || c.WorkerOutput != "prefix" ||
		c.Daemon || c.Pidfile != "" || c.Metrics != "" || len(c.Pools) != 0 || c.SignalOverrides != nil {
		t.Errorf("Default() = %+v", c)
	}
	p := DefaultPool()
	wantPool := Pool{Name: "web", Workers: 1, BootTimeout: sec(60), GracefulTimeout: sec(30),
		QuickTimeout: sec(5), StopSignal: "TERM", QuickSignal: "INT"}
	if !reflect.DeepEqual(p, wantPool) {
		t.Errorf("DefaultPool() = %+v", p)
	}
	if !reflect.DeepEqual(c.PoolDefaults, p) {
		t.Errorf("Default().PoolDefaults = %+v", c.PoolDefaults)
	}
	// Defaults are valid once a pool has a command.
	p.Command = []string{"x"}
	c.Pools = []Pool{p}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestTopLevelDefaults(t *testing.T) {
	c, err := Load("testdata/good/inherit.toml")
	if err != nil {
		t.Fatal(err)
	}
	web, jobs := c.Pools[0], c.Pools[1]
	if web.GracefulTimeout != sec(45) || jobs.GracefulTimeout != sec(120) {
		t.Errorf("graceful_timeout: web %v jobs %v, want 45s 2m", web.GracefulTimeout, jobs.GracefulTimeout)
	}
	if web.Workers != 3 || jobs.Workers != 1 {
		t.Errorf("workers: web %d jobs %d, want 3 1", web.Workers, jobs.Workers)
	}
	if web.StopSignal != "QUIT" || jobs.StopSignal != "QUIT" || web.QuickSignal != "INT" {
		t.Errorf("signals: %q %q %q", web.StopSignal, jobs.StopSignal, web.QuickSignal)
	}
	if w := map[string]string{"RAILS_ENV": "production", "SHARED": "web", "ONLY_WEB": "1"}; !reflect.DeepEqual(web.Env, w) {
		t.Errorf("web env = %v, want %v (merged, pool wins)", web.Env, w)
	}
	if w := map[string]string{"RAILS_ENV": "production", "SHARED": "top"}; !reflect.DeepEqual(jobs.Env, w) {
		t.Errorf("jobs env = %v, want %v", jobs.Env, w)
	}
	if jobs.Bind != nil {
		t.Errorf("jobs bind = %v, want none", jobs.Bind)
	}
	// Pools must not share the defaults' maps.
	c.Pools[0].Env["X"] = "y"
	if _, leaked := c.Pools[1].Env["X"]; leaked {
		t.Error("pools share an env map")
	}
	if _, leaked := c.PoolDefaults.Env["X"]; leaked {
		t.Error("a pool shares the defaults' env map")
	}
	if c.PoolDefaults.Workers != 3 || c.PoolDefaults.Name != "web" {
		t.Errorf("PoolDefaults = %+v", c.PoolDefaults)
	}
}

func TestParse(t *testing.T) {
	ncpu := min(runtime.NumCPU(), MaxWorkers)
	tests := []struct {
		name  string
		toml  string
		check func(t *testing.T, c *Config)
		err   *want
	}{
		{name: "empty file is valid and has no pools", toml: "",
			check: func(t *testing.T, c *Config) {
				if len(c.Pools) != 0 || c.Signals != "unicorn" {
					t.Errorf("%+v", c)
				}
			}},
		{name: "master settings only keep pool defaults for the command line",
			toml: "pidfile = \"p\"\nworkers = 5\nbind = [\"127.0.0.1:0\"]\n",
			check: func(t *testing.T, c *Config) {
				if len(c.Pools) != 0 || c.PoolDefaults.Workers != 5 || c.PoolDefaults.Bind[0] != "127.0.0.1:0" {
					t.Errorf("%+v", c)
				}
			}},
		{name: "top-level command is one pool named web",
			toml: "command = [\"./srv\", \"-v\"]\nworkers = \"auto\"\n",
			check: func(t *testing.T, c *Config) {
				if len(c.Pools) != 1 || c.Pools[0].Name != "web" || c.Pools[0].Workers != ncpu || c.Pools[0].Command[1] != "-v" {
					t.Errorf("%+v", c.Pools)
				}
			}},
		{name: "top-level command is inherited by pools without one",
			toml: "command = [\"./srv\"]\n[[pool]]\nname = \"a\"\n[[pool]]\nname = \"b\"\ncommand = [\"./b\"]\n",
			check: func(t *testing.T, c *Config) {
				if c.Pools[0].Command[0] != "./srv" || c.Pools[1].Command[0] != "./b" {
					t.Errorf("%+v", c.Pools)
				}
			}},
		{name: "single string is a list of one except for command",
			toml: "command = [\"x\"]\nbind = \"unix:/tmp/s\"\nforward = \"USR1\"\n",
			check: func(t *testing.T, c *Config) {
				if !reflect.DeepEqual(c.Pools[0].Bind, []string{"unix:/tmp/s"}) || !reflect.DeepEqual(c.Pools[0].Forward, []string{"USR1"}) {
					t.Errorf("%+v", c.Pools[0])
				}
			}},
		{name: "empty list overrides a top-level default",
			toml: "bind = [\"127.0.0.1:1\"]\n[[pool]]\ncommand = [\"x\"]\nbind = []\n",
			check: func(t *testing.T, c *Config) {
				if c.Pools[0].Bind != nil {
					t.Errorf("bind = %#v", c.Pools[0].Bind)
				}
			}},
		{name: "sizes and durations",
			toml: "command = [\"x\"]\nmax_rss = 1048576\nmax_lifetime = \"1h30m\"\nready = \"delay=250ms\"\nwatchdog = \"off\"\n",
			check: func(t *testing.T, c *Config) {
				p := c.Pools[0]
				if p.MaxRSS != 1<<20 || p.MaxLifetime != Duration(90*time.Minute) || p.Ready != (Ready{ReadyDelay, 250 * time.Millisecond}) || p.Watchdog != 0 {
					t.Errorf("%+v", p)
				}
			}},
		{name: "env numbers and booleans are text",
			toml: "command = [\"x\"]\nenv = { N = 4, F = 1.5, B = true, \"dotted.name\" = \"ok\" }\n",
			check: func(t *testing.T, c *Config) {
				if w := map[string]string{"N": "4", "F": "1.5", "B": "true", "dotted.name": "ok"}; !reflect.DeepEqual(c.Pools[0].Env, w) {
					t.Errorf("env = %v", c.Pools[0].Env)
				}
			}},
		{name: "signals table with profile and overrides",
			toml: "[signals]\nprofile = \"pitchfork\"\nUSR2 = \"upgrade\"\n",
			check: func(t *testing.T, c *Config) {
				if c.Signals != "pitchfork" || c.SignalOverrides["USR2"] != "upgrade" {
					t.Errorf("%q %v", c.Signals, c.SignalOverrides)
				}
			}},
		{name: "empty argument after the program is allowed", toml: "command = [\"printf\", \"\"]\n",
			check: func(t *testing.T, c *Config) {
				if len(c.Pools[0].Command) != 2 {
					t.Error(c.Pools[0].Command)
				}
			}},
		{name: "workers zero is allowed", toml: "command = [\"x\"]\nworkers = 0\n",
			check: func(t *testing.T, c *Config) {
				if c.Pools[0].Workers != 0 {
					t.Error(c.Pools[0].Workers)
				}
			}},

		{name: "unknown key in log", toml: "[log]\nformat = \"json\"\ncolour = true\n",
			err: &want{line: 3, key: "log.colour", is: ErrUnknownKey}},
		{name: "case is not folded", toml: "Pidfile = \"x\"\n",
			err: &want{line: 1, key: "Pidfile", is: ErrUnknownKey, msg: `did you mean "pidfile"?`}},
		{name: "dash for underscore is suggested", toml: "graceful-timeout = \"1s\"\n",
			err: &want{line: 1, key: "graceful-timeout", is: ErrUnknownKey, msg: `did you mean "graceful_timeout"?`}},
		{name: "far-off key lists the valid ones", toml: "[log]\nzzzzzzzz = 1\n",
			err: &want{line: 2, key: "log.zzzzzzzz", is: ErrUnknownKey, msg: "valid keys here: format, level, file"}},
		{name: "quoted unknown key is quoted in the message", toml: "\"a b\" = 1\n",
			err: &want{line: 1, key: `"a b"`, is: ErrUnknownKey}},
		{name: "wrong type bool", toml: "daemon = \"yes\"\n",
			err: &want{line: 1, key: "daemon", is: ErrType, msg: `must be true or false, not a string ("yes")`}},
		{name: "wrong type in list element", toml: "[[pool]]\ncommand = [\"x\", 1]\n",
			err: &want{line: 2, key: "pool[0].command", is: ErrType, msg: "element 1 is an integer (1)"}},
		{name: "log must be a table", toml: "log = \"json\"\n",
			err: &want{line: 1, key: "log", is: ErrType}},
		{name: "first error in file order wins",
			toml: "[[pool]]\ncommand = [\"x\"]\nworkers = 9999\nbogus = 1\n",
			err:  &want{line: 3, key: "pool[0].workers", msg: "must be between 0 and 1024 (got 9999)"}},
		{name: "file order holds across tables",
			toml: "[[pool]]\ncommand = [\"x\"]\nworkers = -1\n[log]\nlevel = \"nope\"\n",
			err:  &want{line: 3, key: "pool[0].workers"}},
		{name: "inline pools see defaults written after them",
			toml: "pool = [{ name = \"a\", command = [\"x\"] }, { name = \"b\", command = [\"x\"] }]\nbind = [\"127.0.0.1:1\"]\n",
			err:  &want{line: 2, key: "pool[1].bind", is: ErrDuplicate, msg: `also bound by pool "a"`}},
		{name: "error inside an inline pool", toml: "pool = [\n  { command = [\"a\"] },\n  { command = [\"b\"], workers = \"x\" },\n]\n",
			err: &want{line: 3, key: "pool[1].workers", is: ErrType}},
		{name: "inherited bad value is reported at the top level",
			toml: "watchdog = \"-1s\"\n[[pool]]\ncommand = [\"x\"]\n",
			err:  &want{line: 1, key: "watchdog", msg: "must not be negative"}},
		{name: "inherited shared bind is reported at the pool",
			toml: "bind = [\"127.0.0.1:1\"]\n[[pool]]\nname = \"a\"\ncommand = [\"x\"]\n[[pool]]\nname = \"b\"\ncommand = [\"x\"]\n",
			err:  &want{line: 1, key: "pool[1].bind", is: ErrDuplicate, msg: `also bound by pool "a"`}},
		{name: "bind listed twice in one pool", toml: "command = [\"x\"]\nbind = [\"a:1\", \"a:1\"]\n",
			err: &want{line: 2, key: "bind", is: ErrDuplicate}},
		{name: "empty bind string", toml: "command = [\"x\"]\nbind = [\"\"]\n",
			err: &want{line: 2, key: "bind", msg: "element 0 is empty"}},
		{name: "NUL in a path", toml: "pidfile = \"a\\u0000b\"\n",
			err: &want{line: 1, key: "pidfile", msg: "NUL"}},
		{name: "empty env name", toml: "command = [\"x\"]\nenv = { \"\" = \"v\" }\n",
			err: &want{line: 2, key: `env.""`, msg: "variable name must not be empty"}},
		{name: "multi-line array keeps the key's line",
			toml: "# c\n[[pool]]\ncommand = [\n  \"x\",\n]\nstop_signal = \"\"\n",
			err:  &want{line: 6, key: "pool[0].stop_signal", msg: "must name a signal"}},
		{name: "line of a key after a multi-line string",
			toml: "pidfile = \"\"\"\na\nb\"\"\"\n[[pool]]\ncommand = [\"x\"]\ncompat = [\"nope\"]\n",
			err:  &want{line: 6, key: "pool[0].compat"}},
		{name: "error in a pool sub-table is in the right pool",
			toml: "[[pool]]\nname = \"a\"\ncommand = [\"x\"]\n[pool.env]\nA = \"1\"\n[[pool]]\nname = \"b\"\ncommand = [\"y\"]\n[pool.env]\nB = [1]\n",
			err:  &want{line: 10, key: "pool[1].env.B", is: ErrType}},
		{name: "dotted key inside a pool", toml: "[[pool]]\ncommand = [\"x\"]\nenv.A = {}\n",
			err: &want{line: 3, key: "pool[0].env.A", is: ErrType}},
		{name: "quoted key with escapes",
			toml: "[[pool]]\ncommand = [\"x\"]\n\"w\\u00f6rkers\" = 2\n",
			err:  &want{line: 3, key: `pool[0]."wörkers"`, is: ErrUnknownKey, msg: `did you mean "workers"?`}},
		{name: "delay without duration", toml: "ready = \"delay\"\n",
			err: &want{line: 1, key: "ready", msg: `delay needs a duration, e.g. "delay=2s"`}},
		{name: "syntax error line", toml: "a = 1\nb = = 2\n",
			err: &want{line: 2, is: ErrSyntax}},
		{name: "duplicate key is a syntax error", toml: "pidfile = \"a\"\npidfile = \"b\"\n",
			err: &want{line: 2, is: ErrSyntax}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("t.toml", []byte(tt.toml))
			if tt.err != nil {
				if err == nil {
					t.Fatalf("no error; got %+v", c)
				}
				checkErr(t, err, "t.toml", *tt.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestValidate(t *testing.T) {
	base := func() Config {
		c := Default()
		p := DefaultPool()
		p.Command = []string{"x"}
		c.Pools = []Pool{p}
		return c
	}
	tests := []struct {
		name   string
		mutate func(c *Config)
		key    string
		msg    string
	}{
		{"ok", func(c *Config) {}, "", ""},
		{"no pools is fine", func(c *Config) { c.Pools = nil }, "", ""},
		{"bad profile", func(c *Config) { c.Signals = "" }, "signals", "must be one of"},
		{"workers too many", func(c *Config) { c.Pools[0].Workers = 1025 }, "pool[0].workers", "between 0 and 1024 (got 1025)"},
		{"negative workers", func(c *Config) { c.Pools[0].Workers = -1 }, "pool[0].workers", "(got -1)"},
		{"zero boot timeout", func(c *Config) { c.Pools[0].BootTimeout = 0 }, "pool[0].boot_timeout", "greater than zero"},
		{"negative max_lifetime", func(c *Config) { c.Pools[0].MaxLifetime = -1 }, "pool[0].max_lifetime", "must not be negative"},
		{"negative max_rss", func(c *Config) { c.Pools[0].MaxRSS = -1 }, "pool[0].max_rss", "must not be negative"},
		{"unknown ready mode", func(c *Config) { c.Pools[0].Ready = Ready{Mode: "sometimes"} }, "pool[0].ready", "must be one of auto, none, notify, delay"},
		{"empty command", func(c *Config) { c.Pools[0].Command = nil }, "pool[0].command", "is required"},
		{"empty argv0", func(c *Config) { c.Pools[0].Command = []string{""} }, "pool[0].command", "element 0 is empty"},
		{"bad name", func(c *Config) { c.Pools[0].Name = "a.b" }, "pool[0].name", "letters, digits"},
		{"empty name", func(c *Config) { c.Pools[0].Name = "" }, "pool[0].name", "must not be empty"},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, "log.format", "auto, console, json"},
		{"worker output empty", func(c *Config) { c.WorkerOutput = "" }, "worker_output", "prefix, inherit or a file path"},
		{"worker output file", func(c *Config) { c.WorkerOutput = "/var/log/w.log" }, "", ""},
		{"override empty action", func(c *Config) { c.SignalOverrides = map[string]string{"HUP": ""} }, "signals.HUP", "action must not be empty"},
		{"env with =", func(c *Config) { c.Pools[0].Env = map[string]string{"A=B": "c"} }, `pool[0].env."A=B"`, "must not contain '='"},
		{"umask", func(c *Config) { c.Pools[0].Umask = "8" }, "pool[0].umask", "octal"},
		{"watchdog with ready none", func(c *Config) { c.Pools[0].Watchdog = sec(1) }, "", ""},
		{"watchdog with delay", func(c *Config) {
			c.Pools[0].Watchdog = sec(1)
			c.Pools[0].Ready = Ready{Mode: ReadyDelay, Delay: 2 * time.Second}
		}, "", ""},
		{"watchdog with notify", func(c *Config) { c.Pools[0].Watchdog = sec(1); c.Pools[0].Ready.Mode = ReadyNotify }, "", ""},
		{"timeout with a bind", func(c *Config) { c.Pools[0].Timeout = sec(30); c.Pools[0].Bind = []string{"127.0.0.1:0"} }, "", ""},
		{"timeout without a bind", func(c *Config) { c.Pools[0].Timeout = sec(30) }, "pool[0].timeout", "needs the pool's sockets"},
		{"timeout below a second", func(c *Config) {
			c.Pools[0].Timeout = Duration(500 * time.Millisecond)
			c.Pools[0].Bind = []string{"127.0.0.1:0"}
		}, "pool[0].timeout", "at least 1s"},
		{"negative timeout", func(c *Config) { c.Pools[0].Timeout = sec(-1) }, "pool[0].timeout", "must not be negative"},
		{"duplicate names", func(c *Config) { c.Pools = append(c.Pools, c.Pools[0].Clone()) }, "pool[1].name", `pool name "web" is also used by pool[0]`},
		{"shared bind", func(c *Config) {
			c.Pools[0].Bind = []string{"127.0.0.1:1"}
			p := c.Pools[0].Clone()
			p.Name = "two"
			c.Pools = append(c.Pools, p)
		}, "pool[1].bind", "also bound by pool \"web\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.mutate(&c)
			err := c.Validate()
			if tt.key == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			checkErr(t, err, "", want{key: tt.key, msg: tt.msg})
		})
	}
}

func TestErrorFormat(t *testing.T) {
	cause := errors.New("must be between 0 and 1024 (got -3)")
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "pmux.toml", Line: 12, Key: "pool[1].workers", Err: cause}, "config pmux.toml:12: key pool[1].workers: must be between 0 and 1024 (got -3)"},
		{Error{File: "pmux.toml", Key: "pool[1].workers", Err: cause}, "config pmux.toml: key pool[1].workers: must be between 0 and 1024 (got -3)"},
		{Error{Key: "workers", Err: cause}, "config: key workers: must be between 0 and 1024 (got -3)"},
		{Error{Line: 3, Err: cause}, "config line 3: must be between 0 and 1024 (got -3)"},
		{Error{File: "f"}, "config f: invalid"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	e := &Error{Err: cause}
	if !errors.Is(e, cause) {
		t.Error("Unwrap does not reach the cause")
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("testdata/good/*.toml")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			assertRoundTrip(t, c)
		})
	}
	t.Run("no pools keeps top-level defaults", func(t *testing.T) {
		c, err := Parse("x", []byte("workers = 7\nbind = \"a:1\"\nenv = { A = \"b\\n\\u0001\" }\n"))
		if err != nil {
			t.Fatal(err)
		}
		assertRoundTrip(t, c)
	})
}

func assertRoundTrip(t *testing.T, c *Config) {
	t.Helper()
	out, err := c.MarshalTOML()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Parse(c.File, out)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, out)
	}
	if len(c.Pools) > 0 {
		// Pools carry the defaults; the printed form does not repeat them.
		c2.PoolDefaults = c.PoolDefaults
	}
	// An unset ready mode is printed as what it means for the pool.
	want := *c
	want.Pools = slices.Clone(c.Pools)
	for i := range want.Pools {
		want.Pools[i].Ready = want.Pools[i].EffectiveReady()
	}
	for _, p := range c2.Pools {
		if p.Ready.Mode == "" {
			t.Errorf("pool %s: check printed no ready mode:\n%s", p.Name, out)
		}
	}
	if c = &want; !reflect.DeepEqual(c, c2) {
		t.Fatalf("round trip differs\nfirst:  %+v\nsecond: %+v\ntoml:\n%s", c, c2, out)
	}
}

func TestReferenceCoversDecoder(t *testing.T) {
	ref := Reference()
	keys := map[string]KeyDoc{}
	for _, k := range ref {
		if _, dup := keys[k.Key]; dup {
			t.Errorf("duplicate key %q", k.Key)
		}
		if k.Doc == "" || k.Type == "" || k.Default == "" {
			t.Errorf("incomplete entry %+v", k)
		}
		keys[k.Key] = k
	}

	// Every key the decoder dispatches on is documented.
	var accepted []string
	for _, k := range topLevelKeys() {
		if isPoolDefaultKey(k) {
			k = "pool." + k // documented once, under pool
		}
		accepted = append(accepted, k)
	}
	for _, k := range keysOf(logFields) {
		accepted = append(accepted, "log."+k)
	}
	for _, k := range keysOf(poolFields) {
		accepted = append(accepted, "pool."+k)
	}
	accepted = append(accepted, "signals.profile", "signals.<SIGNAL>")
	for _, k := range accepted {
		if _, ok := keys[k]; !ok {
			t.Errorf("decoder accepts %q but Reference does not document it", k)
		}
	}

	// Every documented key is accepted: full.toml sets each of them, and the
	// decoder rejects unknown keys, so loading it proves acceptance.
	data, err := os.ReadFile("testdata/good/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("full.toml", data); err != nil {
		t.Fatal(err)
	}
	ix := indexLines(string(data))
	for _, k := range ref {
		var probe string
		switch {
		case k.Key == "signals.<SIGNAL>":
			probe = "signals.WINCH"
		case strings.HasPrefix(k.Key, "pool."):
			probe = "pool[0]." + strings.TrimPrefix(k.Key, "pool.")
		default:
			probe = k.Key
		}
		if k.Key == "pool" {
			probe = "pool[0]"
		}
		if ix[probe] == 0 {
			t.Errorf("testdata/good/full.toml does not set %q (looked for %q)", k.Key, probe)
		}
	}
}
