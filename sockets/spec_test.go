package sockets

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

var parseGood = []struct {
	name  string
	in    string
	want  Spec
	canon string // String() of the result
}{
	{"host port", "127.0.0.1:8000",
		Spec{Kind: KindTCP, Network: "tcp", Host: "127.0.0.1", Port: 8000}, "tcp://127.0.0.1:8000"},
	{"port only means every IPv4 interface", ":8000",
		Spec{Kind: KindTCP, Network: "tcp", Host: "0.0.0.0", Port: 8000}, "tcp://0.0.0.0:8000"},
	{"port zero", "127.0.0.1:0",
		Spec{Kind: KindTCP, Network: "tcp", Host: "127.0.0.1", Port: 0}, "tcp://127.0.0.1:0"},
	{"highest port", "127.0.0.1:65535",
		Spec{Kind: KindTCP, Network: "tcp", Host: "127.0.0.1", Port: 65535}, "tcp://127.0.0.1:65535"},
	{"leading zeros in port", "127.0.0.1:08000",
		Spec{Kind: KindTCP, Network: "tcp", Host: "127.0.0.1", Port: 8000}, "tcp://127.0.0.1:8000"},
	{"hostname", "localhost:3000",
		Spec{Kind: KindTCP, Network: "tcp", Host: "localhost", Port: 3000}, "tcp://localhost:3000"},
	{"hostname is lower-cased", "App-1.Internal:80",
		Spec{Kind: KindTCP, Network: "tcp", Host: "app-1.internal", Port: 80}, "tcp://app-1.internal:80"},
	{"tcp scheme with backlog", "tcp://127.0.0.1:8000?backlog=64",
		Spec{Kind: KindTCP, Network: "tcp", Host: "127.0.0.1", Port: 8000, Backlog: 64}, "tcp://127.0.0.1:8000?backlog=64"},
	{"tcp4 with empty host", "tcp4://:8000",
		Spec{Kind: KindTCP, Network: "tcp4", Host: "0.0.0.0", Port: 8000}, "tcp4://0.0.0.0:8000"},
	{"tcp6 loopback", "tcp6://[::1]:8000",
		Spec{Kind: KindTCP, Network: "tcp6", Host: "::1", Port: 8000}, "tcp6://[::1]:8000"},
	{"bare IPv6", "[::1]:8000",
		Spec{Kind: KindTCP, Network: "tcp", Host: "::1", Port: 8000}, "tcp://[::1]:8000"},
	{"IPv6 wildcard", "[::]:0",
		Spec{Kind: KindTCP, Network: "tcp", Host: "::", Port: 0}, "tcp://[::]:0"},
	{"IPv6 made canonical", "tcp://[0:0:0::1]:80",
		Spec{Kind: KindTCP, Network: "tcp", Host: "::1", Port: 80}, "tcp://[::1]:80"},
	{"IPv6 with zone", "[fe80::1%eth0]:80",
		Spec{Kind: KindTCP, Network: "tcp", Host: "fe80::1%eth0", Port: 80}, "tcp://[fe80::1%eth0]:80"},
	{"tcp name option", "127.0.0.1:80?name=http",
		Spec{Kind: KindTCP, Network: "tcp", Host: "127.0.0.1", Port: 80, Name: "http"}, "tcp://127.0.0.1:80?name=http"},
	{"unix absolute", "unix:/run/x.sock",
		Spec{Kind: KindUnix, Network: "unix", Path: "/run/x.sock"}, "unix:///run/x.sock"},
	{"unix URL form", "unix:///run/x.sock?mode=0660",
		Spec{Kind: KindUnix, Network: "unix", Path: "/run/x.sock", Mode: 0o660}, "unix:///run/x.sock?mode=0660"},
	{"unix URL form relative", "unix://rel.sock",
		Spec{Kind: KindUnix, Network: "unix", Path: "rel.sock"}, "unix://rel.sock"},
	{"unix relative", "unix:run/x.sock",
		Spec{Kind: KindUnix, Network: "unix", Path: "run/x.sock"}, "unix://run/x.sock"},
	{"unix path with a space", "unix:/tmp/my app.sock",
		Spec{Kind: KindUnix, Network: "unix", Path: "/tmp/my app.sock"}, "unix:///tmp/my app.sock"},
	{"unix double slash path", "unix:////run/x.sock",
		Spec{Kind: KindUnix, Network: "unix", Path: "//run/x.sock"}, "unix:////run/x.sock"},
	{"abstract", "unix:@pmux",
		Spec{Kind: KindUnix, Network: "unix", Path: "@pmux"}, "unix://@pmux"},
	{"every option, canonical order", "unix:///run/x.sock?group=www-data&owner=www-data&mode=660&backlog=128&name=http",
		Spec{Kind: KindUnix, Network: "unix", Path: "/run/x.sock", Name: "http", Backlog: 128, Mode: 0o660, Owner: "www-data", Group: "www-data"},
		"unix:///run/x.sock?name=http&backlog=128&mode=0660&owner=www-data&group=www-data"},
	{"numeric owner and group", "unix:/x.sock?owner=33&group=0",
		Spec{Kind: KindUnix, Network: "unix", Path: "/x.sock", Owner: "33", Group: "0"}, "unix:///x.sock?owner=33&group=0"},
	{"fd", "fd://3",
		Spec{Kind: KindFD, FD: 3}, "fd://3"},
	{"fd with name", "fd://10?name=http",
		Spec{Kind: KindFD, FD: 10, Name: "http"}, "fd://10?name=http"},
	{"systemd, every socket", "systemd",
		Spec{Kind: KindSystemd}, "systemd"},
	{"systemd by name", "systemd:web",
		Spec{Kind: KindSystemd, SystemdName: "web"}, "systemd:web"},
	{"systemd unit name and rename", "systemd:web@1.socket?name=http",
		Spec{Kind: KindSystemd, SystemdName: "web@1.socket", Name: "http"}, "systemd:web@1.socket?name=http"},
}

