"""Segmentations scored by the incremental outcome they produce, and tuned on it.

A randomized campaign (a holdout that received nothing) tells how much each
segment's customers gain from being contacted. These scorers judge a fitted
segmentation pipeline by that gain on data it was not fitted on, so that cut
points can be chosen by business outcome and checked honestly:

* :func:`policy_value_scorer`: the incremental outcome per customer, on the
  held-out rows, of contacting only the segments whose lift *learned at fit*
  is positive (or the best of them within a budget share of the customers).
* :func:`qini_scorer`: how well the lift learned at fit ranks the segments on
  the held-out rows, a Qini-style area over segments.

Both read the lift the pipeline's :class:`~sklearn_mece.SegmentScorer`
learned from its training rows, and take the held-out rows' treatment and
outcome through scikit-learn's metadata routing, never from hidden columns::

    sklearn.set_config(enable_metadata_routing=True)
    pipe.named_steps["scores"].set_fit_request(treatment=True, outcome=True)
    search = GridSearchCV(pipe, grid, scoring=policy_value_scorer())
    search.fit(X, treatment=t, outcome=y)   # each fold: its own rows of t, y

**Size limits are a constraint**: a candidate whose segment step finds a
segment outside ``min_size``/``max_size`` at fit scores ``-inf`` (scikit-learn
then warns that some test scores are not finite), so a search never selects
it unless every candidate breaks the limits; :func:`tune_thresholds` raises
then.

:func:`tune_thresholds` runs such a search over the cut points, then
compares the tuned and the starting pipeline's policy value, each with a
bootstrap interval, and their paired difference: with ``test_size``, on rows
held out before the search, which no choice has seen; otherwise out of fold on
the search's own folds, which is optimistic for the tuned pipeline (chosen on
them). Claim no improvement without the held-out comparison
(``examples/tune_thresholds.py`` makes its own split, shared with an uplift
tree).
"""

import numbers
import warnings

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import clone
from sklearn.utils.metadata_routing import UNCHANGED, MetadataRequest

from ._compare import _Result, _summary_row
from ._compat import _MetadataRequester
from ._format import format_count, format_number, format_share
from ._lift import arm_sums, campaign_array, campaign_rows
from ._pipeline import find_steps, segment_step
from ._segment_base import SegmentSizeWarning
from .export import segment_labels

__all__ = [
    "SCORER_KINDS",
    "SegmentationScorer",
    "TuningResult",
    "compare_policies",
    "pipeline_policy",
    "policy_value",
    "policy_value_scorer",
    "qini_area",
    "qini_scorer",
    "segment_policy",
    "tune_thresholds",
]

#: What each scorer computes (``SegmentationScorer(kind=...)``).
SCORER_KINDS = ("policy_value", "qini")


# ---------------------------------------------------------------------------------
# the measures, on plain arrays
# ---------------------------------------------------------------------------------
def segment_policy(lift, sizes, budget=None):
    """Which segments to contact: those with a positive lift, best first,
    within a budget.

    Parameters
    ----------
    lift : array-like of float
        Lift per segment (NaN: unknown, never contacted).
    sizes : array-like of float
        Customers per segment, for the budget.
    budget : float in (0, 1], optional
        Largest share of the customers contacted: segments are taken by
        decreasing lift, each one that still fits (whole segments only).

    Returns
    -------
    ndarray of bool
        Per segment, whether it is contacted.

    Examples
    --------
    >>> segment_policy([0.05, -0.01, 0.02, float("nan")], [100, 100, 300, 50])
    array([ True, False,  True, False])
    >>> segment_policy([0.05, -0.01, 0.02, 0.01], [100, 100, 300, 50], budget=0.3)
    array([ True, False, False,  True])
    """
    lift = np.asarray(lift, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.float64)
    positive = np.isfinite(lift) & (lift > 0)
    if budget is None:
        return positive
    share = sizes / max(sizes.sum(), 1.0)
    chosen = np.zeros(lift.shape, dtype=bool)
    used = 0.0
    for j in np.argsort(-np.where(positive, lift, -np.inf), kind="stable"):
        if not positive[j]:
            break
        if used + share[j] <= budget + 1e-12:
            chosen[j] = True
            used += share[j]
    return chosen


