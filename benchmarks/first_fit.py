"""The first fit of a fresh process, numba engine (cache warm) vs numpy engine.

Every run is a new Python process that imports the package, builds the demo
data (not timed) and times its first ``fit_transform``, then a second one:

    users = select_universe(make_cart_abandoners(customers, random_state=0))
    make_cart_abandoner_pipeline(min_size=500).fit_transform(users)

With numba the environment has no ``SKLEARN_MECE_NO_NUMBA``; without, it is
``SKLEARN_MECE_NO_NUMBA=1``. One numba run first fills numba's on-disk cache
(not counted), then the engines alternate run by run and the table shows
medians. ``--checkout DIR`` (repeatable) times other source trees too, by
putting them first on ``PYTHONPATH`` (say, the previous commit in a
worktree); ``--customers`` takes several sizes (50,000 customers are the
demo's 40,000 rows).

    python benchmarks/first_fit.py [--runs 7] [--customers 50000 1250000]
        [--checkout /path/to/other/tree]
"""

import argparse
import os
import statistics
import sys

from _common import run_fresh

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
t = time.perf_counter()
import sklearn_mece
from sklearn_mece import make_cart_abandoner_pipeline
from sklearn_mece.datasets import make_cart_abandoners, select_universe
t_import = time.perf_counter() - t
users = select_universe(make_cart_abandoners(int(sys.argv[1]), random_state=0))
pipe = make_cart_abandoner_pipeline(min_size=500)
t = time.perf_counter()
first = pipe.fit_transform(users)
t_first = time.perf_counter() - t
t = time.perf_counter()
second = pipe.fit_transform(users)
t_second = time.perf_counter() - t
print(json.dumps({
    "rows": len(users), "import": t_import, "first": t_first, "second": t_second,
    "numba_imported": "numba" in sys.modules, "package": sklearn_mece.__file__,
    "segments": first["segment"].astype(str).tolist()[:: max(len(users) // 997, 1)],
}))
"""


def _run(checkout, engine, customers):
    return run_fresh(
        CHILD,
        [customers],
        engine=engine,
        pythonpath=[checkout, os.environ.get("PYTHONPATH")],
        cwd=HERE,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--customers", type=int, nargs="+", default=[50_000])
    parser.add_argument("--checkout", action="append", default=[])
    args = parser.parse_args(argv)
    checkouts = [ROOT, *args.checkout]
    rows = []
    for customers in args.customers:
        warm = {c: _run(c, "numba", customers) for c in checkouts}  # fill caches
        times = {(c, e): [] for c in checkouts for e in ("numba", "numpy")}
        for _ in range(args.runs):  # trees and engines alternate run by run
            for (checkout, engine), runs in times.items():
                runs.append(_run(checkout, engine, customers))
        for (checkout, engine), runs in times.items():
            ref = warm[checkout]["segments"]
            rows.append(
                (
                    checkout,
                    warm[checkout]["rows"],
                    engine,
                    statistics.median(r["first"] for r in runs),
                    statistics.median(r["second"] for r in runs),
                    statistics.median(r["import"] for r in runs),
                    any(r["numba_imported"] for r in runs),
                    all(r["segments"] == ref for r in runs),
                )
            )
    print(
        f"**First fit_transform in a fresh process, median of {args.runs} runs "
        f"({os.cpu_count()} cpus, python {sys.version.split()[0]})**\n"
    )
    print(
        "| code | rows | engine | first fit | second fit | first - second "
        "| package import | numba imported | same segments |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for checkout, n, engine, first, second, imp, imported, same in rows:
        name = "this tree" if checkout == ROOT else checkout
        print(
            f"| {name} | {n:,} | {engine} | {1e3 * first:,.0f} ms "
            f"| {1e3 * second:,.0f} ms | {1e3 * (first - second):,.0f} ms "
            f"| {1e3 * imp:,.0f} ms | {'yes' if imported else 'no'} "
            f"| {'yes' if same else 'NO'} |"
        )


if __name__ == "__main__":
    main()
