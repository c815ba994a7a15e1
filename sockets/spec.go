package sockets

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// Kind says where a listening socket comes from.
type Kind int

// The zero Kind is deliberately invalid, so a Spec nobody filled in is never
// mistaken for a TCP bind.
const (
	KindTCP     Kind = iota + 1 // pmux binds a TCP address
	KindUnix                    // pmux binds a unix socket path
	KindFD                      // pmux adopts an fd it inherited (fd://N)
	KindSystemd                 // pmux adopts its own LISTEN_FDS (systemd, systemd:NAME)
)

// String returns the scheme the kind is written with.
func (k Kind) String() string {
	switch k {
	case KindTCP:
		return "tcp"
	case KindUnix:
		return "unix"
	case KindFD:
		return "fd"
	case KindSystemd:
		return "systemd"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// DefaultBacklog is the listen backlog used when a spec sets none (unicorn's
// default; the kernel caps it at net.core.somaxconn).
const DefaultBacklog = 1024

// Spec is one parsed --bind value. Every Spec that Parse returns satisfies
// Parse(s.String()) == s; Open rejects any Spec that does not, so build Specs
// with Parse rather than by hand.
type Spec struct {
	Kind Kind
	// Network is "tcp", "tcp4" or "tcp6" for KindTCP, "unix" for KindUnix and
	// empty otherwise.
	Network string
	// Host is an IP literal (canonical form, IPv6 without brackets) or a
	// lower-case hostname resolved at bind. Never empty for KindTCP: ":PORT"
	// means 0.0.0.0, as in unicorn.
	Host string
	// Port is 0..65535; 0 lets the kernel pick (tests use it).
	Port int
	// Path is the unix socket path, absolute or relative to the master's
	// working directory. A leading '@' names a Linux abstract socket.
	Path string
	// FD is the inherited descriptor of fd://N, N >= 3.
	FD int
	// SystemdName selects the LISTEN_FDS sockets of that LISTEN_FDNAMES name;
	// "" takes every one not claimed by an earlier spec.
	SystemdName string
	// Name is the ?name= option: the socket's name in the workers'
	// LISTEN_FDNAMES. "" lets Listener.Name derive one.
	Name string
	// Backlog is the ?backlog= option; 0 means DefaultBacklog.
	Backlog int
	// Mode is the ?mode= option (unix only); 0 leaves the umask's result.
	Mode os.FileMode
	// Owner and Group are the ?owner= and ?group= options (unix only): a name
	// or a numeric id, resolved at bind.
	Owner, Group string
}

// SpecError reports a --bind value that does not parse.
type SpecError struct {
	Input  string // the value as given
	Reason string // what is wrong, and the fix where there is an obvious one
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("bind %q: %s", e.Input, e.Reason)
}

// Limits of the grammar. A socket name travels in LISTEN_FDNAMES, which
// systemd caps at 255 bytes per name.
const (
	maxNameLen = 255
	maxFD      = 1<<31 - 1
	maxBacklog = 65535
)

const formsHint = "want HOST:PORT, :PORT, tcp://HOST:PORT, unix:PATH, fd://N, systemd or systemd:NAME"

// Parse parses one --bind value. The grammar has no escapes: what follows
// the first '?' is the option list, so a unix path cannot contain '?', and
// option values are taken literally. Errors are *SpecError.
func Parse(s string) (Spec, error) {
	sp, reason := parse(s)
	if reason != "" {
		return Spec{}, &SpecError{Input: s, Reason: reason}
	}
	return sp, nil
}

// parse returns the spec or, when s is invalid, the reason why.
func parse(s string) (Spec, string) {
	if s == "" {
		return Spec{}, "empty (" + formsHint + ")"
	}
	if strings.IndexByte(s, 0) >= 0 {
		return Spec{}, "contains a NUL byte"
	}
	addr, query, hasQuery := strings.Cut(s, "?")
	var sp Spec
	var reason string
	switch {
	case strings.HasPrefix(addr, "unix:"):
		sp, reason = parseUnix(strings.TrimPrefix(addr, "unix:"))
	case addr == "systemd":
		sp = Spec{Kind: KindSystemd}
	case strings.HasPrefix(addr, "systemd:"):
		sp, reason = parseSystemd(strings.TrimPrefix(addr, "systemd:"))
	case strings.HasPrefix(addr, "fd://"):
		sp, reason = parseFD(strings.TrimPrefix(addr, "fd://"))
	case strings.HasPrefix(addr, "fd:"):
		return Spec{}, "write an inherited fd as fd://N"
	default:
		sp, reason = parseTCP(addr)
	}
	if reason != "" {
		return Spec{}, reason
	}
	if hasQuery {
		if reason := parseOptions(&sp, query); reason != "" {
			return Spec{}, reason
		}
	}
	return sp, ""
}

func parseUnix(p string) (Spec, string) {
	// unix://PATH is unix:PATH with the "//" of a URL: unix:///run/x.sock is
	// /run/x.sock and unix://x.sock is the relative x.sock (as gunicorn reads it).
	p = strings.TrimPrefix(p, "//")
	switch {
	case p == "":
		return Spec{}, "missing unix socket path (write unix:/run/app.sock)"
	case p == "@":
		return Spec{}, "missing abstract socket name after '@'"
	case strings.HasSuffix(p, "/"):
		return Spec{}, fmt.Sprintf("unix socket path %q names a directory", p)
	}
	return Spec{Kind: KindUnix, Network: "unix", Path: p}, ""
}

func parseSystemd(name string) (Spec, string) {
	if name == "" {
		return Spec{}, "missing name after \"systemd:\" (write systemd to take every LISTEN_FDS socket)"
	}
	if reason := checkName(name); reason != "" {
		return Spec{}, "systemd name: " + reason
	}
	return Spec{Kind: KindSystemd, SystemdName: name}, ""
}

func parseFD(v string) (Spec, string) {
	n, ok := parseDecimal(v, maxFD)
	switch {
	case v == "":
		return Spec{}, "missing fd number after fd://"
	case !allDigits(v):
		return Spec{}, fmt.Sprintf("fd %q is not a number", v)
	case !ok:
		return Spec{}, fmt.Sprintf("fd %s is out of range", v)
	case n < 3:
		return Spec{}, fmt.Sprintf("fd %d is stdio; an inherited socket is fd 3 or above", n)
	}
	return Spec{Kind: KindFD, FD: n}, ""
}

func parseTCP(addr string) (Spec, string) {
	network, hostport := "tcp", addr
	if scheme, rest, ok := strings.Cut(addr, "://"); ok {
		switch scheme {
		case "tcp", "tcp4", "tcp6":
			network, hostport = scheme, rest
		default:
			return Spec{}, fmt.Sprintf("unknown scheme %q (%s)", scheme, formsHint)
		}
	}
	host, portStr, bracketed, reason := splitHostPort(hostport)
	if reason != "" {
		return Spec{}, reason
	}
	port, reason := parsePort(portStr)
	if reason != "" {
		return Spec{}, reason
	}
	host, reason = checkHost(network, host, bracketed)
	if reason != "" {
		return Spec{}, reason
	}
	return Spec{Kind: KindTCP, Network: network, Host: host, Port: port}, ""
}

// splitHostPort splits HOST:PORT or [HOST]:PORT. Unlike net.SplitHostPort it
// explains each mistake.
func splitHostPort(hp string) (host, port string, bracketed bool, reason string) {
	if hp == "" {
		return "", "", false, "missing address (" + formsHint + ")"
	}
	if hp[0] == '[' {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return "", "", true, "missing ']' after the IPv6 address"
		}
		host, rest := hp[1:end], hp[end+1:]
		switch {
		case rest == "":
			return "", "", true, fmt.Sprintf("missing port (write [%s]:PORT)", host)
		case rest[0] != ':':
			return "", "", true, fmt.Sprintf("unexpected %q after ']' (write [%s]:PORT)", rest, host)
		}
		return host, rest[1:], true, ""
	}
	i := strings.LastIndexByte(hp, ':')
	if i < 0 {
		if _, ok := parseDecimal(hp, maxPort); ok {
			return "", "", false, fmt.Sprintf("missing host (write :%s for every interface or 127.0.0.1:%s for loopback only)", hp, hp)
		}
		if strings.Contains(hp, "/") {
			return "", "", false, fmt.Sprintf("a unix socket path needs the unix: prefix (write unix:%s)", hp)
		}
		return "", "", false, fmt.Sprintf("missing port (write %s:PORT)", hp)
	}
	host, port = hp[:i], hp[i+1:]
	if strings.Contains(host, ":") {
		if _, err := netip.ParseAddr(host); err == nil {
			return "", "", false, fmt.Sprintf("an IPv6 address needs brackets (write [%s]:%s)", host, port)
		}
		return "", "", false, fmt.Sprintf("host %q is neither an IP address nor a hostname", host)
	}
	return host, port, false, ""
}

const maxPort = 65535

func parsePort(v string) (int, string) {
	if v == "" {
		return 0, "missing port after ':'"
	}
	n, ok := parseDecimal(v, maxPort)
	if !ok {
		if allDigits(v) {
			return 0, fmt.Sprintf("port %s is out of range 0-65535", v)
		}
		return 0, fmt.Sprintf("port %q is not a number", v)
	}
	return n, ""
}

// checkHost validates a TCP host and returns its canonical form.
func checkHost(network, host string, bracketed bool) (string, string) {
	if host == "" {
		switch {
		case bracketed:
			return "", "empty IPv6 address in brackets (write [::] for every IPv6 interface)"
		case network == "tcp6":
			return "", "tcp6 needs an IPv6 host (write tcp6://[::]:PORT for every IPv6 interface)"
		}
		return "0.0.0.0", ""
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if bracketed {
			return "", fmt.Sprintf("%q in brackets is not an IPv6 address", host)
		}
		return checkHostname(host)
	}
	switch {
	case bracketed && !ip.Is6():
		return "", fmt.Sprintf("%s is not an IPv6 address; drop the brackets", host)
	case ip.Is4In6():
		return "", fmt.Sprintf("IPv4-mapped address %s: write %s instead", host, ip.Unmap().WithZone(""))
	case network == "tcp4" && ip.Is6():
		return "", fmt.Sprintf("tcp4 cannot bind the IPv6 address %s (use tcp6:// or tcp://)", host)
	case network == "tcp6" && ip.Is4():
		return "", fmt.Sprintf("tcp6 cannot bind the IPv4 address %s (use tcp4:// or tcp://)", host)
	}
	if z := ip.Zone(); z != "" && !allOf(z, isNameByte) {
		return "", fmt.Sprintf("IPv6 zone %q is not an interface name or index", z)
	}
	return ip.String(), ""
}

// checkHostname accepts an RFC 1123 hostname (plus '_', which real
// networks use) and returns it in lower case, since DNS ignores case.
func checkHostname(host string) (string, string) {
	bad := fmt.Sprintf("host %q is neither an IP address nor a hostname", host)
	if len(host) > 253 {
		return "", bad
	}
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' || !allOf(l, isHostByte) {
			return "", bad
		}
	}
	// A dotted all-numeric name such as 1.2.3 or 01.2.3.4 is a mistyped IP
	// address, not a hostname: resolvers would read it inconsistently.
	if allDigits(labels[len(labels)-1]) {
		return "", fmt.Sprintf("host %q is not a valid IP address", host)
	}
	return strings.ToLower(host), ""
}

