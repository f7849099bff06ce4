#!/usr/bin/env python3
"""wordtask_data.py — the scoring task of bench/accuracy.sh: two synthetic word tasks a tiny
masked diffusion model learns in minutes, so that the fast decoding modes (KV cache, parallel
decoding, bf16/int8 GEMMs) can be scored by exact match instead of guessed at.

  reverse: w1 w2 ... wn   -> wn ... w2 w1     (n = --reverse-words, default 5)
  copy: w1 w2 ... wn      -> w1 w2 ... wn     (n = --copy-words, default 12: the longer answers)

Each task has one word count by default (MIN or MIN:MAX gives a range): with a fixed count the
source of every answer word lies at a fixed distance, which a tiny model learns in minutes;
with ranges (4:8, 8:16) a 2M-parameter model was still at its plateau after 1500 steps.

Words are drawn uniformly (with repetition) from a fixed list of 24 English words that the
bundled byte-level BPE (models/default) encodes as one token each. A seeded generator writes
--train items (half of each task) and --test held-out items per task; no test prompt occurs
in the training items.

Writes into OUT:
  sft.jsonl                     chat items {"messages": [user, assistant]} (shuffled)
  test.jsonl, test.ans          user turns of the test items (reverse first, then copy) and
                                their reference answers, one per line, same order
  test.task                     the task of each test line (reverse / copy)
Exit 0; 2 on bad options (argparse).
"""
import argparse, json, os, random, sys

WORDS = ("red blue green white gold silver iron stone wood fire water earth wind sun moon king "
         "house horse bird fish tree river hill ship").split()


def item(rng, task, counts):
    n = rng.randint(*counts[task])
    w = [rng.choice(WORDS) for _ in range(n)]
    ans = w[::-1] if task == "reverse" else w
    return task + ": " + " ".join(w), " ".join(ans)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--train", type=int, default=20000, help="training items (default 20000)")
    ap.add_argument("--test", type=int, default=100, help="test items per task (default 100)")
    ap.add_argument("--reverse-words", default="5", help="words per reverse item: N or MIN:MAX (default 5)")
    ap.add_argument("--copy-words", default="12", help="words per copy item: N or MIN:MAX (default 12)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    counts = {}
    for t, v in (("reverse", a.reverse_words), ("copy", a.copy_words)):
        try:
            lo, hi = (int(x) for x in (v.split(":") if ":" in v else (v, v)))
        except ValueError:
            ap.error("--%s-words: N or MIN:MAX" % t)
        if not 1 <= lo <= hi:
            ap.error("--%s-words: need 1 <= MIN <= MAX" % t)
        counts[t] = (lo, hi)
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    test, seen = [], set()
    for task in ("reverse", "copy"):
        k = 0
        while k < a.test:
            q, r = item(rng, task, counts)
            if q in seen: continue
            seen.add(q); test.append((task, q, r)); k += 1
    train = []
    while len(train) < a.train:
        q, r = item(rng, ("reverse", "copy")[len(train) % 2], counts)
        if q not in seen: train.append((q, r))
    rng.shuffle(train)
    user = lambda t: {"role": "user", "content": t}
    with open(os.path.join(a.out, "sft.jsonl"), "w") as f:
        for q, r in train:
            print(json.dumps({"messages": [user(q), {"role": "assistant", "content": r}]}), file=f)
    with open(os.path.join(a.out, "test.jsonl"), "w") as f, \
         open(os.path.join(a.out, "test.ans"), "w") as g, \
         open(os.path.join(a.out, "test.task"), "w") as h:
        for task, q, r in test:
            print(json.dumps({"messages": [user(q)]}), file=f)
            print(r, file=g); print(task, file=h)
    return 0


if __name__ == "__main__":
    sys.exit(main())
