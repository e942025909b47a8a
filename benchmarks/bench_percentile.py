"""Benchmark: exact cut points, ours vs ``np.percentile`` and polars.

Builds four seeded float64 columns shaped like the product's features
(log-normal order value rounded to cents, uniform engagement score, integer
recency and tenure in days), computes their cut points with
``sklearn_mece._select.percentiles`` (each available backend), with
``np.percentile`` and with polars ``quantile(q, interpolation="linear")``,
checks that ours is bit-identical to numpy, and prints a markdown table of
median times::

    python benchmarks/bench_percentile.py [--rows N] [--repeat R]

``run(rows, repeat)`` returns the rows of that table as dicts so that a
combined benchmark runner can import it.
"""

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

try:
    from sklearn_mece import _backend
    from sklearn_mece._select import percentiles, select_backend
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir))
    from sklearn_mece import _backend
    from sklearn_mece._select import percentiles, select_backend

#: (column, percentiles): 3 x 3 x 2 x 2 levels, as in the product's rules
CUTS = (
    ("aov", (40.0, 75.0)),
    ("score", (40.0, 70.0)),
    ("recency_days", (70.0,)),
    ("tenure_days", (70.0,)),
)


def make_columns(rows, seed=0):
    """The four seeded float64 feature columns, ``rows`` values each."""
    rng = np.random.default_rng(seed)
    return {
        "aov": np.round(rng.lognormal(mean=3.8, sigma=0.9, size=rows), 2),
        "score": rng.random(rows),
        "recency_days": rng.integers(0, 365, size=rows).astype(np.float64),
        "tenure_days": np.floor(rng.exponential(400.0, size=rows)),
    }


def _timed(func):
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def _medians_interleaved(funcs, repeat):
    """Median ms of each callable, timed round-robin so load drift is shared."""
    for func in funcs.values():
        func()  # warm-up (numba compile or cache load, page faults)
    times = {name: [] for name in funcs}
    for _ in range(repeat):
        for name, func in funcs.items():
            times[name].append(_timed(func))
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


def _backends():
    out = ["numpy"]
    if _backend.numba_kernels() is not None:
        out.insert(0, "numba")
    return out


def _bits_equal(a, b):
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    return bool(np.array_equal(a.view(np.uint64), b.view(np.uint64)))


def _row(figure, ours_ms, baseline, baseline_ms, backend, identical):
    return {
        "figure": figure,
        "backend": backend,
        "baseline": baseline,
        "ours_ms": ours_ms,
        "baseline_ms": baseline_ms,
        "ratio": baseline_ms / ours_ms,
        "identical": identical,
    }


def run(rows=10_000_000, repeat=5):
    """Time the cut points; one dict per (column or total, backend, baseline).

    Each dict has ``figure``, ``backend`` (ours), ``baseline``
    (``"np.percentile"`` or ``"polars"``), ``ours_ms`` and ``baseline_ms``
    (medians over ``repeat`` runs after one warm-up, all contenders of a
    column timed round-robin), ``ratio`` (baseline / ours, higher is better
    for us) and ``identical`` (ours has the baseline's bits).
    """
    cols = make_columns(rows)
    try:
        import polars as pl
    except ImportError:  # polars is optional
        pl = None
    backends = _backends()

    results = []
    totals = {}
    for c, q in CUTS:
        x = cols[c]
        funcs = {"np.percentile": lambda x=x, q=q: np.percentile(x, q)}
        if pl is not None:
            s = pl.Series(c, x)
            funcs["polars"] = lambda s=s, q=q: np.array(
                [s.quantile(p / 100, "linear") for p in q]
            )
        for backend in backends:
            funcs[backend] = lambda x=x, q=q, b=backend: percentiles(x, q, backend=b)
        outputs = {name: func() for name, func in funcs.items()}
        medians = _medians_interleaved(funcs, repeat)
        figure = f"{c} p{tuple(int(p) for p in q)}"
        for backend in backends:
            for baseline in [name for name in funcs if name not in backends]:
                same = _bits_equal(outputs[backend], outputs[baseline])
                results.append(
                    _row(
                        figure,
                        medians[backend],
                        baseline,
                        medians[baseline],
                        backend,
                        same,
                    )
                )
                acc = totals.setdefault((backend, baseline), [0.0, 0.0, True])
                acc[0] += medians[backend]
                acc[1] += medians[baseline]
                acc[2] &= same
    figure = f"all {len(CUTS)} columns"
    for (backend, baseline), (ours_ms, base_ms, same) in totals.items():
        results.append(_row(figure, ours_ms, baseline, base_ms, backend, same))
    order = {b: i for i, b in enumerate(backends)}
    results.sort(key=lambda r: order[r["backend"]])  # stable: keeps columns
    return results


def to_markdown(results):
    """The results as a markdown table (figure, ours, baseline, ratio)."""
    lines = [
        "| figure | ours | baseline | ratio |",
        "|---|---|---|---|",
    ]
    for r in results:
        mark = "" if r["identical"] else " (bits differ)"
        lines.append(
            f"| {r['figure']} | {r['ours_ms']:.1f} ms ({r['backend']}) "
            f"| {r['baseline_ms']:.1f} ms ({r['baseline']}{mark}) "
            f"| {r['ratio']:.1f}x |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    results = run(args.rows, args.repeat)
    try:
        import polars as pl

        polars_info = f"polars {pl.__version__} ({pl.thread_pool_size()} threads)"
    except ImportError:
        polars_info = "polars not installed"
    print(
        f"# exact cut points, {args.rows:,} rows x {len(CUTS)} float64 columns, "
        f"median of {args.repeat}\n\n"
        f"numpy {np.__version__}, {polars_info}, python {platform.python_version()}"
        f", {os.cpu_count()} cpus, default backend: {select_backend()}\n"
    )
    print(to_markdown(results))
    bad = [
        r for r in results if r["baseline"] == "np.percentile" and not r["identical"]
    ]
    if bad:
        print("\nNOT bit-identical to np.percentile:", [r["figure"] for r in bad])
        return 1
    print("\nours is bit-identical to np.percentile on every column and backend")
    return 0


if __name__ == "__main__":
    sys.exit(main())
