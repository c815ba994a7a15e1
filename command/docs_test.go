package command

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pmux/pmux/internal/pmuxtest"
	"github.com/pmux/pmux/signalmap"
)

// The man page and the shell completions pmux prints: the page names every
// flag of every command and explains every action, man renders it without
// a warning, and bash, zsh and fish complete commands, flags and values
// from the scripts.

// checkManPage checks that pmux(1) has a section for every visible command
// naming each of its flags, and that every signal action is explained.
func checkManPage(t *testing.T, page string) {
	t.Helper()
	sections := map[string]string{}
	for _, s := range strings.Split(page, "\n.SS ")[1:] {
		title, body, _ := strings.Cut(s, "\n")
		name := strings.Fields(strings.Trim(title, `"`))[1]
		sections[strings.ReplaceAll(name, `\-`, "-")] = body[:strings.Index(body+"\n.SH ", "\n.SH ")]
	}
	app := newApp(Signals{})
	for _, cmd := range app.VisibleCommands() {
		body, ok := sections[cmd.Name]
		if !ok {
			t.Errorf("pmux(1) has no section for pmux %s", cmd.Name)
			continue
		}
		for _, f := range cmd.VisibleFlags() {
			for _, n := range f.Names() {
				if want := `\fB` + roff(flagName(n)) + `\fR`; !strings.Contains(body, want) {
					t.Errorf("pmux(1): pmux %s does not name %s", cmd.Name, flagName(n))
				}
			}
		}
	}
	for _, cmd := range app.Commands {
		if _, ok := sections[cmd.Name]; cmd.Hidden && ok {
			t.Errorf("pmux(1) documents the hidden command %s", cmd.Name)
		}
	}
	for _, row := range signalTable()[1:] {
		if !strings.Contains(page, ".TP\n"+bold(row[0])+"\n") {
			t.Errorf("pmux(1) SIGNALS lacks %s", row[0])
		}
	}
	for _, a := range signalmap.Actions() {
		if actionDoc[a] == "" || !strings.Contains(page, bold(string(a))+"\n"+roff(actionDoc[a])) {
			t.Errorf("pmux(1) does not explain the action %s", a)
		}
	}
}

// renderMan formats the page with man(1) and groff's warnings on: no
// warning, and the flags come out as typed (ASCII hyphens, for copying).
func renderMan(t *testing.T, path string) {
	t.Helper()
	cmd := exec.Command("man", "--warnings", "-l", path)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat", "LANG=C.UTF-8")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("man -l %s: %v\n%s", path, err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("man -l %s warns:\n%s", path, stderr.String())
	}
	text := stdout.String()
	lines := strings.SplitN(text, "\n", 31)
	t.Logf("man -l pmux.1 (first 30 lines):\n%s", strings.Join(lines[:min(30, len(lines))], "\n"))
	for _, want := range []string{"PMUX(1)", "NAME", "SYNOPSIS", "COMMANDS", "SIGNALS", "EXIT STATUS", "--graceful-timeout DUR", "pmux run [OPTIONS] -- CMD [ARG...]"} {
		if !strings.Contains(text, want) {
			t.Errorf("man -l %s: the rendered page lacks %q", path, want)
		}
	}
}

// completionCase is a command line typed up to the cursor and what the
// completion must offer there.
type completionCase struct {
	words []string // the last one is the word being completed
	exact []string // exactly these candidates (in any order), or
	has   []string // at least these
}

// completionCases are the lines every shell's completion is tried on, in
// dir: the commands, every command's flags, and values of each kind.
func completionCases(t *testing.T) (dir string, cases []completionCase) {
	dir = t.TempDir()
	for _, p := range []string{"pmux.toml", "procs/Procfile"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), nil, 0o644)
	}
	app := newApp(Signals{})
	var names []string
	for _, cmd := range app.VisibleCommands() {
		names = append(names, cmd.Name)
	}
	cases = []completionCase{
		{words: []string{"pmux", ""}, has: names},
		{words: []string{"pmux", "rel"}, exact: []string{"reload"}},
		{words: []string{"pmux", "run", "--signals", ""}, exact: []string{"unicorn", "gunicorn", "puma", "pitchfork"}},
		{words: []string{"pmux", "run", "-w", "4", "--", "ech"}, has: []string{"echo"}},
		{words: []string{"pmux", "check", "-c", "pm"}, exact: []string{"pmux.toml"}},
		{words: []string{"pmux", "run", "--chdir", "pr"}, exact: []string{"procs"}},
		{words: []string{"pmux", "start", "--procfile", "procs/"}, exact: []string{"procs/Procfile"}},
	}
	for _, cmd := range app.VisibleCommands() {
		flags := []string{"--help", "-h"}
		for _, f := range cmd.VisibleFlags() {
			for _, n := range f.Names() {
				flags = append(flags, flagName(n))
			}
		}
		cases = append(cases, completionCase{words: []string{"pmux", cmd.Name, "-"}, exact: flags})
	}
	return dir, cases
}

