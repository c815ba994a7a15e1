// Package config owns pmux's configuration: the TOML schema and its
// defaults, decoding and validation, the Procfile and .env formats of
// foreman mode, and the debounced file watcher behind --watch and reloads.
//
// # The model
//
// A Config is the master's settings (pidfile, signal profile, log, worker
// output, daemon, metrics) plus a list of Pools, each a group of identical
// workers running one command. The struct tags of Config, Log and Pool are
// the schema: the decoder, MarshalTOML and Reference all walk them, so the
// README's key reference is generated from the same source as the decoder.
//
// A file is decoded over Default(). Pool keys written at the top level are
// defaults for every [[pool]] that does not set them (env tables merge,
// entries in the pool win); they are also kept in Config.PoolDefaults for a
// pool the command line adds later. A file with a top-level command and no
// [[pool]] is a single pool named "web", like "pmux run -- CMD". "signals"
// is either a profile name or a [signals] table holding profile = "..." and
// per-signal overrides (USR2 = "rolling_restart"): TOML cannot give one key
// both a string and a table. Wherever a list of strings is expected, a single
// string is accepted as a list of one, except for command, where a string
// would be ambiguous between a program and a shell line.
//
// # Invariants
//
//   - Decoding is strict: exact key names, no unknown keys, no type
//     coercion (except numbers and booleans as env values), and every error
//     is an *Error with the file, the line and the key ("pool[1].workers",
//     pools indexed from 0). Errors come in file order, so the first one
//     reported is the first one written.
//   - Parse and Validate do no I/O and never panic on any input (fuzzed).
//     Whether a path exists, a user is known, a signal or action name is
//     valid, or a bind address parses is for the package that uses it
//     (spawn, signalmap, sockets); here a bind is only a non-empty string.
//   - Validate accepts a Config with no pools, since the command may come
//     from the command line; whoever runs the config must refuse an empty
//     one.
//   - A successful Parse validates, and MarshalTOML of the result parses back
//     to an equal Config (fuzzed).
//
// # Pitfalls
//
//   - Keys written after a [[pool]] header belong to that pool; a top-level
//     key there is reported with a hint to move it up.
//   - Validate reports Line 0: after flags are overlaid a value may not come
//     from the file, and a wrong line is worse than none.
//   - Watcher callbacks run on the watcher's goroutine and must not block or
//     call Close. Watch directories, not files: editors save by rename.
package config
