//go:build unix

package sockets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// bindTCP creates, binds and listens on a blocking, close-on-exec TCP
// socket. It uses raw syscalls because net.Listen would leave the socket
// non-blocking, and that flag lives on the description workers share.
func bindTCP(ctx context.Context, spec Spec, opts OpenOptions) (int, sockInfo, error) {
	sa, family, err := resolveTCP(ctx, spec, opts)
	if err != nil {
		hint := ""
		if errors.Is(err, context.DeadlineExceeded) {
			hint = "is the DNS server in /etc/resolv.conf up? or bind an IP address"
		}
		return -1, sockInfo{}, bindError(spec, err, hint)
	}
	fd, err := newTCPSocket(family)
	if err != nil {
		return -1, sockInfo{}, bindError(spec, err, "")
	}
	ok := false
	defer func() {
		if !ok {
			closeFD(fd)
		}
	}()
	if err := unix.Bind(fd, sa); err != nil {
		return -1, sockInfo{}, bindError(spec, err, tcpHint(err, spec.Port))
	}
	if err := unix.Listen(fd, backlog(spec)); err != nil {
		return -1, sockInfo{}, bindError(spec, os.NewSyscallError("listen", err), "")
	}
	info, err := inspect(fd)
	if err != nil {
		return -1, sockInfo{}, bindError(spec, err, "")
	}
	ok = true
	return fd, info, nil
}

// newTCPSocket creates an unbound TCP socket with pmux's options set.
func newTCPSocket(family int) (int, error) {
	fd, err := newSocket(family)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	// SO_REUSEADDR lets a restarted pmux bind while old connections sit in
	// TIME_WAIT; it never lets two listeners share a port.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		closeFD(fd)
		return -1, os.NewSyscallError("setsockopt SO_REUSEADDR", err)
	}
	if family == unix.AF_INET6 {
		// An IPv6 bind means IPv6 only, whatever net.ipv6.bindv6only says
		// ([::] would otherwise take IPv4 too): bind 0.0.0.0 as well to
		// serve both, and the two never collide.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			closeFD(fd)
			return -1, os.NewSyscallError("setsockopt IPV6_V6ONLY", err)
		}
	}
	return fd, nil
}

func tcpHint(err error, port int) string {
	switch {
	case errors.Is(err, unix.EADDRINUSE):
		return "is another server running? pick another port"
	case errors.Is(err, unix.EACCES) && port < 1024:
		return "ports below 1024 need root or CAP_NET_BIND_SERVICE"
	case errors.Is(err, unix.EADDRNOTAVAIL):
		return "no local interface has this address"
	}
	return ""
}

// resolveTCP turns the spec's host into a socket address. A hostname is
// resolved now, not at parse time, and the first IPv4 address wins for
// "tcp", as with net.Listen.
func resolveTCP(ctx context.Context, spec Spec, opts OpenOptions) (unix.Sockaddr, int, error) {
	ip, err := netip.ParseAddr(spec.Host)
	if err != nil {
		ip, err = lookupHost(ctx, spec, opts)
		if err != nil {
			return nil, 0, err
		}
	}
	if spec.Network != "tcp6" {
		ip = ip.Unmap()
	}
	if ip.Is4() {
		return &unix.SockaddrInet4{Port: spec.Port, Addr: ip.As4()}, unix.AF_INET, nil
	}
	zone, err := zoneIndex(ip.Zone())
	if err != nil {
		return nil, 0, err
	}
	return &unix.SockaddrInet6{Port: spec.Port, Addr: ip.As16(), ZoneId: zone}, unix.AF_INET6, nil
}

// lookupHost asks the resolver, within the lookup timeout: a start or a
// reload waits for it, and a DNS server that never answers must not make
// that wait endless.
func lookupHost(parent context.Context, spec Spec, opts OpenOptions) (netip.Addr, error) {
	network := map[string]string{"tcp": "ip", "tcp4": "ip4", "tcp6": "ip6"}[spec.Network]
	var r Resolver = net.DefaultResolver
	if opts.Resolver != nil {
		r = opts.Resolver
	}
	timeout := opts.LookupTimeout
	if timeout <= 0 {
		timeout = DefaultLookupTimeout
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	ips, err := r.LookupNetIP(ctx, network, spec.Host)
	if err != nil {
		switch {
		case parent.Err() != nil:
			return netip.Addr{}, fmt.Errorf("lookup %s: %w", spec.Host, parent.Err())
		case ctx.Err() != nil:
			return netip.Addr{}, fmt.Errorf("lookup %s: no answer within %v: %w", spec.Host, timeout, context.DeadlineExceeded)
		}
		return netip.Addr{}, err
	}
	for _, ip := range ips {
		if ip.Unmap().Is4() && spec.Network != "tcp6" {
			return ip, nil
		}
	}
	if len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("lookup %s: no addresses", spec.Host)
	}
	return ips[0], nil
}

func zoneIndex(zone string) (uint32, error) {
	if zone == "" {
		return 0, nil
	}
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n), nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, fmt.Errorf("IPv6 zone %q: %w", zone, err)
	}
	return uint32(ifi.Index), nil
}

