// Package handover is both ends of pmux's binary upgrade (USR2) and the
// pidfile moves that go with it.
//
// The model: the old master fork-execs the binary found at the path it was
// started as (a deploy may have replaced it), with the same arguments and
// working directory, and hands it every listening socket as fds 3, 4, …,
// named by listener key in an environment variable. The new master takes
// them (Take) instead of binding, so no connection is refused in between.
// Both serve until the operator stops one of them; the old master tracks
// the new one as its child and restores the pidfile if it exits (a
// rollback); the new one watches its parent and takes the pidfile over
// once it is gone (the commit).
//
// The pidfile moves follow the signal profile (Style): unicorn's old master
// renames P to P.oldbin and the new one writes P; gunicorn's new master
// writes P.2 and renames it to P when the old master has gone.
//
// Pitfalls: the variables must be read and cleared before anything else
// opens an fd, so fds 3, … are still what the old master passed; a new
// master whose parent is already gone when it starts is simply in charge
// (it was orphaned before it looked); a new master never daemonizes again.
// Package manager drives the hand-over through its Handover interface,
// which *Master implements; the manager decides when, this package does
// the file and process work.
package handover
