package master

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/pmux/pmux/spawn"
)

// Before any worker starts, pmux checks that the workers' user can run the
// workers' program: every directory on the way searchable, the file
// executable, by the mode bits for that uid and its groups. Without the
// check a program --user cannot reach fails in the child after exec, as
// exit 127 on every respawn; with it the start (or the reload) fails once,
// naming the program. The kernel has the last word at exec: where a file
// or directory carries an ACL, which the mode bits do not tell, the check
// lets it pass rather than refuse what the ACL may allow.

// errPermission is the cause of a program the workers' user cannot run.
var errPermission = errors.New("permission denied")

// commandError says why the workers' program cannot run: it is missing, is
// no program, or is out of the workers' user's reach. resolvePool marks it
// a runtime failure, for check as for run.
type commandError struct {
	name string // as configured
	err  error
}

func (e *commandError) Error() string { return "command " + e.name + ": " + e.err.Error() }
func (e *commandError) Unwrap() error { return e.err }

// runner is who runs the workers' program.
type runner struct {
	uid  uint32
	gids []uint32 // the primary group, then the supplementary ones
	desc string   // "user nobody", or pmux's own "uid 1000"
}

// workerRunner is the user of workers started with cred (nil: pmux's own).
func workerRunner(cred *syscall.Credential, userName string) runner {
	if cred == nil {
		uid := uint32(os.Geteuid())
		return runner{uid: uid, gids: append([]uint32{uint32(os.Getegid())}, ownGroups()...), desc: "uid " + strconv.Itoa(int(uid))}
	}
	r := runner{uid: cred.Uid, gids: append([]uint32{cred.Gid}, cred.Groups...), desc: "uid " + strconv.Itoa(int(cred.Uid))}
	if cred.NoSetGroups {
		r.gids = append(r.gids, ownGroups()...) // the workers keep pmux's
	}
	if userName != "" {
		r.desc = "user " + userName
	}
	return r
}

// ownGroups are pmux's supplementary groups.
func ownGroups() []uint32 {
	groups, _ := os.Getgroups()
	out := make([]uint32, len(groups))
	for i, g := range groups {
		out[i] = uint32(g)
	}
	return out
}

// lookCommand resolves the program the workers run, with the workers' PATH
// and working directory, as who would find it, so a typo or a program out
// of reach fails the start instead of every spawn. A PATH search goes on
// past a program who may not run, as execvp does, and reports it only when
// nothing later in PATH will do.
func lookCommand(name, path, dir string, who runner) (string, error) {
	if strings.Contains(name, "/") {
		full := name
		if !filepath.IsAbs(full) && dir != "" {
			full = filepath.Join(dir, full)
		}
		full, err := filepath.Abs(full)
		if err == nil {
			err = checkRunnable(full, who)
		}
		if err != nil {
			return "", &commandError{name, err}
		}
		return full, nil
	}
	var denied error
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		full, err := filepath.Abs(filepath.Join(d, name))
		if err != nil {
			continue
		}
		err = checkRunnable(full, who)
		if err == nil {
			return full, nil
		}
		if denied == nil && (errors.Is(err, errPermission) || errors.Is(err, fs.ErrPermission)) {
			denied = fmt.Errorf("%s: %w", full, err)
		}
	}
	if denied != nil {
		return "", &commandError{strconv.Quote(name), denied}
	}
	return "", &commandError{strconv.Quote(name), fmt.Errorf("not found in PATH %q: install it, or give its full path", path)}
}

// checkRunnable says why who cannot run the program at the absolute path
// full, or returns nil. The directories of the path as written and, when a
// symbolic link leads elsewhere, of its target are checked for search, the
// file for execute.
func checkRunnable(full string, who runner) error {
	fi, err := os.Stat(full)
	if err != nil {
		return PathCause(err)
	}
	if fi.IsDir() {
		return errors.New("is a directory, not a program")
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return errors.New("not executable: chmod +x it")
	}
	if who.uid == 0 {
		return nil // root searches every directory; any x bit lets it execute
	}
	if err := who.reach(full); err != nil {
		return err
	}
	return who.may(full, "execute", "it")
}

// reach checks that who may search every directory above full, as written
// and, when a symbolic link leads elsewhere, above its target.
func (r runner) reach(full string) error {
	dirs := parentDirs(full)
	if real, err := filepath.EvalSymlinks(full); err == nil && real != full {
		for _, d := range parentDirs(real) {
			if !slices.Contains(dirs, d) {
				dirs = append(dirs, d)
			}
		}
	}
	for _, d := range dirs {
		if err := r.may(d, "search", d); err != nil {
			return err
		}
	}
	return nil
}

// checkWorkDir says why who cannot work in dir (--chdir), which the spawn
// would otherwise report as the program failing to start.
func checkWorkDir(dir string, who runner) error {
	full, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	fi, err := os.Stat(full)
	if err != nil {
		return PathCause(err)
	}
	if !fi.IsDir() {
		return errors.New("not a directory")
	}
	if who.uid == 0 {
		return nil
	}
	if err := who.reach(full); err != nil {
		return err
	}
	return who.may(full, "search", full)
}

// parentDirs lists the directories above full, from the root down.
func parentDirs(full string) []string {
	var dirs []string
	for d := filepath.Dir(full); ; d = filepath.Dir(d) {
		dirs = append(dirs, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	slices.Reverse(dirs)
	return dirs
}

// may checks the x bit of path's owner, group or other class, whichever
// applies to r, as the kernel picks it; verb and shown word the refusal.
func (r runner) may(path, verb, shown string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return PathCause(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || hasACL(path) {
		return nil
	}
	class, shift := "o", 0
	switch {
	case r.uid == st.Uid:
		class, shift = "u", 6
	case slices.Contains(r.gids, st.Gid):
		class, shift = "g", 3
	}
	if fi.Mode().Perm()>>shift&0o1 != 0 {
		return nil
	}
	return fmt.Errorf("%w: %s cannot %s %s (%v, owner uid %d, group gid %d): chmod %s+x %s, or run the workers as a user who can",
		errPermission, r.desc, verb, shown, fi.Mode(), st.Uid, st.Gid, class, path)
}

// checkSelfRunnable: every worker starts as pmux itself (the exec shim),
// already as the workers' user, so that user must be able to execute
// pmux's own binary too.
func checkSelfRunnable(who runner) error {
	if who.uid == 0 {
		return nil
	}
	self, err := spawn.SelfExecutable()
	if err != nil {
		return nil // the spawner will say so at the first start
	}
	if err := who.may(self, "execute", "it"); err != nil {
		real, _ := filepath.EvalSymlinks(self)
		return &commandError{"pmux (" + real + ", which starts every worker)", err}
	}
	return nil
}

// shellExecTarget returns the program of a command that is a shell running
// `exec PROG …`, when PROG is a plain word (no quoting, expansion or
// assignment): the shell would look it up in PATH as exec's argument.
func shellExecTarget(args []string) (string, bool) {
	if len(args) != 3 || args[1] != "-c" {
		return "", false
	}
	switch filepath.Base(args[0]) {
	case "sh", "bash", "dash", "ash", "zsh", "ksh":
	default:
		return "", false
	}
	rest, ok := strings.CutPrefix(args[2], "exec ")
	if !ok {
		return "", false
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", false
	}
	prog := fields[0]
	if strings.HasPrefix(prog, "-") || strings.ContainsFunc(prog, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_./@%+,:-", r))
	}) {
		return "", false
	}
	return prog, true
}
