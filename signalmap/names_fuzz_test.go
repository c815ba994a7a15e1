package signalmap

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseProfile: never panics; what it accepts is a profile that parses
// back from its own name, in any case.
func FuzzParseProfile(f *testing.F) {
	for _, s := range []string{"", "unicorn", "GUNICORN", "Puma", "pitchfork", "unicorn ", "ünicorn", "nginx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseProfile(s)
		if err != nil {
			if !errors.Is(err, ErrUnknownProfile) {
				t.Fatalf("ParseProfile(%q) error %v does not wrap ErrUnknownProfile", s, err)
			}
			return
		}
		for _, form := range []string{string(p), strings.ToUpper(string(p))} {
			if back, err := ParseProfile(form); err != nil || back != p {
				t.Fatalf("ParseProfile(%q) = %q; ParseProfile(%q) = %q, %v", s, p, form, back, err)
			}
		}
		_ = For(p).String()
	})
}

// FuzzParseAction: never panics; what it accepts is one of Actions and
// parses back from its own name.
func FuzzParseAction(f *testing.F) {
	for _, a := range Actions() {
		f.Add(string(a))
	}
	f.Add("RELOAD")
	f.Add("graceful stop")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAction(s)
		if err != nil {
			if !errors.Is(err, ErrUnknownAction) {
				t.Fatalf("ParseAction(%q) error %v does not wrap ErrUnknownAction", s, err)
			}
			return
		}
		known := false
		for _, x := range Actions() {
			known = known || x == a
		}
		if !known {
			t.Fatalf("ParseAction(%q) = %q, not an action", s, a)
		}
		if back, err := ParseAction(string(a)); err != nil || back != a {
			t.Fatalf("ParseAction(%q) = %q; again: %q, %v", s, a, back, err)
		}
	})
}
