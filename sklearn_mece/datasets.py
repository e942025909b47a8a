"""Mock data for cart-abandoner segmentation and universe selection.

:func:`make_cart_abandoners` generates the mock population used by the
original one-file segmentation script: one row per user who abandoned a
cart in the two weeks before a reference time, with realistic,
correlated behavioural features.  :func:`select_universe` keeps the users
whose abandonment falls in the last ``days`` days, which is the audience
("universe") that a MECE segmentation has to partition.
"""

import datetime
import numbers

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from ._base import as_timestamp as _as_timestamp

__all__ = ["DEFAULT_REFERENCE_TIME", "make_cart_abandoners", "select_universe"]

#: Reference time used when ``reference_time`` is not given, so that the
#: generated data never depends on the wall clock.
DEFAULT_REFERENCE_TIME = pd.Timestamp("2026-11-01 00:00:00")

_SECONDS_PER_DAY = 86_400
_UNIVERSE_DAYS = 7  # width of the "recent" window, in days
_HISTORY_DAYS = 14  # all abandonments fall in the last 14 days
_RECENT_SHARE = 0.8  # share of users whose abandonment is in the last 7 days

_COUNTRIES = np.array(["US", "GB", "DE", "FR", "CA"])
_COUNTRY_P = np.array([0.45, 0.18, 0.15, 0.12, 0.10])

# Category mix, with a shift of log-AOV (electronics carts are dearer),
# a shift of the profitability latent (margins differ by category) and a
# multiplier of the expected number of cart items.
_CATEGORIES = np.array(["Electronics", "Fashion", "Home", "Beauty", "Sports"])
_CATEGORY_P = np.array([0.22, 0.30, 0.20, 0.15, 0.13])
_CATEGORY_LOG_AOV_SHIFT = np.array([0.45, -0.10, 0.10, -0.35, 0.0])
_CATEGORY_MARGIN_SHIFT = np.array([-0.35, 0.25, 0.0, 0.40, 0.05])
_CATEGORY_ITEMS_FACTOR = np.array([0.7, 1.3, 1.0, 1.4, 0.9])

