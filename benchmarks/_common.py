"""Helpers shared by the benchmarks: import path, timing, machine description."""

import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (HERE, ROOT):  # run from a checkout without installing
    if path not in sys.path:
        sys.path.insert(0, path)


def timed(func):
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def medians_interleaved(funcs, repeat, warmup=1):
    """Median seconds of each callable, timed round-robin so load drift is shared."""
    for func in funcs.values():
        for _ in range(warmup):
            func()
    times = {name: [] for name in funcs}
    for _ in range(repeat):
        for name, func in funcs.items():
            times[name].append(timed(func))
    return {name: statistics.median(t) for name, t in times.items()}


def row(figure, ours_s, baseline, baseline_s, backend, identical=True, target=None):
    """One result, in the schema of ``bench_percentile.run`` (times in ms).

    ``target`` is ``(">=", x)`` for a ratio, ``("<=", ms)`` for a time, or
    ``("time<=", x)`` for our time at most ``x`` times the baseline's.
    """
    out = {
        "figure": figure,
        "backend": backend,
        "baseline": baseline,
        "ours_ms": 1e3 * ours_s,
        "baseline_ms": None if baseline_s is None else 1e3 * baseline_s,
        "ratio": None if baseline_s is None else baseline_s / ours_s,
        "identical": identical,
    }
    if target is not None:
        out["target"] = target
    return out


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def machine():
    """One line describing the machine and the versions that matter."""
    import numpy as np
    import pandas as pd
    import sklearn

    parts = [
        f"{os.cpu_count()} cpus ({_cpu_model()})",
        f"{_ram_gib():.0f} GiB RAM",
        f"python {platform.python_version()}",
        f"numpy {np.__version__}",
        f"pandas {pd.__version__}",
        f"scikit-learn {sklearn.__version__}",
    ]
    for mod in ("numba", "polars"):
        try:
            parts.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            parts.append(f"{mod} not installed")
    try:
        load = os.getloadavg()[0]
        parts.append(f"load average at start {load:.2f}")
    except OSError:
        pass
    return ", ".join(parts)


def run_fresh(code, args, *, engine, pythonpath, cwd):
    """Run ``code`` in a fresh interpreter and return the JSON of its last line.

    ``engine="numpy"`` sets ``SKLEARN_MECE_NO_NUMBA=1`` (any inherited value is
    dropped otherwise); ``pythonpath`` (a list) comes first on the path.
    """
    import json
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "SKLEARN_MECE_NO_NUMBA"}
    if engine == "numpy":
        env["SKLEARN_MECE_NO_NUMBA"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in pythonpath if p)
    out = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )
    if out.returncode:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])