var parseBad = []struct {
	name   string
	in     string
	reason string // substring of the SpecError reason
}{
	{"empty", "", "empty"},
	{"NUL byte", "unix:/x\x00y", "NUL"},
	{"bare port", "8000", "missing host (write :8000"},
	{"host without port", "localhost", "missing port (write localhost:PORT)"},
	{"path without prefix", "/run/x.sock", "write unix:/run/x.sock"},
	{"empty port", "127.0.0.1:", "missing port"},
	{"port too big", "127.0.0.1:65536", "out of range"},
	{"huge port", "127.0.0.1:99999999999999999999999", "out of range"},
	{"negative port", "127.0.0.1:-1", "not a number"},
	{"signed port", "127.0.0.1:+80", "not a number"},
	{"port with junk", "127.0.0.1:80x", "not a number"},
	{"trailing slash", "tcp://127.0.0.1:80/", "not a number"},
	{"IPv6 without brackets", "::1:8000", "needs brackets (write [::1]:8000)"},
	{"scheme twice", "tcp://unix://x:1", "neither an IP address nor a hostname"},
	{"unclosed bracket", "[::1:8000", "missing ']'"},
	{"IPv6 without port", "[::1]", "missing port"},
	{"junk after bracket", "[::1]8000", "unexpected"},
	{"empty brackets", "[]:80", "empty IPv6 address"},
	{"IPv4 in brackets", "[127.0.0.1]:80", "drop the brackets"},
	{"name in brackets", "[localhost]:80", "not an IPv6 address"},
	{"tcp6 without host", "tcp6://:8000", "tcp6 needs an IPv6 host"},
	{"tcp6 with IPv4", "tcp6://127.0.0.1:80", "tcp6 cannot bind"},
	{"tcp4 with IPv6", "tcp4://[::1]:80", "tcp4 cannot bind"},
	{"IPv4-mapped", "[::ffff:127.0.0.1]:80", "IPv4-mapped"},
	{"bad zone", "[fe80::1%a/b]:80", "zone"},
	{"unknown scheme", "http://localhost:80", "unknown scheme \"http\""},
	{"udp", "udp://localhost:80", "unknown scheme"},
	{"short IPv4", "1.2.3:80", "not a valid IP address"},
	{"IPv4 octet too big", "256.1.1.1:80", "not a valid IP address"},
	{"IPv4 leading zero", "01.2.3.4:80", "not a valid IP address"},
	{"bad host character", "bad!host:80", "neither an IP address nor a hostname"},
	{"host starts with dash", "-bad:80", "neither"},
	{"empty label", "a..b:80", "neither"},
	{"long label", strings.Repeat("a", 64) + ":80", "neither"},
	{"unix empty", "unix:", "missing unix socket path"},
	{"unix URL empty", "unix://", "missing unix socket path"},
	{"abstract empty", "unix:@", "missing abstract socket name"},
	{"unix directory", "unix:/run/", "names a directory"},
	{"fd empty", "fd://", "missing fd number"},
	{"fd stdio", "fd://2", "stdio"},
	{"fd not a number", "fd://x", "not a number"},
	{"fd too big", "fd://99999999999", "out of range"},
	{"fd without slashes", "fd:3", "fd://N"},
	{"systemd empty name", "systemd:", "missing name"},
	{"systemd name with colon", "systemd:a:b", "systemd name"},
	{"empty query", "127.0.0.1:80?", "empty option list"},
	{"unknown option", "127.0.0.1:80?foo=1", "unknown option \"foo\""},
	{"option without value", "127.0.0.1:80?backlog", "needs a value"},
	{"option with empty value", "127.0.0.1:80?backlog=", "needs a value"},
	{"backlog zero", "127.0.0.1:80?backlog=0", "backlog"},
	{"backlog too big", "127.0.0.1:80?backlog=65536", "backlog"},
	{"backlog negative", "127.0.0.1:80?backlog=-5", "backlog"},
	{"option twice", "127.0.0.1:80?backlog=1&backlog=2", "given twice"},
	{"stray ampersand", "127.0.0.1:80?backlog=1&&name=x", "stray '&'"},
	{"mode on tcp", "127.0.0.1:80?mode=0660", "only to unix sockets"},
	{"owner on tcp", "127.0.0.1:80?owner=www", "only to unix sockets"},
	{"backlog on fd", "fd://3?backlog=5", "only to sockets pmux binds"},
	{"mode on systemd", "systemd?mode=0660", "only to sockets pmux binds"},
	{"mode on abstract", "unix:@x?mode=0600", "abstract"},
	{"mode not octal", "unix:/x?mode=999", "not an octal permission"},
	{"mode with prefix", "unix:/x?mode=0o660", "not an octal permission"},
	{"mode zero", "unix:/x?mode=0", "lock everyone out"},
	{"mode sticky", "unix:/x?mode=1777", "beyond the permissions"},
	{"owner starts with dash", "unix:/x?owner=-x", "not a user name"},
	{"owner with space", "unix:/x?owner=a b", "not a user name"},
	{"gid too big", "unix:/x?group=4294967296", "not a group name"},
	{"name with colon", "127.0.0.1:80?name=a:b", "name:"},
	{"name too long", "127.0.0.1:80?name=" + strings.Repeat("a", 256), "longer than 255"},
}

