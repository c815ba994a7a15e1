package logs

import (
	"fmt"
	"os"
	"sync"
	"syscall"
)

// File is an append-only log file that can be reopened (logrotate moves it,
// USR1 → Reopen) without losing or splitting a line: every Write is one whole
// record, done under a lock, and Reopen swaps the fd under the same lock.
// Opened O_APPEND|O_CREATE|O_WRONLY|O_CLOEXEC, 0644.
//
// A File is safe for concurrent use.
type File struct {
	path string

	mu     sync.Mutex
	f      *os.File
	closed bool
}

// OpenFile opens path for appending, creating it if needed.
func OpenFile(path string) (*File, error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	return &File{path: path, f: f}, nil
}

func openAppend(path string) (*os.File, error) {
	// os adds O_CLOEXEC on its own; it is spelled out because a log fd
	// reaching a worker would break the "only the listeners" invariant.
	// O_APPEND makes each write land whole at the end even when another
	// process (or another File on the same path) appends too.
	return os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY|syscall.O_CLOEXEC, 0o644)
}

// Write appends p as one record. It returns the error of the underlying
// write (disk full, EIO) without retrying, so a failing disk never blocks
// the caller; after Close it fails with os.ErrClosed.
func (f *File) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, &os.PathError{Op: "write", Path: f.path, Err: os.ErrClosed}
	}
	return f.f.Write(p)
}

// Reopen opens the path anew and then swaps it in, so records written after
// Reopen returns go to whatever file is at the path now (a fresh one after
// logrotate's rename), and every record before went whole to the old one. If
// the open fails the File keeps writing to the old fd and the error is
// returned.
func (f *File) Reopen() error {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return &os.PathError{Op: "reopen", Path: f.path, Err: os.ErrClosed}
	}

	// Open outside the lock: on a slow filesystem writers keep going to the
	// old fd meanwhile instead of queueing behind the open.
	nf, err := openAppend(f.path)
	if err != nil {
		return fmt.Errorf("reopen log: %w", err)
	}

	f.mu.Lock()
	if f.closed {
		// Close raced with us; the new fd has no owner but us.
		f.mu.Unlock()
		nf.Close()
		return &os.PathError{Op: "reopen", Path: f.path, Err: os.ErrClosed}
	}
	old := f.f
	f.f = nf
	f.mu.Unlock()

	// No writer can hold old any more: every Write reads f.f under the lock.
	if err := old.Close(); err != nil {
		return fmt.Errorf("reopen log: close old fd: %w", err)
	}
	return nil
}

// Close closes the file. Later Writes and Reopens fail with os.ErrClosed.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return &os.PathError{Op: "close", Path: f.path, Err: os.ErrClosed}
	}
	f.closed = true
	return f.f.Close()
}

// Path returns the path the File was opened with, which Reopen opens again.
func (f *File) Path() string {
	return f.path
}

// isTerminal reports whether the current fd is a terminal (--log-file
// /dev/tty), so the auto format can pick the console writer for it.
func (f *File) isTerminal() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.closed && IsTerminal(f.f)
}
