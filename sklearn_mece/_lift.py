"""Lift versus control per segment: observed (with intervals), simulated, holdout.

* :func:`observed_lift` compares the outcome of contacted customers
  (``treatment == 1``) with the holdout (``treatment == 0``) in every segment:
  the difference of conversion rates with a Newcombe or Agresti–Caffo interval
  (``statsmodels.stats.proportion``), or the difference of mean spend with a
  Welch interval (``statsmodels.stats.weightstats``), and p-values corrected
  for multiple comparisons across segments
  (``statsmodels.stats.multitest.multipletests``; Holm, the default, by
  :func:`holm`, statsmodels' steps without its full garbage collection on
  every call). statsmodels is an optional
  dependency (``pip install 'sklearn-mece[stats]'``), imported only here.
* :func:`simulated_lift` is the seed script's stand-in when no campaign data
  exists, labelled as such wherever it is reported.
* :func:`assign_holdout` gives each customer id a stable control flag, so that
  the next campaign produces exactly the data :func:`observed_lift` needs.
"""

import hashlib
import numbers
import warnings
from statistics import NormalDist

import numpy as np
import pandas as pd

from ._base import column_as_float, infinite_values_error, optional_import

#: Interval methods for a difference of two rates, as spelled by statsmodels,
#: each with the test that goes with it.
CI_METHODS = {"newcomb": "score", "agresti-caffo": "agresti-caffo"}

#: Corrections accepted from ``statsmodels.stats.multitest.multipletests``.
P_ADJUST_METHODS = (
    "holm",
    "bonferroni",
    "sidak",
    "holm-sidak",
    "simes-hochberg",
    "hommel",
    "fdr_bh",
    "fdr_by",
)

#: Per-segment observed-lift fields, in report order. ``lift_ci_*`` are each
#: segment's own interval; ``lift_ci_*_adjusted`` are simultaneous intervals
#: over the segments (Bonferroni: level ``1 - alpha / m`` for ``m`` tested
#: segments), the intervals that go with the corrected tests.
_LIFT_FIELDS = (
    "n_treated",
    "n_control",
    "rate_treated",
    "rate_control",
    "lift_observed",
    "lift_ci_low",
    "lift_ci_high",
    "lift_ci_low_adjusted",
    "lift_ci_high_adjusted",
    "lift_p_value",
    "lift_p_adjusted",
    "lift_significant",
    "lift_shrunk",
)

#: Report columns of :func:`incremental_outcome`: lift x size and its interval.
INCREMENTAL_COLUMNS = (
    "incremental_outcome",
    "incremental_ci_low",
    "incremental_ci_high",
)

#: How the adjusted intervals are made, as reported next to them.
CI_ADJUSTMENT = "bonferroni"


def ci_adjustment_label(alpha, n_tests):
    """Plain-words description of the unadjusted and the adjusted intervals.

    Examples
    --------
    >>> ci_adjustment_label(0.05, 6)
    ('95 % interval of each segment', '95 % simultaneous intervals over 6 segments (Bonferroni: 99.17 % each)')
    """
    level = 100 * (1 - alpha)
    if n_tests < 1:
        return f"{level:g} % interval of each segment", "none: no segment was tested"
    return (
        f"{level:g} % interval of each segment",
        f"{level:g} % simultaneous intervals over {n_tests} segment"
        f"{'s' if n_tests != 1 else ''} (Bonferroni: "
        f"{_each_level(alpha, n_tests)} % each)",
    )


def _statsmodels():
    return tuple(
        optional_import(
            f"statsmodels.stats.{name}", feature="Observed lift", extra="stats"
        )
        for name in ("proportion", "weightstats", "multitest")
    )