def _segment_lifts(codes, n_segments, treatment, outcome, weights=None):
    """Rows per segment and the difference of mean outcome treated minus
    control (0 where an arm is empty: no measured effect), on the rows with a
    treatment and an outcome."""
    lengths = {len(codes), len(treatment), len(outcome)}
    if weights is not None:
        lengths.add(len(weights))
    if len(lengths) > 1:
        raise ValueError(
            "codes, treatment, outcome (and weights) must have one value per "
            f"row; got lengths {sorted(lengths)}."
        )
    c, t, o, kept = campaign_rows(codes, treatment, outcome)
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)[kept]
    n_t, n_c, s_t, s_c = arm_sums(c, n_segments, t, o, weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        lift = s_t / n_t - s_c / n_c
    return n_t + n_c, np.where((n_t > 0) & (n_c > 0), lift, 0.0)


def policy_value(codes, n_segments, treatment, outcome, contact, *, weights=None):
    """Incremental outcome per customer of contacting the segments ``contact``,
    measured on these rows.

    ``sum over contacted segments of n_s (mean treated_s - mean control_s) / n``:
    what contacting those segments brings compared with contacting nobody,
    per customer of the rows given. A contacted segment without a treated or
    a control row here counts 0 (no measured effect).

    Parameters
    ----------
    codes : array-like of int
        Segment code of every row, in ``[0, n_segments)``.
    n_segments : int
        Number of segments.
    treatment, outcome : array-like
        1 contacted / 0 holdout, and the outcome (a 0/1 conversion or an
        amount); rows with either missing are left out.
    contact : array-like of bool
        Per segment (:func:`segment_policy`).
    weights : array-like of float, optional
        A weight per row (a bootstrap's resampling counts).

    Returns
    -------
    float
        The incremental outcome per customer; NaN when no row, or no weight,
        is left.

    Examples
    --------
    >>> codes = [0, 0, 0, 0, 1, 1, 1, 1]
    >>> treatment = [1, 1, 0, 0, 1, 1, 0, 0]
    >>> outcome = [1, 1, 0, 1, 0, 0, 1, 1]
    >>> policy_value(codes, 2, treatment, outcome, [True, False])
    0.25
    """
    n, lift = _segment_lifts(codes, n_segments, treatment, outcome, weights)
    total = n.sum()
    contact = np.asarray(contact, dtype=bool)
    return float(np.sum((n * lift)[contact]) / total) if total else float("nan")


def qini_area(codes, n_segments, treatment, outcome, ranking, *, weights=None):
    """How well ``ranking`` orders the segments by the gain they bring here:
    the area between the Qini curve over segments and the straight line of
    contacting customers at random.

    Segments are taken by decreasing ``ranking`` (a lift learned elsewhere;
    NaN last); the curve goes through (share of customers contacted so far,
    incremental outcome per customer so far) and the area above the line from
    (0, 0) to (1, total gain) is returned: 0 for a ranking no better than
    chance, positive when the best segments come first.

    Parameters
    ----------
    codes : array-like of int
        Segment code of every row, in ``[0, n_segments)``.
    n_segments : int
        Number of segments.
    treatment, outcome : array-like
        1 contacted / 0 holdout, and the outcome (a 0/1 conversion or an
        amount); rows with either missing are left out.
    ranking : array-like of float
        Per segment; higher is contacted first.
    weights : array-like of float, optional
        A weight per row (a bootstrap's resampling counts).

    Returns
    -------
    float
        The area above the random line; NaN when no row, or no weight, is
        left.

    Examples
    --------
    >>> codes = [0, 0, 0, 0, 1, 1, 1, 1]
    >>> treatment = [1, 1, 0, 0, 1, 1, 0, 0]
    >>> outcome = [1, 1, 0, 1, 0, 0, 1, 1]
    >>> qini_area(codes, 2, treatment, outcome, [0.3, -0.2])
    0.1875
    >>> qini_area(codes, 2, treatment, outcome, [-0.2, 0.3])
    -0.1875
    """
    n, lift = _segment_lifts(codes, n_segments, treatment, outcome, weights)
    total = n.sum()
    if not total:
        return float("nan")
    ranking = np.asarray(ranking, dtype=np.float64)
    order = np.argsort(-np.nan_to_num(ranking, nan=-np.inf), kind="stable")
    x = np.concatenate([[0.0], np.cumsum(n[order]) / total])
    y = np.concatenate([[0.0], np.cumsum((n * lift)[order]) / total])
    area = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))
    return area - 0.5 * float(y[-1])


