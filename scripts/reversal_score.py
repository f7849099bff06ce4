#!/usr/bin/env python3
"""reversal_score.py — scores of pipelines/reversal: exact match and token F1 of generated
lines against the reference lines, forward vs reversal, per model, with bootstrap 95% CIs.

Exact match: the generated text equals the reference after stripping surrounding whitespace.
Token F1 (SQuAD-style): tokens are the lowercased words [a-z0-9']+ (punctuation dropped);
precision = |common multiset| / |generated|, recall = |common| / |reference|,
F1 = 2PR/(P+R), 0 when either side has no tokens (1 when both are empty).
CIs: percentile bootstrap over items (B resamples, seeded); the forward - reversal gap is
resampled paired (item k of both directions is the same test pair).
Chance level: token F1 of each generation against the reference of the next test item
(f1_chance_fwd/rev: what generic, on-style text scores without retrieving the right line).
Retrieval above chance (f1_lift_fwd/rev/gap): per item, F1 against its own reference minus the
mean F1 of the same generation against every other item's reference; the mean over items with
its bootstrap CI (the gap paired by item). It is what the reversal claim is about: > 0 only when
the model writes the right line more than any other line of the test set.

Usage: reversal_score.py --work DIR [--models mdm,ar] [--json OUT] [--boot 10000] [--seed 1]
  reads DIR/data/test-{fwd,rev}.ans and DIR/gen-<model>-{fwd,rev}.txt; prints a markdown
  table on stdout. Exit 1 on missing or mismatched files (one line on stderr).
"""
import argparse, collections, json, re, sys
import numpy as np


def words(s):
    return re.findall(r"[a-z0-9']+", s.lower())


def token_f1(gen, ref):
    g, r = words(gen), words(ref)
    if not g or not r:
        return float(g == r)
    common = sum((collections.Counter(g) & collections.Counter(r)).values())
    if common == 0:
        return 0.0
    p, q = common / len(g), common / len(r)
    return 2 * p * q / (p + q)


def exact(gen, ref):
    return float(gen.strip() == ref.strip())


def boot_ci(x, B, rng):
    """Mean and percentile 95% CI of the mean of x (1-D) over B resamples of its items."""
    x = np.asarray(x, dtype=np.float64)
    idx = rng.integers(0, len(x), size=(B, len(x)))
    m = x[idx].mean(axis=1)
    return float(x.mean()), float(np.percentile(m, 2.5)), float(np.percentile(m, 97.5))


def lifts(gen, ref):
    """Per item i: F1(gen_i, ref_i) minus the mean of F1(gen_i, ref_j) over j != i."""
    n = len(ref)
    f = np.array([[token_f1(g, r) for r in ref] for g in gen])
    if n < 2:
        return np.diag(f).copy()
    return np.diag(f) - (f.sum(axis=1) - np.diag(f)) / (n - 1)


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [l.rstrip("\n") for l in f]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--models", default="mdm,ar")
    ap.add_argument("--json")
    ap.add_argument("--boot", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    res = {}
    try:
        for m in a.models.split(","):
            res[m] = {}
            per = {}
            for d in ("fwd", "rev"):
                ref = read_lines("%s/data/test-%s.ans" % (a.work, d))
                gen = read_lines("%s/gen-%s-%s.txt" % (a.work, m, d))
                if len(gen) != len(ref) or not ref:
                    raise ValueError("gen-%s-%s.txt has %d lines for %d references" % (m, d, len(gen), len(ref)))
                per[d] = {"em": [exact(g, r) for g, r in zip(gen, ref)],
                          "f1": [token_f1(g, r) for g, r in zip(gen, ref)]}
            for k in ("em", "f1"):
                rng = np.random.default_rng(a.seed)
                for d in ("fwd", "rev"):
                    res[m]["%s_%s" % (k, d)] = boot_ci(per[d][k], a.boot, rng)
                gap = np.asarray(per["fwd"][k]) - np.asarray(per["rev"][k])
                res[m]["%s_gap" % k] = boot_ci(gap, a.boot, rng)
            res[m]["n"] = len(per["fwd"]["em"])
            lift = {d: lifts(read_lines("%s/gen-%s-%s.txt" % (a.work, m, d)),
                             read_lines("%s/data/test-%s.ans" % (a.work, d))) for d in ("fwd", "rev")}
            rng = np.random.default_rng(a.seed)
            for d in ("fwd", "rev"):
                res[m]["f1_lift_%s" % d] = boot_ci(lift[d], a.boot, rng)
            res[m]["f1_lift_gap"] = boot_ci(lift["fwd"] - lift["rev"], a.boot, rng)
            for d in ("fwd", "rev"):
                ref = read_lines("%s/data/test-%s.ans" % (a.work, d))
                gen = read_lines("%s/gen-%s-%s.txt" % (a.work, m, d))
                res[m]["f1_chance_%s" % d] = float(np.mean([token_f1(g, ref[(i + 1) % len(ref)])
                                                            for i, g in enumerate(gen)]))
    except (OSError, ValueError) as e:
        print("reversal_score: error: %s" % e, file=sys.stderr)
        return 1
    if a.json:
        json.dump(res, open(a.json, "w"), indent=1)
    f = lambda t: "%.1f [%.1f, %.1f]" % tuple(100 * v for v in t)
    print("| model | n | exact fwd | exact rev | F1 fwd | F1 rev | F1 fwd - rev | F1 chance fwd / rev |")
    print("|---|---|---|---|---|---|---|---|")
    for m, r in res.items():
        print("| %s | %d | %s | %s | %s | %s | %s | %.1f / %.1f |" % (m.upper(), r["n"], f(r["em_fwd"]), f(r["em_rev"]),
              f(r["f1_fwd"]), f(r["f1_rev"]), f(r["f1_gap"]), 100 * r["f1_chance_fwd"], 100 * r["f1_chance_rev"]))
    print()
    print("| model | F1 above chance, forward | reversal | forward - reversal |")
    print("|---|---|---|---|")
    for m, r in res.items():
        print("| %s | %s | %s | %s |" % (m.upper(), f(r["f1_lift_fwd"]), f(r["f1_lift_rev"]), f(r["f1_lift_gap"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