// parseOptions applies the ?key=value&... list to sp.
func parseOptions(sp *Spec, query string) string {
	if query == "" {
		return "empty option list after '?'"
	}
	seen := make(map[string]bool)
	for _, kv := range strings.Split(query, "&") {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case kv == "":
			return "empty option (stray '&')"
		case !isOption(k):
			return fmt.Sprintf("unknown option %q (want name, backlog, mode, owner or group)", k)
		case v == "":
			return fmt.Sprintf("option %s needs a value (%s=...)", k, k)
		case seen[k]:
			return fmt.Sprintf("option %s given twice", k)
		}
		seen[k] = true
		if reason := applyOption(sp, k, v); reason != "" {
			return reason
		}
	}
	return ""
}

func isOption(k string) bool {
	switch k {
	case "name", "backlog", "mode", "owner", "group":
		return true
	}
	return false
}

func applyOption(sp *Spec, k, v string) string {
	if k == "name" {
		if reason := checkName(v); reason != "" {
			return "name: " + reason
		}
		sp.Name = v
		return ""
	}
	bound := sp.Kind == KindTCP || sp.Kind == KindUnix
	if !bound {
		return fmt.Sprintf("option %s applies only to sockets pmux binds, not to %s sockets it adopts", k, sp.Kind)
	}
	if k == "backlog" {
		n, ok := parseDecimal(v, maxBacklog)
		if !ok || n < 1 {
			return fmt.Sprintf("backlog %q is not a number from 1 to %d (omit it for %d)", v, maxBacklog, DefaultBacklog)
		}
		sp.Backlog = n
		return ""
	}
	// mode, owner and group act on the socket file.
	switch {
	case sp.Kind != KindUnix:
		return fmt.Sprintf("option %s applies only to unix sockets", k)
	case strings.HasPrefix(sp.Path, "@"):
		return fmt.Sprintf("option %s does not apply to an abstract socket: it has no file", k)
	}
	switch k {
	case "mode":
		n, err := strconv.ParseUint(v, 8, 32)
		switch {
		case err != nil || len(v) > 4 || !allDigits(v):
			return fmt.Sprintf("mode %q is not an octal permission such as 0660", v)
		case n == 0:
			return "mode 0 would lock everyone out (omit mode to keep the umask's default)"
		case n > 0o777:
			return fmt.Sprintf("mode %s sets bits beyond the permissions (at most 0777)", v)
		}
		sp.Mode = os.FileMode(n)
	case "owner":
		if !isAccount(v) {
			return fmt.Sprintf("owner %q is not a user name or uid", v)
		}
		sp.Owner = v
	case "group":
		if !isAccount(v) {
			return fmt.Sprintf("group %q is not a group name or gid", v)
		}
		sp.Group = v
	}
	return ""
}