# ---------------------------------------------------------------------------------
# what a fitted pipeline learned, and how it labels new rows
# ---------------------------------------------------------------------------------
def _learned(estimator):
    """The lift per segment the pipeline's scorer learned at fit, the fit
    sizes, the segments and whether every segment was within the size limits."""
    scorer = find_steps(estimator).scorer
    if scorer is None:
        raise ValueError(
            "The segmentation scorers read the lift the pipeline's SegmentScorer "
            "learned at fit: this pipeline has no SegmentScorer step."
        )
    lift = getattr(scorer, "lift_", None)
    if lift is None:
        raise ValueError(
            "The pipeline's SegmentScorer learned no lift at fit: route the "
            "campaign to it (sklearn.set_config(enable_metadata_routing=True); "
            "scorer.set_fit_request(treatment=True, outcome=True); then fit or "
            "search with treatment= and outcome=)."
        )
    seg = segment_step(estimator)
    table = getattr(seg, "segment_table_", None)
    valid = (
        bool(np.asarray(table["valid"], dtype=bool).all())
        if table is not None
        else True
    )
    return (
        list(scorer.segments_),
        np.asarray(lift["lift_observed"], dtype=np.float64),
        np.asarray(scorer.segment_counts_, dtype=np.float64),
        valid,
    )


def _segment_codes(estimator, X, segments):
    """Each row's position in ``segments`` (``len(segments)`` for a segment
    unseen at fit), read from the pipeline up to its segment step."""
    seg = segment_step(estimator)
    steps = getattr(estimator, "steps", None)
    if steps is not None:
        last = next(i for i, (_, step) in enumerate(steps) if step is seg)
        labelled = estimator[: last + 1].transform(X)
    else:
        labelled = seg.transform(X)
    column = getattr(seg, "output_column", "segment")
    labels = labelled[column] if hasattr(labelled, "columns") else labelled[:, -1]
    labels = pd.Series(labels)
    if all(isinstance(s, str) for s in segments):
        labels = segment_labels(labels, list(seg.segment_names_))  # codes -> names
    codes = pd.Index(segments, dtype=object).get_indexer(labels.astype(object))
    return np.where(codes < 0, len(segments), codes)


def pipeline_policy(pipeline, X, *, budget=None):
    """The targeting a fitted pipeline implies for the rows of ``X``: each
    row's segment and which segments to contact (those whose lift learned at
    fit is positive, within ``budget``).

    Parameters
    ----------
    pipeline : Pipeline
        Fitted with the campaign routed to its :class:`~sklearn_mece.SegmentScorer`
        (or its ``treatment``/``outcome`` columns).
    X : pandas.DataFrame
        Rows to target (held out from the fit, to judge the pipeline).
    budget : float in (0, 1], optional
        As in :func:`segment_policy`.

    Returns
    -------
    codes : ndarray of int
        Each row's segment; ``n_segments - 1`` for a segment unseen at fit.
    n_segments : int
        The segments learned at fit, plus one for a segment unseen at fit.
    contact : ndarray of bool
        Per segment (a segment unseen at fit is never contacted).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mece import make_cart_abandoner_pipeline
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> X = make_cart_abandoners(3_000, random_state=0)
    >>> t = np.arange(len(X)) % 2
    >>> y = (np.arange(len(X)) % 7 < 1 + t).astype(float)
    >>> pipe = make_cart_abandoner_pipeline(min_size=20).fit(
    ...     X, scores__treatment=t, scores__outcome=y)
    >>> codes, k, contact = pipeline_policy(pipe, X)
    >>> k, contact.dtype.name
    (7, 'bool')
    """
    segments, lift, sizes, _ = _learned(pipeline)
    codes = _segment_codes(pipeline, X, segments)
    contact = np.append(segment_policy(lift, sizes, budget), False)
    return codes, len(segments) + 1, contact


