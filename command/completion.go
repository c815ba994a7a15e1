package command

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pmux/pmux/internal/fault"
	"github.com/pmux/pmux/signalmap"
)

// Shell completions, written from the CLI definition as the man page is:
// the commands, each command's flags, and what a flag's value is (a file,
// a directory, one of a few words, or something to type), read from the
// flag's placeholder. make install writes them with `pmux completion SHELL`.

// valueKind is what the completion offers for a flag's value.
type valueKind int

const (
	noValue   valueKind = iota // a boolean flag
	freeValue                  // anything: nothing to offer
	fileValue
	dirValue
	wordValue // one of compFlag.words
)

type compFlag struct {
	names []string // as typed: --bind, -b
	usage string
	kind  valueKind
	words []string
	// placeholder names the value (ADDR, FILE …) for zsh's message.
	placeholder string
	repeatable  bool
}

type compCommand struct {
	name, usage string
	flags       []compFlag
	// command: after --, a command line to run (run, check).
	command bool
}

// placeholderKinds maps a flag's placeholder to what its value is.
var placeholderKinds = map[string]valueKind{
	"FILE": fileValue, "PATH": fileValue, "DIR": dirValue,
}

func compFlagOf(flag cli.Flag) (compFlag, bool) {
	f, ok := flag.(cli.DocGenerationFlag)
	if !ok {
		return compFlag{}, false
	}
	placeholder, usage := flagPlaceholder(f)
	cf := compFlag{usage: usage, placeholder: placeholder, kind: freeValue}
	for _, n := range flag.Names() {
		cf.names = append(cf.names, flagName(n))
	}
	_, cf.repeatable = flag.(*cli.StringSliceFlag)
	switch {
	case !f.TakesValue():
		cf.kind = noValue
	case placeholder == "PROFILE":
		cf.kind = wordValue
		for _, p := range signalmap.Profiles() {
			cf.words = append(cf.words, string(p))
		}
	default:
		if k, ok := placeholderKinds[placeholder]; ok {
			cf.kind = k
		}
	}
	return cf, true
}

var helpFlag = compFlag{names: []string{"--help", "-h"}, usage: "show help", kind: noValue}

// completionModel lists the visible commands of app and their flags.
func completionModel(app *cli.App) []compCommand {
	var cmds []compCommand
	for _, cmd := range app.VisibleCommands() {
		cc := compCommand{name: cmd.Name, usage: cmd.Usage, command: strings.Contains(cmd.ArgsUsage, "-- CMD")}
		for _, flag := range cmd.VisibleFlags() {
			if cf, ok := compFlagOf(flag); ok && !slices.Contains(cf.names, "--help") {
				cc.flags = append(cc.flags, cf)
			}
		}
		if !cmd.HideHelp {
			cc.flags = append(cc.flags, helpFlag)
		}
		cmds = append(cmds, cc)
	}
	return cmds
}

// topFlags are the flags pmux takes before a command.
var topFlags = []compFlag{helpFlag, {names: []string{"--version", "-v"}, usage: "print the version", kind: noValue}}

// shells maps a shell to its completion script's writer.
var shells = map[string]func(cmds []compCommand) string{
	"bash": bashCompletion,
	"zsh":  zshCompletion,
	"fish": fishCompletion,
}

// docsCommands write pmux's own documentation from its command definitions,
// for make install and for users of go install: the man page and the shell
// completions. They are hidden: tools for packaging, not for running masters.
func docsCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:   "man",
			Usage:  "print the man page pmux(1) in roff (pmux man | man -l -)",
			Hidden: true,
			Action: func(c *cli.Context) error {
				if c.NArg() > 0 {
					return fault.OfInput(fmt.Errorf("man takes no arguments, got %q: run pmux man > pmux.1", c.Args().First()))
				}
				_, err := fmt.Fprint(c.App.Writer, manPage(c.App))
				return err
			},
		},
		{
			Name:      "completion",
			Usage:     "print the completion script of SHELL: " + strings.Join(shellNames(), ", "),
			ArgsUsage: "SHELL",
			Hidden:    true,
			Action: func(c *cli.Context) error {
				write, ok := shells[c.Args().First()]
				if c.NArg() != 1 || !ok {
					return fault.OfInput(fmt.Errorf("completion: want one shell of %s, got %q: run as in pmux completion bash > /etc/bash_completion.d/pmux",
						strings.Join(shellNames(), ", "), strings.Join(c.Args().Slice(), " ")))
				}
				_, err := fmt.Fprint(c.App.Writer, write(completionModel(c.App)))
				return err
			},
		},
	}
}

