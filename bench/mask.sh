#!/usr/bin/env bash
# bench/mask.sh — mask throughput in MB/s of token data (4 bytes per input token) into an lz4
# shard on one core, beside plain memcpy and lz4 alone (LZ4F frame, the shard settings: 4 MB
# linked blocks, content checksum, level 0) on the same token bytes, measured in the same run.
# Data: 16M Zipf-distributed token ids (126464-word vocabulary) in documents of 200..4000
# tokens. Each timing is the best of 3 runs, pinned to one CPU; --shuffle rows write the ids as
# byte planes (docs/protocol.md, "filter").
set -u
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pin=""; command -v taskset >/dev/null && pin="taskset -c 0"
"$PYTHON" - "$tmp" <<'P'
import sys, msgpack, numpy as np
rng = np.random.default_rng(0)
V = 126464
w = 1 / (np.arange(V) + 2.7) ** 1.07
w /= w.sum()
perm = rng.permutation(V)
tot, raw = 0, []
with open(sys.argv[1] + "/in.mp", "wb") as f:
    while tot < 16_000_000:
        n = int(rng.integers(200, 4000))
        ids = perm[rng.choice(V, n, p=w)].astype("<i4")
        raw.append(ids.tobytes())
        f.write(msgpack.packb({"kind": "tokens", "v": 1, "tokens": {"dtype": "i4", "shape": [n], "data": raw[-1]}}))
        tot += n
open(sys.argv[1] + "/tokens.bin", "wb").write(b"".join(raw))
P
cat > "$tmp/ref.c" <<'C'
/* memcpy and LZ4F frame compression of a file's bytes; prints the best seconds of 3 runs. */
#include <lz4frame.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(int argc, char **argv) {
    FILE *f = fopen(argv[1], "rb"); fseek(f, 0, SEEK_END); size_t n = ftell(f); rewind(f);
    char *a = malloc(n), *b = malloc(n);
    if (fread(a, 1, n, f) != n) return 1;
    LZ4F_preferences_t p; memset(&p, 0, sizeof p);
    p.frameInfo.blockSizeID = LZ4F_max4MB; p.frameInfo.blockMode = LZ4F_blockLinked;
    p.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    size_t cap = LZ4F_compressFrameBound(n, &p); char *c = malloc(cap);
    double bm = 1e9, bl = 1e9, t; size_t out = 0;
    for (int r = 0; r < 3; r++) {
        t = now(); memcpy(b, a, n); t = now() - t; if (t < bm) bm = t;
        t = now(); out = LZ4F_compressFrame(c, cap, a, n, &p); t = now() - t; if (t < bl) bl = t;
    }
    printf("%.6f %.6f %zu %d\n", bm, bl, out, b[n / 2] == a[n / 2]);
    return 0;
}
C
cc -O2 -o "$tmp/ref" "$tmp/ref.c" -llz4 || exit 1
bytes=$(stat -c %s "$tmp/tokens.bin")
read -r tmem tlz4 lz4out _ < <($pin "$tmp/ref" "$tmp/tokens.bin")
best() {  # OUT CMD...: best of 3 runs of CMD: "wall cpu" seconds (cpu = user + sys of the
    # process); OUT is removed before each run, as data prep writes new shards (replacing an
    # old file would add the kernel's freeing of it to the rename)
    local out=$1 bw=999 bc=999 w u k c
    shift
    for _ in 1 2 3; do
        [ "$out" = /dev/null ] || rm -f "$out"
        read -r w u k < <({ TIMEFORMAT='%R %U %S'; time "$@" >/dev/null 2>&1 || echo fail >&2; } 2>&1)
        [ "$w" = fail ] && { echo "fail fail"; return; }
        c=$(echo "$u + $k" | bc -l)
        bw=$(echo "if ($w < $bw) $w else $bw" | bc -l); bc=$(echo "if ($c < $bc) $c else $bc" | bc -l)
    done
    echo "$bw $bc"
}
IDS="--mask-id 126336 --eos-id 126081"
read -r tnull cnull < <(best "/dev/null" $pin mask --pretrain $IDS -i "$tmp/in.mp" -o "/dev/null")
read -r tlz clz < <(best "$tmp/o.mp.lz4" $pin mask --pretrain $IDS -i "$tmp/in.mp" -o "$tmp/o.mp.lz4"); szx=$(stat -c %s "$tmp/o.mp.lz4")
read -r tbm cbm < <(best "$tmp/b.mp.lz4" $pin mask --pretrain --bitmap $IDS -i "$tmp/in.mp" -o "$tmp/b.mp.lz4"); szb=$(stat -c %s "$tmp/b.mp.lz4")
read -r tsh csh < <(best "$tmp/s.mp.lz4" $pin mask --pretrain --shuffle $IDS -i "$tmp/in.mp" -o "$tmp/s.mp.lz4"); szs=$(stat -c %s "$tmp/s.mp.lz4")
read -r tbs cbs < <(best "$tmp/bs.mp.lz4" $pin mask --pretrain --bitmap --shuffle $IDS -i "$tmp/in.mp" -o "$tmp/bs.mp.lz4"); szbs=$(stat -c %s "$tmp/bs.mp.lz4")
read -r tsft csft < <(best "$tmp/sft.mp.lz4" $pin mask --sft --pad-batch 16 $IDS -i "$tmp/in.mp" -o "$tmp/sft.mp.lz4"); szsft=$(stat -c %s "$tmp/sft.mp.lz4")
mb=$(echo "$bytes / 1000000" | bc -l)
printf '%-46s %7s %7s %8s %8s %7s %10s\n' "path ($(printf %.0f "$mb") MB of int32 tokens, 1 core)" "wall s" "cpu s" "MB/s" "cpu MB/s" "vs lz4" "out bytes"
row() {  # name wall cpu bytes
    printf '%-46s %7.3f %7s %8.0f %8s %7.2f %10s\n' "$1" "$2" "$3" "$(echo "$mb / $2" | bc -l)" \
        "$([ "$3" = - ] && echo - || printf %.0f "$(echo "$mb / $3" | bc -l)")" "$(echo "$tlz4 / $2" | bc -l)" "$4"
}
row "memcpy (reference)" "$tmem" - "-"
row "lz4 frame alone, level 0 (reference)" "$tlz4" - "$lz4out"
row "mask --pretrain -> /dev/null" "$tnull" "$cnull" "-"
row "mask --pretrain -> .mp.lz4 (x0 + xt)" "$tlz" "$clz" "$szx"
row "mask --pretrain --bitmap -> .mp.lz4" "$tbm" "$cbm" "$szb"
row "mask --pretrain --shuffle -> .mp.lz4" "$tsh" "$csh" "$szs"
row "mask --pretrain --bitmap --shuffle -> .mp.lz4" "$tbs" "$cbs" "$szbs"
row "mask --sft --pad-batch 16 -> .mp.lz4" "$tsft" "$csft" "$szsft"
echo "target: >= 500 MB/s into lz4 shards. wall: the whole process, including the fsync of the"
echo "shard before its atomic rename (disk-bound); cpu: user + sys of the process (the core's"
echo "throughput). 'vs lz4' = (lz4-alone seconds) / wall seconds: 1.0 = as fast as compressing"
echo "the input once in memory."