# ---------------------------------------------------------------------------------
# scorers for scikit-learn's searches
# ---------------------------------------------------------------------------------
class SegmentationScorer(_MetadataRequester):
    """A scorer of fitted segmentation pipelines, for ``scoring=`` of
    scikit-learn's searches.

    Called as ``scorer(estimator, X, treatment=..., outcome=...)`` on the
    held-out rows: it reads the lift per segment the estimator's
    :class:`~sklearn_mece.SegmentScorer` learned from its training rows,
    labels ``X`` with the estimator and measures, on ``X``'s treatment and
    outcome, the policy value (:func:`policy_value` of
    :func:`segment_policy`) or the Qini area (:func:`qini_area`). Treatment
    and outcome come through metadata routing: they are requested for
    ``score`` from the start (:meth:`set_score_request` changes the names).

    Parameters
    ----------
    kind : {"policy_value", "qini"}, default="policy_value"
        What the scorer measures: :func:`policy_value` or :func:`qini_area`.
    budget : float in (0, 1], optional
        Policy value only: the largest share of customers contacted.
    require_valid_sizes : bool, default=True
        Score ``-inf`` when the segment step found a segment outside its size
        limits at fit, so that a search never selects such a candidate.

    Examples
    --------
    See :func:`policy_value_scorer`.
    """

    def __init__(self, kind="policy_value", *, budget=None, require_valid_sizes=True):
        if kind not in SCORER_KINDS:
            raise ValueError(f"kind must be one of {SCORER_KINDS}, got {kind!r}.")
        if budget is not None and not (
            isinstance(budget, numbers.Real) and 0 < float(budget) <= 1
        ):
            raise ValueError(f"budget must be a share in (0, 1], got {budget!r}.")
        self.kind = kind
        self.budget = budget
        self.require_valid_sizes = require_valid_sizes
        self._metadata_request = MetadataRequest(owner=type(self).__name__)
        for param in ("treatment", "outcome"):
            self._metadata_request.score.add_request(param=param, alias=True)

    def set_score_request(self, *, treatment=UNCHANGED, outcome=UNCHANGED):
        """Name the metadata the scorer reads (metadata routing must be on).

        Parameters
        ----------
        treatment, outcome : bool, str or UNCHANGED, default=UNCHANGED
            ``True``: passed under this name; a str: passed under that alias;
            ``UNCHANGED`` (or not given): kept as it was.

        Returns
        -------
        self
            The scorer, with its requests updated.

        Raises
        ------
        RuntimeError
            If metadata routing is off.
        """
        if not sklearn.get_config().get("enable_metadata_routing", False):
            raise RuntimeError(
                "set_score_request needs metadata routing: "
                "sklearn.set_config(enable_metadata_routing=True)."
            )
        for param, alias in (("treatment", treatment), ("outcome", outcome)):
            if alias is not UNCHANGED and alias != UNCHANGED:
                self._metadata_request.score.add_request(param=param, alias=alias)
        return self

    def __call__(self, estimator, X, y=None, *, treatment=None, outcome=None):
        if treatment is None or outcome is None:
            raise ValueError(
                f"The {self.kind} scorer needs the held-out rows' treatment and "
                "outcome: enable metadata routing "
                "(sklearn.set_config(enable_metadata_routing=True)) and pass "
                "treatment= and outcome= to the search's fit."
            )
        segments, lift, _, valid = _learned(estimator)
        if self.require_valid_sizes and not valid:
            return -np.inf
        codes, k, contact = pipeline_policy(estimator, X, budget=self.budget)
        if self.kind == "qini":
            return qini_area(codes, k, treatment, outcome, np.append(lift, np.nan))
        return policy_value(codes, k, treatment, outcome, contact)

    def __repr__(self):
        budget = "" if self.budget is None else f", budget={self.budget}"
        return f"SegmentationScorer({self.kind!r}{budget})"


def policy_value_scorer(*, budget=None, require_valid_sizes=True):
    """Scorer: incremental outcome per held-out customer of contacting the
    segments whose lift learned at fit is positive.

    Parameters
    ----------
    budget : float in (0, 1], optional
        Contact at most this share of the customers (the segments with the
        largest learned lift first, whole segments).
    require_valid_sizes : bool, default=True
        A candidate with a segment outside the size limits scores ``-inf``.

    Returns
    -------
    SegmentationScorer
        A scorer of kind ``"policy_value"``.

    Examples
    --------
    >>> import numpy as np, sklearn
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn_mece import make_cart_abandoner_pipeline
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> X = make_cart_abandoners(4_000, random_state=0)
    >>> rng = np.random.default_rng(0)
    >>> t = rng.integers(0, 2, len(X))
    >>> y = rng.random(len(X)) < 0.1 + 0.05 * t * (X["engagement_score"] > 0.5)
    >>> base = {"avg_order_value": (40, 75), "profitability_score": (70,)}
    >>> grid = {"thresholds__percentiles": [{**base, "engagement_score": (40, 70)},
    ...                                     {**base, "engagement_score": (30, 50)}]}
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     pipe = make_cart_abandoner_pipeline(min_size=20)
    ...     _ = pipe.named_steps["scores"].set_fit_request(treatment=True,
    ...                                                    outcome=True)
    ...     search = GridSearchCV(pipe, grid, cv=3, scoring=policy_value_scorer())
    ...     _ = search.fit(X, treatment=t, outcome=y.astype(float))
    >>> bool(np.isfinite(search.best_score_))
    True
    """
    return SegmentationScorer(
        "policy_value", budget=budget, require_valid_sizes=require_valid_sizes
    )


