#!/bin/sh
# format.sh — clang-format (the tree's .clang-format) over our own C, C++ and CUDA sources.
#   scripts/format.sh           rewrite them in place (clang-format -i)
#   scripts/format.sh --check   rewrite nothing: list each file that differs from its formatted
#                               form with the number of changed lines, then a total; exit 1 when
#                               any differs (`make format-check`)
#   scripts/format.sh [--check] FILE...   only those files
# Sources: the tracked *.c *.h *.cu *.cuh *.cpp *.hpp (every file when not in a git checkout),
# except generated ones, marked "GENERATED" in their first three lines (tok/nfc_tables.c and
# tok/unicode_tables.c, made by scripts/gen_*: regenerate them instead). CLANG_FORMAT picks
# the binary (default clang-format; the style is written for clang-format 14, Debian 12).
# Exit: 0 done / nothing differs, 1 files differ (--check), 2 usage, 3 clang-format missing.
set -eu
cd "$(dirname "$0")/.."
cf=${CLANG_FORMAT:-clang-format}
check=0
if [ "${1:-}" = --check ]; then check=1; shift; fi
case "${1:-}" in -*) echo "format.sh: error: unknown option '$1' (usage: scripts/format.sh [--check] [FILE...])" >&2; exit 2;; esac
command -v "$cf" >/dev/null 2>&1 || { echo "format.sh: error: $cf not found (Debian: apt-get install clang-format)" >&2; exit 3; }
list() {
    if [ $# -gt 0 ]; then printf '%s\n' "$@"
    elif git rev-parse --git-dir >/dev/null 2>&1; then git ls-files '*.c' '*.h' '*.cu' '*.cuh' '*.cpp' '*.hpp'
    else find . -path ./build -prune -o -type f \( -name '*.[ch]' -o -name '*.cu' -o -name '*.cuh' -o -name '*.[ch]pp' \) -print | sed 's|^\./||'
    fi
}
files=0 lines=0 differ=0
for f in $(list "$@"); do
    [ -f "$f" ] || continue
    head -n 3 "$f" | grep -q GENERATED && continue
    files=$((files + 1))
    if [ $check = 0 ]; then "$cf" -i "$f"; continue; fi
    n=$("$cf" "$f" | diff "$f" - | grep -c '^[<>]' || true)
    if [ "$n" -gt 0 ]; then
        echo "$f: $n lines differ"
        differ=$((differ + 1)); lines=$((lines + n))
    fi
done
if [ $check = 1 ]; then
    echo "format-check: $differ of $files files differ from .clang-format ($lines changed lines, counted as diff does: removed + added)"
    [ $differ = 0 ]
else
    echo "format.sh: formatted $files files"
fi
