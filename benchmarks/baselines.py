"""Baselines the benchmarks compare sklearn-mece against, run in the same process.

* :func:`seed_cuts` / :func:`seed_segment`: the seed script's way of doing the
  job, reproduced faithfully: one ``Series.quantile`` call per cut point, then
  sequential boolean masks over a ``remaining`` pool and
  ``df.loc[mask, "segment"] = name`` for each segment, then the size check that
  folds segments smaller than ``min_size`` into the ELSE bucket.
* :func:`polars_job`: what a user would write in polars for the same job:
  5 exact quantiles (``interpolation="linear"``, same as pandas and
  ``np.percentile``) and a ``when/then`` chain, categorical out.
* :func:`kbins`: scikit-learn's ``KBinsDiscretizer`` on the three thresholded
  columns (levels only, no segments).
"""

import numpy as np
import pandas as pd

AOV = "avg_order_value"
ENG = "engagement_score"
PROF = "profitability_score"
DAYS = "days_since_last_order"
COLUMNS = [AOV, ENG, PROF, DAYS]

SEGMENTS = [
    "High_AOV_Premium",
    "Med_AOV_High_Engagement",
    "Med_AOV_Med_Engagement_High_Profit",
    "Low_AOV_High_Engagement",
    "Recent_Customers",
]
ELSE = "Other_Bucket"


def make_data(n_rows, seed=0):
    """``n_rows`` x 4 float64 features with the preset's column names.

    Log-normal order values rounded to cents (many ties), uniform scores with
    3 decimals (heavy ties), integer days as floats; built column by column so
    that the peak memory is the frame itself.
    """
    rng = np.random.default_rng(seed)
    data = {}
    data[AOV] = np.round(rng.lognormal(np.log(140.0), 0.75, n_rows), 2)
    data[ENG] = np.round(rng.random(n_rows), 3)
    data[PROF] = np.round(rng.beta(2.0, 3.0, n_rows), 3)
    days = rng.integers(0, 365, n_rows).astype(np.float64)
    data[DAYS] = days
    return pd.DataFrame(data, copy=False)


def seed_cuts(df):
    """The seed's five ``Series.quantile`` calls."""
    return {
        "aov_high": df[AOV].quantile(0.75),
        "aov_med": df[AOV].quantile(0.40),
        "eng_high": df[ENG].quantile(0.70),
        "eng_med": df[ENG].quantile(0.40),
        "prof_high": df[PROF].quantile(0.70),
    }


def seed_segment(df, cuts, min_size=500, str_column=False):
    """The seed's sequential masks and ``.loc`` assignments; returns a new frame.

    The segment column starts as an object column (``None``), the fastest way
    to do this in pandas 3. ``str_column=True`` starts it the way the seed
    reads, ``df["segment"] = "Other_Bucket"``, which pandas 3 makes a ``str``
    column whose ``.loc`` assignments are 2-4x slower.
    """
    out = df.copy(deep=False)
    aov, eng, prof, days = out[AOV], out[ENG], out[PROF], out[DAYS]
    masks = []
    s1 = aov >= cuts["aov_high"]
    remaining = ~s1
    masks.append(s1)
    s2 = (
        remaining
        & (aov >= cuts["aov_med"])
        & (aov < cuts["aov_high"])
        & (eng >= cuts["eng_high"])
    )
    remaining = remaining & ~s2
    masks.append(s2)
    s3 = (
        remaining
        & (aov >= cuts["aov_med"])
        & (aov < cuts["aov_high"])
        & (eng >= cuts["eng_med"])
        & (eng < cuts["eng_high"])
        & (prof >= cuts["prof_high"])
    )
    remaining = remaining & ~s3
    masks.append(s3)
    s4 = remaining & (aov < cuts["aov_med"]) & (eng >= cuts["eng_high"])
    remaining = remaining & ~s4
    masks.append(s4)
    s5 = remaining & (days <= 30)
    remaining = remaining & ~s5
    masks.append(s5)
    if str_column:
        out["segment"] = ELSE
        for name, mask in zip(SEGMENTS, masks):
            if mask.sum() >= min_size:  # else it stays in the ELSE bucket
                out.loc[mask, "segment"] = name
        return out
    out["segment"] = None  # object column (faster than pandas 3's str)
    for name, mask in zip(SEGMENTS, masks):
        if mask.sum() < min_size:  # the seed's size rule: fold into the ELSE bucket
            remaining = remaining | mask
        else:
            out.loc[mask, "segment"] = name
    out.loc[remaining, "segment"] = ELSE
    return out


def seed_job(df, min_size=500):
    """Cuts and segments, the seed's whole job."""
    return seed_segment(df, seed_cuts(df), min_size=min_size)


def polars_job(pldf):
    """5 exact quantiles and a when/then chain in polars; categorical out."""
    import polars as pl

    q = pldf.select(
        pl.col(AOV).quantile(0.75, "linear").alias("aov_high"),
        pl.col(AOV).quantile(0.40, "linear").alias("aov_med"),
        pl.col(ENG).quantile(0.70, "linear").alias("eng_high"),
        pl.col(ENG).quantile(0.40, "linear").alias("eng_med"),
        pl.col(PROF).quantile(0.70, "linear").alias("prof_high"),
    ).row(0, named=True)
    aov, eng, prof = pl.col(AOV), pl.col(ENG), pl.col(PROF)
    aov_med = (aov >= q["aov_med"]) & (aov < q["aov_high"])
    segment = (
        pl.when(aov >= q["aov_high"])
        .then(pl.lit(SEGMENTS[0]))
        .when(aov_med & (eng >= q["eng_high"]))
        .then(pl.lit(SEGMENTS[1]))
        .when(
            aov_med
            & (eng >= q["eng_med"])
            & (eng < q["eng_high"])
            & (prof >= q["prof_high"])
        )
        .then(pl.lit(SEGMENTS[2]))
        .when((aov < q["aov_med"]) & (eng >= q["eng_high"]))
        .then(pl.lit(SEGMENTS[3]))
        .when(pl.col(DAYS) <= 30)
        .then(pl.lit(SEGMENTS[4]))
        .otherwise(pl.lit(ELSE))
        .cast(pl.Categorical)
        .alias("segment")
    )
    return pldf.with_columns(segment)


def kbins(df):
    """A fitted ``KBinsDiscretizer`` on the three thresholded columns."""
    from sklearn.preprocessing import KBinsDiscretizer

    kb = KBinsDiscretizer(
        n_bins=[3, 3, 2], encode="ordinal", strategy="quantile", dtype=np.float64
    )
    return kb.fit(df[[AOV, ENG, PROF]])
