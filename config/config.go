package config

import (
	"encoding"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Signal profiles: the masters whose signals pmux obeys.
var profiles = []string{"unicorn", "gunicorn", "puma", "pitchfork"}

// Values of the closed string sets, in the order error messages list them.
var (
	logFormats    = []string{"auto", "console", "json"}
	logLevels     = []string{"trace", "debug", "info", "warn", "error"}
	compatNames   = []string{"einhorn", "server-starter"}
	readyModes    = []string{ReadyAuto, ReadyNone, ReadyNotify, ReadyDelay}
	workerOutputs = []string{"prefix", "inherit"} // or a file path
)

// Config is the whole resolved configuration of one pmux master: what the
// file said, over the defaults. The command line overlays its flags on it
// afterwards (flag beats env beats file beats default) and calls Validate
// again.
//
// The struct tags are the schema: `toml` is the key, `doc`, `default` and
// `type` feed Reference, so the documentation cannot drift from the decoder.
type Config struct {
	// File is the path the config was read from; "" when it came from flags only.
	File string `toml:"-"`

	Pidfile         string            `toml:"pidfile" default:"none" doc:"write the master's pid here (atomically, after the sockets are bound); removed at exit if it still holds our pid"`
	Signals         string            `toml:"signals" type:"string or table" doc:"signal profile: unicorn, gunicorn, puma or pitchfork; written as a [signals] table it takes profile = \"...\" plus per-signal overrides"`
	SignalOverrides map[string]string `toml:"signals.<SIGNAL>" type:"string" default:"none" doc:"in the [signals] table, override one signal's action, e.g. USR2 = \"rolling_restart\""`
	Log             Log               `toml:"log" default:"see log.*" doc:"pmux's own log (zerolog), not the workers' output"`
	WorkerOutput    string            `toml:"worker_output" doc:"worker stdout/stderr: prefix (line-tagged through pmux), inherit (passed straight through) or a file path pmux owns"`
	Daemon          bool              `toml:"daemon" doc:"detach (setsid, stdio to /dev/null or the log file) once the master serves"`
	Metrics         string            `toml:"metrics" default:"off" doc:"serve Prometheus text exposition on this address"`
	Pools           []Pool            `toml:"pool" type:"array of tables" default:"none" doc:"one [[pool]] table per group of identical workers; every pool.* key except name may also be set at the top level as a default for all pools (env tables merge, pool entries win); a file with a top-level command and no [[pool]] is one pool named web"`

	// PoolDefaults holds DefaultPool() overlaid with the file's top-level pool
	// keys. Every pool in Pools already has them applied; they are kept so
	// that a pool made later (from a command given on the command line to
	// "pmux run -c file -- CMD") gets the same defaults.
	PoolDefaults Pool `toml:"-"`
}

// Log configures pmux's own log (zerolog), not the workers' output.
type Log struct {
	Format string `toml:"format" doc:"auto (console on a TTY, else JSON), console or json"`
	Level  string `toml:"level" doc:"trace, debug, info, warn or error"`
	File   string `toml:"file" default:"stderr" doc:"write the log to this file instead of stderr; reopened on reopen_logs"`
}

// Pool is one group of identical workers running one command.
type Pool struct {
	Name            string            `toml:"name" doc:"pool name, [A-Za-z0-9_-]+, unique; used in logs, status and scale"`
	Command         []string          `toml:"command" default:"none (required)" doc:"argv of the worker, e.g. [\"bundle\", \"exec\", \"ruby\", \"app.rb\"]; no shell is involved"`
	Workers         int               `toml:"workers" type:"integer or \"auto\"" doc:"number of workers, 0..1024; \"auto\" is the CPU count"`
	Bind            []string          `toml:"bind" default:"none" doc:"sockets handed to every worker as fds 3, 4, …; a socket belongs to one pool; the command line alone defaults to 0.0.0.0:$PORT or 127.0.0.1:8000"`
	Ready           Ready             `toml:"ready" default:"auto with a bind, else none" doc:"when a new worker counts as ready: auto (a process of its group is seen waiting on one of the pool's sockets), notify (sd_notify READY=1), delay=DUR or none (at exec)"`
	BootTimeout     Duration          `toml:"boot_timeout" doc:"a worker not ready by then is killed and counted as a failed boot"`
	GracefulTimeout Duration          `toml:"graceful_timeout" doc:"graceful stop: stop_signal, then KILL after this"`
	QuickTimeout    Duration          `toml:"quick_timeout" doc:"quick stop: quick_signal, then KILL after this"`
	StopSignal      string            `toml:"stop_signal" doc:"signal a worker gets for a graceful stop"`
	QuickSignal     string            `toml:"quick_signal" doc:"signal a worker gets for a quick stop"`
	Watchdog        Duration          `toml:"watchdog" default:"off" doc:"a worker must send WATCHDOG=1 that often or is killed and replaced; with any ready mode (workers get NOTIFY_SOCKET and WATCHDOG_USEC), counted from readiness"`
	Timeout         Duration          `toml:"timeout" default:"off" doc:"kill and replace a worker none of whose processes waited on the pool's sockets this long (stuck in one request), as unicorn's and gunicorn's timeout; sampled every timeout/4; needs a bind"`
	MaxLifetime     Duration          `toml:"max_lifetime" default:"off" doc:"recycle a worker (gracefully, surge-first) past this age, with jitter"`
	MaxRSS          Size              `toml:"max_rss" default:"off" doc:"recycle a worker past this resident size, e.g. \"512MB\", \"1GiB\", \"512M\" (binary)"`
	Env             map[string]string `toml:"env" default:"none" doc:"extra worker environment, e.g. { RACK_ENV = \"production\" }; numbers and booleans are written as text"`
	EnvFile         []string          `toml:"env_file" default:"none" doc:".env files (KEY=VALUE, dotenv syntax) loaded into the worker environment, in order"`
	Chdir           string            `toml:"chdir" default:"inherit" doc:"worker working directory"`
	User            string            `toml:"user" default:"inherit" doc:"run workers as this user (name or uid)"`
	Group           string            `toml:"group" default:"inherit" doc:"run workers as this group (name or gid)"`
	Umask           string            `toml:"umask" default:"inherit" doc:"worker umask, octal, e.g. \"0022\""`
	Watch           []string          `toml:"watch" default:"none" doc:"files or directories (recursive) whose change, debounced, triggers a rolling restart"`
	Forward         []string          `toml:"forward" default:"none" doc:"extra master signals forwarded to every worker, e.g. [\"USR1\"]"`
	Compat          []string          `toml:"compat" default:"none" doc:"extra fd-passing conventions: einhorn, server-starter"`
}

// Default returns the documented defaults, with no pools.
func Default() Config {
	return Config{
		Signals:      "unicorn",
		Log:          Log{Format: "auto", Level: "info"},
		WorkerOutput: "prefix",
		PoolDefaults: DefaultPool(),
	}
}

// DefaultPool returns a pool with the documented defaults and no command.
// Its name is "web", the name a single unnamed pool gets.
func DefaultPool() Pool {
	return Pool{
		Name:            "web",
		Workers:         1,
		BootTimeout:     Duration(60 * time.Second),
		GracefulTimeout: Duration(30 * time.Second),
		QuickTimeout:    Duration(5 * time.Second),
		StopSignal:      "TERM",
		QuickSignal:     "INT",
	}
}

// EffectiveReady is the pool's ready mode with the default applied: auto
// for a pool with sockets, none for one without, which has nothing to
// wait on.
func (p Pool) EffectiveReady() Ready {
	switch {
	case p.Ready.Mode != "":
		return p.Ready
	case len(p.Bind) > 0:
		return Ready{Mode: ReadyAuto}
	}
	return Ready{Mode: ReadyNone}
}

// Clone returns a deep copy of p: pools made from the same defaults must not
// share slices or maps, or scaling one pool's env would edit another's.
func (p Pool) Clone() Pool {
	q := p
	q.Command = slices.Clone(p.Command)
	q.Bind = slices.Clone(p.Bind)
	q.Env = maps.Clone(p.Env)
	q.EnvFile = slices.Clone(p.EnvFile)
	q.Watch = slices.Clone(p.Watch)
	q.Forward = slices.Clone(p.Forward)
	q.Compat = slices.Clone(p.Compat)
	return q
}

// KeyDoc documents one configuration key for the README's reference table.
type KeyDoc struct {
	Key     string // dotted TOML key: "pidfile", "log.format", "pool.workers"
	Type    string // "string", "duration", "array of strings", ...
	Default string // the default in words
	Doc     string // one sentence
}

// Reference lists every key the decoder accepts, generated from the struct
// tags of Config, Log and Pool, in declaration order.
func Reference() []KeyDoc {
	var out []KeyDoc
	def := Default()
	dv := reflect.ValueOf(def)
	for _, f := range fieldsOf(reflect.TypeOf(def)) {
		switch f.key {
		case "log":
			out = append(out, f.doc("", dv.Field(f.index)))
			for _, g := range fieldsOf(f.typ) {
				out = append(out, g.doc("log.", dv.Field(f.index).Field(g.index)))
			}
			continue
		case "pool":
			out = append(out, f.doc("", dv.Field(f.index)))
			pv := reflect.ValueOf(DefaultPool())
			for _, g := range poolFields {
				out = append(out, g.doc("pool.", pv.Field(g.index)))
			}
			continue
		}
		out = append(out, f.doc("", dv.Field(f.index)))
		if f.key == "signals" {
			// The profile has a second spelling inside the [signals] table,
			// because TOML cannot give "signals" a string and a table at once.
			out = append(out, KeyDoc{Key: "signals.profile", Type: "string", Default: def.Signals,
				Doc: "the signal profile, when signals is written as a table"})
		}
	}
	return out
}

// field is one tagged struct field of the schema.
type field struct {
	key, docText, def, typeName string
	index                       int
	typ                         reflect.Type
}

func fieldsOf(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		key := sf.Tag.Get("toml")
		if key == "" || key == "-" {
			continue
		}
		fs = append(fs, field{key: key, docText: sf.Tag.Get("doc"), def: sf.Tag.Get("default"),
			typeName: sf.Tag.Get("type"), index: i, typ: sf.Type})
	}
	return fs
}

