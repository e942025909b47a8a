"""SegmentScorer: one row of scores per segment, learned at fit, added to every row."""

import functools
import math
import numbers
import re
import warnings
import weakref
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from . import _backend, _kernels
from ._base import (
    _SMALL_FRAME,
    MECETransformerMixin,
    infinite_values_error,
)
from ._compat import (
    Interval,
    RealNotInt,
    StrOptions,
    _fit_context,
    categorical_codes,
)
from ._lift import (
    _LIFT_FIELDS,
    CI_METHODS,
    P_ADJUST_METHODS,
    campaign_array,
    ci_adjustment_label,
    lift_by_code,
    lift_to_unit,
    simulated_lift,
)
from ._segment_base import SEGMENT_OUTPUT_CONSTRAINTS, size_in_rows, size_issues
from ._select import NonFiniteValues, percentiles


# -- the dimension table ------------------------------------------------------------
# Everything that lists the score dimensions or the scorer's input columns (the
# report's columns, the default weights, the HTML plots, the command line's
# table, the exporters, the script facade) reads the two tables below. A new
# dimension over the existing terms is one more ``Dimension`` row (and its
# default weight: the defaults must still sum to 1).
class ScoreInput(NamedTuple):
    """One raw column the scorer reads, and its normalisation learned at fit."""

    #: Name of its per-segment [0, 1] value in the formulas.
    term: str
    #: The :class:`SegmentScorer` parameter naming the column.
    param: str
    #: The parameter's default: the seed's column name.
    column: str
    #: Position of the column in input without column names (ndarray).
    position: int
    #: ``"robust"`` (:func:`robust_unit` of the segment's mean, see the notes
    #: of :class:`SegmentScorer`) or ``"robust_desc"`` (the same with the
    #: sign turned: fewer days since the last order score higher).
    normalisation: str
    description: str


#: The scorer's raw input columns, in the order they are read at fit (the order
#: of the report's ``mean_<column>`` columns).
SCORE_INPUTS = (
    ScoreInput(
        "engagement",
        "engagement_column",
        "engagement_score",
        2,
        "robust",
        "Engagement (any scale: a score, sessions, visits)",
    ),
    ScoreInput(
        "profitability",
        "profitability_column",
        "profitability_score",
        3,
        "robust",
        "Profitability (any scale: a margin rate, a score)",
    ),
    ScoreInput(
        "aov", "aov_column", "avg_order_value", 1, "robust", "Average order value"
    ),
    ScoreInput(
        "recency",
        "recency_column",
        "days_since_last_order",
        4,
        "robust_desc",
        "Days since the last order (fewer is more recent)",
    ),
)

#: Per-segment terms the scorer derives from more than one column, beside the
#: normalised inputs of :data:`SCORE_INPUTS`.
DERIVED_TERMS = {
    "lift": "the segment's shrunk observed lift versus a holdout "
    "(``lift_shrunk``, :func:`shrink_lift`) mapped to [0, 1] (0.5: no effect) "
    "when ``treatment`` and ``outcome`` are given, else the seed's simulated "
    "lift ``0.1 + 0.4 * engagement + 0.3 * aov`` (``lift_source`` says which)",
    "priority": "the segment's strategic priority (``strategic_priority``)",
    "size": "1 at ``optimal_size``, lower for smaller and larger segments "
    "(:func:`size_score`)",
}

#: Parameters naming the columns of an observed lift (optional at transform).
LIFT_COLUMN_PARAMS = ("treatment", "outcome")


class Dimension(NamedTuple):
    """One score dimension: a weighted sum of per-segment terms in [0, 1]."""

    #: Column of :attr:`SegmentScorer.report_` and key of ``dimensions_``.
    name: str
    #: Key of the ``weights`` dict (the seed's ``scoring_weights``); ``name``
    #: is accepted for it too.
    weight_key: str
    #: Weight when ``weights=None``; the defaults of the table sum to 1.
    default_weight: float
    #: ``((term, coefficient), ...)``: terms of :data:`SCORE_INPUTS` or
    #: :data:`DERIVED_TERMS`, summed in this order; coefficients sum to 1.
    formula: tuple
    description: str

    @property
    def inputs(self):
        """The terms the dimension reads."""
        return tuple(term for term, _ in self.formula)

    @property
    def formula_text(self):
        """The formula in words: ``"0.7 * engagement + 0.3 * recency"``."""
        return " + ".join(
            term if coef == 1.0 else f"{coef:g} * {term}" for term, coef in self.formula
        )

    def compute(self, terms):
        """The dimension per segment from ``{term: per-segment array}``."""
        (first, coef), *rest = self.formula
        value = coef * terms[first]
        for term, coef in rest:
            value = value + coef * terms[term]
        return value


#: The score dimensions, in the order of a weight sequence and of the report.
DIMENSION_TABLE = (
    Dimension(
        "conversion_potential",
        "conversion_potential",
        0.25,
        (("engagement", 0.7), ("recency", 0.3)),
        "how likely the segment is to act: engagement and recent purchases",
    ),
    Dimension(
        "profitability",
        "profitability",
        0.25,
        (("profitability", 0.8), ("aov", 0.2)),
        "what a recovered cart is worth: margin, and order value",
    ),
    Dimension(
        "lift_score",
        "lift_vs_control",
        0.20,
        (("lift", 1.0),),
        "effect of contacting the segment, in [0, 1] (the observed difference "
        "is ``lift_observed``; ``lift_source`` tells observed or simulated)",
    ),
    Dimension(
        "strategic_fit",
        "strategic_fit",
        0.20,
        (("priority", 1.0),),
        "business priority of the segment",
    ),
    Dimension(
        "size_score",
        "size_score",
        0.10,
        (("size", 1.0),),
        "whether the segment is big enough to act on, and not too broad",
    ),
)


def dimension_names():
    """Names of the score dimensions (the report's columns), in table order.

    Examples
    --------
    >>> dimension_names()
    ('conversion_potential', 'profitability', 'lift_score', 'strategic_fit', 'size_score')
    """
    return tuple(d.name for d in DIMENSION_TABLE)


def default_weights():
    """The default weight of every dimension, keyed by weight key.

    Examples
    --------
    >>> default_weights()["lift_vs_control"]
    0.2
    """
    return {d.weight_key: d.default_weight for d in DIMENSION_TABLE}


def input_columns(terms=None):
    """Default column names of the scorer's inputs (all, or those of ``terms``).

    Examples
    --------
    >>> input_columns(terms=("aov",))
    ('avg_order_value',)
    """
    return tuple(i.column for i in SCORE_INPUTS if terms is None or i.term in terms)


def input_params():
    """The scorer's input column parameters, in the seed's column order.

    Examples
    --------
    >>> input_params()
    ('aov_column', 'engagement_column', 'profitability_column', 'recency_column')
    """
    return tuple(i.param for i in sorted(SCORE_INPUTS, key=lambda i: i.position))


#: Weight keys of earlier versions, still accepted.
_LEGACY_WEIGHT_KEYS = {"lift": "lift_vs_control"}


def _weight_aliases():
    names = {d.name: d.weight_key for d in DIMENSION_TABLE if d.name != d.weight_key}
    return {**names, **_LEGACY_WEIGHT_KEYS}


#: The dimension names, in the order of a weight sequence and of the report.
DIMENSIONS = dimension_names()

#: The seed's ``scoring_weights``; a ``weights`` dict uses the same keys
#: (a dimension's name is accepted for its key: ``"lift_score"`` for
#: ``"lift_vs_control"``).
DEFAULT_WEIGHTS = default_weights()

#: The seed's strategic priorities for the preset's segment names. The seed
#: script gives every segment it does not name (the ELSE bucket, and the
#: medium-AOV / medium-engagement / high-profit segment, whose name in the
#: seed matches none of its tests) the value 0.50.
DEFAULT_STRATEGIC_PRIORITY = {
    "High_AOV_Premium": 0.95,
    "Med_AOV_High_Engagement": 0.85,
    "Low_AOV_High_Engagement": 0.75,
    "Recent_Customers": 0.70,
    "Med_AOV_Med_Engagement_High_Profit": 0.50,
    "Other_Bucket": 0.50,
}

