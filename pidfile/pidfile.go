package pidfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// Errors of this package, tested with errors.Is.
var (
	// ErrRunning means the pidfile names a live pmux. The error is a
	// *RunningError carrying the path and the pid.
	ErrRunning = errors.New("already running")
	// ErrMalformed means a pidfile does not hold a pid.
	ErrMalformed = errors.New("malformed content")
	// ErrNotOurs means a pidfile holds another process's pid, so Rename
	// refused to move it.
	ErrNotOurs = errors.New("not our pidfile")
	// ErrNotSupported means this system cannot tell whether a pid is alive.
	ErrNotSupported = errors.New("not supported on this system")
)

// StaleUnreadable is the stale pid Acquire reports when the file it replaced
// held no valid pid at all (empty, garbage, truncated).
const StaleUnreadable = -1

// maxSize bounds how much of a pidfile is read: a pid and a newline are at
// most 11 bytes, and a path pointed at a huge file must not be slurped.
const maxSize = 64

// RunningError reports that the pidfile at Path names a live pmux, Pid.
type RunningError struct {
	Path string
	Pid  int
}

func (e *RunningError) Error() string {
	return fmt.Sprintf("pidfile %s: pmux already running as pid %d (stop it first, or remove the file if that is wrong)",
		e.Path, e.Pid)
}

// Unwrap makes errors.Is(err, ErrRunning) true.
func (e *RunningError) Unwrap() error { return ErrRunning }

// Oldbin returns where the unicorn-profile upgrade moves pidfile path while
// the old master waits to be committed or rolled back.
func Oldbin(path string) string { return path + ".oldbin" }

// Next returns where a gunicorn-profile new master writes its pid until the
// old master is gone.
func Next(path string) string { return path + ".2" }

// Read returns the pid in the pidfile at path. A missing file is an error
// wrapping fs.ErrNotExist; content that is not a pid, ErrMalformed.
// Surrounding ASCII white space is accepted, as other tools write the file
// without the newline.
func Read(path string) (int, error) {
	pid, err := read(path)
	if err != nil {
		return 0, fmt.Errorf("read pidfile %s: %w", path, err)
	}
	return pid, nil
}

// read is Read without the operation prefix, for the callers that add their
// own.
func read(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, cause(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return 0, cause(err)
	}
	return parse(b)
}

// parse returns the pid in pidfile content b.
func parse(b []byte) (int, error) {
	s := bytes.TrimSpace(b)
	if len(b) <= maxSize && len(s) > 0 && len(s) <= 10 && digits(s) {
		if n, err := strconv.Atoi(string(s)); err == nil && n > 0 && n <= math.MaxInt32 {
			return n, nil
		}
	}
	if len(b) > 32 {
		b = append(b[:32:32], "..."...)
	}
	return 0, fmt.Errorf("%w %q (want PID and a newline)", ErrMalformed, b)
}

func digits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Write atomically makes the pidfile at path hold pid: it writes a temporary
// file in path's directory and renames it over path, so a reader sees the
// old content or the new, never a mix. The directory must exist. On failure
// path is unchanged and no temporary file is left.
func Write(path string, pid int) error {
	if pid <= 0 || pid > math.MaxInt32 {
		return fmt.Errorf("write pidfile %s: invalid pid %d", path, pid)
	}
	// Same directory as path: rename(2) is atomic only within one file system.
	// Hidden and suffixed so nothing mistakes it for a pidfile.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write pidfile %s: %w", path, cause(err))
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.WriteString(strconv.Itoa(pid) + "\n"); err != nil {
		return fmt.Errorf("write pidfile %s: %w", path, cause(err))
	}
	// CreateTemp makes the file 0600; a pidfile is for other users and
	// tools to read, as unicorn's and nginx's are.
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("write pidfile %s: %w", path, cause(err))
	}
	// No fsync: a pidfile only means something while this boot lasts, and a
	// file emptied by a crash reads as stale, which Acquire replaces.
	if err := f.Close(); err != nil {
		return fmt.Errorf("write pidfile %s: %w", path, cause(err))
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		done = true
		return fmt.Errorf("write pidfile %s: %w", path, cause(err))
	}
	done = true
	return nil
}

// Acquire claims the pidfile at path for pid, the caller's own pid. A file
// naming a live pmux other than pid is refused with a *RunningError. Any
// other existing file is replaced: stale is the pid it held (a dead process
// or one that is not a pmux), StaleUnreadable if it held no valid pid, and 0
// if there was no file or it already held pid.
func Acquire(path string, pid int) (stale int, err error) {
	return acquire(path, pid, IsPmux)
}

// acquire is Acquire with the pmux test injectable, so tests can take both
// branches without a real second pmux.
func acquire(path string, pid int, isPmux func(pid int) bool) (stale int, err error) {
	if pid <= 0 || pid > math.MaxInt32 {
		return 0, fmt.Errorf("acquire pidfile %s: invalid pid %d", path, pid)
	}
	if err := supported(); err != nil {
		return 0, fmt.Errorf("acquire pidfile %s: %w", path, err)
	}
	old, err := read(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		stale = 0
	case errors.Is(err, ErrMalformed):
		stale = StaleUnreadable
	case err != nil:
		return 0, fmt.Errorf("acquire pidfile %s: %w", path, err)
	case old == pid:
		// Ours already: a restart that kept its pid, such as pmux as PID 1
		// in a container whose pidfile lives on a volume.
		stale = 0
	case isPmux(old):
		return 0, &RunningError{Path: path, Pid: old}
	default:
		stale = old
	}
	if err := Write(path, pid); err != nil {
		return 0, err
	}
	return stale, nil
}

// Remove deletes the pidfile at path if it holds pid. A missing file, or one
// that holds another pid or no pid (a new master took the path over, or
// someone else wrote it), is left alone and is not an error.
func Remove(path string, pid int) error {
	old, err := read(path)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, ErrMalformed):
		return nil
	case err != nil:
		return fmt.Errorf("remove pidfile %s: %w", path, err)
	case old != pid:
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove pidfile %s: %w", path, cause(err))
	}
	return nil
}

// Rename atomically moves the pidfile at from to to, replacing any file at
// to, if from holds pid. A from that holds another pid is an error wrapping
// ErrNotOurs; a missing one wraps fs.ErrNotExist. The upgrade uses it for
// P → P.oldbin, P.oldbin → P (rollback) and P.2 → P.
func Rename(from, to string, pid int) error {
	old, err := read(from)
	if err != nil {
		return fmt.Errorf("rename pidfile %s to %s: %w", from, to, err)
	}
	if old != pid {
		return fmt.Errorf("rename pidfile %s to %s: %w (it holds pid %d, not %d)", from, to, ErrNotOurs, old, pid)
	}
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("rename pidfile %s to %s: %w", from, to, cause(err))
	}
	return nil
}

// cause strips the *fs.PathError or *os.LinkError around a system error: the
// messages of this package name the path already, once.
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