def qini_scorer(*, require_valid_sizes=True):
    """Scorer: Qini-style area of the held-out gain over segments ranked by
    their lift learned at fit (:func:`qini_area`).

    Parameters
    ----------
    require_valid_sizes : bool, default=True
        A candidate with a segment outside the size limits scores ``-inf``.

    Returns
    -------
    SegmentationScorer
        A scorer of kind ``"qini"``.

    Examples
    --------
    >>> qini_scorer()
    SegmentationScorer('qini')
    """
    return SegmentationScorer("qini", require_valid_sizes=require_valid_sizes)


# ---------------------------------------------------------------------------------
# tuning
# ---------------------------------------------------------------------------------
def _campaign_array(values, X, name):
    """``treatment`` or ``outcome`` of ``tune_thresholds``: an array, or a
    str naming a column of X."""
    if isinstance(values, str):
        if values not in getattr(X, "columns", ()):
            raise ValueError(f"{name}={values!r} is not a column of X.")
        values = X[values]
    return campaign_array(values, len(X), name)


def _complete_percentiles(search_space, pipe):
    """Candidates of a ``..._percentiles`` parameter given for some features
    only, completed with the pipeline's percentiles of the others."""
    params = pipe.get_params()

    def complete(grid):
        out = {}
        for key, values in grid.items():
            current = params.get(key) if key.endswith("percentiles") else None
            if isinstance(current, dict) and isinstance(values, list | tuple):
                values = [
                    {**current, **v} if isinstance(v, dict) else v for v in values
                ]
            out[key] = values
        return out

    if isinstance(search_space, dict):
        return complete(search_space)
    return [complete(grid) for grid in search_space]


def _routed(pipeline):
    """A clone of ``pipeline`` whose scorer step asks for the campaign at fit."""
    pipe = clone(pipeline)
    scorer = find_steps(pipe).scorer
    if scorer is None:
        raise ValueError(
            "tune_thresholds needs a SegmentScorer step: it learns each "
            "segment's lift on the training rows."
        )
    if scorer.treatment is not None or scorer.outcome is not None:
        raise ValueError(
            "tune_thresholds passes treatment and outcome to the scorer step "
            "itself: leave its treatment/outcome column parameters unset "
            f"(got {scorer.treatment!r}, {scorer.outcome!r})."
        )
    scorer.set_fit_request(treatment=True, outcome=True)
    return pipe


def compare_policies(
    policies, treatment, outcome, *, n_bootstrap=1000, alpha=0.05, random_state=None
):
    """Policy values of several targeting rules on the same customers, each
    with a bootstrap interval, and each one's difference from the first
    (paired: every resample weighs the same rows for all).

    Parameters
    ----------
    policies : dict
        Name to ``(codes, n_segments, contact)``: each row's segment under
        that rule and which segments it contacts (:func:`policy_value`).
    treatment, outcome : array-like of shape (n_samples,)
        The rows' campaign (rows with either missing are left out).
    n_bootstrap : int, default=1000
        Resamples (Poisson bootstrap: each row weighs a Poisson(1) count).
    alpha : float, default=0.05
        Percentile intervals at ``1 - alpha``.
    random_state : int, optional
        Seed of the resamples.

    Returns
    -------
    pandas.DataFrame
        One row per policy, then one per ``"<name> - <first>"``; columns
        ``policy_value`` (incremental outcome per customer), ``ci_low``,
        ``ci_high``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> codes = rng.integers(0, 2, 4_000)
    >>> t = rng.integers(0, 2, 4_000)
    >>> y = (rng.random(4_000) < 0.2 + 0.1 * t * codes).astype(float)
    >>> table = compare_policies({"everyone": (codes, 2, [True, True]),
    ...                           "segment 1": (codes, 2, [False, True])},
    ...                          t, y, n_bootstrap=200, random_state=0)
    >>> list(table.index)
    ['everyone', 'segment 1', 'segment 1 - everyone']
    """
    names = list(policies)
    t = np.asarray(treatment, dtype=np.float64)
    y = np.asarray(outcome, dtype=np.float64)

    def values(weights=None):
        return np.array(
            [
                policy_value(codes, k, t, y, contact, weights=weights)
                for codes, k, contact in policies.values()
            ]
        )

    point = values()
    rng = np.random.default_rng(random_state)
    draws = np.array(
        [
            values(rng.poisson(1.0, len(t)).astype(np.float64))
            for _ in range(n_bootstrap)
        ]
    ).reshape(n_bootstrap, len(names))
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    rows, index = [], []
    for j, name in enumerate(names):
        rows.append([point[j], *np.percentile(draws[:, j], q)])
        index.append(name)
    for j, name in enumerate(names[1:], start=1):
        diff = draws[:, j] - draws[:, 0]
        rows.append([point[j] - point[0], *np.percentile(diff, q)])
        index.append(f"{name} - {names[0]}")
    return pd.DataFrame(
        rows,
        index=pd.Index(index, name="policy"),
        columns=["policy_value", "ci_low", "ci_high"],
    )