_SCORE_COLUMN = "segment_score"
_TIER_COLUMN = "segment_tier"


def _seed_columns():
    """Column parameters with their default name and position: for input
    without column names, a parameter left at its default (the seed's column
    name) means the position in the seed's order."""
    return {
        "segment_column": ("segment", 0),
        **{i.param: (i.column, i.position) for i in SCORE_INPUTS},
    }


def _column_params():
    return ("segment_column", *input_params(), *LIFT_COLUMN_PARAMS)


_SPLIT_NAME = re.compile(r"^(.*)_(\d+)$")


# -- pure functions -----------------------------------------------------------------------
def size_score(size, optimal_size=5000):
    """Size score of segments: 1 at ``optimal_size``, lower on both sides.

    ``size / optimal_size`` up to the optimum (linear to 0 for an empty
    segment), then ``max(0.5, 1 - (size - optimal_size) / (4 * optimal_size))``:
    a gentler fall-off down to a floor of 0.5, reached at three times the
    optimum. With the default optimum of 5,000 this is the seed's function
    exactly (it falls off over 20,000 rows, its ``max_segment_size``).

    Parameters
    ----------
    size : array-like of int
        Segment sizes.
    optimal_size : int, default=5000
        Size with the maximal score.

    Returns
    -------
    ndarray of float in [0, 1]

    Examples
    --------
    >>> size_score([0, 2_500, 5_000, 10_000, 50_000])
    array([0.  , 0.5 , 1.  , 0.75, 0.5 ])
    """
    size = np.asarray(size, dtype=np.float64)
    opt = float(optimal_size)
    above = np.maximum(0.5, 1.0 - (size - opt) / (4.0 * opt))
    return np.where(size <= opt, size / opt, above)


def tier_codes(scores, thresholds=(0.70, 0.60, 0.50)):
    """Tier number of every score: 1 at or above the first threshold, and so on.

    A score exactly on a threshold belongs to the higher tier (``0.70`` is
    Tier 1, the float just below it Tier 2): the comparison is ``score >=
    threshold`` on the score as computed, without rounding.

    Parameters
    ----------
    scores : array-like of float
    thresholds : sequence of float, default=(0.70, 0.60, 0.50)
        Strictly decreasing.

    Returns
    -------
    ndarray of int
        ``1 .. len(thresholds) + 1``.

    Examples
    --------
    >>> tier_codes([0.70, 0.6999, 0.60, 0.55, 0.10]).tolist()
    [1, 2, 2, 3, 4]
    """
    scores = np.asarray(scores, dtype=np.float64)
    codes = np.ones(scores.shape, dtype=np.int64)
    for t in thresholds:
        codes += scores < t
    return codes