def shrink_lift(lift, se):
    """Empirical-Bayes estimate of every segment's lift, shrunk toward the pooled lift.

    A segment's observed lift is noisy in proportion to its standard error: a
    tiny segment with a large point estimate is more likely lucky than best.
    This treats the segments' true lifts as drawn from a common normal
    distribution whose mean ``mu`` and variance ``tau2`` are estimated from
    all segments (random-effects meta-analysis, Paule–Mandel estimator of
    ``statsmodels.stats.meta_analysis.combine_effects``), and returns each
    segment's posterior mean::

        mu + tau2 / (tau2 + se**2) * (lift - mu)

    A precise estimate barely moves; an imprecise one moves most of the way
    to ``mu``; when the segments do not differ more than their noise
    (``tau2 = 0``) every estimate is ``mu``. A segment with a lift but no
    usable standard error (missing, zero or infinite: an arm without any
    variation) carries no evidence of its own and gets ``mu``; a missing lift
    stays missing. With fewer than two usable segments nothing is shrunk.

    Parameters
    ----------
    lift : array-like of float of shape (n_segments,)
        Observed lifts.
    se : array-like of float of shape (n_segments,)
        Their standard errors (:func:`observed_lift` derives them from each
        segment's interval for a rate, and from Welch's formula for an amount).

    Returns
    -------
    shrunk : ndarray of float of shape (n_segments,)
        The shrunk lifts, in the order of ``lift``.
    mu : float
        The pooled lift (NaN when nothing was shrunk).
    tau2 : float
        The estimated variance of the true lifts between segments.

    Examples
    --------
    A large segment with a moderate, precise lift and a tiny one with a large
    but imprecise one: after shrinkage the large segment ranks first.

    >>> shrunk, mu, tau2 = shrink_lift(
    ...     [0.030, 0.150, 0.000, 0.005], [0.005, 0.1, 0.005, 0.005]
    ... )
    >>> shrunk.round(4).tolist()
    [0.0291, 0.0189, 0.0008, 0.0055]
    """
    lift = np.asarray(lift, dtype=np.float64)
    var = np.asarray(se, dtype=np.float64) ** 2
    ok = np.isfinite(lift) & np.isfinite(var) & (var > 0)
    shrunk = lift.copy()
    if ok.sum() < 2:
        return shrunk, float("nan"), float("nan")
    combine_effects = optional_import(
        "statsmodels.stats.meta_analysis", feature="Shrunk lift", extra="stats"
    ).combine_effects
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = combine_effects(lift[ok], var[ok], method_re="iterated")
    mu, tau2 = float(res.mean_effect_re), max(float(res.tau2), 0.0)
    shrunk[ok] = mu + tau2 / (tau2 + var[ok]) * (lift[ok] - mu)
    shrunk[~ok & np.isfinite(lift)] = mu
    return shrunk, mu, tau2


def incremental_outcome(size, lift, ci_low, ci_high):
    """Extra outcome from contacting a whole segment: lift x size, with its interval.

    For a 0/1 outcome this is the number of extra conversions (or visits)
    expected if every customer of the segment is contacted rather than none;
    for an amount, the extra spend. The interval is the lift's interval
    times the size (the size is known, not estimated).

    Parameters
    ----------
    size : array-like of int
        Customers per segment.
    lift, ci_low, ci_high : array-like of float
        Observed lift per segment (treated minus control) and its interval.

    Returns
    -------
    outcome, low, high : ndarray of float

    Examples
    --------
    On Hillstrom's e-mail test (visits), the broad Tier 4 segment brings more
    extra visits than the Tier 1 premium one:

    >>> outcome, low, high = incremental_outcome(
    ...     [16_000, 31_272], [0.0695, 0.0570], [0.0573, 0.0502], [0.0813, 0.0636]
    ... )
    >>> outcome.round().tolist(), low.round().tolist(), high.round().tolist()
    ([1112.0, 1783.0], [917.0, 1570.0], [1301.0, 1989.0])
    """
    size = np.asarray(size, dtype=np.float64)
    return tuple(
        size * np.asarray(v, dtype=np.float64) for v in (lift, ci_low, ci_high)
    )


def _each_level(alpha, n_tests):
    """``1 - alpha / n_tests`` in percent, with the decimals it needs."""
    each = 100 * (1 - alpha / n_tests)
    for decimals in range(2, 10):
        text = f"{each:.{decimals}f}"
        if float(text) < 100:
            return text
    return f"{each:.10f}"


#: The simulated lift in words, as every output that labels it says it.
SIMULATED_LIFT_TEXT = "0.1 + 0.4 x engagement + 0.3 x order value"