def _out_of_fold(pipeline, X, t, y, folds, budget):
    """Fit on each training fold and label its test fold; the folds' segments
    numbered apart, so that the out-of-fold policy is one policy over every
    row: ``(codes, n_segments, contact)``, and whether every fit kept its
    segments within the size limits."""
    codes = np.empty(len(X), dtype=np.int64)
    contact, offset, valid = [], 0, True
    for train, test in folds:
        fitted = clone(pipeline).fit(
            X.iloc[train], treatment=t[train], outcome=y[train]
        )
        fold_codes, k, fold_contact = pipeline_policy(
            fitted, X.iloc[test], budget=budget
        )
        codes[test] = offset + fold_codes
        contact += fold_contact.tolist()
        offset += k
        valid = valid and _learned(fitted)[3]
    return (codes, offset, np.asarray(contact)), valid


def tune_thresholds(
    pipeline,
    X,
    *,
    treatment,
    outcome,
    search_space,
    cv=5,
    budget=None,
    scoring="policy_value",
    test_size=None,
    n_iter=None,
    n_bootstrap=1000,
    alpha=0.05,
    random_state=None,
    n_jobs=None,
):
    """Choose cut points (or any parameters) by the incremental outcome they
    produce on held-out rows, and estimate how much they bring.

    A cross-validated search (:class:`~sklearn.model_selection.GridSearchCV`,
    or :class:`~sklearn.model_selection.RandomizedSearchCV` with ``n_iter``)
    over ``search_space``, scored by :func:`policy_value_scorer` (or
    :func:`qini_scorer`) with the campaign routed to the scorer step at fit
    and to the scorer on each held-out fold. Then, on the same folds, the
    out-of-fold policy value of the starting pipeline and of the tuned one,
    each with a bootstrap interval, and of their difference (paired: the same
    resamples).

    Parameters
    ----------
    pipeline : Pipeline
        A segmentation pipeline with a :class:`~sklearn_mece.SegmentScorer`
        step whose ``treatment``/``outcome`` column parameters are unset.
        Not modified (clones are fitted).
    X : pandas.DataFrame
        The customers, one row each, with the columns the pipeline reads.
    treatment, outcome : array-like of shape (n_samples,) or str
        The randomized campaign: 1 contacted / 0 holdout, and the outcome (a
        0/1 conversion or an amount); a str names a column of ``X``.
    search_space : dict or list of dicts
        Parameter grid (or distributions with ``n_iter``), e.g.
        ``{"thresholds__percentiles": [{"avg_order_value": (40, q)} for q in
        (60, 75, 90)]}``. A candidate of a ``..._percentiles`` parameter that
        names only some features keeps the pipeline's percentiles of the
        others.
    cv : int or cross-validation splitter, default=5
        An int: that many stratified folds (by treatment and a positive
        outcome), shuffled with ``random_state``.
    budget : float in (0, 1], optional
        Contact at most this share of the customers.
    scoring : {"policy_value", "qini"}, default="policy_value"
        What the search maximises; the reported values are policy values.
    test_size : float in (0, 1), optional
        Hold out this share of the rows (stratified like the folds) before
        anything else: the search and its folds use the rest, and the
        starting and the tuned pipeline, each fitted on the rest, are
        compared on the held-out rows only, which no choice has seen. Without
        it the comparison is out of fold on the search's folds, optimistic
        for the tuned pipeline (chosen on them).
    n_iter : int, optional
        Candidates sampled (randomized search) instead of the whole grid.
    n_bootstrap : int, default=1000
        Resamples of the intervals (Poisson bootstrap of the rows).
    alpha : float, default=0.05
        Intervals at ``1 - alpha``.
    random_state : int, optional
        Seed of the held-out split, the folds (``cv`` an int), the sampled
        candidates and the resamples.
    n_jobs : int, optional
        The search's parallel jobs.

    Returns
    -------
    TuningResult
        The search, the chosen parameters and the policy values compared.

    Raises
    ------
    ValueError
        If every candidate breaks the size limits, the pipeline has no
        scorer step, or the campaign does not match ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mece import make_cart_abandoner_pipeline
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> X = make_cart_abandoners(6_000, random_state=0)
    >>> rng = np.random.default_rng(0)
    >>> t = rng.integers(0, 2, len(X))
    >>> gain = 0.08 * (X["avg_order_value"] > X["avg_order_value"].quantile(0.6))
    >>> y = (rng.random(len(X)) < 0.1 + t * (gain - 0.02)).astype(float)
    >>> space = {"thresholds__percentiles": [
    ...     {"avg_order_value": (40, q)} for q in (60, 75, 90)]}
    >>> result = tune_thresholds(make_cart_abandoner_pipeline(min_size=50), X,
    ...                          treatment=t, outcome=y, search_space=space,
    ...                          cv=3, n_bootstrap=200, random_state=0)
    >>> result.best_params_["thresholds__percentiles"]["avg_order_value"]
    (40, 60)
    >>> list(result.policy_value_.index)
    ['start', 'tuned', 'tuned - start']
    """
    from sklearn.model_selection import (
        GridSearchCV,
        RandomizedSearchCV,
        StratifiedKFold,
        check_cv,
    )

    if scoring not in SCORER_KINDS:
        raise ValueError(f"scoring must be one of {SCORER_KINDS}, got {scoring!r}.")
    SegmentationScorer(budget=budget)  # checks the budget whatever the scoring
    X = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
    t = _campaign_array(treatment, X, "treatment")
    y = _campaign_array(outcome, X, "outcome")
    campaign_rows(np.zeros(len(X), dtype=np.int64), t, y)  # checks 0/1, finite
    strata = np.nan_to_num(2 * t + (y > 0), nan=-1)
    held_out = None
    if test_size is not None:
        from sklearn.model_selection import train_test_split

        if not 0 < float(test_size) < 1:
            raise ValueError(f"test_size must be in (0, 1), got {test_size!r}.")
        rows, held_out = train_test_split(
            np.arange(len(X)),
            test_size=test_size,
            stratify=strata,
            random_state=random_state,
        )
        X_all, t_all, y_all = X, t, y
        X, t, y, strata = X.iloc[rows], t[rows], y[rows], strata[rows]
    if isinstance(cv, numbers.Integral):
        cv = StratifiedKFold(int(cv), shuffle=True, random_state=random_state)
    cv = check_cv(cv, strata, classifier=True)  # a splitter or (train, test) pairs
    folds = list(cv.split(X, strata))
    tested = np.bincount(
        np.concatenate([np.asarray(test) for _, test in folds]), minlength=len(X)
    )
    if (tested != 1).any():
        raise ValueError(
            "cv must put every row in exactly one test fold (KFold-like), so "
            "that the out-of-fold policy value counts each customer once; "
            f"{int((tested == 0).sum()):,} row(s) are in none and "
            f"{int((tested > 1).sum()):,} in several."
        )
    scorer = SegmentationScorer(
        scoring, budget=budget if scoring == "policy_value" else None
    )
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = _routed(pipeline)
        search_space = _complete_percentiles(search_space, pipe)
        if n_iter is None:
            search = GridSearchCV(
                pipe,
                search_space,
                scoring=scorer,
                cv=folds,
                n_jobs=n_jobs,
                error_score="raise",
            )
        else:
            search = RandomizedSearchCV(
                pipe,
                search_space,
                n_iter=n_iter,
                scoring=scorer,
                cv=folds,
                n_jobs=n_jobs,
                random_state=random_state,
                error_score="raise",
            )
        with warnings.catch_warnings():
            # -inf marks a candidate that breaks the size limits (documented)
            warnings.filterwarnings("ignore", message=".*non-finite.*")
            search.fit(X, treatment=t, outcome=y)
        if np.isnan(search.best_score_):
            raise ValueError(
                "No candidate could be scored (NaN): a held-out fold without "
                "treated or control rows, or no outcome."
            )
        if not np.isfinite(search.best_score_):
            raise ValueError(
                "Every candidate puts a segment outside the size limits at fit "
                "on some fold: widen the search space or the limits."
            )
        tuned_valid = _learned(search.best_estimator_)[3]
        if not tuned_valid:
            warnings.warn(
                "The tuned pipeline, refitted on every row, has a segment "
                "outside the size limits (its segment_table_ says which); "
                "every fold's fit was within them.",
                SegmentSizeWarning,
                stacklevel=2,
            )
        if held_out is None:
            start, start_valid = _out_of_fold(pipe, X, t, y, folds, budget)
            pipe.set_params(**search.best_params_)
            tuned, _ = _out_of_fold(pipe, X, t, y, folds, budget)
            evaluated_on = "out of fold, on the folds the search chose on"
        else:
            fitted = clone(pipe).fit(X, treatment=t, outcome=y)
            X_test = X_all.iloc[held_out]
            start = pipeline_policy(fitted, X_test, budget=budget)
            start_valid = _learned(fitted)[3]
            tuned = pipeline_policy(search.best_estimator_, X_test, budget=budget)
            t, y = t_all[held_out], y_all[held_out]
            evaluated_on = f"{len(held_out):,} held-out rows no choice has seen"
    table = compare_policies(
        {"start": start, "tuned": tuned},
        t,
        y,
        n_bootstrap=n_bootstrap,
        alpha=alpha,
        random_state=random_state,
    )
    return TuningResult(
        search,
        table,
        {
            "n_rows": len(X),
            "n_folds": len(folds),
            "n_candidates": len(search.cv_results_["params"]),
            "scoring": scoring,
            "budget": budget,
            "n_bootstrap": n_bootstrap,
            "confidence": 1 - alpha,
            "start_valid": start_valid,
            "tuned_valid": tuned_valid,
            "evaluated_on": evaluated_on,
        },
    )