_AOV_MEDIAN = 140.0  # median order value before the category shift
_AOV_SIGMA = 0.75  # spread of log(AOV): a long right tail


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def make_cart_abandoners(n_users=50_000, random_state=None, *, reference_time=None):
    """Generate a mock population of cart abandoners, one row per user.

    Every user abandoned a cart at some time during the 14 days before
    ``reference_time``; exactly ``round(0.8 * n_users)`` of them did so in
    the last 7 days (40,000 of the default 50,000), so
    ``select_universe(df, reference_time=reference_time)`` returns 80 % of
    the rows.

    The features are built from two correlated latent factors, "customer
    value" and "engagement", so that they relate the way real data does:

    - ``avg_order_value`` is log-normal (median around 140, long right
      tail, rounded to cents so ties are common) and rises with the value
      factor; its Spearman correlation with ``engagement_score`` is about
      0.35;
    - ``profitability_score`` rises with ``avg_order_value`` (Spearman
      about 0.4) and depends on the product category's margin;
    - ``days_since_last_order`` is shorter for more engaged users; about
      30 % of users ordered within the last 30 days;
    - ``cart_items`` and ``cart_value`` grow with engagement and order
      value.

    Parameters
    ----------
    n_users : int, default=50_000
        Number of users (rows) to generate. Must be at least 1.

    random_state : int, RandomState instance or None, default=None
        Seed or generator, as accepted by
        :func:`sklearn.utils.check_random_state`. Pass an int for output
        that is identical across calls.

    reference_time : str, datetime or pandas.Timestamp, default=None
        The "now" of the data set: every ``abandoned_at`` lies in the 14
        days before it (and strictly before it). Defaults to
        :data:`DEFAULT_REFERENCE_TIME` (2026-11-01 00:00), so the output
        never depends on the clock. A timezone-aware value gives a
        timezone-aware ``abandoned_at`` column.

    Returns
    -------
    df : pandas.DataFrame of shape (n_users, 10)
        One row per user, with a ``RangeIndex`` and these columns:

        =========================  ================  ==========================
        column                     dtype             meaning
        =========================  ================  ==========================
        ``user_id``                int64             unique user identifier
        ``avg_order_value``        float64           historical AOV, > 0
        ``engagement_score``       float64           in [0, 1]
        ``profitability_score``    float64           in [0, 1]
        ``days_since_last_order``  int64             >= 0
        ``cart_items``             int64             items in the cart, >= 1
        ``cart_value``             float64           value of the cart, > 0
        ``abandoned_at``           datetime64[ns]    time of the abandonment
        ``country``                str               one of 5 country codes
        ``product_category``       str               one of 5 categories
        =========================  ================  ==========================

        Every ``abandoned_at`` lies in the 14 days before ``reference_time``.

    See Also
    --------
    select_universe : Keep the users who abandoned in the last days.

    Examples
    --------
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> df = make_cart_abandoners(1_000, random_state=0)
    >>> df.shape
    (1000, 10)
    >>> list(df.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['user_id', 'avg_order_value', 'engagement_score', 'profitability_score',
     'days_since_last_order', 'cart_items', 'cart_value', 'abandoned_at',
     'country', 'product_category']
    >>> df["user_id"].is_unique
    True
    >>> bool(df["engagement_score"].between(0, 1).all())
    True
    >>> df.equals(make_cart_abandoners(1_000, random_state=0))
    True
    """
    if (
        not isinstance(n_users, numbers.Integral)
        or isinstance(n_users, bool)
        or n_users < 1
    ):
        raise ValueError(f"n_users must be an integer >= 1, got {n_users!r}.")
    n = int(n_users)
    reference_time = _as_timestamp(reference_time, "reference_time")
    if reference_time is None:
        reference_time = DEFAULT_REFERENCE_TIME
    rng = check_random_state(random_state)

    # The order of the draws below is part of the output contract: changing
    # it changes the data generated for a given seed.
    country = _COUNTRIES[rng.choice(len(_COUNTRIES), size=n, p=_COUNTRY_P)]
    cat = rng.choice(len(_CATEGORIES), size=n, p=_CATEGORY_P)

    # Latent factors: value (drives AOV) and engagement (correlated with it).
    z_value = rng.standard_normal(n)
    z_engagement = 0.5 * z_value + np.sqrt(0.75) * rng.standard_normal(n)

    # Average order value: log-normal, rounded to cents, strictly positive.
    z_aov = 0.8 * z_value + 0.6 * rng.standard_normal(n)
    log_aov = np.log(_AOV_MEDIAN) + _AOV_SIGMA * z_aov + _CATEGORY_LOG_AOV_SHIFT[cat]
    avg_order_value = np.maximum(np.round(np.exp(log_aov), 2), 0.01)

    engagement_score = _sigmoid(-0.2 + 1.2 * z_engagement)

    # Profitability: higher for bigger baskets and for high-margin categories.
    z_profit = (
        0.5 * z_aov
        + 0.15 * z_engagement
        + 0.8 * rng.standard_normal(n)
        + _CATEGORY_MARGIN_SHIFT[cat]
    )
    profitability_score = _sigmoid(1.1 * z_profit)

    # Recency: exponential waiting time, shorter for engaged users.
    recency_scale = 95.0 * np.exp(-0.6 * z_engagement)
    days_since_last_order = np.minimum(
        np.floor(rng.exponential(1.0, size=n) * recency_scale), 3 * 365
    ).astype(np.int64)

    # Cart complexity and cart value.
    items_mean = 1.3 * np.exp(0.25 * z_engagement) * _CATEGORY_ITEMS_FACTOR[cat]
    cart_items = (1 + rng.poisson(items_mean)).astype(np.int64)
    cart_value = avg_order_value * (cart_items / 2.3) ** 0.6
    cart_value *= np.exp(0.3 * rng.standard_normal(n))
    cart_value = np.maximum(np.round(cart_value, 2), 0.01)

    # Abandonment time: exactly round(0.8 * n) users in the last 7 days,
    # the others between 7 and 14 days before the reference time.
    n_recent = int(round(_RECENT_SHARE * n))
    recent = np.zeros(n, dtype=bool)
    recent[rng.permutation(n)[:n_recent]] = True
    week = _UNIVERSE_DAYS * _SECONDS_PER_DAY
    offset_seconds = np.where(
        recent,
        rng.randint(1, week, size=n),  # in [1 s, 7 days)
        rng.randint(week + 1, _HISTORY_DAYS * _SECONDS_PER_DAY, size=n),
    )
    abandoned_at = (reference_time - pd.to_timedelta(offset_seconds, unit="s")).as_unit(
        "ns"
    )

    return pd.DataFrame(
        {
            "user_id": np.arange(100_001, 100_001 + n, dtype=np.int64),
            "avg_order_value": avg_order_value.astype(np.float64),
            "engagement_score": engagement_score.astype(np.float64),
            "profitability_score": profitability_score.astype(np.float64),
            "days_since_last_order": days_since_last_order,
            "cart_items": cart_items,
            "cart_value": cart_value.astype(np.float64),
            "abandoned_at": abandoned_at,
            # numpy str arrays: pandas 3 stores them as "str", pandas 2 as object
            "country": country,
            "product_category": _CATEGORIES[cat],
        }
    )


