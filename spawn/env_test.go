package spawn

import (
	"slices"
	"testing"
)

func TestMergeEnvLastWins(t *testing.T) {
	got := MergeEnv([]string{"A=1", "B=2"}, "A=3", "C=4", "B=5")
	if want := []string{"A=3", "B=5", "C=4"}; !slices.Equal(got, want) {
		t.Errorf("MergeEnv = %v, want %v", got, want)
	}
}