def simulated_segments(lift_source):
    """Which segments' lift is simulated, in words; None when none is.

    Parameters
    ----------
    lift_source : pandas.Series
        ``"observed"`` or ``"simulated"`` per segment (the report's
        ``lift_source`` column, indexed by segment).

    Examples
    --------
    >>> import pandas as pd
    >>> simulated_segments(pd.Series(["simulated", "observed"], index=["A", "B"]))
    '1 segment(s): A'
    >>> simulated_segments(pd.Series(["simulated"] * 2, index=["A", "B"]))
    'every segment'
    """
    simulated = [str(s) for s, v in lift_source.items() if v == "simulated"]
    if not simulated:
        return None
    if len(simulated) == len(lift_source):
        return "every segment"
    return f"{len(simulated)} segment(s): {', '.join(simulated)}"


# -- simulated lift ---------------------------------------------------------------------
def simulated_lift(engagement, aov):
    """The seed script's simulated lift: ``0.1 + 0.4 * engagement + 0.3 * aov``.

    The seed drew ``0.4 * engagement + 0.3 * normalised AOV`` plus a random
    ``N(0.1, 0.05)`` term; here the random term is replaced by its mean so that
    the result is deterministic. It is an assumption ("engaged, high-value
    customers respond more"), not a measurement: every report labels it
    ``lift_source="simulated"``.

    Parameters
    ----------
    engagement, aov : array-like of float in [0, 1]
        Per-segment engagement and normalised order value.

    Returns
    -------
    ndarray of float in [0.1, 0.8]

    Examples
    --------
    >>> simulated_lift([0.0, 1.0], [0.0, 1.0])
    array([0.1, 0.8])
    """
    e = np.asarray(engagement, dtype=np.float64)
    a = np.asarray(aov, dtype=np.float64)
    return np.clip(0.1 + 0.4 * e + 0.3 * a, 0.0, 1.0)


def lift_to_unit(lift, scale):
    """Map a lift to [0, 1]: ``0.5 + 0.5 * lift / scale``, clipped.

    No effect maps to 0.5; an effect of ``+scale`` to 1 and ``-scale`` to 0.
    :class:`SegmentScorer` maps the shrunk lifts (:func:`shrink_lift`) with
    ``scale`` the largest absolute observed lift over the segments: the
    shrunk lifts keep their sign and their ratios, and lie within [0, 1].

    Parameters
    ----------
    lift : array-like of float
        Differences, treated minus control (rates or amounts).
    scale : float
        Positive scale; ``0`` maps everything to 0.5.

    Returns
    -------
    ndarray of float in [0, 1]

    Examples
    --------
    >>> lift_to_unit([0.02, -0.01, 0.0], scale=0.02)
    array([1.  , 0.25, 0.5 ])
    """
    lift = np.asarray(lift, dtype=np.float64)
    if not scale > 0:
        return np.full(lift.shape, 0.5)
    return np.clip(0.5 + 0.5 * lift / scale, 0.0, 1.0)


# -- observed lift ----------------------------------------------------------------------
def _outcome_kind(outcome, outcome_type):
    binary = bool(np.isin(outcome, (0.0, 1.0)).all())
    if outcome_type == "auto":
        return "rate" if binary else "amount"
    if outcome_type == "rate" and not binary:
        bad = outcome[~np.isin(outcome, (0.0, 1.0))]
        raise ValueError(
            f"outcome_type='rate' needs a 0/1 outcome; found {bad.size} other "
            f"value(s), e.g. {bad[0]!r}. Use outcome_type='amount' for spend."
        )
    return outcome_type


