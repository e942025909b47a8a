"""Benchmark: peak memory of ``transform``, measured in a fresh subprocess.

The child process builds the data, fits the preset pipeline and warms it up,
then resets the kernel's high-water mark of its resident memory
(``/proc/self/clear_refs``) and runs one ``transform`` of all the rows. The
peak extra memory is ``VmHWM`` after minus ``VmRSS`` before; tracemalloc's
peak (numpy and Python allocations only) is reported beside it.

Target: input size + peak extra <= input size + 2 x output size, where the
output size is what ``transform`` adds (level columns and the segment column;
the input columns of the output DataFrame share the input's memory)::

    python benchmarks/bench_memory.py [--rows N]
"""

import argparse
import json
import os
import subprocess
import sys

import _common  # noqa: F401  (import path)

MB = 2**20


def _status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child(rows, engine, what, op="transform", repeat=1):
    import gc
    import statistics
    import time
    import tracemalloc
    import warnings

    import baselines as base
    import numpy as np
    from sklearn.base import clone

    from sklearn_mece import _backend, make_cart_abandoner_pipeline

    warnings.simplefilter("ignore")
    _backend.USE_NUMBA = engine == "numba"
    df = base.make_data(rows)
    input_bytes = int(df.memory_usage(index=False, deep=False).sum())
    if what == "seed":
        cuts = base.seed_cuts(df)

        def work():
            return base.seed_segment(df, cuts)

    else:
        pipe = make_cart_abandoner_pipeline(min_size=500, max_size=None)
        if what == "thresholds + segments":
            pipe = pipe[:2]
        if op == "fit_transform":

            def work():
                return clone(pipe).fit_transform(df)

        else:
            pipe.fit(df)

            def work():
                return pipe.transform(df)

    out = work()  # warm-up (compilation, caches), and the output's size
    added = [c for c in out.columns if c not in df.columns]
    output_bytes = int(out[added].memory_usage(index=False, deep=True).sum())
    del out
    gc.collect()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = work()
        times.append(time.perf_counter() - start)
        del out
        gc.collect()
    rss_before = _status("VmRSS")
    exact = _reset_peak()
    out = work()
    peak = _status("VmHWM") if exact else None
    extra = None if peak is None else max(0, peak - rss_before)
    del out
    gc.collect()
    tracemalloc.start()
    out = work()
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert np.all(out.columns[: df.shape[1]] == df.columns)
    return {
        "rows": rows,
        "engine": engine,
        "what": what,
        "op": op,
        "seconds": statistics.median(times) if times else None,
        "input_bytes": input_bytes,
        "output_bytes": output_bytes,
        "extra_rss_bytes": extra,
        "tracemalloc_peak_bytes": traced_peak,
    }


def measure(rows, engine, what, op="transform", repeat=0):
    """Run :func:`child` in a fresh process; its result dict (``seconds`` is
    the median of ``repeat`` timed runs after the warm-up, None for 0)."""
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        "--rows",
        str(rows),
        "--engine",
        engine,
        "--what",
        what,
        "--op",
        op,
        "--repeat",
        str(repeat),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory_row(m, figure, backend, target=True):
    """A results row from a :func:`measure` result: input + peak extra memory
    against input + 2 x output (MB)."""
    extra = m["extra_rss_bytes"]
    if extra is None:  # no /proc: tracemalloc only
        extra = m["tracemalloc_peak_bytes"]
    ours = (m["input_bytes"] + extra) / MB
    budget = (m["input_bytes"] + 2 * m["output_bytes"]) / MB
    return {
        "figure": figure,
        "backend": backend,
        "baseline": "input + 2 x output",
        "ours_ms": ours,
        "baseline_ms": budget,
        "ratio": budget / ours,
        "identical": True,
        "unit": "MB",
        "target": ("<=", budget) if target else None,
    }


def run(rows=10_000_000, engines=("numba", "numpy")):
    """Rows of the results table; sizes in MB (``unit="MB"``)."""
    results = []
    for what in ("thresholds + segments", "whole preset pipeline", "seed"):
        for engine in engines if what != "seed" else ("numpy",):
            m = measure(rows, engine, what)
            figure = (
                f"peak memory of transform, {what} (input {m['input_bytes'] / MB:.0f}"
                f" MB, output adds {m['output_bytes'] / MB:.0f} MB; "
                f"tracemalloc peak {m['tracemalloc_peak_bytes'] / MB:.0f} MB)"
            )
            if what == "seed":
                figure = figure.replace(
                    "of transform, seed", "of the seed's masks + .loc"
                )
            backend = "seed" if what == "seed" else engine
            results.append(memory_row(m, figure, backend, target=what != "seed"))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--engine", default="numba")
    parser.add_argument("--what", default="thresholds + segments")
    parser.add_argument("--op", default="transform")
    parser.add_argument("--repeat", type=int, default=0)
    args = parser.parse_args(argv)
    if args.child:
        result = child(args.rows, args.engine, args.what, args.op, args.repeat)
        print(json.dumps(result))
        return 0
    from run import to_markdown

    print(to_markdown(run(args.rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