// The schema of each table, computed once.
var (
	masterFields = fieldsOf(reflect.TypeOf(Config{}))
	logFields    = fieldsOf(reflect.TypeOf(Log{}))
	poolFields   = fieldsOf(reflect.TypeOf(Pool{}))
)

func findField(fs []field, key string) (field, bool) {
	for _, f := range fs {
		if f.key == key {
			return f, true
		}
	}
	return field{}, false
}

// isPoolDefaultKey reports whether key, written at the top level, is a
// default for every pool. name is not: a default name would clash.
func isPoolDefaultKey(key string) bool {
	_, ok := findField(poolFields, key)
	return ok && key != "name"
}

var (
	durationType = reflect.TypeOf(Duration(0))
	sizeType     = reflect.TypeOf(Size(0))
	readyType    = reflect.TypeOf(Ready{})
	stringsType  = reflect.TypeOf([]string(nil))
	envType      = reflect.TypeOf(map[string]string(nil))
)

func (f field) doc(prefix string, v reflect.Value) KeyDoc {
	k := KeyDoc{Key: prefix + f.key, Type: f.typeName, Default: f.def, Doc: f.docText}
	if k.Type == "" {
		k.Type = typeName(f.typ)
	}
	if k.Default == "" {
		k.Default = describe(v)
	}
	return k
}

func typeName(t reflect.Type) string {
	switch t {
	case durationType:
		return "duration"
	case sizeType:
		return "size"
	case readyType:
		return "string (ready mode)"
	case stringsType:
		return "array of strings"
	case envType:
		return "table of strings"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int:
		return "integer"
	case reflect.Struct:
		return "table"
	}
	return t.String()
}

// describe formats a default value for people.
func describe(v reflect.Value) string {
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		b, _ := m.MarshalText()
		return string(b)
	}
	switch v.Kind() {
	case reflect.String:
		if v.String() == "" {
			return "none"
		}
		return v.String()
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Struct:
		return "table"
	}
	if v.Len() == 0 {
		return "none"
	}
	return strings.TrimSpace(v.String())
}
