"""The RFM preset: recency / frequency / monetary segments, MECE by construction.

The classic RFM segmentation (what R's ``rfm`` package and pymc-marketing's
``rfm_segments`` offer) scores every customer 1 to 5 on recency, frequency and
monetary value by quintile, then names segments by boxes of those scores. Here
the boxes are an ordered first-match rule list ending in an ELSE bucket
(:data:`RFM_RULES`), so every customer lands in exactly one segment.

Source of the segment table: the segment table of the R ``rfm`` package's
vignette "RFM - Customer Level Data" (Aravind Hebbali, rsquaredacademy/rfm,
``vignettes/rfm-customer-level-data.Rmd``), whose ``case_when`` applies the
rows first-match in table order, as ``rfm_segment()`` does (the ELSE bucket is
``rfm_segment()``'s ``"Others"``). Read first-match in the vignette's order,
four of its eleven segments can never be reached: Potential Loyalists
(R3-5 F1-3 M1-3) swallows New Customers (R4-5 F1 M1) and Promising
(R3-4 F1 M1); At Risk (R1-2 F2-5 M2-5) swallows Can't Lose Them
(R1 F4-5 M4-5); and Hibernating and Lost declare the same box (R1-2 F1-2
M1-2, as scores start at 1). The table here keeps every box but three moves
and one narrowing, so that every named segment is reachable:

* New Customers and Promising come before Potential Loyalists;
* Can't Lose Them comes before At Risk;
* Lost is narrowed to the lowest cell, R1 F1 M1 (the vignette's own
  description: "lowest recency, frequency & monetary scores"), and comes
  before Hibernating.

The rule table (what each segment receives, and the number of the 125 score
combinations it receives under first match) is in :func:`make_rfm_pipeline`.
"""

import numbers

import numpy as np

from ._rules import RuleSet
from .presets import _preset_pipeline

#: The percentiles behind the five scores of each dimension (quintiles).
RFM_PERCENTILES = (20.0, 40.0, 60.0, 80.0)

#: Number of scores per dimension (1 .. 5).
N_SCORES = len(RFM_PERCENTILES) + 1

# The rule table, in first-match order: name, (low, high) score of R, F and M
# (inclusive), description, strategy. The one declaration of the segments:
# RFM_RULES, rfm_rules() and the docstring table (checked by the tests) read it.
_TABLE = (
    (
        "Champions",
        (4, 5),
        (4, 5),
        (4, 5),
        "Bought recently, buy often and spend the most.",
        "Reward them: early access, loyalty perks, ask for reviews and "
        "referrals; no discount needed.",
    ),
    (
        "Loyal Customers",
        (2, 5),
        (3, 5),
        (3, 5),
        "Spend good money and buy regularly; responsive to promotions.",
        "Upsell higher-value products, membership or subscription offers.",
    ),
    (
        "New Customers",
        (4, 5),
        (1, 1),
        (1, 1),
        "Bought very recently, but only once and little so far.",
        "Onboarding: welcome series, product education, a reason for a second order.",
    ),
    (
        "Promising",
        (3, 4),
        (1, 1),
        (1, 1),
        "Fairly recent shoppers who have not bought often nor spent much.",
        "Build the relationship: brand content and a free-trial or starter offer.",
    ),
    (
        "Potential Loyalists",
        (3, 5),
        (1, 3),
        (1, 3),
        "Recent customers with average frequency and spend.",
        "Loyalty programme enrolment and personalised recommendations.",
    ),
    (
        "Need Attention",
        (2, 3),
        (2, 3),
        (2, 3),
        "Average recency, frequency and spend, drifting.",
        "Limited-time offers based on past purchases, before they slip.",
    ),
    (
        "About To Sleep",
        (2, 3),
        (1, 2),
        (1, 2),
        "Below-average recency, frequency and spend.",
        "Reactivate with popular products and a modest incentive.",
    ),
    (
        "Can't Lose Them",
        (1, 1),
        (4, 5),
        (4, 5),
        "Used to buy often and spend big, but not for a long time.",
        "Win them back personally: outreach, surveys, the new range; do not "
        "lose them to a competitor.",
    ),
    (
        "At Risk",
        (1, 2),
        (2, 5),
        (2, 5),
        "Spent and bought well, but a long time ago.",
        "Personalised win-back emails, renewal offers and helpful resources.",
    ),
    (
        "Lost",
        (1, 1),
        (1, 1),
        (1, 1),
        "Lowest recency, frequency and monetary scores.",
        "Low-cost reactivation only, or leave them out of paid campaigns.",
    ),
    (
        "Hibernating",
        (1, 2),
        (1, 2),
        (1, 2),
        "Low spenders with few orders, long ago.",
        "Relevant offers and special discounts; keep the cost per contact low.",
    ),
)