// bindUnix binds a unix socket, replacing a stale socket file first. It
// returns the absolute path Close should unlink ("" for an abstract socket).
func bindUnix(spec Spec) (int, sockInfo, string, error) {
	path := spec.Path
	abstract := path[0] == '@'
	if abstract && !abstractSockets {
		return -1, sockInfo{}, "", bindError(spec, ErrNotSupported, "abstract sockets are Linux-only; use a path")
	}
	// sun_path is a fixed array; the kernel would otherwise truncate or
	// refuse with a bare EINVAL.
	if limit := len(unix.RawSockaddrUnix{}.Path) - 1; len(path) > limit {
		err := fmt.Errorf("%w: the path is %d bytes, at most %d fit in a socket address", unix.ENAMETOOLONG, len(path), limit)
		return -1, sockInfo{}, "", bindError(spec, err, "use a shorter path")
	}
	// Resolve owner and group before creating anything, so a typo leaves no file.
	uid, gid, err := lookupOwner(spec)
	if err != nil {
		return -1, sockInfo{}, "", bindError(spec, err, "")
	}
	unlinkPath := ""
	if !abstract {
		if err := removeStale(spec); err != nil {
			return -1, sockInfo{}, "", err
		}
		unlinkPath = absPath(path)
	}
	fd, err := newSocket(unix.AF_UNIX)
	if err != nil {
		return -1, sockInfo{}, "", bindError(spec, os.NewSyscallError("socket", err), "")
	}
	ok, created := false, false
	defer func() {
		if !ok {
			closeFD(fd)
			if created && unlinkPath != "" {
				_ = os.Remove(unlinkPath) // best effort: the bind error is what matters
			}
		}
	}()
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return -1, sockInfo{}, "", bindError(spec, err, unixHint(err, path))
	}
	created = true
	// chmod and chown before listen: until then no client can connect, so
	// none slips in under the umask's permissions.
	if spec.Mode != 0 {
		if err := os.Chmod(path, spec.Mode); err != nil {
			return -1, sockInfo{}, "", bindError(spec, err, "")
		}
	}
	if uid != -1 || gid != -1 {
		if err := os.Lchown(path, uid, gid); err != nil {
			return -1, sockInfo{}, "", bindError(spec, err, "changing owner or group needs root or CAP_CHOWN")
		}
	}
	if err := unix.Listen(fd, backlog(spec)); err != nil {
		return -1, sockInfo{}, "", bindError(spec, os.NewSyscallError("listen", err), "")
	}
	info, err := inspect(fd)
	if err != nil {
		return -1, sockInfo{}, "", bindError(spec, err, "")
	}
	ok = true
	return fd, info, unlinkPath, nil
}

func unixHint(err error, path string) string {
	switch {
	case errors.Is(err, unix.ENOENT):
		return "create the directory " + filepath.Dir(path) + " first"
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return "pmux cannot create files in " + filepath.Dir(path)
	case errors.Is(err, unix.EADDRINUSE):
		return "another process created the path just now"
	}
	return ""
}

// removeStale makes room at spec.Path: nothing there is fine; a socket
// with no listener behind it (connect is refused) is stale and unlinked; a
// live socket or anything that is not a socket is an error and is left
// alone.
func removeStale(spec Spec) error {
	path := spec.Path
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return bindError(spec, err, "")
	case fi.Mode().Type() != fs.ModeSocket:
		return bindError(spec, fmt.Errorf("%s exists and is %w", path, ErrNotSocket), "remove it or pick another path")
	}
	live, err := probeUnix(path)
	if err != nil {
		return bindError(spec, fmt.Errorf("probe %s: %w", path, err), "")
	}
	if live {
		return bindError(spec, fmt.Errorf("%w by a live listener", unix.EADDRINUSE), "stop the other server or pick another path")
	}
	if err := unix.Unlink(path); err != nil && !errors.Is(err, unix.ENOENT) {
		return bindError(spec, fmt.Errorf("remove stale socket %s: %w", path, err), "")
	}
	return nil
}

// probeUnix reports whether something listens on the socket file at path.
func probeUnix(path string) (bool, error) {
	fd, err := newSocket(unix.AF_UNIX)
	if err != nil {
		return false, os.NewSyscallError("socket", err)
	}
	defer closeFD(fd)
	// Non-blocking, so a live listener with a full backlog answers EAGAIN
	// instead of stalling pmux's start.
	if err := unix.SetNonblock(fd, true); err != nil {
		return false, os.NewSyscallError("fcntl", err)
	}
	err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
	switch {
	case err == nil, errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINPROGRESS):
		return true, nil
	case errors.Is(err, unix.EPROTOTYPE):
		// A live socket of another type (datagram) holds the path; a dead
		// one would refuse the connection instead.
		return true, nil
	case errors.Is(err, unix.ECONNREFUSED), errors.Is(err, unix.ENOENT):
		return false, nil
	}
	return false, err
}

