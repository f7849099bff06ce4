#!/usr/bin/env bash
# bench/rec_keys.sh — record decoding cost against the number of keys (issue 18 item 2): about
# 11 MB of records with N keys each (N = 10 .. 1,000,000; small int values) through
# `rec -i FILE -o /dev/null` (decode + encode), beside `cat` on the same bytes. Linear decoding
# keeps the time per MB flat across N; the old per-key linear search made it grow with N
# (a record of 48,000 keys took seconds). Each case is cut off after ${REC_KEYS_LIMIT:-60} s.
set -u
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
limit=${REC_KEYS_LIMIT:-60}
opts="--max-array 2000000"
rec --help | grep -q -- --max-keys && opts="$opts --max-keys 2000000"
printf '%-10s %8s %10s %10s %10s\n' "keys" "records" "MB" "rec s/MB" "cat s/MB"
for n in 10 100 1000 10000 100000 1000000; do
    "$PYTHON" - "$tmp/in.mp" "$n" <<'P'
import sys, msgpack
n = int(sys.argv[2]); per = 11 * n; recs = max(1, 11_000_000 // per)
one = msgpack.packb({("k%07d" % i): i & 127 for i in range(n)})
with open(sys.argv[1], "wb") as f:
    f.write(one * recs)
P
    bytes=$(stat -c %s "$tmp/in.mp"); recs=$(( 11000000 / (11 * n) )); [ "$recs" -lt 1 ] && recs=1
    mb=$(echo "$bytes / 1000000" | bc -l)
    s=$(date +%s.%N); timeout "$limit" rec -i "$tmp/in.mp" -o /dev/null $opts 2>/dev/null; rc=$?; e=$(date +%s.%N)
    s2=$(date +%s.%N); cat "$tmp/in.mp" > /dev/null; e2=$(date +%s.%N)
    if [ "$rc" -eq 124 ]; then r=">$(echo "$limit / $mb" | bc -l | xargs printf '%.1f')"
    elif [ "$rc" -ne 0 ]; then r="exit$rc"
    else r=$(echo "($e - $s) / $mb" | bc -l | xargs printf '%.4f'); fi
    printf '%-10s %8d %10.1f %10s %10.4f\n' "$n" "$recs" "$mb" "$r" "$(echo "($e2 - $s2) / $mb" | bc -l)"
done
