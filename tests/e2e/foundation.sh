#!/usr/bin/env bash
# e2e/foundation.sh — the record plumbing seen from the shell: byte-identical streams over a
# pipe, a file, an LZ4 frame, tcp and ipc sockets; JSON view; CLI conventions (help, version,
# usage errors, bad data, dead peers, closed pipes) for every tool.
. "$(dirname "$0")/../lib.sh"

# A reference stream built from JSON (independent of msgpack encoding choices).
cat > "$TMP/in.jsonl" <<'J'
{"kind":"tokens","v":1,"tokens":{"dtype":"i4","shape":[5],"data":[1,2,3,126336,-7]},"meta":{"user":"x","n":[1,2.5,null,true]}}
{"kind":"tokens","v":1,"tokens":{"dtype":"i4","shape":[0],"data":[]},"w":{"dtype":"bf16","shape":[2,1],"data":[0.5,-3.0]}}
{"kind":"masked","x0":{"dtype":"i4","shape":[3],"data":[4,5,6]},"m":{"dtype":"u1","shape":[3],"data":[0,1,1]},"t":0.375}
J
check "json -> msgpack" sh -c "rec < '$TMP/in.jsonl' > '$TMP/ref.mp'"
check "pipe -> pipe" sh -c "rec < '$TMP/ref.mp' | rec > '$TMP/pipe.mp'"
check_eq "pipe output byte-identical" "$(sha256sum < "$TMP/ref.mp")" "$(sha256sum < "$TMP/pipe.mp")"
check "file -> lz4 file" rec -i "$TMP/ref.mp" -o "$TMP/a.mp.lz4"
check "lz4 -dc reads our frame" sh -c "lz4 -dc '$TMP/a.mp.lz4' > '$TMP/lz.mp'"
check_eq "lz4 content byte-identical" "$(sha256sum < "$TMP/ref.mp")" "$(sha256sum < "$TMP/lz.mp")"
check "lz4 file on stdin is sniffed" sh -c "rec < '$TMP/a.mp.lz4' > '$TMP/lz2.mp'"
check_eq "sniffed lz4 byte-identical" "$(sha256sum < "$TMP/ref.mp")" "$(sha256sum < "$TMP/lz2.mp")"
for ep in "tcp://127.0.0.1:39611" "ipc://$TMP/sock"; do
    rec -i "@$ep" -o "$TMP/sock.mp" --timeout 10000 & rpid=$!
    check "send over $ep" rec -i "$TMP/ref.mp" -o ">$ep" --timeout 10000
    wait $rpid; check_eq "receiver exit ($ep)" 0 $?
    check_eq "socket stream byte-identical ($ep)" "$(sha256sum < "$TMP/ref.mp")" "$(sha256sum < "$TMP/sock.mp")"
done
# two producers into one socket, merged with --inputs 2
rec -i "@tcp://127.0.0.1:39612" -n 2 -o "$TMP/merged.mp" --timeout 10000 & rpid=$!
rec -i "$TMP/ref.mp" -o ">tcp://127.0.0.1:39612" & p1=$!
rec -i "$TMP/ref.mp" -o ">tcp://127.0.0.1:39612"; wait $p1; wait $rpid
check_eq "merge of 2 producers: 6 records" 6 "$(rec -i "$TMP/merged.mp" --json | grep -vc '"kind":"end"')"
check_eq "json view round trip" "$(rec --json < "$TMP/ref.mp" | grep -v '"kind":"end"' | rec | sha256sum)" "$(sha256sum < "$TMP/ref.mp")"
check_eq "end record carries the count" '{"kind":"end","v":1,"count":3,"producer":"rec"}' "$(rec --json < "$TMP/ref.mp" | tail -n 1)"

# Bad input: exit 1 with "rec: error: ... at byte N"; no partial silent output.
head -c 50 "$TMP/ref.mp" > "$TMP/trunc.mp"
check_exit 1 "truncated stream exits 1" rec -i "$TMP/trunc.mp" -o "$TMP/out.mp"
check_stderr "truncation message names the byte" '^rec: error: truncated record at byte [0-9]+'
check "no output file after a failure" test ! -e "$TMP/out.mp"
printf '\x81\xa1x\xc1' > "$TMP/bad.mp"
check_exit 1 "invalid byte exits 1" rec -i "$TMP/bad.mp"
check_stderr "invalid byte message" 'invalid msgpack byte 0xc1 at byte 3'
printf '\x81\xa1x\xdd\x7f\xff\xff\xff' > "$TMP/claim.mp"
check_exit 1 "huge claimed array exits 1" rec -i "$TMP/claim.mp"
check_stderr "array limit message" 'exceeds the limit'
check_exit 1 "record over --max-record" rec -i "$TMP/ref.mp" --max-record 20
check_stderr "record limit message" 'larger than the limit of 20 bytes'
printf '{"kind":"tokens"\n' > "$TMP/bad.jsonl"
check_exit 1 "bad JSON exits 1" rec -i "$TMP/bad.jsonl"
check_stderr "JSON error names the line" 'line 1: invalid JSON'
printf '{"kind":"x"}\n{"kind":"end","count":5}\n' > "$TMP/short.jsonl"
check_exit 1 "end record count mismatch exits 1" rec -i "$TMP/short.jsonl"
check_stderr "count mismatch message" 'end record says 5 records, 1 arrived'
check_exit 3 "missing input file exits 3" rec -i "$TMP/nope.mp"
check_stderr "missing file message" "cannot open '.*nope.mp'"
check_exit 4 "silent socket peer exits 4" rec -i "@tcp://127.0.0.1:39613" --timeout 300
check_stderr "timeout message" 'no record from'
check_exit 4 "socket producer with no consumer exits 4" rec -i "$TMP/ref.mp" -o ">tcp://127.0.0.1:39614" --timeout 300
# libzmq is loaded on the first socket (common/zmq_lazy.c), not linked: the tools start without
# it (~10 ms of every start), and the socket streams above worked through the lazy load. SAN=1
# builds link it on purpose (LeakSanitizer and dlopened threads), and the dlopen finds it.
if [ "${SAN:-0}" != 1 ]; then
    for t in tok detok rec denoise; do
        check_eq "$t is not linked to libzmq (ldd)" "" "$(ldd "$LLADA_BIN/$t" | grep -o 'libzmq[^ ]*')"
    done