// lookupOwner resolves the spec's owner and group; -1 leaves one unchanged.
func lookupOwner(spec Spec) (uid, gid int, err error) {
	uid, gid = -1, -1
	if spec.Owner != "" {
		uid, err = lookupID(spec.Owner, func(name string) (string, error) {
			u, err := user.Lookup(name)
			if err != nil {
				return "", err
			}
			return u.Uid, nil
		})
		if err != nil {
			return -1, -1, fmt.Errorf("owner %q: %w", spec.Owner, err)
		}
	}
	if spec.Group != "" {
		gid, err = lookupID(spec.Group, func(name string) (string, error) {
			g, err := user.LookupGroup(name)
			if err != nil {
				return "", err
			}
			return g.Gid, nil
		})
		if err != nil {
			return -1, -1, fmt.Errorf("group %q: %w", spec.Group, err)
		}
	}
	return uid, gid, nil
}

func lookupID(v string, lookup func(string) (string, error)) (int, error) {
	if allDigits(v) {
		return strconv.Atoi(v) // Parse checked the range
	}
	id, err := lookup(v)
	if err != nil {
		return -1, err
	}
	return strconv.Atoi(id)
}

// adoptFD checks that fd is a listening stream socket, makes it blocking
// (workers expect what systemd hands out) and close-on-exec in the master.
// This is the one moment pmux may change O_NONBLOCK: no worker has the
// socket yet.
func adoptFD(fd int) (sockInfo, error) {
	info, err := inspect(fd)
	if err != nil {
		return sockInfo{}, err
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return sockInfo{}, os.NewSyscallError("fcntl F_GETFL", err)
	}
	if fl&unix.O_NONBLOCK != 0 {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK); err != nil {
			return sockInfo{}, os.NewSyscallError("fcntl F_SETFL", err)
		}
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return sockInfo{}, os.NewSyscallError("fcntl F_SETFD", err)
	}
	return info, nil
}

// inspect describes a listening stream socket, or says why fd is not one.
func inspect(fd int) (sockInfo, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		if errors.Is(err, unix.EBADF) {
			return sockInfo{}, fmt.Errorf("fd %d is not open: %w", fd, err)
		}
		return sockInfo{}, os.NewSyscallError("fstat", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return sockInfo{}, fmt.Errorf("fd %d is %w", fd, ErrNotSocket)
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return sockInfo{}, os.NewSyscallError("getsockopt SO_TYPE", err)
	}
	if typ != unix.SOCK_STREAM {
		return sockInfo{}, fmt.Errorf("fd %d is %w: it is not a stream socket", fd, ErrNotListening)
	}
	acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err != nil {
		return sockInfo{}, os.NewSyscallError("getsockopt SO_ACCEPTCONN", err)
	}
	if acc == 0 {
		return sockInfo{}, fmt.Errorf("fd %d is %w: listen was never called", fd, ErrNotListening)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return sockInfo{}, os.NewSyscallError("getsockname", err)
	}
	info := sockInfo{id: sockID{dev: uint64(st.Dev), ino: uint64(st.Ino)}}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		info.tcp, info.port = true, sa.Port
		info.addr = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String()
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(sa.Addr)
		if sa.ZoneId != 0 {
			ip = ip.WithZone(zoneName(sa.ZoneId))
		}
		info.tcp, info.port = true, sa.Port
		info.addr = netip.AddrPortFrom(ip, uint16(sa.Port)).String()
	case *unix.SockaddrUnix:
		info.addr = sa.Name
	default:
		return sockInfo{}, fmt.Errorf("fd %d: address family %T: %w", fd, sa, ErrNotSupported)
	}
	return info, nil
}

func zoneName(index uint32) string {
	if ifi, err := net.InterfaceByIndex(int(index)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(index), 10)
}

// inspectFile is inspect on f's own descriptor, so that an error names the
// fd the caller knows rather than pmux's duplicate of it.
func inspectFile(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	if err := rc.Control(func(fd uintptr) { _, ierr = inspect(int(fd)) }); err != nil {
		return err
	}
	return ierr
}

// dupFile returns a close-on-exec duplicate of f's descriptor. It reaches
// the descriptor through SyscallConn, which keeps f from being closed
// meanwhile and, unlike f.Fd, leaves the caller's file as it was.
func dupFile(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) { nfd, derr = dupCloexec(int(fd)) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, os.NewSyscallError("dup", derr)
	}
	return nfd, nil
}

// checkActivationFD says why fd, named by LISTEN_FDS, was not passed to
// pmux: it is not open, or is close-on-exec (so this process opened it: see
// ListenFDs), or is not a socket. It changes nothing.
func checkActivationFD(fd int) error {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil || fl&unix.FD_CLOEXEC != 0 {
		return fmt.Errorf("fd %d is not open", fd)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return os.NewSyscallError("fstat", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return fmt.Errorf("fd %d is %w", fd, ErrNotSocket)
	}
	return nil
}

// claimActivationFD makes an fd checkActivationFD accepted close-on-exec:
// systemd passes it inheritable, and it must not leak into workers.
func claimActivationFD(fd int) error {
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return os.NewSyscallError("fcntl F_SETFD", err)
	}
	return nil
}

func closeFD(fd int) {
	// Only for fds this package just created or duplicated and never
	// handed out: there is no one to report a close error to.
	_ = unix.Close(fd)
}
