package main

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/pmux/pmux/config"
	"github.com/pmux/pmux/signalmap"
)

var updateReadme = flag.Bool("update-readme", false, "rewrite README.md's generated tables")

// The README's reference tables are generated from the code and checked
// here, so they cannot drift: go test -run TestREADME -update-readme.
func TestREADMEGeneratedTables(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	for name, body := range map[string]string{
		"config-reference": renderConfigReference(),
		"signal-table":     renderSignalTable(),
	} {
		start, end := "<!-- "+name+":start -->\n", "<!-- "+name+":end -->"
		i, j := strings.Index(readme, start), strings.Index(readme, end)
		if i < 0 || j < i {
			t.Fatalf("README.md lacks the %s markers", name)
		}
		current := readme[i+len(start) : j]
		if current == body {
			continue
		}
		if *updateReadme {
			readme = readme[:i+len(start)] + body + readme[j:]
			continue
		}
		t.Errorf("README.md's %s is out of date: run go test -run TestREADME -update-readme", name)
	}
	if *updateReadme {
		os.WriteFile("README.md", []byte(readme), 0o644)
	}
}

func renderConfigReference() string {
	var b strings.Builder
	b.WriteString("| key | type | default | meaning |\n|---|---|---|---|\n")
	for _, k := range config.Reference() {
		b.WriteString("| `" + k.Key + "` | " + k.Type + " | " + k.Default + " | " + strings.ReplaceAll(k.Doc, "|", "\\|") + " |\n")
	}
	return b.String()
}

func renderSignalTable() string {
	profiles := signalmap.Profiles()
	var b strings.Builder
	b.WriteString("| signal |")
	for _, p := range profiles {
		b.WriteString(" " + string(p) + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(profiles)) + "\n")
	for _, sig := range signalmap.For(signalmap.Unicorn).Signals() {
		b.WriteString("| " + signalmap.Name(sig) + " |")
		for _, p := range profiles {
			b.WriteString(" " + string(signalmap.For(p).Action(sig)) + " |")
		}
		b.WriteString("\n")
	}
	b.WriteString("| TTOU floor |")
	for _, p := range profiles {
		b.WriteString(" " + string(rune('0'+signalmap.For(p).Floor())) + " |")
	}
	b.WriteString("\n")
	return b.String()
}
