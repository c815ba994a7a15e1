package sockets

import (
	"context"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var (
	// ErrNotSupported reports a feature this platform lacks (abstract unix
	// sockets outside Linux; anything but unix systems).
	ErrNotSupported = errors.New("not supported on this platform")
	// ErrNotSocket reports an fd or a path that is not a socket.
	ErrNotSocket = errors.New("not a socket")
	// ErrNotListening reports a socket that is not a listening stream socket.
	ErrNotListening = errors.New("not a listening stream socket")
	// ErrDuplicate reports a bind listed twice, or one socket adopted twice.
	ErrDuplicate = errors.New("listed twice")
	// ErrNoActivation reports a systemd bind that no LISTEN_FDS socket matches.
	ErrNoActivation = errors.New("no matching LISTEN_FDS socket")
)

// BindError reports a spec that Open could not bind or adopt. Its message
// is one line: "bind tcp://127.0.0.1:8000: address already in use (is
// another server running? pick another port)". Err is the cause, so
// errors.Is(err, syscall.EADDRINUSE) works.
type BindError struct {
	Op   string // "bind", "adopt" (fd://, systemd) or "inherit" (upgrade hand-over)
	Bind string // the spec as written by Spec.String
	Err  error
	Hint string // the likely fix, or ""
}

func (e *BindError) Error() string {
	s := e.Op + " " + e.Bind + ": " + e.Err.Error()
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

func (e *BindError) Unwrap() error { return e.Err }

func bindError(spec Spec, err error, hint string) *BindError {
	return &BindError{Op: "bind", Bind: spec.String(), Err: err, Hint: hint}
}

// Listener is a listening socket the master holds. The master never accepts
// on it and never changes its O_NONBLOCK flag after hand-over: it is kept in
// blocking mode, as systemd hands sockets, because the open file description
// (and so O_NONBLOCK) is shared with every worker. Never pass File to
// net.FileListener in the master: that would make it non-blocking for all.
//
// A Listener is owned by one goroutine; close it once, with Close or
// CloseKeepPath.
type Listener struct {
	Spec Spec
	// File is close-on-exec in the master and in blocking mode (so Go's
	// poller never registers it). Hand it to workers as an extra file.
	File *os.File
	// Adopted is true for sockets from fd:// or systemd: pmux did not bind
	// them and never unlinks their path.
	Adopted bool
	// Inherited is true for sockets handed over by an old master in a binary
	// upgrade (OpenOptions.Inherited). An inherited unix socket is not
	// Adopted: its path belongs to the pmux lineage, and Close unlinks it, so
	// a master that may still hand the path back (an upgrade it started, or a
	// rollback that ends it) must use CloseKeepPath.
	Inherited bool

	key  string
	name string
	addr string
	port int
	// unlinkPath is the absolute socket path Close removes; "" when Close
	// must leave the path alone (adopted, abstract, TCP, or already done).
	unlinkPath string
}

// Name returns the socket's name for the workers' LISTEN_FDNAMES: the
// ?name= option, else the LISTEN_FDNAMES name it was adopted under, else one
// derived from the bound address: "tcp-8000" or "unix-web.sock". It never
// contains ':'.
func (l *Listener) Name() string { return l.name }

// Addr returns the bound address, after port 0 is resolved: "127.0.0.1:41234",
// "[::1]:8000", or the unix path ("@name" for an abstract socket).
func (l *Listener) Addr() string { return l.addr }

// Port returns the TCP port actually bound, for adopted TCP sockets too, and
// 0 for unix sockets.
func (l *Listener) Port() int { return l.port }

// Key returns the key to hand this listener to a successor under, in
// OpenOptions.Inherited. It is Spec.String(), except that a systemd spec
// can yield several listeners, so theirs is
// Spec.String()+"#"+index+"#"+LISTEN_FDNAMES name.
func (l *Listener) Key() string { return l.key }

// Close closes the socket and unlinks the unix socket file that pmux bound
// (never an adopted or abstract one, and never a path that is no longer a
// socket). Use it when pmux stops for good.
func (l *Listener) Close() error {
	var errs []error
	if l.unlinkPath != "" {
		// Unlink before close: once the fd is closed another server may
		// bind the path, and its file must survive us.
		errs = append(errs, removeSocketFile(l.unlinkPath))
		l.unlinkPath = ""
	}
	errs = append(errs, l.File.Close())
	return errors.Join(errs...)
}

// CloseKeepPath closes the socket but leaves its file: in an upgrade
// hand-off the other master still serves on that path.
func (l *Listener) CloseKeepPath() error {
	l.unlinkPath = ""
	return l.File.Close()
}

// removeSocketFile unlinks path if it is still a socket. Something else at
// the path (a file someone put there after us) is not ours to delete.
func removeSocketFile(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.Mode().Type() != fs.ModeSocket:
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// NamedFile is an inherited descriptor with its LISTEN_FDNAMES name.
type NamedFile struct {
	Name string
	File *os.File
}

// OpenOptions are the sockets Open may adopt instead of binding.
//
// Open never takes ownership of these files: it adopts close-on-exec
// duplicates, so the caller closes every file in Inherited and Systemd once
// Open returns, whatever the result. (A file left open without close-on-exec
// would leak into every worker.)
type OpenOptions struct {
	// Inherited holds the listening sockets an old master handed over in a
	// binary upgrade, keyed by Listener.Key of the listener they were. A
	// spec found here is adopted instead of bound: no re-bind, no lost
	// connection.
	Inherited map[string]*os.File
	// Systemd holds pmux's own LISTEN_FDS files, from ListenFDs.
	Systemd []NamedFile
	// Resolver looks up the host names of TCP binds; nil is
	// net.DefaultResolver. Each lookup gets LookupTimeout (zero is
	// DefaultLookupTimeout): a resolver that never answers fails the bind
	// instead of holding up a start or a reload for good.
	Resolver      Resolver
	LookupTimeout time.Duration
}

// DefaultLookupTimeout bounds the host name lookup of a TCP bind: longer
// than a resolver's own retries (resolv.conf's default is 5 s a try), short
// enough that a reload stuck on a dead DNS server says so.
const DefaultLookupTimeout = 10 * time.Second

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// sockID identifies a socket across descriptors (fstat's device and inode),
// so one socket adopted twice is caught.
type sockID struct{ dev, ino uint64 }

// sockInfo describes a listening socket, as getsockname reports it.
type sockInfo struct {
	tcp  bool
	addr string
	port int
	id   sockID
}

// Open binds or adopts every spec in order and returns one listener per
// spec, except that a systemd spec yields one per matching LISTEN_FDS
// socket. On error it first closes whatever it had opened (unlinking the
// socket files it created), so nothing is left behind. Errors are
// *SpecError for a Spec that Parse would not return, else *BindError.
func Open(specs []Spec, opts OpenOptions) ([]*Listener, error) {
	return OpenContext(context.Background(), specs, opts)
}

// OpenContext is Open whose host name lookups also end when ctx does: a
// master that stops while a reload waits on DNS does not wait with it.
func OpenContext(ctx context.Context, specs []Spec, opts OpenOptions) (_ []*Listener, err error) {
	o := &opener{
		ctx:     ctx,
		opts:    opts,
		claimed: make([]bool, len(opts.Systemd)),
		seen:    make(map[string]bool),
		ids:     make(map[sockID]string),
	}
	defer func() {
		if err != nil {
			o.abort()
		}
	}()
	for _, spec := range specs {
		if err := spec.validate(); err != nil {
			return nil, err
		}
		str := spec.String()
		if o.seen[str] {
			return nil, &BindError{Op: "bind", Bind: str, Err: ErrDuplicate, Hint: "remove the repeated bind"}
		}
		o.seen[str] = true
		if err := o.open(spec); err != nil {
			return nil, err
		}
	}
	return o.ls, nil
}

type opener struct {
	ctx     context.Context // bounds host name lookups, with opts.LookupTimeout
	opts    OpenOptions
	claimed []bool // opts.Systemd[i] already adopted by an earlier spec
	seen    map[string]bool
	ids     map[sockID]string // socket → key of the listener holding it
	ls      []*Listener
}

func (o *opener) open(spec Spec) error {
	str := spec.String()
	if spec.Kind == KindSystemd {
		return o.openSystemd(spec)
	}
	if f := o.opts.Inherited[str]; f != nil {
		return o.adoptFile(spec, str, "", f, true)
	}
	switch spec.Kind {
	case KindTCP:
		fd, info, err := bindTCP(o.ctx, spec, o.opts)
		if err != nil {
			return err
		}
		return o.add(o.newListener(spec, fd, info, str, ""), info)
	case KindUnix:
		fd, info, unlinkPath, err := bindUnix(spec)
		if err != nil {
			return err
		}
		l := o.newListener(spec, fd, info, str, "")
		l.unlinkPath = unlinkPath
		return o.add(l, info)
	default: // KindFD; validate admits no other kind
		info, err := adoptFD(spec.FD)
		if err != nil {
			return &BindError{Op: "adopt", Bind: str, Err: err, Hint: fdHint(err, spec.FD)}
		}
		l := o.newListener(spec, spec.FD, info, str, "")
		l.Adopted = true
		return o.add(l, info)
	}
}

func fdHint(err error, fd int) string {
	switch {
	case errors.Is(err, syscall.EBADF):
		return "start pmux with the listening socket on fd " + strconv.Itoa(fd)
	case errors.Is(err, ErrNotListening):
		return "the process that started pmux must bind and listen before handing the fd over"
	}
	return ""
}

// openSystemd adopts the sockets of a systemd spec: those an old master
// handed over for it, else the matching unclaimed LISTEN_FDS sockets.
func (o *opener) openSystemd(spec Spec) error {
	str := spec.String()
	if inh := inheritedSystemd(o.opts.Inherited, str); len(inh) > 0 {
		for i, e := range inh {
			if err := o.adoptFile(spec, systemdKey(str, i, e.name), e.name, e.file, true); err != nil {
				return err
			}
		}
		return nil
	}
	n := 0
	var unclaimed []string
	for i, nf := range o.opts.Systemd {
		if o.claimed[i] {
			continue
		}
		if spec.SystemdName != "" && nf.Name != spec.SystemdName {
			unclaimed = append(unclaimed, strconv.Quote(nf.Name))
			continue
		}
		o.claimed[i] = true
		if err := o.adoptFile(spec, systemdKey(str, n, nf.Name), nf.Name, nf.File, false); err != nil {
			return err
		}
		n++
	}
	if n > 0 {
		return nil
	}
	e := &BindError{Op: "adopt", Bind: str, Err: ErrNoActivation}
	switch {
	case len(o.opts.Systemd) == 0:
		e.Hint = "pmux was not socket-activated: LISTEN_FDS is unset or for another process"
	case len(unclaimed) == 0:
		e.Hint = "every LISTEN_FDS socket is taken by an earlier bind"
	default:
		e.Hint = "unclaimed LISTEN_FDNAMES: " + strings.Join(unclaimed, ", ")
	}
	return e
}

func systemdKey(spec string, i int, name string) string {
	return spec + "#" + strconv.Itoa(i) + "#" + name
}

type inheritedEntry struct {
	index int
	name  string
	file  *os.File
}

// inheritedSystemd returns the files handed over for the systemd spec str,
// in their old order, with their LISTEN_FDNAMES names (keys from systemdKey).
func inheritedSystemd(inherited map[string]*os.File, str string) []inheritedEntry {
	var out []inheritedEntry
	prefix := str + "#"
	for key, f := range inherited {
		rest, ok := strings.CutPrefix(key, prefix)
		if !ok || f == nil {
			continue
		}
		idx, name, ok := strings.Cut(rest, "#")
		i, isNum := parseDecimal(idx, maxFD)
		if !ok || !isNum {
			continue
		}
		out = append(out, inheritedEntry{index: i, name: name, file: f})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].index < out[b].index })
	return out
}

// adoptFile adopts a close-on-exec duplicate of f (see OpenOptions).
func (o *opener) adoptFile(spec Spec, key, sysName string, f *os.File, inherited bool) error {
	op := "adopt"
	if inherited {
		op = "inherit"
	}
	fail := func(err error) error { return &BindError{Op: op, Bind: key, Err: err} }
	if err := inspectFile(f); err != nil {
		return fail(err)
	}
	fd, err := dupFile(f)
	if err != nil {
		return fail(err)
	}
	info, err := adoptFD(fd)
	if err == nil && inherited {
		err = checkInherited(spec, info)
	}
	if err != nil {
		closeFD(fd)
		return fail(err)
	}
	l := o.newListener(spec, fd, info, key, sysName)
	l.Adopted = spec.Kind == KindFD || spec.Kind == KindSystemd
	l.Inherited = inherited
	if inherited && spec.Kind == KindUnix && !strings.HasPrefix(spec.Path, "@") {
		// The lineage created this path; whichever master stops for good
		// last unlinks it.
		l.unlinkPath = absPath(spec.Path)
	}
	return o.add(l, info)
}

// checkInherited catches a hand-over that mixed up its keys: the socket
// must be what the spec describes.
func checkInherited(spec Spec, info sockInfo) error {
	switch spec.Kind {
	case KindTCP:
		if !info.tcp || (spec.Port != 0 && info.port != spec.Port) {
			return errors.New("handed-over socket is bound to " + info.addr + ", not to this address")
		}
	case KindUnix:
		if info.tcp || info.addr != spec.Path {
			return errors.New("handed-over socket is bound to " + info.addr + ", not to this path")
		}
	}
	return nil
}

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	// Abs fails only when the working directory is gone; the relative path
	// is then the best we have.
	return p
}

