#!/usr/bin/env bash
# bench/rec_keys.sh — record decoding cost against the number of keys (issue 18 item 2): about
# 11 MB of records with N keys each (N = 10 .. 1,000,000; small int values) through
# `rec -i FILE -o /dev/null` (decode + encode), beside `cat` on the same bytes, in CPU seconds
# (user + system) per MB, which other work on a shared machine does not inflate. Linear decoding
# keeps the time per MB flat across N; the old per-key linear search made it grow with N
# (a record of 48,000 keys took seconds). The same records (each also holds a small "tokens"
# array) through `mask --canvas`, which copies every other key into its output record as a
# user field: that copy was O(n^2) too (a lookup per copied key). Each case is cut off after
# ${REC_KEYS_LIMIT:-60} s.
set -u
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
limit=${REC_KEYS_LIMIT:-60}
opts="--max-array 2000000"
rec --help | grep -q -- --max-keys && opts="$opts --max-keys 2000000"
printf '%-10s %8s %10s %10s %10s %10s\n' "keys" "records" "MB" "rec s/MB" "mask s/MB" "cat s/MB"  # CPU s
# CPU seconds (user + system) per MB of a command on $tmp/in.mp, so that a machine shared with
# other work does not inflate it; ">LIMIT/MB" when cut off (wall clock), exitN on an error
per_mb() {
    local TIMEFORMAT='%U %S' out rc cpu
    out=$( { time { timeout "$limit" "$@" >/dev/null 2>&1; echo "rc $?" >&2; }; } 2>&1 )
    rc=$(echo "$out" | awk '$1 == "rc" {print $2}'); cpu=$(echo "$out" | awk '$1 != "rc" {print $1 + $2}')
    if [ "$rc" -eq 124 ]; then echo ">$(echo "$limit / $mb" | bc -l | xargs printf '%.1f')"
    elif [ "$rc" -ne 0 ]; then echo "exit$rc"
    else echo "$cpu / $mb" | bc -l | xargs printf '%.4f'; fi
}
for n in 10 100 1000 10000 100000 1000000; do
    "$PYTHON" - "$tmp/in.mp" "$n" <<'P'
import sys, msgpack
n = int(sys.argv[2]); per = 11 * n; recs = max(1, 11_000_000 // per)
fields = {"tokens": {"dtype": "i4", "shape": [8], "data": bytes(range(32))}}
fields.update({("k%07d" % i): i & 127 for i in range(n)})
one = msgpack.packb(fields)
with open(sys.argv[1], "wb") as f:
    f.write(one * recs)
P
    bytes=$(stat -c %s "$tmp/in.mp"); recs=$(( 11000000 / (11 * n) )); [ "$recs" -lt 1 ] && recs=1
    mb=$(echo "$bytes / 1000000" | bc -l)
    r=$(per_mb rec -i "$tmp/in.mp" -o /dev/null $opts)
    m=$(per_mb mask --canvas --gen-length 8 --mask-id 126336 --eos-id 126081 -i "$tmp/in.mp" -o /dev/null $opts)
    c=$(per_mb cat "$tmp/in.mp")
    printf '%-10s %8d %10.1f %10s %10s %10s\n' "$n" "$recs" "$mb" "$r" "$m" "$c"
done
