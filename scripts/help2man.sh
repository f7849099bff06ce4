#!/bin/sh
# help2man.sh — a man page (roff, section 1) from a command's --help output.
#   scripts/help2man.sh [-v VERSION] NAME COMMAND [ARG...] > NAME.1
# NAME is the installed name (llada-tok); COMMAND --help supplies the synopsis (its "Usage:"
# lines, the tool name replaced by NAME), the one-line description (the first other line) and
# the body (verbatim, preformatted); the footer is VERSION, else COMMAND --version's first line
# (a pipeline passes -v: its --version would go to the tools it runs).
set -eu
version=
if [ "$1" = -v ]; then version=$2; shift 2; fi
name=$1; shift
help=$("$@" --help </dev/null) || { echo "help2man: $* --help failed" >&2; exit 1; }
[ -n "$version" ] || version=$("$@" --version </dev/null 2>/dev/null | head -n 1) || version=
short=${name#llada-}
esc() {  # roff-escape: backslashes, and a leading . or ' on a line
    sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
}
# Usage lines: the first line and its indented continuations.
synopsis=$(printf '%s\n' "$help" | awk 'NR == 1 { print; next } /^       / && !done { print; next } { done = 1 }')
nsyn=$(printf '%s\n' "$synopsis" | wc -l)
desc=$(printf '%s\n' "$help" | awk -v n="$nsyn" 'NR > n && NF { print; exit }')
upper=$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')
printf '.TH %s 1 "" "%s" "User Commands"\n' "$upper" "$(printf '%s' "${version:-llada-tools}" | sed 's/"/'"'"'/g')"
printf '.SH NAME\n%s \\- %s\n' "$name" "$(printf '%s' "$desc" | sed -e 's/[.:]$//' | esc)"
printf '.SH SYNOPSIS\n.nf\n'
printf '%s\n' "$synopsis" | sed -e 's/^Usage: //' -e 's/^       //' \
    -e "s/^$short\\b/$name/" | esc
printf '.fi\n.SH DESCRIPTION\n.nf\n'
printf '%s\n' "$help" | awk -v n="$nsyn" 'NR > n' | esc
printf '.fi\n.SH NOTES\nInstalled by llada-tools as \\fB%s\\fR (in its source tree: \\fB%s\\fR).\n' "$name" "$short"
