"""Run every benchmark and print one markdown table: figure, baseline, ratio.

    python benchmarks/run.py [--rows N] [--repeat R] [--skip-memory] [--scale]

Benchmarks (each also runs alone): ``bench_percentile.py`` (exact cut points
vs ``np.percentile`` and polars), ``bench_transform.py`` (the preset pipeline
vs the seed-style pandas code, polars and ``KBinsDiscretizer``; one-row
latency) and ``bench_memory.py`` (peak memory of ``transform``, in a
subprocess); with ``--scale`` also ``bench_scale.py`` (the whole preset's
``fit_transform`` at N and 10 N rows, time and peak memory; 10^8 rows need
about 12 GB). Every baseline runs in the same process as what it is compared
with, timed round-robin, medians over ``--repeat`` runs. The last column says
whether the target of issue #5 is met.
"""

import argparse
import sys
import time

from _common import machine

#: Targets of issue #5 for rows of ``bench_percentile`` (which has none).
PERCENTILE_TARGET = (">=", 4.0)


def _fmt_value(value, unit):
    if unit == "MB":
        return f"{value:,.0f} MB"
    if value < 1:
        return f"{value * 1e3:.0f} µs"
    return f"{value:,.1f} ms"


def _fmt_target(target, unit):
    if not target:
        return "", ""
    op, bound = target
    if op == ">=":
        return f">= {bound:g}x", op
    if op == "time<=":
        return f"time <= {bound:g}x baseline's", op
    return f"<= {_fmt_value(bound, unit)}", op


def _met(r):
    target = r.get("target")
    if not target:
        return ""
    op, bound = target
    if op == ">=":
        ok = r["ratio"] >= bound
    elif op == "time<=":  # our time at most ``bound`` times the baseline's
        ok = r["ours_ms"] <= bound * r["baseline_ms"]
    else:
        ok = r["ours_ms"] <= bound
    return "yes" if ok else "**no**"


def to_markdown(results):
    """Markdown table of result rows (the schema of ``bench_percentile.run``)."""
    lines = [
        "| figure | ours | baseline | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        unit = r.get("unit")
        mark = "" if r.get("identical", True) else ", results differ!"
        base = r["baseline"]
        if r.get("baseline_ms") is not None:
            base = f"{_fmt_value(r['baseline_ms'], unit)} ({r['baseline']}{mark})"
        ratio = "" if r.get("ratio") is None else f"{r['ratio']:.1f}x"
        target, _ = _fmt_target(r.get("target"), unit)
        lines.append(
            f"| {r['figure']} | {_fmt_value(r['ours_ms'], unit)} ({r['backend']}) "
            f"| {base} | {ratio} | {target} | {_met(r)} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--scale", action="store_true")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    header = machine()
    import bench_percentile
    import bench_transform

    results = []
    for r in bench_percentile.run(args.rows, args.repeat):
        r["figure"] = "exact cut points, " + r["figure"]
        if r["figure"].endswith("columns") and r["baseline"] == "np.percentile":
            r["target"] = PERCENTILE_TARGET
        results.append(r)
    results.extend(bench_transform.run(args.rows, args.repeat))
    if not args.skip_memory:
        import bench_memory

        results.extend(bench_memory.run(args.rows))
    if args.scale:
        import bench_scale

        results.extend(bench_scale.run((args.rows, 10 * args.rows), args.repeat))
    elapsed = time.perf_counter() - start
    print(
        f"# sklearn-mece benchmarks: {args.rows:,} rows x 4 float64 features, "
        f"median of {args.repeat}\n\n{header}; total run {elapsed:.0f} s\n"
    )
    print(to_markdown(results))
    failed = [r["figure"] for r in results if _met(r) == "**no**"]
    if failed:
        print(f"\n{len(failed)} target(s) missed.")
    bad = [r["figure"] for r in results if not r.get("identical", True)]
    if bad:
        print("\nresults differ from the baseline:", bad)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
