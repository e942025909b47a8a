"""Constants shared by several test modules."""

#: The four feature columns of the cart-abandoner preset, in the data's order.
FEATURES = [
    "avg_order_value",
    "engagement_score",
    "profitability_score",
    "days_since_last_order",
]


def robust_unit_reference(x, groups, descending=False):
    """The scorer's documented normalisation of one input, in plain numpy/pandas.

    Quartiles by ``np.percentile``; values beyond ``q25 - 3 IQR`` and
    ``q75 + 3 IQR`` clipped to them; the centre is the mean of the clipped
    values, the scale the IQR (when the quartiles are equal, the 10-90 then
    the 1-99 percentile range as a normal distribution's IQR); each group's
    clipped mean maps to ``logistic(2 z)``, 0.5 where a group has no value. Returns ``(unit, raw_mean)``, Series by group.
    """
    import numpy as np
    import pandas as pd

    x = np.asarray(x, dtype=np.float64)
    finite = x[~np.isnan(x)]
    raw = pd.Series(x).groupby(np.asarray(groups)).mean()
    if not finite.size:
        return pd.Series(0.5, index=raw.index), raw
    q25, q75 = np.percentile(finite, [25, 75])
    scale = q75 - q25
    for lo, hi, width in ((10, 90, 2.5631031310892007), (1, 99, 4.6526957480816815)):
        if scale <= 0:  # equal quartiles: a wider range, as a normal IQR
            p_lo, p_hi = np.percentile(finite, [lo, hi])
            scale = (p_hi - p_lo) * 1.3489795003921634 / width
    if not scale > 0:
        return pd.Series(0.5, index=raw.index), raw
    clipped = np.clip(x, q25 - 3 * scale, q75 + 3 * scale)
    seg = pd.Series(clipped).groupby(np.asarray(groups)).mean()
    z = (seg - np.nanmean(clipped)) / scale
    unit = 1 / (1 + np.exp(-2 * (-z if descending else z)))
    return unit.fillna(0.5), raw


#: The project's root, and the shared real data beside it (provenance in
#: ``../shared/data/SOURCE-*.md``).
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HILLSTROM = ROOT.parent / "shared" / "data" / "hillstrom.csv"


def run_python(args, *, cwd, timeout):
    """Run ``python ARGS`` in a fresh interpreter (a crash is an exit code, not
    a dead pytest) and return its output; fail, showing both streams, when it
    exits with an error."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"python {' '.join(map(str, args))[:300]} exited {result.returncode}:\n"
        f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    )
    return result.stdout


def load_example(name):
    """``examples/<name>.py`` as a module, as ``python examples/<name>.py``
    would run it: with ``examples/`` importable (an example may import
    another, as tune_thresholds imports real_lift)."""
    import importlib.util
    import sys

    folder = str(ROOT / "examples")
    spec = importlib.util.spec_from_file_location(
        f"example_{name}", ROOT / "examples" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    return module
