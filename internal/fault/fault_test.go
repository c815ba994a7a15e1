package fault

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestOf(t *testing.T) {
	base := errors.New("address already in use")
	for _, tc := range []struct {
		name string
		err  error
		want Kind
	}{
		{"unmarked", base, Unmarked},
		{"input", OfInput(base), Input},
		{"machine, wrapped on the way up", fmt.Errorf("start: %w", OfMachine(base)), Machine},
		{"the nearest mark wins", OfMachine(fmt.Errorf("bind: %w", OfInput(base))), Machine},
	} {
		if got := Of(tc.err); got != tc.want {
			t.Errorf("%s: Of = %v, want %v", tc.name, got, tc.want)
		}
		if !errors.Is(tc.err, base) || !strings.HasSuffix(tc.err.Error(), base.Error()) {
			t.Errorf("%s: the mark hides the cause (%q)", tc.name, tc.err)
		}
	}
}
