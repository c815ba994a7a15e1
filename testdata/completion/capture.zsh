# Prints what zsh's completion offers for each command line given, one
# candidate a line, each line's list ended by "@@end". zsh completes only in
# an interactive shell, so each line is typed into one on a pseudo-terminal
# (zpty), followed by a TAB; a wrapper of compadd prints the candidates.
#
#   zsh -f capture.zsh FPATH_DIR 'pmux run --bi' ...
zmodload zsh/zpty || { print -u2 "zsh/zpty is missing"; exit 3 }
local dir=$1 cmdline line
shift
for cmdline in "$@"; do
  zpty capture zsh -f -i
  zpty -w capture "PROMPT=''; RPROMPT=''; fpath=(${(q)dir} \$fpath); autoload -Uz compinit; compinit -u -D"
  # The markers are split in the source so that the echo of these lines
  # by the terminal cannot be taken for them.
  # A file's candidates come in parts: the directory typed so far as a
  # prefix (-p, -P, $IPREFIX), then the names in it. A compadd that only
  # filters into an array (-O, -A, -D) adds nothing and is left alone.
  zpty -w capture 'compadd() { if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi; local -a hits P p; builtin compadd -A hits "$@"; zparseopts -E P:=P p:=p; local h; for h in $hits; do print -r -- "@""@hit:$IPREFIX${P[2]}${p[2]}$h"; done; builtin compadd "$@"; }'
  zpty -w capture 'comppostfuncs=(captured); captured() { print -r -- "@""@done"; exit }'
  zpty -w capture 'bindkey "^I" complete-word'
  zpty -w capture "$cmdline"$'\t'
  while zpty -r capture line; do
    [[ $line == *@@done* ]] && break
    [[ $line == *@@hit:* ]] && print -r -- "${${line##*@@hit:}%%$'\r'*}"
  done
  zpty -d capture
  print -r -- "@@end"
done