// checkCompletion compares what a shell offered for each case.
func checkCompletion(t *testing.T, complete func(dir string, cases []completionCase) [][]string) {
	t.Helper()
	dir, cases := completionCases(t)
	got := complete(dir, cases)
	for i, c := range cases {
		offered := slices.Compact(slices.Sorted(slices.Values(got[i])))
		// A directory may be offered with its trailing slash.
		for j, o := range offered {
			offered[j] = strings.TrimSuffix(o, "/")
		}
		line := strings.Join(c.words, " ")
		if c.exact != nil {
			want := slices.Sorted(slices.Values(c.exact))
			if !slices.Equal(offered, want) {
				t.Errorf("%q offers %q, want %q", line, offered, want)
			}
		}
		for _, w := range c.has {
			if !slices.Contains(offered, w) {
				t.Errorf("%q offers %q, want %s among them", line, offered, w)
			}
		}
	}
}

// splitCandidates splits a shell's output into one list per case, each
// ended by an "@@end" line.
func splitCandidates(t *testing.T, out string, n int) [][]string {
	t.Helper()
	var lists [][]string
	var cur []string
	for _, line := range strings.Split(out, "\n") {
		switch line = strings.TrimRight(line, "\r"); {
		case line == "@@end":
			lists = append(lists, cur)
			cur = nil
		case line != "":
			cur = append(cur, line)
		}
	}
	if len(lists) != n {
		t.Fatalf("%d candidate lists for %d command lines:\n%s", len(lists), n, out)
	}
	return lists
}

func bashCompletes(t *testing.T, script string) func(string, []completionCase) [][]string {
	return func(dir string, cases []completionCase) [][]string {
		var b strings.Builder
		b.WriteString(`source "$1" || exit 3
complete -p pmux >/dev/null || { echo "pmux has no completion" >&2; exit 3; }
try() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _pmux 2>/dev/null; printf '%s\n' "${COMPREPLY[@]}"; echo @@end; }
`)
		for _, c := range cases {
			b.WriteString("try")
			for _, w := range c.words {
				b.WriteString(" " + shellQuote(w, false))
			}
			b.WriteString("\n")
		}
		out, err := pmuxtest.RunToEnd(t, dir, nil, time.Minute, "bash", "--norc", "--noprofile", "-c", b.String(), "bash", script)
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return splitCandidates(t, out, len(cases))
	}
}

func zshCompletes(t *testing.T, fpathDir string) func(string, []completionCase) [][]string {
	return func(dir string, cases []completionCase) [][]string {
		capture, err := filepath.Abs(filepath.Join(pmuxtest.Root(), "testdata", "completion", "capture.zsh"))
		if err != nil {
			t.Fatal(err)
		}
		argv := []string{"zsh", "-f", capture, fpathDir}
		for _, c := range cases {
			argv = append(argv, strings.Join(c.words, " "))
		}
		out, err := pmuxtest.RunToEnd(t, dir, []string{"TERM=dumb"}, 2*time.Minute, argv...)
		if err != nil {
			t.Fatalf("zsh: %v\n%s", err, out)
		}
		return splitCandidates(t, out, len(cases))
	}
}

func fishCompletes(t *testing.T, script string) func(string, []completionCase) [][]string {
	return func(dir string, cases []completionCase) [][]string {
		argv := []string{"fish", "--no-config", "-c", `source $argv[1]; or exit 3
for line in $argv[2..]
    complete -C $line | string replace -r '\t.*' ''
    echo @@end
end`, script}
		for _, c := range cases {
			argv = append(argv, strings.Join(c.words, " "))
		}
		out, err := pmuxtest.RunToEnd(t, dir, nil, time.Minute, argv...)
		if err != nil {
			t.Fatalf("fish: %v\n%s", err, out)
		}
		return splitCandidates(t, out, len(cases))
	}
}

func TestManPage(t *testing.T) {
	page := manPage(newApp(Signals{}))
	checkManPage(t, page)
	t.Run("man renders it", func(t *testing.T) {
		pmuxtest.RequireCommand(t, "man")
		path := filepath.Join(t.TempDir(), "pmux.1")
		if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
		renderMan(t, path)
	})
}

func TestCompletion(t *testing.T) {
	cmds := completionModel(newApp(Signals{}))
	script := func(name, text string) string {
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	t.Run("bash", func(t *testing.T) {
		checkCompletion(t, bashCompletes(t, script("pmux", bashCompletion(cmds))))
	})
	t.Run("zsh", func(t *testing.T) {
		pmuxtest.RequireCommand(t, "zsh")
		checkCompletion(t, zshCompletes(t, filepath.Dir(script("_pmux", zshCompletion(cmds)))))
	})
	t.Run("fish", func(t *testing.T) {
		pmuxtest.RequireCommand(t, "fish")
		checkCompletion(t, fishCompletes(t, script("pmux.fish", fishCompletion(cmds))))
	})
}
