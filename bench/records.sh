#!/usr/bin/env bash
# bench/records.sh — record plumbing throughput: a stream of token records through `rec`
# over a pipe, into an lz4 file, and over tcp, each beside `cat` / `lz4` on the same bytes.
set -u
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$PYTHON" - "$tmp/in.mp" <<'P'
import sys, msgpack, numpy as np
rng = np.random.default_rng(0)
with open(sys.argv[1], "wb") as f:
    for i in range(4000):
        ids = rng.integers(0, 126464, 4096, dtype=np.int32)
        f.write(msgpack.packb({"kind": "tokens", "v": 1, "tokens": {"dtype": "i4", "shape": [4096], "data": ids.tobytes()}, "id": i}))
P
mb=$(( $(stat -c %s "$tmp/in.mp") / 1048576 ))
t() { local s=$(date +%s.%N); "$@" >/dev/null 2>&1; echo "$(date +%s.%N) - $s" | bc; }
c=$(t sh -c "cat '$tmp/in.mp' | cat > '$tmp/o1'")
r=$(t sh -c "rec < '$tmp/in.mp' | rec > '$tmp/o2'")
l=$(t sh -c "lz4 -1 -q -f '$tmp/in.mp' '$tmp/o3.lz4'")
rl=$(t rec -i "$tmp/in.mp" -o "$tmp/o4.mp.lz4")
rec -i @tcp://127.0.0.1:39901 -o "$tmp/o5" & p=$!
sleep 0.2
z=$(t rec -i "$tmp/in.mp" -o ">tcp://127.0.0.1:39901"); wait $p
printf '%-34s %8s %10s %8s\n' "path ($mb MiB of int32 tokens)" "seconds" "MB/s" "ratio"
row() { printf '%-34s %8.3f %10.0f %8.2f\n' "$1" "$2" "$(echo "$mb / $2" | bc -l)" "$(echo "$3 / $2" | bc -l)"; }
row "cat | cat (reference)" "$c" "$c"
row "rec | rec (decode+encode x2)" "$r" "$c"
row "lz4 -1 CLI (reference)" "$l" "$l"
row "rec -> .mp.lz4 (vs lz4 CLI)" "$rl" "$l"
row "rec -> tcp -> rec (vs cat|cat)" "$z" "$c"
