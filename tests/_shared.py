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
    values, the scale the IQR (1.349 standard deviations when the quartiles
    are equal); each group's clipped mean maps to ``logistic(2 z)``, 0.5
    where a group has no value. Returns ``(unit, raw_mean)``, Series by group.
    """
    import numpy as np
    import pandas as pd

    x = np.asarray(x, dtype=np.float64)
    finite = x[~np.isnan(x)]
    raw = pd.Series(x).groupby(np.asarray(groups)).mean()
    if not finite.size:
        return pd.Series(0.5, index=raw.index), raw
    q25, q75 = np.percentile(finite, [25, 75])
    iqr = q75 - q25
    if iqr > 0:
        clipped, scale = np.clip(x, q25 - 3 * iqr, q75 + 3 * iqr), iqr
    else:
        clipped, scale = x, 1.3489795003921634 * finite.std()
    seg = pd.Series(clipped).groupby(np.asarray(groups)).mean()
    if not scale > 0:
        return pd.Series(0.5, index=raw.index), raw
    z = (seg - np.nanmean(clipped)) / scale
    unit = 1 / (1 + np.exp(-2 * (-z if descending else z)))
    return unit.fillna(0.5), raw