def holm(p_values, alpha):
    """Holm's step-down correction: what ``statsmodels.stats.multitest.
    multipletests(p_values, alpha, method="holm")`` returns, the same
    numbers and decisions.

    statsmodels' Holm runs a full ``gc.collect()`` on every call, which walks
    every object of the process: about 90 ms once pandas and scikit-learn are
    loaded, most of a scorer's fit in a search that fits hundreds. The steps
    are statsmodels' own (a test compares the two on random and tied
    p-values); the other methods are statsmodels'.

    Parameters
    ----------
    p_values : ndarray of float
    alpha : float

    Returns
    -------
    reject : ndarray of bool
    p_adjusted : ndarray of float

    Examples
    --------
    >>> reject, adjusted = holm(np.array([0.01, 0.04, 0.03]), 0.05)
    >>> reject.tolist(), adjusted.round(2).tolist()
    ([True, False, False], [0.03, 0.06, 0.06])
    """
    p_values = np.asarray(p_values, dtype=np.float64)
    m = p_values.size
    order = np.argsort(p_values)
    ordered = p_values[order]
    not_reject = ordered > alpha / np.arange(m, 0, -1)
    first = np.flatnonzero(not_reject)
    not_reject[(first[0] if first.size else m) :] = True
    adjusted = np.minimum(np.maximum.accumulate(ordered * np.arange(m, 0, -1)), 1.0)
    reject = np.empty(m, dtype=bool)
    corrected = np.empty(m)
    reject[order], corrected[order] = ~not_reject, adjusted
    return reject, corrected


def campaign_array(values, n_rows, name):
    """A campaign's treatment or outcome given as an array: a float64 array
    of one value per row, or an error naming it.

    Parameters
    ----------
    values : array-like of shape (n_rows,) or (n_rows, 1)
    n_rows : int
        Rows of the data it goes with.
    name : str
        ``"treatment"`` or ``"outcome"``, for the messages.

    Returns
    -------
    ndarray of float64
        Missing values as NaN.

    Raises
    ------
    ValueError or TypeError
        For another shape or length, text, dates or categories.

    Examples
    --------
    >>> campaign_array([1, 0, None], 3, "treatment")
    array([ 1.,  0., nan])
    """
    values = values if hasattr(values, "dtype") else np.asarray(values)
    if getattr(values, "ndim", 1) == 2 and values.shape[1] == 1:
        values = np.asarray(values)[:, 0]
    if getattr(values, "ndim", 1) != 1:
        raise ValueError(f"{name} must be one value per row; got shape {values.shape}.")
    if len(values) != n_rows:
        raise ValueError(f"{name} has {len(values):,} values for {n_rows:,} rows of X.")
    return np.asarray(column_as_float(values, name), dtype=np.float64)


def campaign_rows(codes, treatment, outcome):
    """The rows of a campaign the lift reads: treatment and outcome as floats,
    rows with either missing left out, every treatment checked to be 0 or 1.

    Returns
    -------
    codes, treatment, outcome : ndarray
        Of the rows kept.
    kept : ndarray of bool
        Which rows were kept (to align a weight per row).

    Raises
    ------
    ValueError
        If a treatment is not 0 or 1, or a value is infinite.

    Examples
    --------
    >>> campaign_rows([0, 1, 1], [1, 0, None], [1.0, 0.0, 1.0])[3].tolist()
    [True, True, False]
    """
    codes = np.asarray(codes)
    treatment = np.asarray(treatment, dtype=np.float64)
    outcome = np.asarray(outcome, dtype=np.float64)
    for name, values in (("treatment", treatment), ("outcome", outcome)):
        if np.isinf(values).any():
            raise infinite_values_error(name, int(np.isinf(values).sum()))
    keep = ~(np.isnan(treatment) | np.isnan(outcome))
    t, o, c = treatment[keep], outcome[keep], codes[keep]
    if not np.isin(t, (0.0, 1.0)).all():
        bad = t[~np.isin(t, (0.0, 1.0))]
        raise ValueError(
            "The treatment column must hold 1 (contacted) or 0 (holdout); found "
            f"{bad.size} other value(s), e.g. {bad[0]!r}."
        )
    return c, t, o, keep


def arm_sums(codes, n_segments, treatment, outcome, weights=None):
    """Rows and outcome sums of each arm per segment: what every lift is made of.

    Parameters
    ----------
    codes : ndarray of int
        Segment code of every row, in ``[0, n_segments)``.
    n_segments : int
    treatment, outcome : ndarray of float
        Checked rows (:func:`campaign_rows`): treatment 0 or 1.
    weights : ndarray of float, optional
        A weight per row (a bootstrap's resampling counts); 1 by default.

    Returns
    -------
    n_treated, n_control, sum_treated, sum_control : ndarray of float
        Per segment.

    Examples
    --------
    >>> n_t, n_c, s_t, s_c = arm_sums(np.array([0, 0, 1]), 2, np.array([1.0, 0, 1]),
    ...                               np.array([1.0, 0, 0]))
    >>> n_t.tolist(), s_t.tolist()
    ([1.0, 1.0], [1.0, 0.0])
    """
    treated = treatment == 1.0
    w = np.ones(len(codes)) if weights is None else np.asarray(weights, float)
    k = int(n_segments)
    return (
        np.bincount(codes[treated], weights=w[treated], minlength=k),
        np.bincount(codes[~treated], weights=w[~treated], minlength=k),
        np.bincount(codes[treated], weights=(w * outcome)[treated], minlength=k),
        np.bincount(codes[~treated], weights=(w * outcome)[~treated], minlength=k),
    )


