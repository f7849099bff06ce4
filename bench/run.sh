#!/usr/bin/env bash
# bench/run.sh — runs every bench/*.sh (BENCH='pattern' selects). Each benchmark measures its
# own reference in the same run and prints ratios, since these machines are shared and noisy.
set -u
here=$(cd "$(dirname "$0")" && pwd)
export LLADA_ROOT=$(cd "$here/.." && pwd)
export LLADA_BIN=${LLADA_BIN:-$LLADA_ROOT/bin}
export PATH="$LLADA_BIN:$PATH"
export PYTHON=${PYTHON:-/usr/bin/python3}
status=0
for b in "$here"/*.sh; do
    name=$(basename "$b" .sh)
    [ "$name" = run ] && continue
    case "$name" in ${BENCH:-*}) ;; *) continue ;; esac
    echo "== bench/$name"
    bash "$b" || { echo "bench/$name failed"; status=1; }
done
exit $status