// shellNames lists the shells in a fixed order, for messages.
func shellNames() []string {
	names := make([]string, 0, len(shells))
	for n := range shells {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func allNames(flags []compFlag) []string {
	var out []string
	for _, f := range flags {
		out = append(out, f.names...)
	}
	return out
}

// shellQuote quotes s for bash, zsh or fish, in single quotes.
func shellQuote(s string, fish bool) string {
	if fish {
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func bashCompletion(cmds []compCommand) string {
	var b strings.Builder
	b.WriteString(`# bash completion for pmux, written by "pmux completion bash" from pmux's own
# command definitions. Install as share/bash-completion/completions/pmux.
_pmux() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local cmd='' i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        --)
            # What follows -- is the command pmux runs, and its arguments.
            if [[ $cmd == @(` + strings.Join(commandTakers(cmds), "|") + `) ]]; then
                if ((i == COMP_CWORD - 1)); then
                    COMPREPLY=($(compgen -c -- "$cur" | sort -u))
                else
                    compopt -o default
                    COMPREPLY=()
                fi
                return
            fi
            ;;
        -*) ;;
        *) [[ -z $cmd ]] && cmd=${COMP_WORDS[i]} ;;
        esac
    done
    case $cmd in
    '')
        COMPREPLY=($(compgen -W `)
	var names []string
	for _, c := range cmds {
		names = append(names, c.name)
	}
	b.WriteString(shellQuote(strings.Join(append(names, allNames(topFlags)...), " "), false) + ` -- "$cur"))
        ;;
`)
	for _, c := range cmds {
		b.WriteString("    " + c.name + ")\n        case $prev in\n")
		byKind := map[valueKind][]string{}
		for _, f := range c.flags {
			if f.kind == wordValue {
				fmt.Fprintf(&b, "        %s)\n            COMPREPLY=($(compgen -W %s -- \"$cur\"))\n            return\n            ;;\n",
					strings.Join(f.names, "|"), shellQuote(strings.Join(f.words, " "), false))
				continue
			}
			byKind[f.kind] = append(byKind[f.kind], f.names...)
		}
		if names := byKind[fileValue]; len(names) > 0 {
			b.WriteString("        " + strings.Join(names, "|") + ")\n            compopt -o filenames\n            COMPREPLY=($(compgen -f -- \"$cur\"))\n            return\n            ;;\n")
		}
		if names := byKind[dirValue]; len(names) > 0 {
			b.WriteString("        " + strings.Join(names, "|") + ")\n            compopt -o filenames\n            COMPREPLY=($(compgen -d -- \"$cur\"))\n            return\n            ;;\n")
		}
		if names := byKind[freeValue]; len(names) > 0 {
			b.WriteString("        " + strings.Join(names, "|") + ")\n            return\n            ;;\n")
		}
		b.WriteString("        esac\n        COMPREPLY=($(compgen -W " + shellQuote(strings.Join(allNames(c.flags), " "), false) + " -- \"$cur\"))\n        ;;\n")
	}
	b.WriteString("    esac\n}\ncomplete -F _pmux pmux\n")
	return b.String()
}

func commandTakers(cmds []compCommand) []string {
	var out []string
	for _, c := range cmds {
		if c.command {
			out = append(out, c.name)
		}
	}
	return out
}

// zshDescription escapes a flag's usage for the brackets of an _arguments spec.
func zshDescription(s string) string {
	return strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`).Replace(s)
}

func zshFlagSpecs(f compFlag) []string {
	var action string
	switch f.kind {
	case fileValue:
		action = "_files"
	case dirValue:
		action = "_files -/"
	case wordValue:
		action = "(" + strings.Join(f.words, " ") + ")"
	case freeValue:
		action = " "
	}
	exclusive := "(" + strings.Join(f.names, " ") + ")"
	if f.repeatable {
		exclusive = "*"
	}
	var specs []string
	for _, n := range f.names {
		spec := exclusive + n
		if f.kind != noValue && strings.HasPrefix(n, "--") {
			spec += "=" // --flag=value and --flag value alike
		}
		spec += "[" + zshDescription(f.usage) + "]"
		if f.kind != noValue {
			spec += ":" + strings.ReplaceAll(f.placeholder, ":", `\:`) + ":" + action
		}
		specs = append(specs, shellQuote(spec, false))
	}
	return specs
}

func zshCompletion(cmds []compCommand) string {
	var b strings.Builder
	b.WriteString(`#compdef pmux
# zsh completion for pmux, written by "pmux completion zsh" from pmux's own
# command definitions. Install as share/zsh/site-functions/_pmux.

_pmux() {
    local curcontext=$curcontext state line
    typeset -A opt_args
    _arguments -C \
`)
	for _, f := range topFlags {
		for _, spec := range zshFlagSpecs(f) {
			b.WriteString("        " + spec + " \\\n")
		}
	}
	b.WriteString(`        '1: :->command' \
        '*:: :->args' && return
    case $state in
    command)
        local -a commands
        commands=(
`)
	for _, c := range cmds {
		b.WriteString("            " + shellQuote(c.name+":"+c.usage, false) + "\n")
	}
	b.WriteString(`        )
        _describe -t commands 'pmux command' commands
        ;;
    args)
        curcontext=${curcontext%:*:*}:pmux-$words[1]:
        case $words[1] in
`)
	for _, c := range cmds {
		b.WriteString("        " + c.name + ")\n")
		if c.command {
			b.WriteString(`            # What follows -- is the command pmux runs, completed as a command line.
            local dashes=${words[(I)--]}
            if (( dashes && dashes < CURRENT )); then
                words=("${(@)words[dashes+1,-1]}")
                (( CURRENT -= dashes ))
                _normal
                return
            fi
`)
		}
		b.WriteString("            _arguments -S \\\n")
		for _, f := range c.flags {
			for _, spec := range zshFlagSpecs(f) {
				b.WriteString("                " + spec + " \\\n")
			}
		}
		b.WriteString("                '*: :'\n")
		b.WriteString("            ;;\n")
	}
	b.WriteString(`        esac
        ;;
    esac
}

if [[ $funcstack[1] == _pmux ]]; then
    _pmux "$@"
else
    compdef _pmux pmux
fi
`)
	return b.String()
}

func fishCompletion(cmds []compCommand) string {
	var b strings.Builder
	var names []string
	for _, c := range cmds {
		names = append(names, c.name)
	}
	b.WriteString(`# fish completion for pmux, written by "pmux completion fish" from pmux's own
# command definitions. Install as share/fish/vendor_completions.d/pmux.fish.
complete -c pmux -f
# What follows -- is the command pmux runs: a command name, then its arguments.
function __fish_pmux_after_dashes
    contains -- -- (commandline -opc)
end
function __fish_pmux_at_command
    set -l tokens (commandline -opc)
    test "$tokens[-1]" = --
end
set -l pmux_commands ` + strings.Join(names, " ") + "\n")
	noCommand := `-n "not __fish_seen_subcommand_from $pmux_commands"`
	flag := func(cond string, f compFlag) {
		b.WriteString("complete -c pmux " + cond)
		for _, n := range f.names {
			if strings.HasPrefix(n, "--") {
				b.WriteString(" -l " + n[2:])
			} else {
				b.WriteString(" -s " + n[1:])
			}
		}
		switch f.kind {
		case fileValue:
			b.WriteString(" -r -F")
		case dirValue:
			b.WriteString(` -x -a "(__fish_complete_directories)"`)
		case wordValue:
			b.WriteString(" -x -a " + shellQuote(strings.Join(f.words, " "), true))
		case freeValue:
			b.WriteString(" -x")
		}
		b.WriteString(" -d " + shellQuote(f.usage, true) + "\n")
	}
	for _, f := range topFlags {
		flag(noCommand, f)
	}
	for _, c := range cmds {
		b.WriteString("complete -c pmux " + noCommand + " -a " + c.name + " -d " + shellQuote(c.usage, true) + "\n")
		cond := "-n " + shellQuote("__fish_seen_subcommand_from "+c.name+"; and not __fish_pmux_after_dashes", true)
		for _, f := range c.flags {
			flag(cond, f)
		}
		if c.command {
			seen := "__fish_seen_subcommand_from " + c.name
			b.WriteString("complete -c pmux -n " + shellQuote(seen+"; and __fish_pmux_at_command", true) + ` -x -a "(__fish_complete_command)"` + "\n")
			b.WriteString("complete -c pmux -n " + shellQuote(seen+"; and __fish_pmux_after_dashes; and not __fish_pmux_at_command", true) + " -F\n")
		}
	}
	return b.String()
}