def lift_by_code(
    codes,
    n_segments,
    treatment,
    outcome,
    *,
    outcome_type="auto",
    ci_method="newcomb",
    alpha=0.05,
    p_adjust="holm",
):
    """Observed lift per segment code, as plain arrays.

    Rows with a missing treatment or outcome are left out. A segment needs at
    least one treated and one control row for a rate (two of each for an
    amount, Welch needs a variance); otherwise ``observed`` is False and its
    interval and p-values are NaN.

    Parameters
    ----------
    codes : ndarray of int of shape (n_samples,)
        Segment code of every row, in ``[0, n_segments)``.
    n_segments : int
        Number of segments.
    treatment : ndarray of float of shape (n_samples,)
        1 for contacted, 0 for holdout, NaN for neither.
    outcome : ndarray of float of shape (n_samples,)
        0/1 conversion, or an amount; NaN when unknown.
    outcome_type : {"auto", "rate", "amount"}, default="auto"
        ``"auto"``: a rate when every outcome is 0 or 1, else an amount.
    ci_method : {"newcomb", "agresti-caffo"}, default="newcomb"
        Interval for a difference of rates (amounts always use Welch).
    alpha : float, default=0.05
        1 - confidence level, and the level of the corrected tests.
    p_adjust : str, default="holm"
        Method of ``statsmodels.stats.multitest.multipletests``.

    Returns
    -------
    result : dict
        ``outcome_type`` (str), ``observed`` (bool array), ``n_tests`` (the
        ``m`` of the adjusted intervals), ``lift_pooled`` and ``lift_tau2``
        (of :func:`shrink_lift`) and one array per field of the report:
        ``n_treated``, ``n_control``, ``rate_treated``, ``rate_control`` (mean
        outcome per arm), ``lift_observed``, ``lift_ci_low``,
        ``lift_ci_high`` (each segment's interval), ``lift_ci_low_adjusted``,
        ``lift_ci_high_adjusted`` (simultaneous, Bonferroni), ``lift_p_value``,
        ``lift_p_adjusted``, ``lift_significant`` (bool) and ``lift_shrunk``.
    """
    proportion, weightstats, multitest = _statsmodels()
    c, t, o, _ = campaign_rows(codes, treatment, outcome)
    kind = _outcome_kind(o, outcome_type)
    treated = t == 1.0
    k = int(n_segments)
    n_t, n_c, s_t, s_c = arm_sums(c, k, t, o)
    n_t, n_c = n_t.astype(np.int64), n_c.astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_t = s_t / n_t
        mean_c = s_c / n_c
    diff = mean_t - mean_c
    need = 1 if kind == "rate" else 2
    observed = (n_t >= need) & (n_c >= need)
    low = np.full(k, np.nan)
    high = np.full(k, np.nan)
    low_adj = np.full(k, np.nan)
    high_adj = np.full(k, np.nan)
    se = np.full(k, np.nan)
    p_value = np.full(k, np.nan)
    z = NormalDist().inv_cdf(1 - alpha / 2)

    if kind == "amount":
        # rows grouped by (segment, arm) once, then one slice per group
        key = c.astype(np.int64) * 2 + treated
        order = np.argsort(key, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(key, minlength=2 * k))])
        sorted_o = o[order]

    def interval(j, level_alpha):
        """Interval of segment j at level 1 - level_alpha, and a helper."""
        if kind == "rate":
            args = (s_t[j], n_t[j], s_c[j], n_c[j])
            ci = proportion.confint_proportions_2indep(
                *args, method=ci_method, compare="diff", alpha=level_alpha
            )
            return ci, args
        x_c = sorted_o[bounds[2 * j] : bounds[2 * j + 1]]
        x_t = sorted_o[bounds[2 * j + 1] : bounds[2 * j + 2]]
        compare = weightstats.CompareMeans(
            weightstats.DescrStatsW(x_t), weightstats.DescrStatsW(x_c)
        )
        return compare.tconfint_diff(alpha=level_alpha, usevar="unequal"), compare

    with np.errstate(all="ignore"), warnings.catch_warnings():
        # statsmodels warns on degenerate arms (all 0 or all 1); handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        for j in np.flatnonzero(observed):
            (low[j], high[j]), helper = interval(j, alpha)
            if kind == "rate":
                test = proportion.test_proportions_2indep(
                    *helper, method=CI_METHODS[ci_method], compare="diff"
                )
                p_value[j] = test.pvalue
                if np.isnan(p_value[j]) and diff[j] == 0:
                    # both arms all 0 (or all 1): no evidence of any effect
                    p_value[j] = 1.0
                # the standard error the (unclipped) interval implies
                se[j] = (high[j] - low[j]) / (2 * z)
            else:
                p_value[j] = helper.ttest_ind(usevar="unequal")[1]
                se[j] = helper.std_meandiff_separatevar
        # simultaneous intervals over the m segments tested (Bonferroni)
        tested = np.flatnonzero(np.isfinite(p_value))
        for j in tested:
            (low_adj[j], high_adj[j]), _ = interval(j, alpha / len(tested))
    if kind == "rate":
        # Agresti–Caffo can step outside the possible range of a difference
        low, high = np.clip(low, -1.0, 1.0), np.clip(high, -1.0, 1.0)
        low_adj, high_adj = np.clip(low_adj, -1.0, 1.0), np.clip(high_adj, -1.0, 1.0)

    p_adjusted = np.full(k, np.nan)
    significant = np.zeros(k, dtype=bool)
    finite = np.isfinite(p_value)
    if finite.any():
        if p_adjust == "holm":
            reject, corrected = holm(p_value[finite], alpha)
        else:
            reject, corrected, _, _ = multitest.multipletests(
                p_value[finite], alpha=alpha, method=p_adjust
            )
        p_adjusted[finite] = corrected
        significant[finite] = reject
    lift = np.where(observed, diff, np.nan)
    shrunk, mu, tau2 = shrink_lift(lift, se)
    return {
        "outcome_type": kind,
        "observed": observed,
        "lift_pooled": mu,
        "lift_tau2": tau2,
        "n_tests": int(finite.sum()),
        "n_treated": n_t,
        "n_control": n_c,
        "rate_treated": mean_t,
        "rate_control": mean_c,
        "lift_observed": lift,
        "lift_ci_low": low,
        "lift_ci_high": high,
        "lift_ci_low_adjusted": low_adj,
        "lift_ci_high_adjusted": high_adj,
        "lift_p_value": p_value,
        "lift_p_adjusted": p_adjusted,
        "lift_significant": significant,
        "lift_shrunk": shrunk,
    }


