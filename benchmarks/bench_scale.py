"""Benchmark: the whole preset's ``fit_transform`` at 10^7 and at 10^8 rows.

Each size runs in a fresh subprocess (``bench_memory.child``): the data is
built, one warm-up ``fit_transform`` of a fresh clone of the preset runs, then
``--repeat`` timed runs (median) and one run whose peak resident memory is
read from the kernel (``VmHWM`` after a reset, minus ``VmRSS`` before).

Targets of issue #15: the whole preset's time at most 2x that of thresholds +
segments (each in a fresh process, at the first size), the 10^8-row time
within 12x the 10^7-row time, and peak memory at most input + 2 x output (output: the columns ``fit_transform``
adds; the input columns of the output share the input's memory). 10^8 rows x
4 float64 features are 3.2 GB of input: run it on a machine with about 12 GB
free::

    python benchmarks/bench_scale.py [--rows 10000000 100000000] [--repeat 3]
"""

import argparse
import sys

import _common  # noqa: F401  (import path)
from _common import machine
from bench_memory import MB, measure, memory_row


def run(sizes=(10_000_000, 100_000_000), repeat=3, engine="numba"):
    """Rows of the results table: one time row per size after the first, and
    one memory row per size."""
    results = []
    first = None
    for rows in sizes:
        m = measure(rows, engine, "whole preset pipeline", "fit_transform", repeat)
        if first is None:
            first = m
            # the same in a fresh process of its own: thresholds + segments
            ts = measure(rows, engine, "thresholds + segments", "fit_transform", repeat)
            results.append(
                {
                    "figure": f"whole preset fit_transform, {rows:,} rows, fresh "
                    "processes (no other job's allocations in between)",
                    "backend": engine,
                    "baseline": "thresholds + segments fit_transform",
                    "ours_ms": 1e3 * m["seconds"],
                    "baseline_ms": 1e3 * ts["seconds"],
                    "ratio": ts["seconds"] / m["seconds"],
                    "identical": True,
                    "target": ("time<=", 2.0),
                }
            )
        else:
            factor = rows / first["rows"]
            results.append(
                {
                    "figure": f"whole preset fit_transform, {rows:,} rows vs "
                    f"{first['rows']:,} ({factor:g}x the rows)",
                    "backend": engine,
                    "baseline": f"{first['rows']:,} rows",
                    "ours_ms": 1e3 * m["seconds"],
                    "baseline_ms": 1e3 * first["seconds"],
                    "ratio": first["seconds"] / m["seconds"],
                    "identical": True,
                    "target": ("time<=", 1.2 * factor),
                }
            )
        figure = (
            f"peak memory of the whole preset's fit_transform, {rows:,} rows (input "
            f"{m['input_bytes'] / MB:,.0f} MB, output adds "
            f"{m['output_bytes'] / MB:,.0f} MB; median time {m['seconds']:.2f} s)"
        )
        results.append(memory_row(m, figure, engine))
    return results


def main(argv=None):
    from run import to_markdown

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[10_000_000, 100_000_000]
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engine", default="numba", choices=["numba", "numpy"])
    args = parser.parse_args(argv)
    print(f"# whole preset at scale\n\n{machine()}\n")
    print(to_markdown(run(args.rows, args.repeat, args.engine)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
