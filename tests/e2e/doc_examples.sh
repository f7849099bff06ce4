#!/usr/bin/env bash
# e2e/doc_examples.sh — the shell examples of the docs, run as printed.
# A doc marks a runnable example with a line
#     <!-- example: NAME[; ...; output matches: REGEX] -->
# followed by a ```sh block and, optionally, a ```text block showing its output. The sh block
# runs with bash in an empty temporary folder, with the tree's bin/ and pipelines/ first on PATH
# and the bundled model; it must exit 0, and its stdout must match REGEX (grep -E, every line)
# when given, else equal the text block exactly when there is one.
. "$(dirname "$0")/../lib.sh"
export PATH="$LLADA_BIN:$LLADA_ROOT/pipelines:$PATH"
n=0
while IFS= read -r doc; do
    "$PYTHON" - "$doc" "$TMP/ex" <<'PY'
import re, sys, os
doc, out = sys.argv[1], sys.argv[2]
s = open(doc, encoding="utf-8").read()
pat = re.compile(r"<!-- example: ([\w-]+)(.*?)-->\n```sh\n(.*?)```\n(?:```text\n(.*?)```\n)?", re.S)
for i, m in enumerate(pat.finditer(s)):
    d = os.path.join(out, f"{os.path.basename(doc)}.{i}.{m.group(1)}")
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "cmd.sh"), "w").write(m.group(3))
    rx = re.search(r"output matches: (.*?)\s*$", m.group(2).strip())
    if rx:
        open(os.path.join(d, "regex"), "w").write(rx.group(1))
    if m.group(4) is not None:
        open(os.path.join(d, "want"), "w").write(m.group(4))
PY
done < <(ls "$LLADA_ROOT"/README.md "$LLADA_ROOT"/docs/*.md)
for d in "$TMP"/ex/*/; do
    [ -d "$d" ] || continue
    name=$(basename "$d"); n=$((n + 1))
    mkdir -p "$d/run"
    (cd "$d/run" && bash "$d/cmd.sh") > "$d/got" 2> "$d/err"; rc=$?
    if [ $rc -ne 0 ]; then fail "example $name runs" "exit $rc: $(head -c 300 "$d/err")"; continue; fi
    pass "example $name runs"
    if [ -f "$d/regex" ]; then
        bad=$(grep -Evc -- "$(cat "$d/regex")" "$d/got")
        [ -s "$d/got" ] && [ "$bad" -eq 0 ] && pass "example $name output matches /$(cat "$d/regex")/" ||
            fail "example $name output matches" "got [$(head -c 300 "$d/got")]"
    elif [ -f "$d/want" ]; then
        check_eq "example $name output as printed" "$(cat "$d/want")" "$(cat "$d/got")"
    fi
done
[ $n -gt 0 ] && pass "found $n marked examples" || fail "found marked examples"
finish