def observed_lift(
    segments,
    treatment,
    outcome,
    *,
    outcome_type="auto",
    ci_method="newcomb",
    alpha=0.05,
    p_adjust="holm",
):
    """Lift of treated over control per segment, with intervals and corrected tests.

    For a 0/1 outcome the lift is the difference of conversion rates, treated
    minus control, with a Newcombe (hybrid score) or Agresti–Caffo interval
    from :func:`statsmodels.stats.proportion.confint_proportions_2indep` and
    the matching test of
    :func:`statsmodels.stats.proportion.test_proportions_2indep` (score test
    with Newcombe). For an amount (spend) it is the difference of means with
    Welch's interval and t-test (:class:`statsmodels.stats.weightstats.CompareMeans`,
    ``usevar="unequal"``). p-values are then corrected across segments with
    :func:`statsmodels.stats.multitest.multipletests`.

    Parameters
    ----------
    segments : array-like of shape (n_samples,)
        Segment of every row (names or codes).
    treatment : array-like of shape (n_samples,)
        1 (or True) for contacted, 0 for holdout; NaN rows are left out.
    outcome : array-like of shape (n_samples,)
        0/1 conversion or a spend amount; NaN rows are left out.
    outcome_type : {"auto", "rate", "amount"}, default="auto"
        ``"auto"``: a rate when every outcome is 0 or 1.
    ci_method : {"newcomb", "agresti-caffo"}, default="newcomb"
        Interval for rates.
    alpha : float, default=0.05
        The intervals have coverage ``1 - alpha``; corrected tests level ``alpha``.
    p_adjust : str, default="holm"
        Multiple-comparison correction (see :data:`P_ADJUST_METHODS`).

    Returns
    -------
    pandas.DataFrame
        Indexed by segment (sorted), with the columns ``n_treated``,
        ``n_control``, ``rate_treated``, ``rate_control`` (mean outcome per
        arm), ``lift_observed``, ``lift_ci_low``, ``lift_ci_high`` (each
        segment's own interval), ``lift_ci_low_adjusted``,
        ``lift_ci_high_adjusted`` (simultaneous intervals over the segments,
        Bonferroni, which go with the corrected tests), ``lift_p_value``,
        ``lift_p_adjusted``, ``lift_significant`` and ``lift_shrunk``
        (:func:`shrink_lift`). A segment without both arms has NaN lift.
        ``attrs`` says which interval is which (``lift_ci``,
        ``lift_ci_adjusted``) and holds the pooled lift and between-segment
        variance of the shrinkage (``lift_pooled``, ``lift_tau2``).

    Examples
    --------
    >>> import numpy as np
    >>> seg = np.repeat(["A", "B"], 400)
    >>> treatment = np.tile([1, 0], 400)
    >>> outcome = np.r_[np.tile([1, 0, 0, 0], 100), np.tile([1, 1, 0, 0], 100)]
    >>> lift = observed_lift(seg, treatment, outcome)
    >>> lift[["rate_treated", "rate_control", "lift_observed"]]
    ... # doctest: +NORMALIZE_WHITESPACE
             rate_treated  rate_control  lift_observed
    segment
    A                 0.5           0.0            0.5
    B                 0.5           0.5            0.0
    >>> bool(lift.loc["A", "lift_ci_low"] > 0), bool(lift.loc["B", "lift_significant"])
    (True, False)
    """
    segments = np.asarray(segments)
    codes, uniques = pd.factorize(segments, sort=True)
    if (codes < 0).any():
        raise ValueError("segments contains missing values.")
    treatment = _as_float(treatment, "treatment")
    outcome = _as_float(outcome, "outcome")
    if not (len(treatment) == len(outcome) == len(codes)):
        raise ValueError("segments, treatment and outcome must have the same length.")
    result = lift_by_code(
        codes,
        len(uniques),
        treatment,
        outcome,
        outcome_type=outcome_type,
        ci_method=ci_method,
        alpha=alpha,
        p_adjust=p_adjust,
    )
    frame = pd.DataFrame(
        {name: result[name] for name in _LIFT_FIELDS},
        index=pd.Index(uniques, name="segment"),
    )
    frame.attrs.update(_lift_attrs(result, alpha))
    return frame


