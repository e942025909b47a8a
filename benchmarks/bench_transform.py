"""Benchmark: the preset pipeline against the seed-style pandas code, polars, KBins.

Figures (``rows`` x 4 float64 features, the preset's columns, DataFrame in and
out; medians over ``repeat`` runs timed round-robin after a warm-up):

* transform through thresholds + segments with the cuts known, against the
  seed's sequential masks and ``df.loc[mask, "segment"] = name`` (given the
  same cuts) and against ``KBinsDiscretizer.transform``; numba and pure-numpy
  engines;
* end to end, ``fit_transform`` of a fresh pipeline (exact cuts, rules,
  merges, then the segments of every row), against the seed's 5
  ``Series.quantile`` calls + masks, and against polars doing the same job;
* transform through the whole preset (scores and tiers added) against
  thresholds + segments alone (target of issue #15: at most 1.5x its time);
* end to end, ``fit_transform`` of the whole preset (with ``SegmentScorer``:
  exact quartiles and one fused per-segment pass per input column, then the
  score and tier of every row) against the same seed-style job (which scores
  nothing), against our thresholds + segments (target: at most 2x its time)
  and against polars doing thresholds + segments alone (target: 5x faster);
* one-row DataFrame transform through the whole preset pipeline.

Every figure is checked: our segments equal the seed's, row for row::

    python benchmarks/bench_transform.py [--rows N] [--repeat R]
"""

import argparse
import statistics
import sys
import time
import warnings

import _common  # noqa: F401  (import path)
import baselines as base
import numpy as np
import pandas as pd
from _common import medians_interleaved, row

from sklearn_mece import _backend, _kernels, make_cart_abandoner_pipeline


class _engine:
    """Context manager: run with numba kernels on or off."""

    def __init__(self, numba):
        self.numba = numba

    def __enter__(self):
        self.saved = _backend.USE_NUMBA
        _backend.USE_NUMBA = self.numba

    def __exit__(self, *exc):
        _backend.USE_NUMBA = self.saved


def _pipeline():
    pipe = make_cart_abandoner_pipeline(min_size=500, max_size=None)
    return pipe, pipe[:2]  # full preset, and its thresholds + segments


def _same_segments(ours, seed):
    ours = ours["segment"]
    seed = pd.Categorical(seed["segment"], categories=ours.cat.categories)
    return bool(np.array_equal(ours.cat.codes.to_numpy(), seed.codes))


def _numba_available():
    with _engine(True):
        return _kernels.engine_for(10**9) == "numba"


