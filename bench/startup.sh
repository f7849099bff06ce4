#!/usr/bin/env bash
# bench/startup.sh — what a `denoise` process costs before and around its work (issue 11,
# defect 3). Wall time, best of N (STARTUP_REPS, default 5), of:
#   - `denoise --version` against `tok --version` (a process that loads nothing);
#   - a 1-token generation with the bundled model (`tok -l | denoise --gen-length 1 --steps 1`)
#     against `tok -l` alone plus the forward time of that canvas (`denoise --bench L`'s
#     forward_s, measured in the same run).
# Target: both ratios <= 1.5. BASE_BIN=DIR also measures another build's denoise (e.g. the
# tree before the change) on the same machine in the same run. Wall times depend on how busy
# the machine is; the CPU-time lines (one thread) less so.
set -u
root=${LLADA_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${LLADA_BIN:-$root/bin}
reps=${STARTUP_REPS:-5}
model=$root/models/default
[ -f "$model/config.json" ] || { echo "startup bench: skipped (no bundled model)"; exit 0; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf 'The capital of France is\n' > "$tmp/p.txt"
"$bin/tok" -l --model "$model" < "$tmp/p.txt" > "$tmp/p.mp"
L=$(( $("$bin/tok" -l --ids --model "$model" < "$tmp/p.txt" | wc -w) + 1 ))
best() {  # best wall seconds of `reps` runs of "$@" (stdin from $IN)
    local b=999 t0 t1
    for _ in $(seq "$reps"); do
        t0=$(date +%s.%N); "$@" < "${IN:-/dev/null}" > /dev/null 2>&1; t1=$(date +%s.%N)
        b=$(awk -v b="$b" -v t0="$t0" -v t1="$t1" 'BEGIN { x = t1 - t0; print (b < x) ? b : x }')
    done
    printf '%.4f' "$b"
}
fwd=$(for _ in $(seq 3); do "$bin/denoise" --model "$model" --bench "$L" 2>/dev/null | sed -E 's/.*"forward_s":([0-9.e-]+).*/\1/'; done | sort -g | head -1)
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
echo "CPU: $cpu ($(nproc) CPUs); canvas $L tokens, forward $fwd s (best of 3)"
report() {  # label, denoise binary
    local dn=$2 tv dv tg gen r1 r2
    tv=$(best "$bin/tok" --version)
    dv=$(best "$dn" --version)
    tg=$(IN=$tmp/p.txt best "$bin/tok" -l --model "$model")
    gen=$(IN=$tmp/p.mp best "$dn" --model "$model" --gen-length 1 --steps 1 -q --device auto)
    r1=$(awk -v a="$dv" -v b="$tv" 'BEGIN { print a / b }')
    r2=$(awk -v a="$gen" -v b="$tg" -v f="$fwd" 'BEGIN { print a / (b + f) }')
    printf '%s: denoise --version %.3f s vs tok --version %.3f s: %.2fx; 1-token generation %.3f s vs tok %.3f s + forward %.4f s: %.2fx (target <= 1.5x)\n' \
        "$1" "$dv" "$tv" "$r1" "$gen" "$tg" "$fwd" "$r2"
    printf '{"bench":"startup","build":"%s","denoise_version_s":%s,"tok_version_s":%s,"gen1_s":%s,"tok_s":%s,"forward_s":%s,"ratio_version":%.3f,"ratio_gen1":%.3f}\n' \
        "$1" "$dv" "$tv" "$gen" "$tg" "$fwd" "$r1" "$r2"
}
# The same in process CPU time (user + sys from getrusage, best of N), one thread: what a process costs,
# independent of how busy the shared machine is.
cpu() {  # best user+sys seconds of `reps` runs of "$@" (stdin from $IN)
    local b=999 t
    for _ in $(seq "$reps"); do
        t=$("${PYTHON:-/usr/bin/python3}" -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
r = resource.getrusage(resource.RUSAGE_CHILDREN); print(r.ru_utime + r.ru_stime)' "$@" < "${IN:-/dev/null}")
        b=$(awk -v b="$b" -v t="$t" 'BEGIN { print (t < b) ? t : b }')
    done
    printf '%.4f' "$b"
}
fwd1=$(for _ in $(seq 3); do "$bin/denoise" --model "$model" --bench "$L" --threads 1 2>/dev/null | sed -E 's/.*"forward_s":([0-9.e-]+).*/\1/'; done | sort -g | head -1)
report_cpu() {  # label, denoise binary
    local dn=$2 tv dv tg gen
    tv=$(cpu "$bin/tok" --version); dv=$(cpu "$dn" --version)
    tg=$(IN=$tmp/p.txt cpu "$bin/tok" -l --model "$model")
    gen=$(IN=$tmp/p.mp cpu "$dn" --model "$model" --gen-length 1 --steps 1 -q --threads 1 --device auto)
    printf '%s, CPU time, 1 thread: denoise --version %.3f s vs tok --version %.3f s: %.2fx; 1-token generation %.3f s vs tok %.3f s + forward %.4f s: %.2fx\n' \
        "$1" "$dv" "$tv" "$(awk -v a="$dv" -v b="$tv" 'BEGIN { print a / b }')" "$gen" "$tg" "$fwd1" \
        "$(awk -v a="$gen" -v b="$tg" -v f="$fwd1" 'BEGIN { print a / (b + f) }')"
}
[ -n "${BASE_BIN:-}" ] && report "base ($BASE_BIN)" "$BASE_BIN/denoise"
report "this tree" "$bin/denoise"
[ -n "${BASE_BIN:-}" ] && report_cpu "base ($BASE_BIN)" "$BASE_BIN/denoise"
report_cpu "this tree" "$bin/denoise"