func TestParse(t *testing.T) {
	for _, tc := range parseGood {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("Parse(%q)\n got %#v\nwant %#v", tc.in, got, tc.want)
			}
			if s := got.String(); s != tc.canon {
				t.Errorf("String() = %q, want %q", s, tc.canon)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range parseBad {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %#v, want an error", tc.in, got)
			}
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T, want *SpecError", tc.in, err)
			}
			if se.Input != tc.in {
				t.Errorf("Input = %q, want %q", se.Input, tc.in)
			}
			if !strings.Contains(se.Reason, tc.reason) {
				t.Errorf("Reason = %q, want it to contain %q", se.Reason, tc.reason)
			}
			if got != (Spec{}) {
				t.Errorf("Parse returned %#v with its error, want the zero Spec", got)
			}
		})
	}
}

func TestSpecErrorMessage(t *testing.T) {
	_, err := Parse("8000")
	want := `bind "8000": missing host (write :8000 for every interface or 127.0.0.1:8000 for loopback only)`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
}

// TestRoundTrip checks the property on every good case: parsing the
// canonical form gives the same Spec, and the canonical form is stable.
func TestRoundTrip(t *testing.T) {
	for _, tc := range parseGood {
		t.Run(tc.name, func(t *testing.T) { checkRoundTrip(t, tc.in) })
	}
}

func checkRoundTrip(t *testing.T, in string) {
	t.Helper()
	s, err := Parse(in)
	if err != nil {
		return
	}
	str := s.String()
	s2, err := Parse(str)
	if err != nil {
		t.Fatalf("Parse(%q) ok, but Parse of its String %q: %v", in, str, err)
	}
	if !reflect.DeepEqual(s, s2) {
		t.Fatalf("round trip of %q through %q:\n got %#v\nwant %#v", in, str, s2, s)
	}
	if str2 := s2.String(); str2 != str {
		t.Fatalf("String not stable: %q then %q", str, str2)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{
		KindTCP: "tcp", KindUnix: "unix", KindFD: "fd", KindSystemd: "systemd", 0: "Kind(0)",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec Spec
	}{
		{"zero spec", Spec{}},
		{"empty host", Spec{Kind: KindTCP, Network: "tcp", Port: 80}},
		{"port out of range", Spec{Kind: KindTCP, Network: "tcp", Host: "127.0.0.1", Port: 70000}},
		{"wrong network", Spec{Kind: KindTCP, Network: "udp", Host: "127.0.0.1", Port: 80}},
		{"stray field", Spec{Kind: KindFD, FD: 3, Path: "/x"}},
		{"path with query character", Spec{Kind: KindUnix, Network: "unix", Path: "/x?mode=0600"}},
		{"non-canonical host", Spec{Kind: KindTCP, Network: "tcp", Host: "LOCALHOST", Port: 80}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.spec.validate()
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("validate(%#v) = %v, want a *SpecError", tc.spec, err)
			}
		})
	}
	for _, tc := range parseGood {
		if err := tc.want.validate(); err != nil {
			t.Errorf("validate(%q): %v", tc.in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseGood {
		f.Add(tc.in)
	}
	for _, tc := range parseBad {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Parse(in)
		if err != nil {
			var se *SpecError
			if !errors.As(err, &se) || se.Input != in || se.Reason == "" {
				t.Fatalf("Parse(%q) error %#v, want a *SpecError with the input and a reason", in, err)
			}
			_ = err.Error()
			return
		}
		if s.Kind < KindTCP || s.Kind > KindSystemd {
			t.Fatalf("Parse(%q) gave kind %v", in, s.Kind)
		}
		if strings.ContainsRune(s.Name, ':') {
			t.Fatalf("Parse(%q) gave name %q with ':'", in, s.Name)
		}
		checkRoundTrip(t, in)
	})
}