def select_universe(df, *, days=7, timestamp_col="abandoned_at", reference_time=None):
    """Keep the rows whose timestamp falls in the last ``days`` days.

    A row is kept when ``reference_time - days < df[timestamp_col] <=
    reference_time``: the window is half-open, so consecutive windows never
    share a row. Rows with a missing timestamp (NaT) are never kept.

    Parameters
    ----------
    df : pandas.DataFrame
        The population, e.g. from :func:`make_cart_abandoners`.

    days : int, float or timedelta, default=7
        Width of the window, in days (or a ``datetime.timedelta`` /
        ``pandas.Timedelta``). Must be positive.

    timestamp_col : str, default="abandoned_at"
        Name of a datetime64 column of ``df``.

    reference_time : str, datetime or pandas.Timestamp, default=None
        End of the window (inclusive). Defaults to the **latest timestamp in**
        ``df[timestamp_col]``, i.e. "the last ``days`` days of the data",
        not the wall clock and not :data:`DEFAULT_REFERENCE_TIME`. For data
        from :func:`make_cart_abandoners`, pass the same ``reference_time``
        used to generate it to get exactly 80 % of the rows; the default
        (the latest abandonment, a few seconds earlier) shifts the window by
        those seconds and may take in a row or two more at its far edge.

    Returns
    -------
    universe : pandas.DataFrame
        The selected rows of ``df``, all columns, original index and order.

    Raises
    ------
    ValueError
        If ``timestamp_col`` is missing or not datetime-like, if ``days`` is
        not positive, or if ``reference_time`` and the column disagree on
        having a timezone.

    See Also
    --------
    make_cart_abandoners : Generate a mock population.

    Examples
    --------
    >>> from sklearn_mece.datasets import make_cart_abandoners, select_universe
    >>> df = make_cart_abandoners(50_000, random_state=0)
    >>> universe = select_universe(df, reference_time="2026-11-01")
    >>> len(universe)
    40000
    >>> universe.index.equals(df.index[df["abandoned_at"] > "2026-10-25"])
    True
    >>> len(select_universe(df, days=14, reference_time="2026-11-01"))
    50000
    >>> select_universe(df, timestamp_col="created_at")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Column 'created_at' not found in df; ...
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}.")
    if timestamp_col not in df.columns:
        raise ValueError(
            f"Column {timestamp_col!r} not found in df; select_universe needs "
            "a datetime column to define the universe."
        )
    ts = df[timestamp_col]
    if isinstance(ts, pd.DataFrame):
        raise ValueError(
            f"Column name {timestamp_col!r} is duplicated in df; it must name "
            "exactly one datetime column."
        )
    if not pd.api.types.is_datetime64_any_dtype(ts.dtype):
        raise ValueError(
            f"Column {timestamp_col!r} must be datetime-like (datetime64), got "
            f"dtype {ts.dtype}; convert it first, e.g. "
            f"df[{timestamp_col!r}] = pd.to_datetime(df[{timestamp_col!r}])."
        )

    if isinstance(days, (datetime.timedelta, np.timedelta64)):
        window = pd.Timedelta(days)
    elif isinstance(days, numbers.Real) and not isinstance(days, bool):
        window = pd.Timedelta(days=float(days)) if np.isfinite(days) else None
    else:
        window = None
    if window is None or not window > pd.Timedelta(0):
        raise ValueError(f"days must be a positive number of days, got {days!r}.")

    reference_time = _as_timestamp(reference_time, "reference_time")
    if reference_time is None:
        reference_time = ts.max()
        if reference_time is pd.NaT:  # empty frame or all timestamps missing
            return df.iloc[:0]
    col_tz = getattr(ts.dtype, "tz", None)
    if (reference_time.tz is None) != (col_tz is None):
        raise ValueError(
            f"reference_time {reference_time} and column {timestamp_col!r} "
            f"(dtype {ts.dtype}) must both be timezone-aware or both naive."
        )

    mask = (ts > reference_time - window) & (ts <= reference_time)
    return df.loc[mask.to_numpy(dtype=bool)]
