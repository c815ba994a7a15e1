package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watcher reports changes under a set of paths, debounced: a burst of
// events (a git checkout, an editor's save dance) gives one callback once
// the paths have been quiet for the debounce interval.
//
// It watches directories, never files alone, because editors save by
// writing a temporary file and renaming it over the original, which ends an
// inotify watch on the original's inode. A file path is watched through its
// directory with a filter on its name; a directory path is watched
// recursively, including directories created later. Editor droppings
// (*.swp, *.swx, *.swo, *~, .#*, #*#, vim's 4913) and anything under .git
// are ignored. Chmod-only events are ignored too: indexers and backup tools
// touch attributes all day.
type Watcher struct {
	fsw      *fsnotify.Watcher
	debounce time.Duration
	onChange func(string)

	// trees and files are only touched by the run goroutine after
	// NewWatcher returns.
	trees map[string]bool            // directories whose every entry counts
	files map[string]map[string]bool // directory → the names in it that count

	done      chan struct{}
	exited    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// NewWatcher starts watching paths and calls onChange(path) once per burst
// of changes, after debounce of quiet, with the last path that changed (""
// when the kernel dropped events and the watcher cannot say which).
// onChange runs on the watcher's own goroutine, one call at a time; it
// should only hand the event on (a non-blocking send to the manager) and
// must not call Close. A path that cannot be watched (missing, unreadable,
// out of inotify watches) is an error naming it, and nothing is left
// running.
func NewWatcher(paths []string, debounce time.Duration, onChange func(path string)) (*Watcher, error) {
	if onChange == nil {
		return nil, errors.New("watch: onChange must not be nil")
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	w := &Watcher{
		fsw:      fsw,
		debounce: debounce,
		onChange: onChange,
		trees:    map[string]bool{},
		files:    map[string]map[string]bool{},
		done:     make(chan struct{}),
		exited:   make(chan struct{}),
	}
	for _, p := range paths {
		if err := w.add(filepath.Clean(p)); err != nil {
			fsw.Close()
			return nil, fmt.Errorf("watch %s: %w", p, err)
		}
	}
	go w.run()
	return w, nil
}

func (w *Watcher) add(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return unwrapPath(err)
	}
	if fi.IsDir() {
		return w.addTree(p)
	}
	dir, name := filepath.Split(p)
	dir = filepath.Clean(dir)
	if err := w.addDir(dir); err != nil {
		return err
	}
	if w.files[dir] == nil {
		w.files[dir] = map[string]bool{}
	}
	w.files[dir][name] = true
	return nil
}

// addTree watches root and every directory below it that is not ignored.
func (w *Watcher) addTree(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			// Only the root must be readable; a subdirectory that vanished or
			// is private is not worth refusing to start over.
			if p == root {
				return unwrapPath(err)
			}
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		if p != root && ignored(d.Name()) {
			return filepath.SkipDir
		}
		if err := w.addDir(p); err != nil {
			return err
		}
		w.trees[p] = true
		return nil
	})
}

func (w *Watcher) addDir(dir string) error {
	if err := w.fsw.Add(dir); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("%s: %w; raise fs.inotify.max_user_watches or watch fewer directories", dir, err)
		}
		return fmt.Errorf("%s: %w", dir, unwrapPath(err))
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ignored reports whether a base name is an editor's temporary file or a
// directory no one means to watch.
func ignored(name string) bool {
	switch {
	case name == ".git", name == "4913", // vim probes a directory by creating 4913
		strings.HasSuffix(name, "~"),
		strings.HasPrefix(name, ".#"),
		len(name) > 1 && strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#"),
		strings.HasSuffix(name, ".swp"), strings.HasSuffix(name, ".swx"), strings.HasSuffix(name, ".swo"):
		return true
	}
	return false
}

// relevant reports whether an event should count towards a callback.
func (w *Watcher) relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod || ev.Op == 0 {
		return false
	}
	dir, name := filepath.Split(ev.Name)
	dir = filepath.Clean(dir)
	if ignored(name) {
		return false
	}
	for _, part := range strings.Split(filepath.ToSlash(dir), "/") {
		if part == ".git" {
			return false
		}
	}
	// Kubernetes updates a mounted ConfigMap by swapping the ..data symlink
	// the visible files point through; the files themselves never change.
	if name == "..data" && w.files[dir] != nil {
		return true
	}
	return w.trees[dir] || w.files[dir][name]
}

func (w *Watcher) run() {
	defer close(w.exited)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var last string
	for {
		select {
		case <-w.done:
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			if !w.relevant(ev) {
				continue
			}
			if ev.Has(fsnotify.Create) && w.trees[filepath.Dir(ev.Name)] {
				// A new directory in a watched tree is watched too; the
				// files created in it before this returns are missed,
				// but the directory's own creation already counts.
				if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
					_ = w.addTree(ev.Name) // best effort: it may already be gone
				}
			}
			last = ev.Name
			timer.Reset(w.debounce)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			// An overflow means events were lost, so something may have
			// changed unseen: treat it as a change rather than miss one.
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				timer.Reset(w.debounce)
			}
		case <-timer.C:
			w.onChange(last)
			last = ""
		}
	}
}

// Close stops the watcher and waits for its goroutine: once Close returns,
// onChange is not running and will not be called again. Close is safe to
// call more than once.
func (w *Watcher) Close() error {
	w.closeOnce.Do(func() {
		close(w.done)
		<-w.exited
		w.closeErr = w.fsw.Close()
	})
	return w.closeErr
}