_ELSE = {
    "name": "Others",
    "description": "Score combinations no named segment covers (e.g. frequent "
    "buyers of small baskets, R5 F5 M1).",
    "strategy": "Review by hand: look at their scores before choosing an "
    "action; the generic newsletter meanwhile.",
}

#: The score letter of each dimension, in level names (``"R5"``, ``"F1"``).
_LETTERS = {"recency": "R", "frequency": "F", "monetary": "M"}


def _level_names(dimension):
    """Level names in level-code order (ascending raw value).

    Recency is reversed: the fewest days since the last order score 5, so
    code 0 is ``"R5"``; frequency and monetary ascend (code 0 is ``"F1"``).
    """
    letter = _LETTERS[dimension]
    scores = range(1, N_SCORES + 1)
    if dimension == "recency":
        scores = reversed(scores)
    return [f"{letter}{s}" for s in scores]


def _check_columns(columns, scores):
    """The three column parameters: names (positions too with ``scores``), distinct.

    With ``scores``, frequency and monetary may name one column: a combined FM
    score (the R x FM grid these segments are often drawn on).
    """
    for param, column in columns.items():
        if isinstance(column, (bool, np.bool_)) or not isinstance(
            column, (str, numbers.Integral)
        ):
            what = (
                "a column name (str) or position (int)"
                if scores
                else "a column name (str)"
            )
            raise TypeError(
                f"`{param}` must be {what}, got {type(column).__name__} {column!r}."
            )
        if not isinstance(column, str) and not scores:
            raise TypeError(
                f"`{param}` must be a column name (str), got the position {column!r}: "
                "level features are declared by name. Positions are accepted "
                "with scores=True."
            )
        if isinstance(column, str) and not column:
            raise ValueError(f"`{param}` must be a non-empty column name, got ''.")
    seen = {}
    for param, column in columns.items():
        first = seen.setdefault(column, param)
        if first == param:
            continue
        combined_fm = (first, param) == ("frequency", "monetary")
        if combined_fm and scores:
            continue  # one combined FM score column: the R x FM grid
        hint = (
            " (one combined FM score column needs scores=True)" if combined_fm else ""
        )
        raise ValueError(
            f"`{first}` and `{param}` both name column {column!r}; recency, "
            f"frequency and monetary need three different columns{hint}."
        )


def _when(column, dimension, low, high, scores):
    """Conditions that a score of ``dimension`` in ``column`` is in [low, high]."""
    if (low, high) == (1, N_SCORES):
        return []
    if scores:  # numeric scores: a range of numbers
        if low == high:
            return [[column, "==", low]]
        when = []
        if low > 1:
            when.append([column, ">=", low])
        if high < N_SCORES:
            when.append([column, "<=", high])
        return when
    letter = _LETTERS[dimension]
    names = [f"{letter}{s}" for s in range(low, high + 1)]
    # "in" lists rather than ordering operators: on recency the level order is
    # the order of the days, so ">=" "R4" would mean R4 or worse
    return [[column, "==", names[0]]] if low == high else [[column, "in", names]]


def rfm_rules(
    recency="days_since_last_order",
    frequency="n_orders",
    monetary="total_value",
    *,
    scores=False,
):
    """The RFM segment table as a :class:`RuleSet` over the given columns.

    Parameters
    ----------
    recency : str or int, default="days_since_last_order"
        Column of days since the last order (fewer is better).
    frequency : str or int, default="n_orders"
        Column of the number of orders.
    monetary : str or int, default="total_value"
        Column of the total spend.
    scores : bool, default=False
        False: the columns hold raw values; the rules declare their levels
        (quintiles 20/40/60/80, level names ``"R5"`` .. ``"R1"`` for
        recency, in level-code order, ``"F1"`` .. ``"F5"`` and ``"M1"`` ..
        ``"M5"``) and test them, as :func:`make_rfm_pipeline` does. True: the
        columns already hold scores 1 to 5, 5 best (recency already
        reversed: 5 is the most recent), e.g. the ``recency_score``,
        ``frequency_score`` and ``monetary_score`` of R's ``rfm``; the rules
        compare them with numbers (``>=``/``<=``), need no thresholder, the
        columns may be positions, and ``frequency`` and ``monetary`` may name
        the same column: one combined FM score (the R x FM grid).

    Returns
    -------
    RuleSet
        Eleven named segments in first-match order (see
        :func:`make_rfm_pipeline` for the table), then ``"Others"``.

    Raises
    ------
    TypeError, ValueError
        Naming the parameter: a column that is not a name (or, with
        ``scores=True``, a position), or one column given twice.

    Examples
    --------
    >>> from sklearn_mece._rfm import rfm_rules
    >>> rules = rfm_rules(recency="recency", frequency="orders", monetary="spend")
    >>> rules.names[0], rules.names[-1], len(rules.names)
    ('Champions', 'Others', 12)
    >>> rules.levels["recency"].names
    ('R5', 'R4', 'R3', 'R2', 'R1')
    >>> print(rules.describe().splitlines()[2])
       - orders in {F4, F5}
    >>> rules = rfm_rules("r_score", "f_score", "m_score", scores=True)
    >>> [c.to_dict() for c in rules.segments[0].conditions][0]
    {'column': 'r_score', 'op': '>=', 'value': 4}
    >>> len(rfm_rules(0, 1, 1, scores=True).names)  # R and a combined FM score
    12
    >>> rfm_rules(recency="n_orders")
    Traceback (most recent call last):
    ...
    ValueError: `recency` and `frequency` both name column 'n_orders'; recency, frequency and monetary need three different columns.
    """
    columns = {"recency": recency, "frequency": frequency, "monetary": monetary}
    _check_columns(columns, scores)
    segments = []
    for name, *boxes, description, strategy in _TABLE:
        when = []
        for (dimension, column), (low, high) in zip(columns.items(), boxes):
            when.extend(_when(column, dimension, low, high, scores))
        segments.append(
            {
                "name": name,
                "when": when,
                "description": description,
                "strategy": strategy,
            }
        )
    data = {"segments": segments, "else": dict(_ELSE)}
    if not scores:
        # days and order counts are never negative: a DomainWarning otherwise
        data["domains"] = {
            columns["recency"]: {"min": 0},
            columns["frequency"]: {"min": 0},
        }
        data["levels"] = {
            column: {
                "names": _level_names(dimension),
                "percentiles": list(RFM_PERCENTILES),
            }
            for dimension, column in columns.items()
        }
    return RuleSet.from_dict(data)


