#!/usr/bin/env bash
# tests/e2e/tmpfiles.sh — issue 18 item 1: a file output is written to FILE.tmp-PID and renamed
# on success; every other exit path (an error exit through cli_die, SIGTERM, SIGINT, SIGHUP)
# leaves neither FILE nor FILE.tmp-PID behind. Covers tok, detok --records, mask, denoise (also
# the --remote client) and rec.
. "$(dirname "$0")/../lib.sh"
M=$TMP/tiny
"$PYTHON" "$LLADA_ROOT/tests/fixtures/make_tiny_ckpt.py" "$M" --preset mha_f32 >/dev/null
M=$M/mha_f32
O=$TMP/out/o.mp
mkdir -p "$TMP/out"
leftovers() { ls "$TMP/out" | tr '\n' ' '; }
# no_leftover NAME: the output folder is empty (then emptied for the next case)
no_leftover() { check_eq "$1: nothing left in the output folder" "" "$(leftovers)"; rm -f "$TMP/out"/*; }

# --- error exits (the reproducer of the issue and its siblings)
check_exit 1 "tok --jsonl with a non-string text" bash -c "printf '{\"text\":5}\n' | tok --jsonl -o '$O'"
no_leftover "tok error exit"
bad='{"kind":"tokens","tokens":{"dtype":"f4","shape":[1],"data":[1.5]}}'
check_exit 1 "detok --records on f4 tokens" bash -c "printf '%s\n' '$bad' | detok --records -o '$O'"
no_leftover "detok --records error exit"
check_exit 1 "mask --pretrain on garbage" bash -c "printf 'garbage' | mask --pretrain --model '$M' -o '$O'"
no_leftover "mask error exit"
check_exit 1 "denoise on f4 tokens" bash -c "printf '%s\n' '$bad' | denoise --model '$M' --gen-length 4 -o '$O'"
no_leftover "denoise error exit"
port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
tok1='{"kind":"tokens","tokens":{"dtype":"i4","shape":[2],"data":[1,2]}}'
check_exit 4 "denoise --remote with no broker" bash -c "printf '%s\n' '$tok1' | denoise --remote tcp://127.0.0.1:$port --timeout 300 -o '$O'"
no_leftover "denoise --remote error exit"
check_exit 1 "rec on a truncated stream" bash -c "printf '%s\n' '$tok1' | rec | head -c 20 | rec -o '$O'"
no_leftover "rec error exit"

# --- fatal signals while the output is open: the tool blocks reading a FIFO nobody writes
# Job control on, so background jobs keep SIGINT's default action (bash ignores it otherwise).
set -m
mkfifo "$TMP/fifo"
# killed SIG NAME CMD...: CMD (reading the FIFO) is sent SIG once its temp file exists. CMD
# starts with the three signals at their default action (env --default-signal): under nohup
# SIGHUP arrives ignored, a tool rightly keeps it so, and the case would wait forever.
killed() {
    local sig=$1 name=$2; shift 2
    env --default-signal=HUP,INT,TERM "$@" < "$TMP/fifo" 2>/dev/null & local pid=$!
    exec 9>"$TMP/fifo"
    local seen=0
    for _ in $(seq 200); do compgen -G "$O.tmp-*" >/dev/null && { seen=1; break; }; sleep 0.025; done
    check_eq "$name: temp file exists while running" 1 "$seen"
    kill -s "$sig" "$pid"; wait "$pid"; local rc=$?
    exec 9>&-
    check_eq "$name: ended by SIG$sig" "$((128 + $(kill -l "$sig")))" "$rc"
    no_leftover "$name"
}
for sig in TERM INT HUP; do killed $sig "tok on SIG$sig" tok --jsonl -o "$O"; done
killed TERM "detok --records on SIGTERM" detok --records -o "$O"
killed INT "mask on SIGINT" mask --pretrain --model "$M" -o "$O"
killed TERM "denoise on SIGTERM" denoise --model "$M" --gen-length 4 -o "$O"
killed HUP "denoise --remote on SIGHUP" denoise --remote tcp://127.0.0.1:$port -o "$O"
killed TERM "rec on SIGTERM" rec -o "$O"
set +m

# --- and the success path still renames
check "rec writes the file" bash -c "printf '%s\n' '$tok1' | rec -o '$O'"
check_eq "only the output remains" "o.mp " "$(leftovers)"
finish
