# pipelines/lib.sh — what the pipelines share (sourced, not run): finding the tools, JSON
# string quoting, and option checking with messages named after the pipeline the user typed.
#
#   . "$here/lib.sh"; llada_init generate        # sets PIPE, puts the tools on PATH
#   llada_usage_error "MSG"                      # "generate: error: MSG" + hint, exit 2
#   llada_unknown_option OPT NAME...             # "unknown option OPT (did you mean --X?)", exit 2
#   llada_tool_options TOOL                      # TOOL's long options from its --help: lines
#                                                #   "name 1" (takes a value) or "name 0"
#   llada_need_int OPT VALUE, llada_need_num ... # usage error unless VALUE is an integer / number >= 0
#   json_str STRING                              # STRING as a JSON string literal
# After option parsing a pipeline exports LLADA_PROG=$PIPE, so the tools it runs name it in
# their messages too (common/cli.h).

# llada_init NAME: the pipeline's name for messages; the tools of this tree or installation
# first on PATH (the tree's bin/, or PREFIX/bin for PREFIX/share/llada/pipelines).
llada_init() {
    PIPE=$1
    local here d
    here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
    for d in "$here/../bin" "$here/../../../bin"; do
        [ -x "$d/denoise" ] && PATH="$(cd "$d" && pwd):$PATH"
    done
    export PATH
}

llada_usage_error() {
    printf '%s: error: %s\n' "$PIPE" "$1" >&2
    printf "Try '%s --help' for more information.\n" "$PIPE" >&2
    exit 2
}

# llada_unknown_option OPT NAME...: a usage error for OPT, suggesting the nearest NAME (long
# option names without dashes) within a small edit distance.
llada_unknown_option() {
    local opt=${1%%=*} near
    shift
    near=$(printf '%s\n' "$@" | awk -v w="${opt#--}" '
        function dist(a, b,    i, j, n, m, d, c, v) {
            n = length(a); m = length(b)
            for (i = 0; i <= n; i++) d[i, 0] = i
            for (j = 0; j <= m; j++) d[0, j] = j
            for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) {
                c = substr(a, i, 1) != substr(b, j, 1)
                v = d[i-1, j-1] + c
                if (d[i-1, j] + 1 < v) v = d[i-1, j] + 1
                if (d[i, j-1] + 1 < v) v = d[i, j-1] + 1
                if (i > 1 && j > 1 && substr(a, i, 1) == substr(b, j-1, 1) && substr(a, i-1, 1) == substr(b, j, 1) && d[i-2, j-2] + 1 < v) v = d[i-2, j-2] + 1
                d[i, j] = v
            }
            return d[n, m]
        }
        NF { x = dist(w, $1); if (best == "" || x < bd) { bd = x; best = $1 } }
        END { n = length(w); lim = n <= 4 ? 1 : n <= 8 ? 2 : 3; if (best != "" && bd <= lim) print best }')
    if [ -n "$near" ]; then llada_usage_error "unknown option $opt (did you mean --$near?)"; fi
    llada_usage_error "unknown option $opt"
}

# llada_tool_options TOOL: "name 1|0" per long option TOOL --help lists (1: takes a value,
# shown as an upper-case word after it).
llada_tool_options() {
    "$1" --help 2>/dev/null | grep -oE -- '--[a-z][a-z0-9-]*( [A-Z][A-Z0-9_]*)?' |
        awk '{ n = substr($1, 3); v = NF > 1; if (!(n in seen) || v) seen[n] = v } END { for (n in seen) print n, seen[n] }'
}

# llada_need_int OPT VALUE / llada_need_num OPT VALUE: a usage error unless VALUE is an integer
# >= 0 / a number >= 0 (checked before any input is read).
llada_need_int() { [[ $2 =~ ^[0-9]+$ ]] || llada_usage_error "$1 needs an integer >= 0, got '$2'"; }
llada_need_num() { [[ $2 =~ ^[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$ ]] || llada_usage_error "$1 needs a number >= 0, got '$2'"; }

json_str() {  # a string as a JSON string literal
    printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' -e 's/\r/\\r/g' |
        awk 'BEGIN { printf "\"" } NR > 1 { printf "\\n" } { printf "%s", $0 } END { printf "\"" }'
}
