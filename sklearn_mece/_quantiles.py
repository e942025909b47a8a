"""Order statistics behind the cut points: combination, weights, distributed selection.

Every percentile the package learns is numpy's: a ``method`` of
:func:`numpy.percentile` says which order statistics (0-based ranks) it reads
and how it interpolates between them. This module holds the two steps every
engine shares, whatever finds the order statistics:

* :func:`rank_plan` and :func:`combine`: the ranks a method needs and their
  combination, with numpy's own formulas (mirrored in
  :mod:`sklearn_mece._select`: ``_plan`` and ``_lerp``), so that the result
  has the bits of ``np.percentile``.
* :func:`weighted_percentiles`: frequency weights for every method (a weight
  of ``k`` counts the row ``k`` times).
* :func:`distributed_percentiles`: an engine-neutral radix selection driven by
  a callable that runs one pass over the data (a Dask adapter, a Spark or SQL
  one later). :func:`local_pass` is that pass over one piece of the data and
  :func:`merge_passes` adds up the pieces' results; an engine only has to run
  :func:`local_pass` where its data live and bring the results back.

The percentile method table is :data:`sklearn_mece._levels.NUMPY_METHODS`.
"""

import math

import numpy as np

from ._base import infinite_values_error
from ._levels import NUMPY_METHODS

#: A bucket with at most this many values is gathered instead of refined.
GATHER_LIMIT = 1 << 20

_TOP = np.uint64(1 << 63)
_DIGIT = np.uint64(0xFFFF)
_NBUCKET = 1 << 16
_EXACT_SUM = float(2**53)


# --------------------------------------------------------------------------
# ranks and their combination (numpy's formulas)
# --------------------------------------------------------------------------
def _check_method(method):
    if method not in NUMPY_METHODS:
        raise ValueError(
            f"{method!r} is not a valid method. Use one of: {NUMPY_METHODS}"
        )


def rank_plan(n, q, method):
    """The order statistics ``method`` reads for the percentiles ``q`` of ``n`` values.

    Parameters
    ----------
    n : int or float
        Number of values; a float is a total of non-integer weights.
    q : array-like of float
        Percentiles in ``[0, 100]``.
    method : str
        A method of :func:`numpy.percentile`.

    Returns
    -------
    plan : tuple
        Opaque; pass it to :func:`combine`.
    ranks : list of int
        Sorted distinct 0-based ranks needed (``n - 1`` at most; for a
        float ``n``, ``math.inf`` stands for the largest value).

    Examples
    --------
    >>> plan, ranks = rank_plan(10, [40, 75], "linear")
    >>> ranks
    [3, 4, 6, 7]
    """
    from ._select import _as_quantiles, _plan

    _check_method(method)
    _, quantiles = _as_quantiles(q)
    previous, nxt, gamma = _plan(n, quantiles, method)
    idx = previous if nxt is None else np.concatenate((previous, nxt))
    last = _last_rank(n)
    ranks = sorted({last if i < 0 else int(i) for i in idx.tolist()})
    return (n, previous, nxt, gamma), ranks


def _last_rank(n):
    """The rank numpy writes ``-1``: the largest value (``inf`` for a float ``n``)."""
    return int(n) - 1 if isinstance(n, (int, np.integer)) else math.inf


def combine(plan, values_at):
    """Combine order statistics into percentiles, as numpy does (same bits).

    Parameters
    ----------
    plan : tuple
        From :func:`rank_plan`.
    values_at : mapping of int -> float
        The value of every rank :func:`rank_plan` listed.

    Returns
    -------
    ndarray of float64

    Examples
    --------
    >>> x = np.arange(10.0) ** 2
    >>> plan, ranks = rank_plan(x.size, [40, 75], "linear")
    >>> combine(plan, {r: x[r] for r in ranks})
    array([13.2 , 45.75])
    >>> np.percentile(x, [40, 75])
    array([13.2 , 45.75])
    """
    from ._select import _lerp

    n, previous, nxt, gamma = plan
    last = _last_rank(n)

    def at(index):
        return np.array(
            [values_at[last if i < 0 else i] for i in index.tolist()],
            dtype=np.float64,
        )

    if nxt is None:
        return at(previous)
    return np.asarray(_lerp(at(previous), at(nxt), gamma), dtype=np.float64)