// checkName validates a socket name. Names travel in LISTEN_FDNAMES, which
// is ':'-separated, and in this grammar, so the alphabet is kept to
// characters that need no escaping anywhere.
func checkName(v string) string {
	switch {
	case len(v) > maxNameLen:
		return fmt.Sprintf("longer than %d bytes", maxNameLen)
	case !allOf(v, isNameByte):
		return fmt.Sprintf("%q may use only letters, digits and . _ - @ +", v)
	}
	return ""
}

// isAccount accepts a numeric id or a POSIX portable user/group name
// (letters, digits, . _ -, not starting with '-'), with the trailing '$'
// that Samba machine accounts use.
func isAccount(v string) bool {
	if allDigits(v) {
		_, err := strconv.ParseUint(v, 10, 32)
		return err == nil
	}
	name := strings.TrimSuffix(v, "$")
	return name != "" && len(v) <= 256 && name[0] != '-' && allOf(name, isAccountByte)
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isNameByte(c byte) bool {
	return isAlnum(c) || strings.IndexByte("._-@+", c) >= 0
}

func isHostByte(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }

func isAccountByte(c byte) bool { return isAlnum(c) || c == '.' || c == '_' || c == '-' }

func allOf(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	return s != "" && allOf(s, func(c byte) bool { return '0' <= c && c <= '9' })
}

// parseDecimal parses plain ASCII digits (no sign, no spaces, no
// underscores, unlike strconv.Atoi) into 0..limit.
func parseDecimal(s string, limit int) (int, bool) {
	if !allDigits(s) {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > uint64(limit) {
		return 0, false
	}
	return int(n), true
}

// String returns the canonical form of s, which Parse reads back to s:
// "tcp://127.0.0.1:8000?backlog=64", "unix:///run/x.sock?mode=0660",
// "fd://3", "systemd:web".
func (s Spec) String() string {
	var b strings.Builder
	switch s.Kind {
	case KindTCP:
		b.WriteString(s.Network + "://" + net.JoinHostPort(s.Host, strconv.Itoa(s.Port)))
	case KindUnix:
		// "unix://" + PATH reads back as PATH for absolute, relative and
		// abstract paths alike.
		b.WriteString("unix://" + s.Path)
	case KindFD:
		b.WriteString("fd://" + strconv.Itoa(s.FD))
	case KindSystemd:
		b.WriteString("systemd")
		if s.SystemdName != "" {
			b.WriteString(":" + s.SystemdName)
		}
	default:
		b.WriteString(s.Kind.String())
	}
	sep := "?"
	opt := func(k, v string) {
		if v != "" {
			b.WriteString(sep + k + "=" + v)
			sep = "&"
		}
	}
	opt("name", s.Name)
	if s.Backlog != 0 {
		opt("backlog", strconv.Itoa(s.Backlog))
	}
	if s.Mode != 0 {
		opt("mode", fmt.Sprintf("%04o", uint32(s.Mode)))
	}
	opt("owner", s.Owner)
	opt("group", s.Group)
	return b.String()
}

// validate reports whether s is a Spec that Parse could have returned:
// anything else (a hand-built Spec with a bad field) would bind something
// its String does not describe.
func (s Spec) validate() error {
	str := s.String()
	p, err := Parse(str)
	if err != nil {
		return err
	}
	if p != s {
		return &SpecError{Input: str, Reason: "spec fields are not canonical (build Specs with sockets.Parse)"}
	}
	return nil
}