fi
printf '{"kind":"err","code":5,"msg":"gpu fell over"}\n' > "$TMP/err.jsonl"
check_exit 4 "upstream err record exits 4" rec -i "$TMP/err.jsonl"
check_stderr "upstream error message" 'upstream error: gpu fell over'
# A closed downstream pipe: the writer ends quietly (SIGPIPE), no error text.
yes '{"kind":"tokens","tokens":{"dtype":"i4","shape":[3],"data":[1,2,3]}}' | head -n 200000 > "$TMP/many.jsonl"
rec < "$TMP/many.jsonl" 2>"$TMP/pipe.err" | head -c 10 > /dev/null
check_eq "closed pipe: no message" "" "$(cat "$TMP/pipe.err")"

# CLI conventions for every tool.
for t in rec tok detok mask denoise remask train; do
    [ -x "$LLADA_BIN/$t" ] || { fail "$t is built"; continue; }
    out=$("$t" --help 2>/dev/null); rc=$?
    check_eq "$t --help exits 0" 0 "$rc"
    case "$out" in *Usage:*) pass "$t --help prints usage on stdout" ;; *) fail "$t --help prints usage on stdout" ;; esac
    check_eq "$t --version" 0 "$("$t" --version >/dev/null 2>&1; echo $?)"
    check_exit 2 "$t bad option exits 2" "$t" --no-such-option
    check_stderr "$t usage error says Try" "Try '$t --help'"
done
check_exit 3 "--help to a full device exits 3" sh -c "rec --help > /dev/full"
check_stderr "write failure message" 'rec: error: writing output failed'
if command -v script >/dev/null; then
    script -qec "$LLADA_BIN/rec -i $TMP/ref.mp" /dev/null > "$TMP/tty.out" 2>&1; rc=$?
    check_eq "binary to a terminal refused (exit 2)" 2 "$rc"
    grep -q 'refusing to write binary records to a terminal' "$TMP/tty.out" && pass "terminal refusal message" || fail "terminal refusal message"
fi
# make install PREFIX=... : tools and pipelines on PATH only as llada-<name> (rec clashes with
# sox), working from the install alone (bundled model, pipelines finding the installed tools),
# man pages from --help; make uninstall leaves no file or link behind.
if make -s -C "$LLADA_ROOT" install PREFIX="$TMP/inst" SAN="${SAN:-}" >/dev/null 2>&1; then
    pass "make install PREFIX"
    I=$TMP/inst
    bare() { env -u LLADA_MODEL PATH=/usr/bin:/bin "$@"; }   # nothing from the tree on PATH
    check "installed llada-tok --help" bare "$I/bin/llada-tok" --help
    bare "$I/bin/llada-tok" --help 2>/dev/null | grep -q '^Usage: tok' && pass "llada-tok --help is tok's" || fail "llada-tok --help is tok's"
    short=$(cd "$I/bin" && ls | grep -v '^llada-' | tr '\n' ' ')
    check_eq "only llada-* names in PREFIX/bin" "" "$short"
    for t in rec tok detok mask denoise remask train serve; do
        [ -x "$LLADA_BIN/$t" ] || continue
        check "llada-$t installed and runs" bare "$I/bin/llada-$t" --version
    done
    check_eq "installed tok | detok round trip (bundled model)" "In the beginning" \
        "$(echo 'In the beginning' | bare "$I/bin/llada-tok" | bare "$I/bin/llada-detok")"
    out=$(bare "$I/bin/llada-generate" --gen-length 4 --steps 2 -q "And God said" 2>"$TMP/gen.err"); rc=$?
    [ "$rc" -eq 0 ] && pass "installed llada-generate runs the installed tools" ||
        fail "installed llada-generate runs the installed tools" "exit $rc $(head -c 200 "$TMP/gen.err")"
    [ -n "$out" ] && pass "llada-generate printed an answer" || fail "llada-generate printed an answer"
    check_eq "only the bundled model is installed (no training stages)" "default" \
        "$(ls "$I/lib/llada/models" | tr '\n' ' ' | sed 's/ $//')"
    check "man page llada-tok(1)" test -s "$I/share/man/man1/llada-tok.1"
    check "man page llada-generate(1)" test -s "$I/share/man/man1/llada-generate.1"
    if command -v man >/dev/null; then
        MANWIDTH=100 man -l "$I/share/man/man1/llada-tok.1" 2>/dev/null | grep -Eq 'llada-tok +- +Tokenize' \
            && pass "llada-tok(1) renders with its NAME line" || fail "llada-tok(1) renders with its NAME line"
    fi
    if make -s -C "$LLADA_ROOT" uninstall PREFIX="$I" SAN="${SAN:-}" >/dev/null 2>&1; then
        left=$(find "$I" \( -type f -o -type l \) | head -5 | tr '\n' ' ')
        check_eq "make uninstall leaves no file or link" "" "$left"
    else
        fail "make uninstall PREFIX"
    fi
else
    fail "make install PREFIX"
fi
finish