# --------------------------------------------------------------------------
# frequency weights
# --------------------------------------------------------------------------
def _sorted_rank_values(x, w, ranks):
    """``v(r)``: the smallest value whose cumulative weight exceeds ``r``."""
    keep = w > 0
    xs, ws = x[keep], w[keep]
    order = np.argsort(xs, kind="stable")
    xs = xs[order]
    cum = np.cumsum(ws[order])
    pos = np.searchsorted(cum, np.asarray(ranks, dtype=np.float64), side="right")
    return dict(zip(ranks, xs[np.minimum(pos, xs.size - 1)].tolist()))


def weighted_percentiles(x, w, q, *, method="linear"):
    """Percentiles with frequency weights: a weight ``k`` counts the row ``k`` times.

    Let ``W`` be the total weight and ``v(r)``, for an integer rank
    ``r >= 0``, the smallest value whose cumulative weight (values in
    increasing order) exceeds ``r``. The result is numpy's ``method`` with
    ``n = W`` and the order statistic of rank ``r`` replaced by ``v(r)``;
    for ``"linear"``: with ``h = (W - 1) * q / 100``, the smallest value
    when ``h < 0``, the largest value (with positive weight) when
    ``h >= W - 1``, and otherwise ``v(floor(h))`` interpolated towards
    ``v(floor(h) + 1)`` by ``h - floor(h)`` with numpy's interpolation
    formula.

    With integer weights this is ``np.percentile(np.repeat(x, w), q,
    method=method)`` bit for bit (the one exception: when a selected value is
    a zero and ``x`` holds both ``-0.0`` and ``+0.0``, the sign can differ,
    as numpy's own sign then depends on its partition). A zero weight drops
    the row; weights of one give the unweighted percentiles. Non-integer
    weights follow the same definition (the result is non-decreasing in
    ``q``); their total must exceed 1 (at least one row). The result depends
    on the scale of the weights (a weight ``2`` is two copies of the row,
    which changes the linear interpolation), as repetition does.

    Parameters
    ----------
    x : ndarray of float64, shape (n_samples,)
        Values without NaN.
    w : ndarray of float64, shape (n_samples,)
        Non-negative finite weights, not all zero; non-integer weights must
        total more than 1.
    q : array-like of float
        Percentiles in ``[0, 100]``.
    method : str, default="linear"
        Any method of :func:`numpy.percentile`.

    Returns
    -------
    ndarray of float64

    Examples
    --------
    >>> x, w = np.array([1.0, 2.0, 3.0]), np.array([2, 0, 3])
    >>> weighted_percentiles(x, w, [25, 50])
    array([1., 3.])
    >>> np.percentile(np.repeat(x, w), [25, 50])
    array([1., 3.])
    >>> weighted_percentiles(x, np.array([0.5, 0.5, 1.0]), [50])
    array([2.])
    """
    from . import _select

    _check_method(method)
    x = _select._as_values(x)
    w = _select._as_weights(w, x.size)
    engine = _select._engine(None, x.size)
    negative, nonfinite, integral, total, n_positive = _select._weight_stats(w, engine)
    if negative:
        raise ValueError("Weights must be non-negative.")
    if nonfinite or not math.isfinite(total) or total == 0:
        raise ValueError("Weights included NaN, inf or were all zero.")
    if np.isnan(x).any():
        raise ValueError("remove NaN values before computing percentiles")
    integral = integral and total < _EXACT_SUM
    if not integral and total <= 1:
        raise ValueError(
            f"Frequency weights stand for rows: these non-integer weights total "
            f"{total!r}, at most one row, which has no percentiles to interpolate. "
            "Scale them (e.g. to sum to the number of rows) or use "
            "method='inverted_cdf', whose weights are invariant to their scale."
        )
    if integral and total == n_positive:  # weights 0 and 1: drop the zeros
        xp = x if n_positive == x.size else x[w > 0]
        return _select.percentiles(xp, q, method=method)
    n = int(total) if integral else total
    plan, ranks = rank_plan(n, q, method)
    values = None
    if integral and x.size > _select._DIRECT_N:
        # exact integer cumulative weights: radix select, no sort
        targets = np.asarray(ranks, dtype=np.float64) + 1.0
        try:
            found = _select._select_values(x, targets, w, engine)
            values = dict(zip(ranks, found.tolist()))
        except _select._Delegate:
            values = None
    if values is None:
        values = _sorted_rank_values(x, w, ranks)
    return combine(plan, values)