func (o *opener) newListener(spec Spec, fd int, info sockInfo, key, sysName string) *Listener {
	l := &Listener{
		Spec: spec,
		File: os.NewFile(uintptr(fd), key),
		key:  key,
		addr: info.addr,
		port: info.port,
	}
	switch {
	case spec.Name != "":
		l.name = spec.Name
	case sysName != "":
		l.name = sysName
	default:
		l.name = deriveName(info)
	}
	return l
}

// add records l, so abort closes it even when add refuses it.
func (o *opener) add(l *Listener, info sockInfo) error {
	o.ls = append(o.ls, l)
	if other, dup := o.ids[info.id]; dup {
		return &BindError{Op: "adopt", Bind: l.key, Err: ErrDuplicate, Hint: "it is the same socket as " + other}
	}
	o.ids[info.id] = l.key
	return nil
}

// abort closes everything opened so far. Cleanup errors are dropped: the
// error that made Open fail is the one worth reporting, and nothing can be
// done about failing to close a descriptor we own.
func (o *opener) abort() {
	for i := len(o.ls) - 1; i >= 0; i-- {
		l := o.ls[i]
		if l.Inherited {
			// The old master still serves on the path.
			_ = l.CloseKeepPath()
		} else {
			_ = l.Close()
		}
	}
}

// deriveName names a socket after its address. Names must fit
// LISTEN_FDNAMES, so anything outside the name alphabet becomes '_'.
func deriveName(info sockInfo) string {
	if info.tcp {
		return "tcp-" + strconv.Itoa(info.port)
	}
	base := strings.TrimPrefix(filepath.Base(info.addr), "@")
	b := []byte("unix-" + base)
	for i, c := range b {
		if !isNameByte(c) {
			b[i] = '_'
		}
	}
	if len(b) > maxNameLen {
		b = b[:maxNameLen]
	}
	return string(b)
}

func backlog(spec Spec) int {
	if spec.Backlog == 0 {
		return DefaultBacklog
	}
	return spec.Backlog
}