def _lift_attrs(result, alpha):
    """What the intervals and the shrinkage are, for a report's ``attrs``."""
    each, adjusted = ci_adjustment_label(alpha, result["n_tests"])
    return {
        "lift_ci": each,
        "lift_ci_adjusted": adjusted,
        "lift_pooled": result["lift_pooled"],
        "lift_tau2": result["lift_tau2"],
    }


def _as_float(values, name):
    return column_as_float(values, name)


# -- holdout assignment -----------------------------------------------------------------
def _id_strings(ids):
    """Canonical text of every id: integral numbers without a decimal part."""
    if isinstance(ids, (pd.Series, pd.Index)):
        ids = ids.to_numpy()
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"ids must be one-dimensional, got shape {arr.shape}.")
    if arr.dtype.kind in "iu":
        return arr.astype(str).tolist()
    if arr.dtype.kind == "b":
        return arr.astype(np.int64).astype(str).tolist()
    out = []
    for value in arr.tolist():
        if value is None or (isinstance(value, float) and value != value):
            raise ValueError("ids contains missing values; every customer needs an id.")
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 12.0 (an id column upcast by a NaN) == 12
        elif isinstance(value, bytes):
            value = value.decode("utf-8")
        out.append(str(value))
    return out


def _uniform_from_hash(keys, salt):
    """A number in [0, 1) per key: the first 53 bits of blake2b(salt, key)."""
    prefix = hashlib.blake2b(
        salt.encode("utf-8") + b"\x1f", digest_size=8, person=b"sklearn-mece"
    )
    digests = []
    for key in keys:
        h = prefix.copy()
        h.update(key.encode("utf-8"))
        digests.append(h.digest())
    bits = np.frombuffer(b"".join(digests), dtype=">u8").astype(np.uint64)
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _check_fraction(value, what):
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not 0.0 <= float(value) <= 1.0
    ):
        raise ValueError(f"{what} must be a number in [0, 1], got {value!r}.")
    return float(value)