def run(rows=10_000_000, repeat=5):
    """Rows of the results table (see ``_common.row``)."""
    warnings.simplefilter("ignore")  # size warnings etc. are not the point here
    df = base.make_data(rows)
    engines = ["numba", "numpy"] if _numba_available() else ["numpy"]
    results = []

    # ---- transform with the cuts known ------------------------------------
    full, pipe = _pipeline()
    with _engine(engines[0] == "numba"):
        full.fit(df)
    cuts = pipe.named_steps["thresholds"].cuts_
    seed_cuts = {
        "aov_high": cuts[base.AOV][1],
        "aov_med": cuts[base.AOV][0],
        "eng_high": cuts[base.ENG][1],
        "eng_med": cuts[base.ENG][0],
        "prof_high": cuts[base.PROF][0],
    }
    kb = base.kbins(df)
    kb_in = df[[base.AOV, base.ENG, base.PROF]]
    thresholds = pipe.named_steps["thresholds"]
    funcs = {"seed": lambda: base.seed_segment(df, seed_cuts)}
    funcs["seed str"] = lambda: base.seed_segment(df, seed_cuts, str_column=True)
    funcs["kbins"] = lambda: kb.transform(kb_in)
    columns = [df[c].to_numpy() for c in df.columns]
    # one read of every input column on all cores: a vectorized NaN/inf count
    # (numba, split across threads like our kernels), np.sum without numba
    read_engine = "numba" if "numba" in engines else "numpy"
    funcs["read floor"] = lambda: [
        _kernels.nonfinite_counts(c, engine=read_engine) for c in columns
    ]
    for engine in engines:

        def ours(engine=engine):
            with _engine(engine == "numba"):
                return pipe.transform(df)

        def ours_thresholds(engine=engine):
            with _engine(engine == "numba"):
                return thresholds.transform(df)

        funcs[engine] = ours
        funcs[engine + " thresholds"] = ours_thresholds

    def whole_transform(engine=engines[0]):
        with _engine(engine == "numba"):
            return full.transform(df)

    funcs["whole"] = whole_transform
    ours_out = funcs[engines[0]]()
    same = _same_segments(ours_out, funcs["seed"]())
    same_str = _same_segments(ours_out, funcs["seed str"]())
    same_whole = _same_segments(funcs["whole"](), funcs["seed"]())
    del ours_out
    whole_transform = funcs.pop("whole")
    med = medians_interleaved(funcs, repeat)
    # the target of issue #15, timed in a round-robin of its own
    pair = medians_interleaved(
        {"whole": whole_transform, engines[0]: funcs[engines[0]]}, repeat
    )
    results.append(
        row(
            "transform, cuts known, whole preset (thresholds + segments + scores; "
            "timed with the row's baseline only)",
            pair["whole"],
            "thresholds + segments transform",
            pair[engines[0]],
            engines[0],
            same_whole,
            ("time<=", 1.5),
        )
    )
    for engine in engines:
        target = (">=", 50.0) if engine == "numba" else (">=", 20.0)
        results.append(
            row(
                "transform, cuts known (thresholds + segments)",
                med[engine],
                "seed masks + .loc",
                med["seed"],
                engine,
                same,
                target,
            )
        )
    for engine in engines:
        results.append(
            row(
                "transform, cuts known (thresholds + segments)",
                med[engine],
                "seed masks + .loc, pandas 3 default str column",
                med["seed str"],
                engine,
                same_str,
            )
        )
    results.append(
        row(
            "transform, cuts known (thresholds + segments)",
            med[engines[0]],
            "memory-bandwidth floor: one read of the 4 input columns, all cores",
            med["read floor"],
            engines[0],
        )
    )
    for engine in engines:
        results.append(
            row(
                "transform, cuts known (thresholds + segments)",
                med[engine],
                "KBinsDiscretizer.transform (levels only)",
                med["kbins"],
                engine,
            )
        )
        results.append(
            row(
                "transform, levels only (thresholds)",
                med[engine + " thresholds"],
                "KBinsDiscretizer.transform",
                med["kbins"],
                engine,
            )
        )

    # ---- end to end: fit + transform ----------------------------------------
    pldf = None
    try:
        import polars as pl

        pldf = pl.from_pandas(df)
    except ImportError:  # polars is optional
        pass
    funcs = {"seed": lambda: base.seed_job(df)}
    if pldf is not None:
        funcs["polars"] = lambda: base.polars_job(pldf)
    for engine in engines:

        def fit_transform(engine=engine):
            with _engine(engine == "numba"):
                _, p = _pipeline()
                return p.fit_transform(df)

        funcs[engine] = fit_transform

    def fit_transform_whole(engine=engines[0]):
        with _engine(engine == "numba"):
            return _pipeline()[0].fit_transform(df)

    funcs["whole"] = fit_transform_whole
    same = _same_segments(funcs[engines[0]](), funcs["seed"]())
    same_whole = _same_segments(funcs["whole"](), funcs["seed"]())
    med = medians_interleaved(funcs, repeat)
    for engine in engines:
        results.append(
            row(
                "end to end: fit_transform (thresholds + segments)",
                med[engine],
                "seed quantiles + masks + .loc",
                med["seed"],
                engine,
                same,
                (">=", 12.0) if engine == "numba" else None,
            )
        )
        if pldf is not None:
            results.append(
                row(
                    "end to end: fit_transform (thresholds + segments)",
                    med[engine],
                    "polars quantiles + when/then",
                    med["polars"],
                    engine,
                )
            )

    whole = "end to end: fit_transform, whole preset (thresholds + segments + scores)"
    results.append(
        row(
            whole,
            med["whole"],
            "seed quantiles + masks + .loc (no scores)",
            med["seed"],
            engines[0],
            same_whole,
        )
    )
    # the targets of issue #15, timed in a round-robin of their own: the
    # seed-style code's large pandas allocations are not in between
    group = {"whole": funcs["whole"], engines[0]: funcs[engines[0]]}
    if pldf is not None:
        group["polars"] = funcs["polars"]
    med = medians_interleaved(group, repeat)
    results.append(
        row(
            whole + " (timed with the two below only)",
            med["whole"],
            "our thresholds + segments fit_transform",
            med[engines[0]],
            engines[0],
            same_whole,
            ("time<=", 2.0),
        )
    )
    if pldf is not None:
        results.append(
            row(
                whole + " (timed with the rows above and below only)",
                med["whole"],
                "polars quantiles + when/then (thresholds + segments only)",
                med["polars"],
                engines[0],
                target=(">=", 5.0),
            )
        )

    # ---- one row --------------------------------------------------------------
    one = df.iloc[[12345 % rows]]
    kb_one = kb_in.iloc[[12345 % rows]]
    for name, est in (("whole preset pipeline", full), ("thresholds + segments", pipe)):
        times = _per_call(lambda est=est: est.transform(one))
        kb_times = _per_call(lambda: kb.transform(kb_one))
        results.append(
            row(
                f"one-row DataFrame transform, {name}",
                statistics.median(times),
                "KBinsDiscretizer.transform (one row)",
                statistics.median(kb_times),
                engines[0],
                target=("<=", 1.0) if name.startswith("whole") else None,
            )
        )
    return results


def _per_call(func, calls=2000, warmup=50):
    for _ in range(warmup):
        func()
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        func()
        out.append(time.perf_counter() - start)
    return out


def main(argv=None):
    from run import to_markdown

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(to_markdown(run(args.rows, args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