#: The RFM segments over the columns of ``customer_features``
#: (``days_since_last_order``, ``n_orders``, ``total_value``): quintile levels
#: and eleven named segments in first-match order, then ``"Others"``. The
#: table is in :func:`make_rfm_pipeline`.
RFM_RULES = rfm_rules()


def make_rfm_pipeline(
    *,
    recency="days_since_last_order",
    frequency="n_orders",
    monetary="total_value",
    min_size=0,
    max_size=None,
    **params,
):
    """The RFM segmentation as an unfitted scikit-learn Pipeline.

    Steps: ``thresholds`` (:class:`PercentileThresholder`: the 20th, 40th,
    60th and 80th percentiles of each of the three columns, learned at fit)
    and ``segments`` (:class:`HierarchicalSegmenter` with the rules of
    :data:`RFM_RULES` over the three columns). Output is pandas; columns are
    selected by name, so extra input columns pass through and the column order
    may change between fit and transform. The defaults are the columns of
    ``sklearn_mece.features.customer_features``, whose output it segments
    without renaming.

    Parameters
    ----------
    recency : str, default="days_since_last_order"
        Column of days since the last order.
    frequency : str, default="n_orders"
        Column of the number of orders.
    monetary : str, default="total_value"
        Column of the total spend.
    min_size : int or float, default=0
        Segments smaller at fit (a count, or a fraction of the fit rows) merge
        into the ELSE bucket ``"Others"``; ``0``: no merge.
    max_size : int or float, default=None
        Segments larger at fit are flagged invalid (see
        ``segments__max_size_policy``); ``None``: no limit. Both limits are the
        segment step's; it alone decides which segments are valid.
    **params
        Any ``step__param`` of the pipeline, e.g.
        ``thresholds__cut_values={"n_orders": [1, 2, 3, 5]}`` or
        ``segments__nan_segment="No Orders"``.

    Returns
    -------
    SegmentationPipeline
        Unfitted; ``transform`` returns the input with three level columns
        (``<column>_level``) and a categorical ``segment`` added. The level
        columns hold level codes 0 to 4: the F and M scores are the code plus
        one; the R score is 5 minus the code (recency levels run from the most
        recent). ``describe_pipeline(pipe)`` prints the rules with the learned
        cut values.

    Raises
    ------
    TypeError, ValueError
        Naming the parameter, for a column that is not a name or a column
        given twice. A column missing from the data is an error at fit naming
        it.

    See Also
    --------
    make_cart_abandoner_pipeline : The cart-abandoner preset.

    Notes
    -----
    *The rule table.* First match wins, top to bottom; R, F and M are the
    scores 1 to 5 (ranges inclusive); *cells* is how many of the 125 score
    combinations the segment receives under first match (the rows above it
    take the rest of its box).

    ===================  ===  ===  ===  =====  ==========================================
    Segment              R    F    M    Cells  Meaning
    ===================  ===  ===  ===  =====  ==========================================
    Champions            4-5  4-5  4-5      8  Bought recently, buy often, spend the most
    Loyal Customers      2-5  3-5  3-5     28  Spend good money, buy regularly
    New Customers        4-5  1    1        2  Bought very recently, once, little
    Promising            3-4  1    1        1  Fairly recent, few orders, small spend
    Potential Loyalists  3-5  1-3  1-3     21  Recent, average frequency and spend
    Need Attention       2-3  2-3  2-3      3  Average on all three, drifting
    About To Sleep       2-3  1-2  1-2      3  Below average on all three
    Can't Lose Them      1    4-5  4-5      4  Bought often and big, long ago
    At Risk              1-2  2-5  2-5     16  Bought and spent well, long ago
    Lost                 1    1    1        1  Lowest scores on all three
    Hibernating          1-2  1-2  1-2      2  Few small orders, long ago
    Others               any  any  any     36  ELSE: combinations no row above covers
    ===================  ===  ===  ===  =====  ==========================================

    The boxes are those of the R ``rfm`` package's segment table (vignette
    "RFM - Customer Level Data"); its order is changed so that every segment
    is reachable, and Lost is narrowed to R1 F1 M1 (see
    :mod:`sklearn_mece._rfm`). Each rule's description and strategy are in
    :data:`RFM_RULES` (``RFM_RULES.describe()``).

    *Scores.* Each column is cut at its 20th, 40th, 60th and 80th percentiles
    (``np.percentile``, ``"linear"``; ``thresholds__method`` changes it).
    Frequency and monetary score 1 up to the first cut (included) and 5
    above the last; recency is reversed, the fewest days scoring 5.

    *Ties.* The thresholder is ``closed="right"``, like ``pandas.qcut``: a
    value equal to a cut goes to the *lower* level, i.e. the lower F or M
    score and the *higher* R score (the more recent one); equal values always
    get equal scores, never split by row order. When many customers share a
    value, several percentiles fall on it and cuts collapse, leaving a score
    empty. Frequency is the usual case: if a third of the customers have
    exactly one order (Online Retail II), the 20th percentile is 1, so every
    one-order customer scores F1 (with the seed's ``closed="left"`` they
    would all score F2 or F3 and F1 would hold nobody, leaving New Customers,
    Promising and Lost empty); if half of them do, the 20th and 40th
    percentiles are both 1 and F2 is empty. The fitted thresholder issues a
    :class:`CollapsedCutsWarning` and records the levels emptied by equal
    cuts in ``collapsed_levels_`` and ``effective_n_levels_``; the segment
    step names every level that holds no row at fit
    (:class:`EmptyLevelWarning`). Fixed cuts are another choice for counts:
    ``thresholds__cut_values={"n_orders": [1, 2, 3, 5]}`` makes F1 one
    order, F2 two, F3 three, F4 four or five and F5 six or more.

    *Missing values.* A missing value in any of the three columns is refused
    at fit and transform with an error naming the column; pass
    ``segments__nan_segment="..."`` to route those customers to a named
    segment instead.

    *No scorer step.* Unlike the cart-abandoner preset there is no
    :class:`SegmentScorer`: its dimensions (engagement, profitability) and
    strategic priorities are the cart-abandoner campaign's, and its value and
    recency dimensions would score again what the RFM segments are made of.
    The segments' order and strategies are the RFM action plan.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sklearn_mece import make_rfm_pipeline
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({
    ...     "days_since_last_order": rng.integers(0, 365, 2_000),
    ...     "n_orders": rng.integers(1, 40, 2_000),
    ...     "total_value": rng.gamma(2.0, 80.0, 2_000).round(2),
    ... }, index=pd.RangeIndex(2_000, name="customer_id"))
    >>> pipe = make_rfm_pipeline()
    >>> out = pipe.fit_transform(X)
    >>> list(out.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['days_since_last_order', 'n_orders', 'total_value',
     'days_since_last_order_level', 'n_orders_level', 'total_value_level',
     'segment']
    >>> out["segment"].value_counts().idxmax()
    'Others'
    >>> pipe.named_steps["segments"].segment_names_[7]
    "Can't Lose Them"
    >>> print(pipe.named_steps["thresholds"].cuts_["n_orders"])
    [ 8. 16. 24. 32.]

    Other column names, and fixed frequency cuts:

    >>> Y = X.rename(columns={"days_since_last_order": "recency",
    ...                       "n_orders": "frequency", "total_value": "monetary"})
    >>> pipe = make_rfm_pipeline(
    ...     recency="recency", frequency="frequency", monetary="monetary",
    ...     thresholds__cut_values={"frequency": [1, 2, 3, 5]})
    >>> print(pipe.fit(Y).named_steps["thresholds"].cuts_["frequency"])
    [1. 2. 3. 5.]
    """
    rules = rfm_rules(recency, frequency, monetary)
    return _preset_pipeline(rules, min_size, max_size, closed="right", **params)
