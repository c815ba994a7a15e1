//go:build linux

package main

import "testing"

// TestSpliceSection: a run of one scenario replaces that section of the
// last full report and keeps every other, or inserts it before the closing
// sections when the report has none yet.
func TestSpliceSection(t *testing.T) {
	fresh := "# Benchmarks\n\nnew header\n\n## Cost as the work grows\n\nnew table\n\n## Not measured, and why\n\nnew\n"
	cases := []struct{ name, old, want string }{
		{"replaced",
			"# Benchmarks\n\nold header\n\n## Spawn\n\nspawn\n\n## Cost as the work grows\n\nold table\n\n## Not measured, and why\n\nold\n",
			"# Benchmarks\n\nold header\n\n## Spawn\n\nspawn\n\n## Cost as the work grows\n\nnew table\n\n## Not measured, and why\n\nold\n"},
		{"inserted",
			"# Benchmarks\n\nold header\n\n## Spawn\n\nspawn\n\n## Not measured, and why\n\nold\n",
			"# Benchmarks\n\nold header\n\n## Spawn\n\nspawn\n\n## Cost as the work grows\n\nnew table\n\n## Not measured, and why\n\nold\n"},
		{"last section replaced",
			"# Benchmarks\n\n## Cost as the work grows\n\nold table\n",
			"# Benchmarks\n\n## Cost as the work grows\n\nnew table\n\n"},
		{"appended", "# Benchmarks\n\nold\n", "# Benchmarks\n\nold\n\n## Cost as the work grows\n\nnew table\n\n"},
	}
	for _, tc := range cases {
		if got := spliceSection(tc.old, fresh, scaleHeading); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
	if got := spliceSection("# old\n", "# no such section\n", scaleHeading); got != "# old\n" {
		t.Errorf("a fresh report without the section changed the old one: %q", got)
	}
}