def assign_holdout(
    ids, fraction=0.1, salt="sklearn-mece", segments=None, fractions=None
):
    """Stable control (holdout) flags from a salted hash of each customer id.

    Every id is hashed with BLAKE2b together with ``salt``; the first 53 bits
    of the digest give a number ``u`` in [0, 1) and the customer is held out
    (control, not contacted) when ``u < fraction`` of their segment. The flag
    depends only on the id, the salt and the fraction: it is the same in every
    run, process and machine and whatever the row order or the other rows, so
    the holdout of a campaign can be recomputed at analysis time. Raising a
    fraction only adds customers to the control group; a new salt draws a new,
    independent split (use one salt per campaign).

    Each segment's control share is ``fraction`` in expectation (a binomial
    draw, not an exact count). Pass the flags to the campaign as
    ``treatment = 1 - control`` and, with the observed outcome, to
    :class:`SegmentScorer` (``treatment=``, ``outcome=``).

    Parameters
    ----------
    ids : array-like of shape (n_samples,)
        Customer ids (ints or strings). Ids are hashed as text; an integral
        float (``12.0``, an int column upcast by pandas) hashes like the int.
    fraction : float, default=0.1
        Share of customers held out, in [0, 1].
    salt : str, default="sklearn-mece"
        Campaign-specific salt.
    segments : array-like of shape (n_samples,), default=None
        Segment of every id, needed with ``fractions``.
    fractions : dict, default=None
        Control share per segment; segments not listed use ``fraction``.

    Returns
    -------
    control : ndarray of bool of shape (n_samples,)
        True for customers to hold out.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mece import assign_holdout
    >>> ids = np.arange(100_000, 120_000)
    >>> control = assign_holdout(ids, fraction=0.1, salt="spring-2026")
    >>> round(float(control.mean()), 2)
    0.1
    >>> bool((assign_holdout(ids[::-1], 0.1, "spring-2026") == control[::-1]).all())
    True
    >>> segments = np.where(ids % 2 == 0, "Premium", "Other")
    >>> control = assign_holdout(ids, 0.1, "spring-2026", segments=segments,
    ...                          fractions={"Premium": 0.5})
    >>> round(float(control[segments == "Premium"].mean()), 1)
    0.5
    """
    if not isinstance(salt, str):
        raise TypeError(f"salt must be a str, got {type(salt).__name__}.")
    fraction = _check_fraction(fraction, "fraction")
    keys = _id_strings(ids)
    u = _uniform_from_hash(keys, salt)
    if fractions is None:
        return u < fraction
    if segments is None:
        raise ValueError("fractions needs segments: the segment of every id.")
    if not isinstance(fractions, dict):
        raise TypeError(f"fractions must be a dict, got {type(fractions).__name__}.")
    per_segment = {
        k: _check_fraction(v, f"fractions[{k!r}]") for k, v in fractions.items()
    }
    if isinstance(segments, (pd.Series, pd.Index)):
        segments = segments.to_numpy()
    segments = np.asarray(segments, dtype=object)
    if segments.shape != (len(keys),):
        raise ValueError(
            f"segments must have one value per id ({len(keys)}), got shape "
            f"{segments.shape}."
        )
    codes, uniques = pd.factorize(segments)
    table = np.array([per_segment.get(s, fraction) for s in uniques] + [fraction])
    return u < table[codes]  # code -1 (missing segment) takes `fraction`