# --------------------------------------------------------------------------
# distributed exact selection
# --------------------------------------------------------------------------
def _keys(values):
    """uint64 keys whose unsigned order is the float order."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    neg = (bits >> np.uint64(63)).astype(bool)
    return np.where(neg, ~bits, bits | _TOP)


def _key_value(key):
    key = np.array([key], dtype=np.uint64)
    neg = ~(key >> np.uint64(63)).astype(bool)
    return float(np.where(neg, ~key, key & ~_TOP).view(np.float64)[0])


def _matching(keys, shift, prefix):
    if shift == 64:
        return keys
    return keys[(keys >> np.uint64(shift)) == np.uint64(prefix)]


def local_pass(columns, plan):
    """One pass of the distributed selection over one piece of the data.

    Parameters
    ----------
    columns : mapping of column -> ndarray of float64
        The piece's values of every column in ``plan`` (NaN is ignored).
    plan : dict of column -> dict
        ``{"count": bool, "hist": [(shift, prefix), ...], "gather": [...]}``:
        count the values and infinities; histogram the 16 bits below
        ``shift`` of the order keys whose bits above ``shift`` equal
        ``prefix`` (``shift`` 64: every key); gather the keys matching a
        prefix.

    Returns
    -------
    dict of column -> dict
        The piece's result, for :func:`merge_passes` (small: sparse
        histograms and the gathered keys).

    Examples
    --------
    >>> res = local_pass({"a": np.array([1.0, np.nan, 2.0])},
    ...                  {"a": {"count": True, "hist": [(64, 0)]}})
    >>> res["a"]["n"], res["a"]["n_inf"]
    (2, 0)
    """
    out = {}
    for column, todo in plan.items():
        values = np.asarray(columns[column], dtype=np.float64)
        values = values[~np.isnan(values)]
        res = {"hist": {}, "gather": {}}
        if todo.get("count"):
            res["n"] = int(values.size)
            res["n_inf"] = int(np.count_nonzero(np.isinf(values)))
        keys = _keys(values)
        for shift, prefix in todo.get("hist", ()):
            sub = _matching(keys, shift, prefix)
            digits = (sub >> np.uint64(shift - 16)) & _DIGIT
            counts = np.bincount(digits.astype(np.intp), minlength=_NBUCKET)
            nz = np.flatnonzero(counts)
            res["hist"][(shift, prefix)] = (nz, counts[nz])
        for shift, prefix in todo.get("gather", ()):
            res["gather"][(shift, prefix)] = _matching(keys, shift, prefix)
        out[column] = res
    return out


def merge_passes(results, plan):
    """Add up the :func:`local_pass` results of all pieces of the data.

    Parameters
    ----------
    results : iterable of dict
        One :func:`local_pass` result per piece, in any order.
    plan : dict
        The plan the pieces ran.

    Returns
    -------
    dict of column -> dict
        ``{"n", "n_inf", "hist": {(shift, prefix): dense counts},
        "gather": {(shift, prefix): keys}}``.

    Examples
    --------
    >>> plan = {"a": {"count": True, "hist": [(64, 0)]}}
    >>> parts = [local_pass({"a": np.array(v)}, plan) for v in ([1.0], [2.0, 3.0])]
    >>> merge_passes(parts, plan)["a"]["n"]
    3
    """
    results = list(results)
    merged = {}
    for column in plan:
        hist, gather, n, n_inf = {}, {}, 0, 0
        for res in results:
            r = res[column]
            n += r.get("n", 0)
            n_inf += r.get("n_inf", 0)
            for key, (nz, counts) in r["hist"].items():
                dense = hist.setdefault(key, np.zeros(_NBUCKET, dtype=np.int64))
                dense[nz] += counts
            for key, sub in r["gather"].items():
                gather.setdefault(key, []).append(sub)
        merged[column] = {
            "hist": hist,
            "gather": {
                k: np.concatenate(v) if v else np.empty(0, np.uint64)
                for k, v in gather.items()
            },
            "n": n,
            "n_inf": n_inf,
        }
    return merged


def _select_ranks(run_pass, wanted, hists, gather_limit):
    """Exact order statistics by radix descent; ``{column: {rank: value}}``."""
    found = {c: {} for c in wanted}
    # every wanted rank: [shift, prefix, rank inside the prefix's values]
    state = {(c, r): [64, 0, r] for c, ranks in wanted.items() for r in ranks}
    while state:
        plan = {}
        for (c, r), st in list(state.items()):
            shift, prefix, within = st
            hist = hists[c].get((shift, prefix))
            if hist is None:  # this prefix's values were gathered
                continue
            cum = np.cumsum(hist)
            digit = int(np.searchsorted(cum, within, side="right"))
            within -= int(cum[digit - 1]) if digit else 0
            size = int(hist[digit])
            shift, prefix = shift - 16, (prefix << 16) | digit
            if shift == 0:  # all 64 bits known: the key is the value
                found[c][r] = _key_value(prefix)
                del state[(c, r)]
                continue
            state[(c, r)] = [shift, prefix, within]
            todo = plan.setdefault(c, {"hist": [], "gather": []})
            kind = "gather" if size <= gather_limit else "hist"
            if (shift, prefix) not in todo[kind]:
                todo[kind].append((shift, prefix))
        if not state:
            break
        results = run_pass(plan)
        for (c, r), (shift, prefix, within) in list(state.items()):
            gathered = results[c]["gather"].get((shift, prefix))
            if gathered is not None:
                found[c][r] = _key_value(np.partition(gathered, within)[within])
                del state[(c, r)]
        for c, res in results.items():
            hists[c].update(res["hist"])
    return found


def distributed_percentiles(
    run_pass, percentiles, *, method="linear", gather_limit=None
):
    """Exact percentiles of data spread over pieces, bit-identical to numpy.

    A radix selection on order-preserving 64-bit keys of the float64 values:
    a first pass counts each column's values and histograms the top 16 bits
    of their keys; every later pass either histograms the next 16 bits
    inside the few buckets that hold a wanted order statistic or, once such
    a bucket is small, gathers its keys. Usually 2 or 3 passes, never more
    than 5. The order statistics are combined by :func:`combine`, so the
    result is ``np.percentile(values_without_nan, q, method=method)`` bit
    for bit (one exception: a selected zero when a column holds both
    ``-0.0`` and ``+0.0`` is ``-0.0`` here, whichever zero numpy's partition
    happens to leave).

    Parameters
    ----------
    run_pass : callable
        ``run_pass(plan)`` runs :func:`local_pass` with ``plan`` over every
        piece of the data and returns :func:`merge_passes` of the results.
        This is all an engine provides.
    percentiles : dict of column -> sequence of float
        Percentiles in ``[0, 100]`` per column.
    method : str, default="linear"
        Any method of :func:`numpy.percentile`.
    gather_limit : int, default=None
        Gather a bucket of at most this many values instead of refining it;
        ``None`` means :data:`GATHER_LIMIT`.

    Returns
    -------
    dict of column -> ndarray of float64

    Raises
    ------
    ValueError
        If a column has no non-missing value, or holds infinite values.

    Examples
    --------
    >>> pieces = [{"a": np.arange(0.0, 60)}, {"a": np.arange(60.0, 100)}]
    >>> def run_pass(plan):
    ...     return merge_passes([local_pass(p, plan) for p in pieces], plan)
    >>> distributed_percentiles(run_pass, {"a": [40, 75]})
    {'a': array([39.6 , 74.25])}
    """
    _check_method(method)
    gather_limit = GATHER_LIMIT if gather_limit is None else gather_limit
    if not percentiles:
        return {}
    first = run_pass({c: {"count": True, "hist": [(64, 0)]} for c in percentiles})
    plans, wanted = {}, {}
    for column, q in percentiles.items():
        n, n_inf = first[column]["n"], first[column]["n_inf"]
        if n_inf:
            raise infinite_values_error(column, n_inf)
        if n == 0:
            raise ValueError(f"Column {column!r}: no non-missing values")
        plans[column], wanted[column] = rank_plan(n, q, method)
    hists = {c: dict(first[c]["hist"]) for c in percentiles}
    found = _select_ranks(run_pass, wanted, hists, gather_limit)
    return {column: combine(plan, found[column]) for column, plan in plans.items()}