class TuningResult(_Result):
    """What :func:`tune_thresholds` found.

    Parameters
    ----------
    search : GridSearchCV or RandomizedSearchCV
        The fitted search, stored as ``search_``; ``best_pipeline_``,
        ``best_params_`` and ``cv_results_`` are read from it.
    policy_value : pandas.DataFrame
        The policy values compared, stored as ``policy_value_``.
    summary : dict
        Headline numbers, stored as ``summary`` with the chosen parameters
        added.

    Attributes
    ----------
    best_pipeline_ : Pipeline
        The tuned pipeline, refitted on every row.
    best_params_ : dict
        The chosen parameters.
    cv_results_ : pandas.DataFrame
        One row per candidate: its parameters, the mean and standard
        deviation of the held-out score, its rank, and whether it kept every
        segment within the size limits on every fold.
    policy_value_ : pandas.DataFrame
        Policy value (incremental outcome per customer) of the starting and
        the tuned pipeline and their difference, each with a bootstrap
        interval (``ci_low``, ``ci_high``): on the held-out rows with
        ``test_size``, else out of fold on the search's folds (optimistic for
        the tuned one, chosen on them); ``summary["evaluated_on"]`` says
        which.
    search_ : GridSearchCV or RandomizedSearchCV
        The fitted search.
    summary : dict

    Examples
    --------
    See :func:`tune_thresholds`.
    """

    _title = "Cut points tuned on the incremental outcome"

    def __init__(self, search, policy_value, summary):
        self.search_ = search
        self.best_pipeline_ = search.best_estimator_
        self.best_params_ = search.best_params_
        results = pd.DataFrame(search.cv_results_)
        scores = results[[c for c in results if c.startswith("split")]]
        self.cv_results_ = pd.DataFrame(
            {
                "params": [str(p) for p in results["params"]],
                "mean_score": results["mean_test_score"],
                "std_score": results["std_test_score"],
                "rank": results["rank_test_score"],
                "sizes_valid": (scores.to_numpy() != -np.inf).all(axis=1),
            }
        ).set_index("params")
        self.policy_value_ = policy_value
        self.summary = {**summary, "best_params": str(search.best_params_)}

    def _tables(self):
        return {"policy_value": self.policy_value_, "candidates": self.cv_results_}

    def _headline(self):
        row = self.policy_value_.loc["tuned - start"]
        return (
            f"tuned - start: {row['policy_value']:+.4g} per customer "
            f"[{row['ci_low']:+.4g}, {row['ci_high']:+.4g}]"
        )

    def _summary_rows(self):
        s = self.summary
        return [
            _summary_row("rows", s["n_rows"], format_count),
            _summary_row("folds", s["n_folds"], format_count),
            _summary_row("candidates", s["n_candidates"], format_count),
            _summary_row("search scored by", s["scoring"]),
            _summary_row(
                "budget",
                "none" if s["budget"] is None else s["budget"],
                None if s["budget"] is None else format_share,
            ),
            _summary_row("bootstrap resamples", s["n_bootstrap"], format_count),
            _summary_row("interval level", s["confidence"], format_share),
            _summary_row("chosen", s["best_params"]),
            _summary_row("compared on", s["evaluated_on"]),
            _summary_row("start within the size limits", s["start_valid"]),
            _summary_row("tuned within the size limits", s["tuned_valid"]),
        ]

    def _table_formats(self):
        return {"policy_value": format_number}

    def __str__(self):
        lines = [
            f"{self._title}: {self.summary['n_candidates']} candidates, "
            f"{self.summary['n_folds']} folds, {self.summary['n_rows']:,} rows",
            f"chosen: {self.best_params_}",
            f"policy value (incremental outcome per customer), compared on "
            f"{self.summary['evaluated_on']}:",
            self.policy_value_.to_string(float_format=lambda v: f"{v:+.5f}"),
        ]
        return "\n".join(lines)
