#!/usr/bin/env python3
"""reversal_data.py — the forward/reversal task of pipelines/reversal from KJV text.

Input: verses, one per line, "Book c:v text" references stripped by the caller, in order.
Units: --unit half (default) splits each verse with exactly one ': ' into its two halves
(the KJV's couplets, Proverbs above all: the nearest thing the KJV has to the seed's poem
lines) and pairs them; --unit verse pairs consecutive verses (1,2), (3,4), ... so that no
verse is in two pairs. A seeded shuffle puts --test pairs in the test split; every other
pair is in the SFT split. Since the pairs share no unit, a test pair's lines never occur in
an SFT item, forward or reversed.

Writes into OUT:
  sft.jsonl        chat items {"messages": [user, assistant]}, each SFT pair twice:
                   forward  user "next: A"      -> assistant "B"
                   reversal user "previous: B"  -> assistant "A"
                   (shuffled with the seed)
  test-fwd.jsonl, test-rev.jsonl    the user turns of the test pairs, one direction each
  test-fwd.ans, test-rev.ans        the references, one per line, same order
  pretrain.txt     the pre-training text: the verses of the kept pairs in order (with
                   --scope all every input verse), the test verses included (--pretrain
                   include, the seed's setting: the model has read the text and is asked to
                   retrieve a line) or left out (--pretrain exclude)
  split.json       counts and the seed
"""
import argparse, json, os, random, sys


def units_of(verses, unit):
    """(pairs, verse index of each pair) from the verse list."""
    pairs, where = [], []
    if unit == "half":
        for i, v in enumerate(verses):
            if v.count(": ") == 1:
                a, b = v.split(": ")
                if a.strip() and b.strip():
                    pairs.append((a.strip(), b.strip())); where.append((i,))
    else:
        for i in range(0, len(verses) - 1, 2):
            pairs.append((verses[i], verses[i + 1])); where.append((i, i + 1))
    return pairs, where


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("verses"); ap.add_argument("out")
    ap.add_argument("--unit", choices=("half", "verse"), default="half")
    ap.add_argument("--test", type=int, default=100, help="test pairs (default 100)")
    ap.add_argument("--max-words", type=int, default=14,
                    help="keep pairs whose lines have at most this many words (default 14)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N pairs (0: all)")
    ap.add_argument("--pretrain", choices=("include", "exclude"), default="include")
    ap.add_argument("--scope", choices=("pairs", "all"), default="pairs")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    verses = [l.strip() for l in open(a.verses, encoding="utf-8") if l.strip()]
    pairs, where = units_of(verses, a.unit)
    keep = [k for k, (x, y) in enumerate(pairs) if len(x.split()) <= a.max_words and len(y.split()) <= a.max_words]
    if a.limit: keep = keep[:a.limit]
    if len(keep) < a.test + 10:
        print("reversal_data: error: %d pairs, too few for %d test pairs" % (len(keep), a.test), file=sys.stderr)
        return 1
    rng = random.Random(a.seed)
    order = keep[:]; rng.shuffle(order)
    test, train = sorted(order[:a.test]), order[a.test:]
    os.makedirs(a.out, exist_ok=True)
    user = lambda t: {"role": "user", "content": t}
    items = []
    for k in train:
        x, y = pairs[k]
        items.append({"messages": [user("next: " + x), {"role": "assistant", "content": y}]})
        items.append({"messages": [user("previous: " + y), {"role": "assistant", "content": x}]})
    rng.shuffle(items)
    with open(os.path.join(a.out, "sft.jsonl"), "w") as f:
        for it in items: print(json.dumps(it), file=f)
    for d, (cue, q, r) in {"fwd": ("next: ", 0, 1), "rev": ("previous: ", 1, 0)}.items():
        with open(os.path.join(a.out, "test-%s.jsonl" % d), "w") as f, \
             open(os.path.join(a.out, "test-%s.ans" % d), "w") as g:
            for k in test:
                print(json.dumps({"messages": [user(cue + pairs[k][q])]}), file=f)
                print(pairs[k][r], file=g)
    held = {i for k in test for i in where[k]}
    scope = set(range(len(verses))) if a.scope == "all" else {i for k in keep for i in where[k]}
    n_pre = 0
    with open(os.path.join(a.out, "pretrain.txt"), "w") as f:
        for i, v in enumerate(verses):
            if i in scope and (a.pretrain == "include" or i not in held):
                print(v, file=f); n_pre += 1
    json.dump({"seed": a.seed, "unit": a.unit, "pairs": len(keep), "sft_pairs": len(train),
               "sft_items": len(items), "test_pairs": len(test), "pretrain": a.pretrain,
               "pretrain_verses": n_pre},
              open(os.path.join(a.out, "split.json"), "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