def _parse_weights(weights):
    """One weight per dimension, keyed like the seed's ``scoring_weights``."""
    defaults = default_weights()
    keys, aliases = tuple(defaults), _weight_aliases()
    if weights is None:
        values = list(defaults.values())
    elif isinstance(weights, dict):
        unknown = [k for k in weights if k not in keys + tuple(aliases)]
        if unknown:
            accepted = ", ".join(
                f"{a!r} is accepted for {k!r}" for a, k in aliases.items()
            )
            raise ValueError(
                f"Unknown weight(s) {unknown}; the keys are {list(keys)}"
                + (f" ({accepted})." if accepted else ".")
            )
        for key in keys:
            given = [key, *(a for a, k in aliases.items() if k == key)]
            given = [name for name in given if name in weights]
            if len(given) > 1:
                raise ValueError(
                    f"Give one of {' or '.join(map(repr, given))} in weights, not "
                    "several: they name the same dimension."
                )
        plain = {aliases.get(k, k): v for k, v in weights.items()}
        values = [plain.get(k, 0.0) for k in keys]
    else:
        values = list(np.ravel(np.asarray(weights, dtype=object)))
        if len(values) != len(keys) or np.ndim(weights) != 1:
            raise ValueError(
                f"weights must be a dict or a sequence of {len(keys)} numbers "
                f"({', '.join(keys)}), got {weights!r}."
            )
    try:
        arr = np.array([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"weights must be numbers, got {weights!r}.") from None
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ValueError(f"weights must be finite and non-negative, got {weights!r}.")
    total = float(arr.sum())
    if not math.isclose(total, 1.0, rel_tol=0.0, abs_tol=1e-6):
        raise ValueError(
            f"weights must sum to 1, got {total:.6g} (the tier boundaries 0.70 / "
            "0.60 / 0.50 are read on that scale); divide each weight by their sum."
        )
    return dict(zip(keys, (arr / total).tolist()))


def _parse_thresholds(thresholds):
    try:
        arr = np.asarray(thresholds, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"tier_thresholds must be numbers, got {thresholds!r}."
        ) from None
    if (
        arr.ndim != 1
        or arr.size == 0
        or not np.isfinite(arr).all()
        or (arr < 0).any()
        or (arr > 1).any()
        or (np.diff(arr) >= 0).any()
    ):
        raise ValueError(
            "tier_thresholds must be a non-empty, strictly decreasing sequence of "
            f"numbers in [0, 1], got {thresholds!r}."
        )
    return arr.tolist()


#: The far-out fences of the robust normalisation: values more than this many
#: interquartile ranges beyond the quartiles count as the fence.
FENCE_IQRS = 3.0

#: Slope of :func:`robust_unit`: a segment whose mean lies one scale above the
#: population's scores ``logistic(2) = 0.88``.
ROBUST_SLOPE = 2.0

#: Interquartile range of a normal distribution, in standard deviations.
NORMAL_IQR = 1.3489795003921634

#: Percentile ranges that stand in for the IQR when the quartiles are equal,
#: in order, and the width of each for a normal distribution (in standard
#: deviations): ``2 * Phi^-1(0.9)`` and ``2 * Phi^-1(0.99)``.
_FALLBACK_RANGES = ((10.0, 90.0), (1.0, 99.0))
_NORMAL_RANGE = {10.0: 2.5631031310892007, 1.0: 4.6526957480816815}


def robust_unit(mean, center, scale, descending=False):
    """Map segment means to (0, 1): ``1 / (1 + exp(-2 * (mean - center) / scale))``.

    The normalisation of every score input of :class:`SegmentScorer`: a
    segment at the population's centre scores 0.5, one ``scale`` above it
    ``0.88``, one ``scale`` below ``0.12``. :class:`SegmentScorer` learns
    ``center`` (the mean of the fit rows, far outliers clipped to the
    fences) and ``scale`` (the interquartile range) at fit, so the result
    does not change when a column is multiplied by a positive constant. For
    a normal column the value is close to the mean percentile of the
    segment's rows (the top quarter: 0.87 against 0.875; for a uniform
    column 0.82).

    Parameters
    ----------
    mean : array-like of float
        Per-segment means (NaN for a segment without values: 0.5).
    center : float
        The mean that scores 0.5.
    scale : float
        Positive; ``0`` (a constant column) maps everything to 0.5.
    descending : bool, default=False
        Lower values score higher (days since the last order).

    Returns
    -------
    ndarray of float in (0, 1)
        One score per segment, in the order of ``mean``.

    Examples
    --------
    >>> robust_unit([100.0, 150.0, 50.0, float("nan")], center=100.0, scale=50.0)
    array([0.5       , 0.88079708, 0.11920292, 0.5       ])
    """
    mean = np.asarray(mean, dtype=np.float64)
    if not scale > 0:
        return np.full(mean.shape, 0.5)
    z = (mean - center) / scale
    if descending:
        z = -z
    with np.errstate(over="ignore"):
        unit = 1.0 / (1.0 + np.exp(-ROBUST_SLOPE * z))
    return np.where(np.isnan(unit), 0.5, unit)


def _exact_total(sums):
    """The exactly rounded total of ``sums`` (any order), None if it overflows."""
    try:
        return math.fsum(sums)
    except OverflowError:
        return None


def _exact_means(codes, values, which, n_codes):
    """The exactly rounded mean of the non-NaN ``values`` of each code in
    ``which`` (sorted), also where their sum overflows float64: one pass to
    pick their rows, one sort to group them, each group summed scaled down by
    :data:`~sklearn_mece._kernels.OVERFLOW_SCALE` (exact) and scaled back."""
    picked = np.zeros(n_codes, dtype=bool)
    picked[which] = True
    rows = np.flatnonzero(picked[codes])
    rows = rows[~np.isnan(values[rows])]
    rows = rows[np.argsort(codes[rows], kind="stable")]
    starts = np.searchsorted(codes[rows], which)
    groups = np.split(values[rows] / _kernels.OVERFLOW_SCALE, starts[1:])
    return np.array([math.fsum(g) / g.size for g in groups]) * _kernels.OVERFLOW_SCALE


def _robust_scale(x, label):
    """Quartiles, fences and scale of a column, learned at fit (finite values).

    Returns a dict of plain floats (``q25``, ``q75``, ``scale``, ``clip_low``,
    ``clip_high``) and the number of non-missing values. Infinite values
    raise; NaN is left out.
    """
    n_valid = x.shape[0]
    try:
        q25, q75 = percentiles(x, [25, 75], require_finite=True).tolist()
        finite = x
    except NonFiniteValues:
        n_nan, n_inf = _kernels.nonfinite_counts(x)
        if n_inf:
            raise infinite_values_error(label, n_inf) from None
        finite = x[~np.isnan(x)]
        n_valid = finite.shape[0]
        if not n_valid:
            return {"q25": None, "q75": None, "scale": 0.0}, 0
        q25, q75 = percentiles(finite, [25, 75]).tolist()
    learned = {"q25": q25, "q75": q75}
    # the IQR; when the quartiles are equal (a zero-inflated or coarse column)
    # the 10-90 then the 1-99 percentile range, as the IQR a normal
    # distribution with that range would have
    scale = q75 - q25
    for low_q, high_q in _FALLBACK_RANGES:
        if scale > 0:
            break
        low_v, high_v = percentiles(finite, [low_q, high_q]).tolist()
        scale = (high_v - low_v) * NORMAL_IQR / _NORMAL_RANGE[low_q]
    if not math.isfinite(scale):
        raise ValueError(
            f"Column {label!r}: its quartiles (or the interpolation between "
            f"values near the float64 limit) span more than float64 holds "
            f"(q25={q25!r}, q75={q75!r}); rescale the column (e.g. to thousands)."
        )
    learned["scale"] = scale
    if scale > 0:
        # within float64: values near its limit make the fences overflow
        top = float(np.finfo(np.float64).max)
        learned["clip_low"] = max(q25 - FENCE_IQRS * scale, -top)
        learned["clip_high"] = min(q75 + FENCE_IQRS * scale, top)
    return learned, n_valid


def _missing_segment_error(label, n_missing):
    return ValueError(
        f"Segment column {label!r} has {n_missing} missing value(s) (NaN); every "
        "row must belong to a segment."
    )


def _bad_kind_error(label, inferred):
    return TypeError(
        f"Segment column {label!r} holds {inferred} values: every argument must be "
        "a string or a number (names or codes, one kind per column)."
    )


def _segment_values(values, label):
    """The segment column as (float64 array, "number") or (object str array, "str")."""
    if isinstance(values, pd.Series):
        values = values.array
    if isinstance(values, pd.api.extensions.ExtensionArray):
        if pd.api.types.is_numeric_dtype(values.dtype):
            values = values.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            values = values.to_numpy(dtype=object)
    arr = np.asarray(values)
    if arr.dtype.kind in "biuf":
        kind, arr = "number", arr.astype(np.float64)
    elif arr.dtype.kind in "US":
        kind, arr = "str", arr.astype(object)
    elif arr.dtype.kind == "O":
        missing = pd.isna(arr)
        if missing.any():
            raise _missing_segment_error(label, int(missing.sum()))
        inferred = pd.api.types.infer_dtype(arr, skipna=False)
        if inferred == "string":
            kind = "str"
        elif inferred in ("integer", "floating", "mixed-integer-float", "boolean"):
            kind, arr = "number", arr.astype(np.float64)
        else:
            raise _bad_kind_error(label, inferred)
    else:
        raise _bad_kind_error(label, arr.dtype)
    if kind == "number" and not np.isfinite(arr).all():
        n_nan = int(np.isnan(arr).sum())
        if n_nan:
            raise _missing_segment_error(label, n_nan)
        raise infinite_values_error(label, int(np.isinf(arr).sum()))
    return arr, kind


def _lookup_keys(values, kind, keys, keys_kind):
    """Index into ``keys`` of every value; -1 when absent (or of another kind)."""
    if kind != keys_kind or len(values) == 0:
        return np.full(len(values), -1, dtype=np.intp)
    if kind == "str":
        return _str_index(tuple(keys)).get_indexer(values)
    keys = np.asarray(keys, dtype=np.float64)
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    pos = np.minimum(np.searchsorted(ordered, values), len(ordered) - 1)
    return np.where(ordered[pos] == values, order[pos], -1)


@functools.lru_cache(maxsize=64)
def _str_index(keys):
    # pandas builds an Index's hash table once; caching the Index keeps it
    return pd.Index(list(keys), dtype=object)


@functools.lru_cache(maxsize=64)
def _category_lut(categories, label, keys, keys_kind):
    """Segment index of every category of a categorical column (-1: not a
    segment seen at fit), and which are -1 (None if none); cached: the
    segmenter's categories are the same at every call."""
    values, kind = _segment_values(np.array(categories, dtype=object), label)
    lut = _lookup_keys(values, kind, keys, keys_kind)
    lut.flags.writeable = False
    bad = lut < 0
    bad.flags.writeable = False
    return lut, bad if bad.any() else None


_CATEGORIES = {}  # id(dtype) -> (weak reference to the dtype, its categories)


def _dtype_categories(dtype):
    """The categories of a CategoricalDtype as a tuple, cached per dtype
    object: the segmenter hands over the same dtype at every call. (Not an
    lru_cache: unordered dtypes with the same categories in another order
    are equal, but their codes differ.)"""
    hit = _CATEGORIES.get(id(dtype))
    if hit is not None and hit[0]() is dtype:
        return hit[1]
    categories = tuple(dtype.categories.tolist())
    if len(_CATEGORIES) >= 64:
        _CATEGORIES.clear()
    _CATEGORIES[id(dtype)] = (weakref.ref(dtype), categories)
    return categories


@functools.lru_cache(maxsize=16)
def _tier_dtype(names):
    return pd.CategoricalDtype(list(names), ordered=True)


def _output_tables(scores, tiers, n_tiers):
    """Score, tier number and tier category code per segment, then the values
    of an unseen segment (NaN, 0, -1) as the last entry."""
    score = np.append(np.asarray(scores, dtype=np.float64), np.nan)
    tier = np.append(tiers, 0)
    return (
        score,
        tier.astype(np.min_scalar_type(n_tiers)),
        (tier - 1).astype(np.min_scalar_type(-n_tiers)),
    )


def _plain_key(value, kind):
    if kind == "str":
        return str(value)
    value = float(value)
    return int(value) if value.is_integer() else value


class SegmentScorer(MECETransformerMixin):
    """Score every segment on its dimensions and add the score and tier per row.

    ``fit`` reads the segment of every row (the output of
    :class:`HierarchicalSegmenter`: codes or names) and the raw feature
    columns, and learns one row of scores per segment (see :attr:`report_`).
    ``transform`` appends, per row, its segment's ``segment_score`` (float in
    [0, 1]) and ``segment_tier`` (1 to 4, or ``"Tier 1"`` to ``"Tier 4"`` with
    ``tier_output="names"``). Both are looked up from what ``fit`` learned, so a
    row's score never depends on the batch it is transformed with.

    The dimensions are the rows of :data:`DIMENSION_TABLE`, each in [0, 1]
    (formulas of the seed, normalisations learned at fit, see Notes):

    <dimension table>

    ``score`` is their weighted sum and the tier follows from
    ``tier_thresholds`` (a score on a boundary takes the higher tier).

    Parameters
    ----------
    segment_column : str or int, default="segment"
        Column holding the segment of every row: integer codes, names, or a
        categorical.
    aov_column : str, int or None, default="avg_order_value"
        Average order value. ``None``: not available, the input counts as 0.5
        (neutral) for every segment.
    engagement_column : str, int or None, default="engagement_score"
        Engagement on any scale (a score, sessions, visits; robust-scaled,
        see Notes); ``None`` as above.
    profitability_column : str, int or None, default="profitability_score"
        Profitability on any scale (a margin rate, a margin in currency);
        ``None`` as above.
    recency_column : str, int or None, default="days_since_last_order"
        Days since the last order (fewer is more recent); ``None`` as above.
    weights : dict, sequence of floats or None, default=None
        Weights of the dimensions. A dict uses the weight keys of
        :data:`DEFAULT_WEIGHTS` (the seed's ``scoring_weights``; a dimension's
        name is accepted for its key, ``lift_score`` for ``lift_vs_control``; a
        missing key weighs 0); a sequence gives one weight per dimension in
        table order. ``None``: :data:`DEFAULT_WEIGHTS`. Weights must be
        non-negative and **sum to 1** (within 1e-6), otherwise ``fit`` raises
        a ``ValueError``: the tier boundaries are read on the scale of a
        weighted mean, so weights are never rescaled silently.
    strategic_priority : dict or None, default=None
        Priority in [0, 1] per segment name (or code); the entries update
        :data:`DEFAULT_STRATEGIC_PRIORITY`, the seed's ranking of the preset's
        segments (High_AOV_Premium 0.95, Med_AOV_High_Engagement 0.85,
        Low_AOV_High_Engagement 0.75, Recent_Customers 0.70, others 0.50).
    default_priority : float, default=0.5
        Priority of a segment found in neither mapping. A numbered sub-segment
        made by a split (``"Name_2"``) first inherits the priority of
        ``"Name"``.
    optimal_size : int or float, default=5000
        Segment size with the maximal size score: a count, or a float in
        (0, 1] for a fraction of the fit rows.
    min_size, max_size : int, float or None, default=None
        Deprecated since 0.2, removed in 0.3: segment size validity belongs to
        the segment step (its ``segment_valid_`` and ``segment_table_``, and
        the ``valid`` column of :func:`segment_report`). Set (not ``None``),
        they raise a ``FutureWarning`` at fit and give :attr:`report_` a
        ``valid`` column by the segment step's rule
        (:func:`~sklearn_mece._segment_base.size_issues`).
    treatment : str, int or None, default=None
        Column with 1 for contacted customers and 0 for the holdout (see
        :func:`assign_holdout`); rows with a missing value are left out of the
        lift. Needs ``outcome``; turns on the observed lift.
    outcome : str, int or None, default=None
        Column with the campaign's outcome: 0/1 conversion or a spend amount.
        The observed lift needs statsmodels (``pip install
        'sklearn-mece[stats]'``).
    outcome_type : {"auto", "rate", "amount"}, default="auto"
        ``"auto"``: a rate when every outcome is 0 or 1, else an amount.
    ci_method : {"newcomb", "agresti-caffo"}, default="newcomb"
        Interval for a difference of rates (statsmodels'
        ``confint_proportions_2indep``); amounts use Welch's interval.
    alpha : float, default=0.05
        Intervals have coverage ``1 - alpha``; the corrected tests level ``alpha``.
    p_adjust : str, default="holm"
        Multiple-comparison correction across segments
        (``statsmodels.stats.multitest.multipletests`` method).
    tier_thresholds : sequence of float, default=(0.70, 0.60, 0.50)
        Strictly decreasing lower bounds of Tier 1, Tier 2, ...; ``k``
        thresholds make ``k + 1`` tiers.
    tier_output : {"codes", "names"}, default="codes"
        ``segment_tier`` as the tier number (1 = best) or its name
        (``"Tier 1"``; an ordered categorical with pandas output).
    handle_unknown : {"error", "nan"}, default="error"
        A row whose segment was not seen at fit (e.g. a segment left empty by
        ``min_size=0``): ``"error"`` raises a ``ValueError`` naming it;
        ``"nan"`` gives it a NaN score and tier 0 (a missing tier name).
    select_by_name : bool, default=False
        If True, DataFrames at ``transform`` may hold extra columns and another
        column order; the columns seen at fit are selected by name.

    Attributes
    ----------
    segments_ : list
        Segments seen at fit (str names, or int/float codes), in category order
        for a categorical column, sorted otherwise.
    segment_keys_ : ndarray
        The segments as lookup keys (float64 for codes, str objects for names).
    segment_kind_ : {"number", "str"}
        Whether the segment column held codes or names at fit.
    segment_counts_ : ndarray of int64
        Rows per segment at fit.
    n_fit_rows_ : int
        Rows seen at fit.
    dimensions_ : dict of str -> ndarray
        Every dimension per segment, keyed by :data:`DIMENSIONS`.
    scores_ : ndarray of float
        Weighted score per segment.
    tier_codes_ : ndarray of int
        Tier number per segment (1 = best).
    tier_names_ : list of str
        ``"Tier 1"``, ``"Tier 2"``, ...
    tier_thresholds_ : list of float
        The validated ``tier_thresholds``.
    segment_valid_ : list of bool or None
        Deprecated with ``min_size``/``max_size`` (``None`` unless one is
        set): whether each segment's size is within them.
    lift_source_ : list of str
        ``"observed"`` or ``"simulated"`` per segment.
    lift_ : dict of str -> ndarray or None
        Observed-lift statistics per segment (the ``n_treated`` ..
        ``lift_shrunk`` columns of the report); None without ``treatment``.
    outcome_type_ : str or None
        ``"rate"`` or ``"amount"`` when the lift is observed.
    weights_ : dict of str -> float
        The weights used, keyed like the seed's ``scoring_weights``.
    strategic_priority_ : dict
        The priority mapping used (defaults updated by ``strategic_priority``).
    scales_ : dict
        Normalisations learned at fit: per input column a dict of ``q25``,
        ``q75``, ``scale``, ``clip_low`` and ``clip_high`` (absent when
        nothing is clipped), ``center`` and ``n_values`` (see Notes); with an
        observed lift ``lift_scale``, ``lift_pooled`` and ``lift_tau2`` (the
        pooled lift and between-segment variance of :func:`shrink_lift`).
    lift_ci_labels_ : tuple of str or None
        What ``lift_ci_*`` and ``lift_ci_*_adjusted`` are, in words (None
        without observed lift).
    segment_means_ : dict of str -> ndarray
        Mean raw value of every feature column per segment.
    columns_ : dict of str -> int or None
        Position of every column parameter in X (None: not used).
    optimal_size_, min_size_, max_size_ : int or None
        Sizes in rows (``min_size_``/``max_size_`` deprecated as above).
    report_ : pandas.DataFrame
        One row per segment (built on access): ``size``, ``share``, the
        dimensions, ``score``, ``tier``, ``valid`` (only with the deprecated
        ``min_size``/``max_size``), ``lift_source`` (``"observed"`` or
        ``"simulated"``: what ``lift_score`` read), with an observed lift
        ``n_treated``, ``n_control``, ``rate_treated``, ``rate_control`` (mean
        outcome per arm), ``lift_observed``, ``lift_ci_low``,
        ``lift_ci_high``, ``lift_ci_low_adjusted``,
        ``lift_ci_high_adjusted``, ``lift_p_value``, ``lift_p_adjusted``,
        ``lift_significant``, ``lift_shrunk``, then ``mean_<column>`` per
        feature column. ``attrs`` holds ``lift_ci`` and ``lift_ci_adjusted``
        (:attr:`lift_ci_labels_`).
    n_features_in_ : int
        Number of columns seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the columns seen during fit, when X had string column names.

    See Also
    --------
    HierarchicalSegmenter : Makes the segment column; owns size validity.
    segment_report : The scorer's report with the segment step's validity,
        rules and strategies.
    assign_holdout : Stable holdout flags for the campaign that measures lift.

    Notes
    -----
    **Normalisation of the inputs** (robust scaling, learned on the fit data;
    missing values are left out, and an input that is absent or all-missing
    in a segment counts as 0.5). For each input column the scorer learns the
    quartiles ``q25`` and ``q75`` (exact, numpy's ``linear`` method) and:

    * clips every value to the far-out fences ``[q25 - 3 IQR, q75 + 3 IQR]``
      (``IQR = q75 - q25``), so that a typo or a bot moves its segment only
      as far as a fence;
    * takes the mean of the clipped values per segment, and over all rows
      (the *centre*);
    * maps each segment's mean ``m`` to :func:`robust_unit`,
      ``1 / (1 + exp(-2 * (m - centre) / IQR))``: 0.5 for a segment at the
      population average, 0.88 one IQR above it, 0.12 one IQR below.
      ``recency`` turns the sign: fewer days since the last order score
      higher. When the quartiles are equal (a zero-inflated or coarse
      column) the 10-90, then the 1-99 percentile range stands in for the
      IQR (scaled to the IQR a normal distribution with that range would
      have), fences included; a column whose 1st and 99th percentiles are
      equal scores 0.5 everywhere.

    Every step is equivariant to the unit, so scores and tiers do not change
    when a column is multiplied by a positive constant (dollars or cents, a
    score in [0, 1] or in [0, 100]). For a normal column a segment's value
    is close to the mean percentile of its rows. The learned
    quartiles, fences, centre and scale are in :attr:`scales_`. (Before 0.2
    engagement and profitability were read as if already in [0, 1] and order
    value and recency as mid-rank percentiles; the former put every segment
    in Tier 4 on real-scale data, the latter cost a sort of every column.)

    **Lift.** The observed lift ``d`` (treated minus control, a rate
    difference or a spend difference) of every segment is first shrunk
    toward the pooled lift by its uncertainty (:func:`shrink_lift`,
    empirical Bayes, reported as ``lift_shrunk``): a tiny segment whose
    large estimate comes with a wide interval moves most of the way to the
    pooled lift, a large segment's precise estimate barely moves. The
    ``lift_score`` dimension is then ``0.5 + 0.5 * shrunk / s`` with ``s``
    the largest ``|lift_observed|`` over the segments (:func:`lift_to_unit`):
    no effect is 0.5, and shrunk lifts, which lie between the observed ones
    and the pooled lift, stay within [0, 1]. ``lift_observed`` is
    the raw difference, in the outcome's units (percentage points for a
    rate). ``lift_ci_low`` / ``lift_ci_high`` are each segment's own
    interval; ``lift_ci_low_adjusted`` / ``lift_ci_high_adjusted`` are
    simultaneous Bonferroni intervals (each at ``1 - alpha / m`` for ``m``
    segments), which go with the corrected ``lift_p_adjusted`` and
    ``lift_significant``: a segment whose adjusted interval excludes 0 is
    significant, up to the small difference between the interval's method
    and the test's (Newcombe interval, score test), and Holm's correction
    may find more. ``report_.attrs`` and
    :attr:`lift_ci_labels_` say which is which. Segments that lack a
    treated or a control row (two of each for an amount) fall back to the
    simulated lift, are marked ``lift_source="simulated"`` and trigger a
    warning; without ``treatment`` every segment's lift is simulated, and
    the report, the exports, the HTML report and the command line say so.

    Every ``transform`` value must be a segment seen at fit; any other value
    raises a ``ValueError`` (refit on data covering every segment) unless
    ``handle_unknown="nan"``.

    For input without column names (an ndarray) the column parameters left at
    their defaults mean the positions 0 (segment), 1 (AOV), 2 (engagement),
    3 (profitability) and 4 (recency); a position beyond the data is treated
    as ``None``. A DataFrame must hold the named columns.

    Examples
    --------
    >>> from sklearn_mece import SegmentScorer, make_cart_abandoner_pipeline
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> X = make_cart_abandoners(20_000, random_state=0)
    >>> pipe = make_cart_abandoner_pipeline(min_size=500)
    >>> out = pipe.fit_transform(X)
    >>> out[["segment", "segment_score", "segment_tier"]].head(3)
    ... # doctest: +NORMALIZE_WHITESPACE
                       segment  segment_score segment_tier
    0             Other_Bucket       0.402788       Tier 4
    1             Other_Bucket       0.402788       Tier 4
    2  Low_AOV_High_Engagement       0.573253       Tier 3
    >>> pipe.named_steps["scores"].report_[["size", "score", "tier"]].round(3)
    ... # doctest: +NORMALIZE_WHITESPACE
                                        size  score    tier
    segment
    High_AOV_Premium                    5000  0.754  Tier 1
    Med_AOV_High_Engagement             2187  0.665  Tier 2
    Med_AOV_Med_Engagement_High_Profit   742  0.529  Tier 3
    Low_AOV_High_Engagement             1409  0.573  Tier 3
    Recent_Customers                    2278  0.471  Tier 4
    Other_Bucket                        8384  0.403  Tier 4

    With a campaign's result, the lift is observed rather than simulated: hold
    out 20 % of the customers with :func:`assign_holdout`, contact the others,
    then refit with the treatment and outcome columns.

    >>> import numpy as np
    >>> from sklearn_mece import assign_holdout
    >>> X["treatment"] = 1 - assign_holdout(X["user_id"], fraction=0.2, salt="demo")
    >>> rng = np.random.default_rng(0)
    >>> X["converted"] = rng.random(len(X)) < 0.05 + 0.03 * X["treatment"]
    >>> pipe = pipe.set_params(scores__treatment="treatment", scores__outcome="converted")
    >>> report = pipe.fit(X).named_steps["scores"].report_
    >>> cols = ["lift_observed", "lift_ci_low", "lift_ci_high"]
    >>> print(report[cols].round(3).to_string())  # doctest: +NORMALIZE_WHITESPACE
                                        lift_observed  lift_ci_low  lift_ci_high
    segment
    High_AOV_Premium                            0.046        0.029         0.060
    Med_AOV_High_Engagement                     0.010       -0.021         0.034
    Med_AOV_Med_Engagement_High_Profit          0.040       -0.006         0.070
    Low_AOV_High_Engagement                     0.027       -0.006         0.051
    Recent_Customers                            0.033        0.006         0.055
    Other_Bucket                                0.026        0.013         0.038

    Six segments, six tests: after Holm's correction only two lifts are
    significant at 5 %, although Recent_Customers' own interval excludes 0.
    Its simultaneous (adjusted) interval, which goes with the corrected
    tests, does not.

    >>> report.index[report["lift_significant"]].tolist()
    ['High_AOV_Premium', 'Other_Bucket']
    >>> cols = ["lift_ci_low_adjusted", "lift_ci_high_adjusted"]
    >>> print(report[cols].round(3).to_string())  # doctest: +NORMALIZE_WHITESPACE
                                        lift_ci_low_adjusted  lift_ci_high_adjusted
    segment
    High_AOV_Premium                                   0.022                  0.064
    Med_AOV_High_Engagement                           -0.033                  0.042
    Med_AOV_Med_Engagement_High_Profit                -0.027                  0.080
    Low_AOV_High_Engagement                           -0.020                  0.058
    Recent_Customers                                  -0.005                  0.062
    Other_Bucket                                       0.007                  0.042
    >>> report.attrs["lift_ci_adjusted"]
    '95 % simultaneous intervals over 6 segments (Bonferroni: 99.17 % each)'

    Every segment got the same campaign (+3 points), so the shrunk lifts are
    close together, and the lift score (which reads them) separates the
    segments far less than the raw estimates would:

    >>> print(report[["lift_observed", "lift_shrunk", "lift_score"]].round(3).to_string())
    ... # doctest: +NORMALIZE_WHITESPACE
                                        lift_observed  lift_shrunk  lift_score
    segment
    High_AOV_Premium                            0.046        0.036       0.892
    Med_AOV_High_Engagement                     0.010        0.029       0.814
    Med_AOV_Med_Engagement_High_Profit          0.040        0.032       0.850
    Low_AOV_High_Engagement                     0.027        0.031       0.838
    Recent_Customers                            0.033        0.032       0.847
    Other_Bucket                                0.026        0.029       0.821
    """

    _parameter_constraints: dict = {
        "segment_column": [str, Interval(numbers.Integral, 0, None, closed="left")],
        **{
            i.param: [str, Interval(numbers.Integral, 0, None, closed="left"), None]
            for i in SCORE_INPUTS
        },
        "weights": [dict, "array-like", None],
        "strategic_priority": [dict, None],
        "default_priority": [Interval(numbers.Real, 0, 1, closed="both")],
        "optimal_size": [
            Interval(numbers.Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="right"),
        ],
        "min_size": SEGMENT_OUTPUT_CONSTRAINTS["min_size"],
        "max_size": SEGMENT_OUTPUT_CONSTRAINTS["max_size"],
        "treatment": [str, Interval(numbers.Integral, 0, None, closed="left"), None],
        "outcome": [str, Interval(numbers.Integral, 0, None, closed="left"), None],
        "outcome_type": [StrOptions({"auto", "rate", "amount"})],
        "ci_method": [StrOptions(set(CI_METHODS))],
        "alpha": [Interval(numbers.Real, 0, 1, closed="neither")],
        "p_adjust": [StrOptions(set(P_ADJUST_METHODS))],
        "tier_thresholds": ["array-like"],
        "tier_output": [StrOptions({"codes", "names"})],
        "handle_unknown": [StrOptions({"error", "nan"})],
        "select_by_name": ["boolean"],
    }

    def __init__(
        self,
        *,
        segment_column="segment",
        aov_column="avg_order_value",
        engagement_column="engagement_score",
        profitability_column="profitability_score",
        recency_column="days_since_last_order",
        weights=None,
        strategic_priority=None,
        default_priority=0.5,
        optimal_size=5000,
        min_size=None,
        max_size=None,
        treatment=None,
        outcome=None,
        outcome_type="auto",
        ci_method="newcomb",
        alpha=0.05,
        p_adjust="holm",
        tier_thresholds=(0.70, 0.60, 0.50),
        tier_output="codes",
        handle_unknown="error",
        select_by_name=False,
    ):
        self.segment_column = segment_column
        self.aov_column = aov_column
        self.engagement_column = engagement_column
        self.profitability_column = profitability_column
        self.recency_column = recency_column
        self.weights = weights
        self.strategic_priority = strategic_priority
        self.default_priority = default_priority
        self.optimal_size = optimal_size
        self.min_size = min_size
        self.max_size = max_size
        self.treatment = treatment
        self.outcome = outcome
        self.outcome_type = outcome_type
        self.ci_method = ci_method
        self.alpha = alpha
        self.p_adjust = p_adjust
        self.tier_thresholds = tier_thresholds
        self.tier_output = tier_output
        self.handle_unknown = handle_unknown
        self.select_by_name = select_by_name

    # -- columns ------------------------------------------------------------------------
    def _position(self, param, n_features):
        value = getattr(self, param)
        if value is None:
            return None
        default = _seed_columns().get(param)
        if (
            default is not None
            and getattr(self, "feature_names_in_", None) is None
            and isinstance(value, str)
            and value == default[0]
        ):
            return default[1] if default[1] < n_features else None
        return self._resolve_column(value, param)

    def _segment_column(self, X):
        """The segment column's values (ndarray, Categorical, extension array)."""
        pos = self.columns_["segment_column"]
        return self._column_array(X, pos), self._column_labels(X.shape[1])[pos]

    # -- fit ----------------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, treatment=None, outcome=None):
        """Learn one row of scores per segment.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            The segment column, the feature columns and, for an observed lift,
            the treatment and outcome columns; other columns are ignored.
        y : None
            Ignored.
        treatment, outcome : array-like of shape (n_samples,), default=None
            The campaign's treatment (1 contacted, 0 holdout) and outcome per
            row, given as arrays instead of the ``treatment``/``outcome``
            columns: what scikit-learn's metadata routing passes
            (``set_fit_request(treatment=True, outcome=True)``, then
            ``pipeline.fit(X, treatment=t, outcome=y)``, or a search's
            ``fit``, which gives each training fold its rows). Both or
            neither; not together with the column parameters.

        Returns
        -------
        self : object
            Fitted scorer. A fit that raises leaves the scorer unfitted.
        """
        with self._all_or_nothing_fit():
            return self._fit(X, treatment, outcome)

    def _fit(self, X, treatment=None, outcome=None):
        X = self._validate_input(X, reset=True)
        n_rows, n_features = X.shape
        campaign = self._campaign_arrays(treatment, outcome, n_rows)
        labels = self._column_labels(n_features)
        clash = [c for c in (_SCORE_COLUMN, _TIER_COLUMN) if c in labels]
        if clash:
            raise ValueError(
                f"Output column(s) {clash} already exist in X; drop them before "
                "scoring again."
            )
        weights = _parse_weights(self.weights)
        thresholds = _parse_thresholds(self.tier_thresholds)
        if (self.treatment is None) != (self.outcome is None):
            raise ValueError(
                "treatment and outcome go together: give both columns for an "
                "observed lift, or neither for the simulated lift."
            )
        priority = self._priority_mapping()
        if self.min_size is not None or self.max_size is not None:
            warnings.warn(
                "SegmentScorer's min_size and max_size are deprecated since 0.2 "
                "and will be removed in 0.3: segment size validity belongs to the "
                "segment step (its segment_table_, and the 'valid' column of "
                "segment_report). Leave them at None (scores__min_size=None, "
                "scores__max_size=None in a pipeline).",
                FutureWarning,
                stacklevel=4,
            )
        self.columns_ = {p: self._position(p, n_features) for p in _column_params()}

        column, seg_label = self._segment_column(X)
        segments, keys, kind, codes = self._learn_segments(column, seg_label)
        k = len(segments)
        counts = _kernels.bincount(codes, k).astype(np.int64)

        # one input column per thread: the serial steps of one column's exact
        # quartiles overlap with another column's passes; results in table order
        results = _backend.run_per_item(
            lambda i: self._input(X, codes, k, i.param, i.normalisation, counts),
            SCORE_INPUTS,
            n_rows,
        )
        terms = {i.term: unit for i, (unit, _) in zip(SCORE_INPUTS, results)}
        learned = [extra for _, extra in results if extra is not None]
        means = {label: mean for label, mean, _ in learned}
        scales = {label: scale for label, _, scale in learned}
        optimal = self._rows(self.optimal_size, n_rows)
        simulated = simulated_lift(terms["engagement"], terms["aov"])
        terms["lift"], source, lift_stats, outcome_type = self._lift(
            X, codes, segments, simulated, scales, campaign
        )
        terms["priority"] = np.array(
            [self._priority(s, priority) for s in segments], dtype=np.float64
        )
        terms["size"] = size_score(counts, optimal)
        table = DIMENSION_TABLE
        dimensions = {d.name: d.compute(terms) for d in table}
        score = np.zeros(k)
        for d in table:
            score = score + weights[d.weight_key] * dimensions[d.name]
        score = np.clip(score, 0.0, 1.0)

        self.min_size_ = self._rows(self.min_size, n_rows)
        self.max_size_ = self._rows(self.max_size, n_rows)
        self.optimal_size_ = optimal
        self.segments_ = segments
        self.segment_keys_ = keys
        self.segment_kind_ = kind
        self.segment_counts_ = counts
        self.n_fit_rows_ = int(n_rows)
        self.dimensions_ = dimensions
        self.scores_ = score
        self.tier_thresholds_ = thresholds
        self.tier_codes_ = tier_codes(score, thresholds)
        self._output_tables = _output_tables(
            score, self.tier_codes_, len(thresholds) + 1
        )
        self.tier_names_ = [f"Tier {i + 1}" for i in range(len(thresholds) + 1)]
        self.segment_valid_ = None
        if self.min_size is not None or self.max_size is not None:  # deprecated
            issues = size_issues(counts.tolist(), self.min_size_, self.max_size_)
            self.segment_valid_ = [not issue for issue in issues]
        self.lift_source_ = source
        self.lift_ = lift_stats
        self.outcome_type_ = outcome_type
        self.weights_ = weights
        self.strategic_priority_ = priority
        self.scales_ = scales
        self.segment_means_ = means
        return self

    _rows = staticmethod(size_in_rows)

    def _priority_mapping(self):
        mapping = dict(DEFAULT_STRATEGIC_PRIORITY)
        for name, value in (self.strategic_priority or {}).items():
            if (
                not isinstance(value, numbers.Real)
                or isinstance(value, bool)
                or not 0.0 <= float(value) <= 1.0
            ):
                raise ValueError(
                    f"strategic_priority[{name!r}] must be a number in [0, 1], "
                    f"got {value!r}."
                )
            mapping[name] = float(value)
        return mapping

    def _priority(self, segment, mapping):
        for key in (segment, str(segment)):
            if key in mapping:
                return mapping[key]
        match = _SPLIT_NAME.match(str(segment))
        if match and match.group(1) in mapping:
            return mapping[match.group(1)]
        return float(self.default_priority)

    @staticmethod
    def _learn_segments(column, label):
        """Segments (plain values), lookup keys, kind and the code of every row."""
        if isinstance(column, pd.Series):
            column = column.array
        if isinstance(column, pd.Categorical):
            cat_codes = np.asarray(column.codes)
            if (cat_codes < 0).any():
                raise _missing_segment_error(label, int((cat_codes < 0).sum()))
            categories, kind = _segment_values(
                np.array(column.categories, dtype=object), label
            )
            # every declared category is a segment, also one empty at fit (a
            # merge target, a rare rule): later batches may reach it
            keys, codes = categories, cat_codes
        else:
            values, kind = _segment_values(column, label)
            codes, keys = pd.factorize(values, sort=True)
            keys = np.asarray(keys, dtype=np.float64 if kind == "number" else object)
        segments = [_plain_key(v, kind) for v in keys.tolist()]
        if kind == "number" and len(set(segments)) != len(segments):  # pragma: no cover
            raise RuntimeError("Duplicate segment keys; please report this bug.")
        # categorical codes stay int8/int16: every reader takes any int dtype
        return segments, keys, kind, codes

    def _input(self, X, codes, k, param, how, counts):
        """Per-segment [0, 1] value of one input (0.5 where absent), and its
        ``(label, per-segment raw means, learned normalisation)`` (None when
        the input is absent)."""
        pos = self.columns_[param]
        if pos is None:
            return np.full(k, 0.5), None
        label = self._column_labels(X.shape[1])[pos]
        x = self._float_column(X, pos)
        learned, n_valid = _robust_scale(x, label)
        lo = learned.get("clip_low", -np.inf)
        hi = learned.get("clip_high", np.inf)
        has_nan = n_valid < x.shape[0]
        count, clipped, raw = _kernels.segment_sums(
            codes, k, x, lo, hi, has_nan=has_nan, counts=counts
        )
        # values near the float64 limit make sums overflow: the clipped sums
        # (or their total) again on the values scaled down by a power of two
        # (exact), and each such segment's raw sum exactly, scaled back
        down, up = 1.0 / _kernels.OVERFLOW_SCALE, 1.0
        present = count > 0
        total = _exact_total(clipped) if np.isfinite(clipped[present]).all() else None
        if total is None:  # fences near the limit, or many rows near them
            up = _kernels.OVERFLOW_SCALE
            clipped = _kernels.segment_sums(
                codes, k, x * down, lo * down, hi * down, has_nan=has_nan, counts=counts
            )[1]
            total = _exact_total(clipped)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = raw / count
            seg = clipped / count * up
        overflowed = np.flatnonzero(present & ~np.isfinite(raw))
        if overflowed.size:
            mean[overflowed] = _exact_means(codes, x, overflowed, k)
        # the population's centre: the mean of the clipped values of all rows
        # (the segments' sums added exactly, so that it does not depend on
        # the order of the segments: names, codes or categories)
        learned["center"] = total / n_valid * up if n_valid else None
        learned["n_values"] = int(n_valid)
        if not n_valid:
            return np.full(k, 0.5), (label, mean, learned)
        unit = robust_unit(
            seg, learned["center"], learned["scale"], how == "robust_desc"
        )
        return unit, (label, mean, learned)

    def _campaign_arrays(self, treatment, outcome, n_rows):
        """``fit``'s treatment and outcome arrays, checked (None: none given)."""
        if treatment is None and outcome is None:
            return None
        if treatment is None or outcome is None:
            raise ValueError(
                "treatment and outcome go together: give both arrays to fit for "
                "an observed lift, or neither."
            )
        if self.treatment is not None or self.outcome is not None:
            raise ValueError(
                "The campaign is given twice: as the treatment/outcome columns "
                f"({self.treatment!r}, {self.outcome!r}) and as arrays to fit; "
                "give one of them."
            )
        return (
            campaign_array(treatment, n_rows, "treatment"),
            campaign_array(outcome, n_rows, "outcome"),
        )

    def _lift(self, X, codes, segments, simulated, scales, campaign=None):
        self.lift_ci_labels_ = None
        if self.treatment is None and campaign is None:
            return simulated, ["simulated"] * len(segments), None, None
        if campaign is None:
            t_pos, o_pos = self.columns_["treatment"], self.columns_["outcome"]
            campaign = self._float_column(X, t_pos), self._float_column(X, o_pos)
        stats = lift_by_code(
            codes,
            len(segments),
            *campaign,
            outcome_type=self.outcome_type,
            ci_method=self.ci_method,
            alpha=self.alpha,
            p_adjust=self.p_adjust,
        )
        observed = stats.pop("observed")
        outcome_type = stats.pop("outcome_type")
        self.lift_ci_labels_ = ci_adjustment_label(self.alpha, stats.pop("n_tests"))
        scales["lift_pooled"] = stats.pop("lift_pooled")
        scales["lift_tau2"] = stats.pop("lift_tau2")
        # the score reads the shrunk lift (a tiny segment's lucky estimate does
        # not outrank a large segment's precise one), on the scale of the
        # largest observed effect: shrunk lifts lie between the observed ones
        # and the pooled lift, so they stay within it, and a campaign without
        # effect scores about 0.5 (dividing by the largest shrunk lift would
        # send every segment to 0 or 1 when they are all shrunk to one value)
        shrunk = stats["lift_shrunk"]
        diff = stats["lift_observed"]
        scale = float(np.max(np.abs(diff[observed]))) if observed.any() else 0.0
        scales["lift_scale"] = scale
        lift = np.where(observed, lift_to_unit(np.nan_to_num(shrunk), scale), simulated)
        if not observed.all():
            missing = [s for s, o in zip(segments, observed) if not o]
            warnings.warn(
                f"{len(missing)} segment(s) lack a treated or a control group "
                f"({missing[:5]}{' ...' if len(missing) > 5 else ''}); their lift "
                "is simulated (lift_source='simulated').",
                UserWarning,
                stacklevel=4,
            )
        source = ["observed" if o else "simulated" for o in observed.tolist()]
        return lift, source, stats, outcome_type

    # -- state read from a file -----------------------------------------------------
    def __setstate__(self, state):
        super().__setstate__(state)
        # a cache derived from scores_ and tier_codes_: rebuilt on first use
        # (pickle, joblib or skops), never read from a file
        self.__dict__.pop("_output_tables", None)

    def _check_fitted_state(self):
        """Per-segment arrays must agree in length and tier codes be in range
        (the kernels index them without bounds checks); the output tables,
        derived from them, are rebuilt rather than read from the file."""
        super()._check_fitted_state()
        self.__dict__.pop("_output_tables", None)
        if "scores_" not in self.__dict__:
            return
        k = len(self.segment_keys_)
        for attr in ("scores_", "tier_codes_", "segment_counts_"):
            value = getattr(self, attr)
            if not isinstance(value, np.ndarray) or value.shape != (k,):
                raise ValueError(f"{attr} must hold one value per segment ({k})")
        if len(self.segments_) != k:
            raise ValueError(f"segments_ must hold {k} names")
        tiers = self.tier_codes_
        if (
            tiers.dtype.kind not in "iu"
            or k
            and (tiers.min() < 1 or tiers.max() > len(self.tier_names_))
        ):
            raise ValueError("tier_codes_ are not tiers of tier_names_")
        for name, pos in self.columns_.items():
            if pos is not None and (
                not isinstance(pos, int) or not 0 <= pos < self.n_features_in_
            ):
                raise ValueError(f"columns_[{name!r}] = {pos!r} is out of range")

    # -- transform ------------------------------------------------------------------------
    def _tables(self):
        """Per-segment outputs, each with one more entry (the last, reached by
        code -1) for an unseen segment: score (float64, NaN), tier number
        (``tier_output="codes"`` dtype, 0) and tier category code (int8, -1)."""
        tables = self.__dict__.get("_output_tables")
        if tables is None:  # fitted by an older version
            tables = _output_tables(
                self.scores_, self.tier_codes_, len(self.tier_names_)
            )
        return tables

    def _row_index(self, X):
        """``(index, tables, bad)``: ``tables[i][index]`` is each row's output.

        ``bad`` flags the entries of the tables that stand for a segment not
        seen at fit (None when there is none but the last). Only the output
        columns are allocated per row: a categorical segment column is
        looked up through its codes, small non-negative integer codes
        directly.
        """
        pos = self.columns_["segment_column"]
        column = self._column_array(X, pos)
        names = getattr(self, "feature_names_in_", None)
        label = str(names[pos]) if names is not None else f"x{pos}"
        tables = self._tables()
        if isinstance(column, pd.Categorical):
            index = categorical_codes(column)
            index = np.asarray(index)
            if index.min(initial=0) < 0:
                raise _missing_segment_error(label, int((index < 0).sum()))
            lut, bad = _category_lut(
                _dtype_categories(column.dtype),
                label,
                tuple(self.segment_keys_.tolist()),
                self.segment_kind_,
            )
            return index, [t[lut] for t in tables], bad
        if (
            isinstance(column, np.ndarray)
            and column.dtype.kind in "iu"
            and self.segment_kind_ == "number"
            and column.shape[0]
            and column.min() >= 0
            and column.max() < 1 << 16
        ):
            # integer codes index a table of every value up to their maximum
            lut = np.full(int(column.max()) + 1, -1, dtype=np.intp)
            keys = self.segment_keys_
            usable = (keys >= 0) & (keys < lut.shape[0]) & (keys == np.floor(keys))
            lut[keys[usable].astype(np.intp)] = np.flatnonzero(usable)
            bad = lut < 0
            return column, [t[lut] for t in tables], bad if bad.any() else None
        values, kind = _segment_values(column, label)
        keys = tuple(self.segment_keys_.tolist())
        codes = _lookup_keys(values, kind, keys, self.segment_kind_)
        return codes, tables, None

    def _check_unseen(self, X, index, bad):
        """Raise for rows of an unseen segment (``handle_unknown="error"``):
        rows whose ``index`` is -1, or flagged by ``bad``."""
        if bad is None:
            if index.dtype.kind == "u" or index.min(initial=0) >= 0:
                return
            is_bad = index < 0
        else:
            if not _kernels.bincount(index, bad.shape[0])[bad].any():
                return
            is_bad = bad[index]
        if self.handle_unknown != "error":
            return
        column, label = self._segment_column(X)
        first = int(np.argmax(is_bad))
        if isinstance(column, pd.Categorical):
            raw = np.asarray(column.categories)[column.codes[first]]
        elif isinstance(column, np.ndarray) and column.dtype.kind in "iu":
            raw = np.float64(column[first])
        else:
            raw = _segment_values(column[first : first + 1], label)[0][0]
        raise ValueError(
            f"Segment column {label!r} holds {int(is_bad.sum())} row(s) in "
            f"segment(s) not seen at fit, e.g. {raw!r}; known segments: "
            f"{self.segments_[:10]}{' ...' if len(self.segments_) > 10 else ''}. "
            "Refit the scorer on data covering every segment."
        )

    def _new_feature_names(self, input_names):
        return [_SCORE_COLUMN, _TIER_COLUMN]

    def transform(self, X):
        """Append the segment's score and tier to every row.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Data with the columns seen at fit; every segment must have been
            seen at fit.

        Returns
        -------
        X_out : {ndarray, DataFrame} of shape (n_samples, n_features + 2)
            The input columns followed by ``segment_score`` (float64) and
            ``segment_tier`` (tier number, or name with ``tier_output="names"``).
        """
        if "scores_" not in self.__dict__:
            check_is_fitted(self, "scores_")
        X = self._validate_input(X, reset=False)
        index, tables, bad = self._row_index(X)
        self._check_unseen(X, index, bad)
        names = self.tier_output == "names"
        score_table, tier_table = tables[0], tables[2 if names else 1]
        if index.shape[0] <= _SMALL_FRAME:
            scores, tiers = score_table.take(index), tier_table.take(index)
        else:  # no per-row temporary: index is read as is (int8 codes, say)
            scores = _kernels.take(score_table, index)
            tiers = _kernels.take(tier_table, index)
        dense = self._output_dense()
        if names:
            dtype = _tier_dtype(tuple(self.tier_names_))
            tier = pd.Categorical.from_codes(tiers, dtype=dtype, validate=False)
            if dense == "default":
                unseen = tiers < 0
                tier = np.asarray(tier, dtype=object)
                tier[unseen] = None
        else:
            tier = tiers
        new = {_SCORE_COLUMN: scores, _TIER_COLUMN: tier}
        return self._assemble_output(X, new)

    # -- views ----------------------------------------------------------------------------
    @property
    def report_(self):
        """One row per segment: sizes, dimensions, score, tier, lift (DataFrame)."""
        check_is_fitted(self, "scores_")
        counts = self.segment_counts_
        data = {
            "size": counts,
            "share": counts / max(self.n_fit_rows_, 1),
            **self.dimensions_,
            "score": self.scores_,
            "tier": [self.tier_names_[c - 1] for c in self.tier_codes_.tolist()],
        }
        valid = self.__dict__.get("segment_valid_")
        if valid is not None:  # deprecated min_size / max_size
            data["valid"] = valid
        data["lift_source"] = self.lift_source_
        if self.lift_ is not None:
            data.update(
                {
                    field: self.lift_[field]
                    for field in _LIFT_FIELDS
                    if field in self.lift_
                }
            )
        data.update({f"mean_{c}": m for c, m in self.segment_means_.items()})
        frame = pd.DataFrame(data, index=pd.Index(self.segments_, name="segment"))
        labels = self.__dict__.get("lift_ci_labels_")
        if labels is not None:
            frame.attrs["lift_ci"], frame.attrs["lift_ci_adjusted"] = labels
        # what the report needs to draw it right: the tiers best first, and
        # whether the outcome is a rate or an amount
        frame.attrs["tier_names"] = list(self.tier_names_)
        if self.__dict__.get("outcome_type_") is not None:
            frame.attrs["outcome_type"] = self.outcome_type_
        return frame

    def __sklearn_is_fitted__(self):
        # what check_is_fitted (and a Pipeline ending here) asks, without
        # scanning every attribute
        return "scores_" in self.__dict__

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # NaN in a feature column is left out of that column's means and ranks;
        # NaN in columns the scorer does not use passes through. A missing
        # segment is refused.
        tags.input_tags.allow_nan = True
        return tags


def _dimension_docs():
    """The dimension table as the bullet list of :class:`SegmentScorer`'s docstring."""
    import textwrap

    lines = []
    for d in DIMENSION_TABLE:
        what = f"``{d.name} = {d.formula_text}``"
        if len(d.formula) == 1 and d.formula[0][1] == 1.0:
            what = f"``{d.name}``, the ``{d.formula[0][0]}`` term"
        text = (
            f"* {what} (weight ``{d.weight_key}``, default {d.default_weight:g}): "
            f"{d.description};"
        )
        lines += textwrap.wrap(text, 80, subsequent_indent="  ")
    terms = [
        f"``{i.term}``: {i.description.lower()} (``{i.param}``)" for i in SCORE_INPUTS
    ]
    terms += [f"``{name}``: {text}" for name, text in DERIVED_TERMS.items()]
    lines += [""] + textwrap.wrap("with the terms " + "; ".join(terms) + ".", 80)
    return "\n    ".join(lines).replace("\n    \n", "\n\n")


SegmentScorer.__doc__ = SegmentScorer.__doc__.replace(
    "<dimension table>", _dimension_docs()
)
