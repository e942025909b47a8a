"""The hot paths of two source trees (say, before and after a change), one run.

For each round and each tree, a fresh process per engine (numba, or numpy
through ``SKLEARN_MECE_NO_NUMBA=1``) with the tree first on ``PYTHONPATH``
builds the benchmark data and times, median of ``--repeat`` after a warm-up:

* exact cut points: ``percentiles`` of the 4 feature columns (10^7 values
  each), p(40, 75), p(40, 70), p(70), p(70), all 4 together;
* transform with the cuts known: the preset's thresholds + segments on all
  rows;
* one-row DataFrame transform of the whole preset pipeline.

Trees alternate within every round, so load drift hits all of them; the table
shows the median over rounds and checks that the results have the same bits.

    python benchmarks/compare_trees.py OLD_TREE NEW_TREE [--rows 10000000]
        [--rounds 3] [--repeat 7]
"""

import argparse
import os
import statistics

from _common import run_fresh

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r"""
import hashlib, json, statistics, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
import baselines as base
import bench_percentile as bp
from sklearn_mece import make_cart_abandoner_pipeline
from sklearn_mece._select import percentiles

rows, repeat = int(sys.argv[1]), int(sys.argv[2])

def median_ms(func):
    func()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        func()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)

digest = hashlib.sha256()
cols = bp.make_columns(rows)
res = {}
cuts = [(cols[name], q) for name, q in bp.CUTS]
for value, q in cuts:
    digest.update(percentiles(value, q).tobytes())
res["cuts, 4 columns"] = median_ms(lambda: [percentiles(v, q) for v, q in cuts])
del cols, cuts
df = base.make_data(rows)
full = make_cart_abandoner_pipeline(min_size=500, max_size=None)
full.fit(df)
pipe = full[:2]
out = pipe.transform(df)
for c in out.columns[-4:]:
    col = out[c]
    if col.dtype == "category":  # codes and labels, not object pointers
        digest.update(repr(list(col.cat.categories)).encode())
        col = col.cat.codes
    digest.update(np.asarray(col.to_numpy()).tobytes())
del out
res["transform, thresholds + segments"] = median_ms(lambda: pipe.transform(df))
one = df.iloc[[12345 % rows]]
res["one-row transform, whole preset"] = median_ms(lambda: full.transform(one))
res["digest"] = digest.hexdigest()[:16]
print(json.dumps(res))
"""


def _run(tree, engine, rows, repeat):
    return run_fresh(
        CHILD, [rows, repeat], engine=engine, pythonpath=[tree, HERE], cwd=HERE
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    results = {}
    for _ in range(args.rounds):
        for engine in ("numba", "numpy"):
            for tree in args.trees:
                r = _run(tree, engine, args.rows, args.repeat)
                results.setdefault((engine, tree), []).append(r)
    figures = [k for k in results[("numba", args.trees[0])][0] if k != "digest"]
    print(
        f"**Hot paths, {args.rows:,} rows, median of {args.rounds} rounds x "
        f"median of {args.repeat} ({os.cpu_count()} cpus)**\n"
    )
    print("| figure | engine | " + " | ".join(args.trees) + " |")
    print("|---|---|" + "---|" * len(args.trees))
    for engine in ("numba", "numpy"):
        for fig in figures:
            cells = []
            for tree in args.trees:
                ms = statistics.median(r[fig] for r in results[(engine, tree)])
                cells.append(f"{ms:,.3f} ms" if ms < 10 else f"{ms:,.1f} ms")
            print(f"| {fig} | {engine} | " + " | ".join(cells) + " |")
    digests = {r["digest"] for runs in results.values() for r in runs}
    print(
        "\nResults (cut points, level and segment columns) bit-identical across "
        f"trees and engines: {'yes' if len(digests) == 1 else 'NO'}"
    )


if __name__ == "__main__":
    main()
