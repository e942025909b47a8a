"""Dask integration: learn cuts over partitions, transform with ``map_partitions``.

Optional: ``pip install 'sklearn-mece[dask]'``. Dask is imported when a
function of this module is called, not when the module is imported.

Learning the cuts of a :class:`~sklearn_mece.PercentileThresholder` on a dask
DataFrame, two ways:

* ``algorithm="exact"`` (default): a distributed radix selection. A first pass
  counts the values of each column and histograms the top 16 bits of their
  IEEE-754 patterns (made order-preserving); every later pass either
  histograms the next 16 bits inside the few buckets that hold a wanted order
  statistic, or, once such a bucket is small, gathers its values. Usually 2 or
  3 passes over the data, never more than 5; only small histograms and a few
  buckets travel to the client. The order statistics are combined with
  numpy's own formulas, so the cuts are **bit-identical** to
  ``np.percentile(column_without_nan, q, method=method)``, i.e. to
  ``PercentileThresholder.fit`` on the computed frame (one documented
  exception: when a selected order statistic is a zero and the column holds
  both ``-0.0`` and ``+0.0``, numpy returns whichever zero its partition
  leaves there; this module returns ``-0.0`` if any is at that rank).
* ``algorithm="sketch"``: one KLL sketch per column and partition, merged on
  the client: a single pass, each cut within ``rank_error_`` (normalized
  rank, 99 % confidence) of its percentile, like
  :meth:`PercentileThresholder.partial_fit`.

Do not use ``dask.dataframe.DataFrame.quantile`` for cut points: it merges
per-partition percentiles with no error bound (14.9 % rank error measured on
partitions ordered by customer cohort).

Applying any fitted estimator or pipeline of the package to a dask DataFrame
is :func:`transform`: ``map_partitions`` with pandas output.
"""

import numpy as np
import pandas as pd

from ._base import column_as_float

__all__ = ["exact_percentiles", "fit_thresholder", "sketch_percentiles", "transform"]

#: A bucket with at most this many values is gathered instead of refined.
GATHER_LIMIT = 1 << 20

_TOP = np.uint64(1 << 63)
_DIGIT = np.uint64(0xFFFF)


def _require_dask():
    try:
        import dask
        import dask.dataframe as dd
    except ImportError as exc:
        raise ImportError(
            "sklearn_mece.dask needs dask: pip install 'sklearn-mece[dask]' "
            "(dask[dataframe,distributed] and pyarrow)."
        ) from exc
    return dask, dd


# --------------------------------------------------------------------------
# order-preserving keys
# --------------------------------------------------------------------------
def _keys(values):
    """uint64 keys whose unsigned order is the float order (NaN removed)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    neg = (bits >> np.uint64(63)).astype(bool)
    return np.where(neg, ~bits, bits | _TOP)


def _values(keys):
    keys = np.asarray(keys, dtype=np.uint64)
    neg = ~(keys >> np.uint64(63)).astype(bool)
    return np.where(neg, ~keys, keys & ~_TOP).view(np.float64)


# --------------------------------------------------------------------------
# per-partition work (runs on the workers)
# --------------------------------------------------------------------------
def _check_partition(pdf, columns, number=None):
    """Refuse a partition that lacks columns the DataFrame's metadata declares.

    Dask trusts the metadata; a partition read from a file without one of its
    columns would otherwise fail deep inside the work with a bare KeyError.
    """
    missing = [c for c in columns if c not in pdf.columns]
    if missing:
        which = "A partition" if number is None else f"Partition {number}"
        raise ValueError(
            f"{which} of the dask DataFrame lacks column(s) {missing} that its "
            "metadata declares (files or partitions with different columns?); "
            "align the partitions first (reindex each to ddf.columns)."
        )


def _column_values(pdf, column):
    values = column_as_float(pdf[column], str(column))
    return values[~np.isnan(values)]


def _partition_pass(pdf, plan, number=None):
    """One pass over a partition.

    ``plan`` maps a column to ``{"count": bool, "hist": [(shift, prefix)],
    "gather": [(shift, prefix)]}``: histograms of the 16 bits below ``shift``
    among keys whose bits above ``shift`` equal ``prefix`` (shift 64: all
    keys), and the keys matching a prefix.
    """
    _check_partition(pdf, list(plan), number)
    out = {}
    for column, todo in plan.items():
        values = _column_values(pdf, column)
        res = {"hist": {}, "gather": {}}
        if todo.get("count"):
            res["n"] = int(values.size)
            res["n_inf"] = int(np.count_nonzero(np.isinf(values)))
        keys = _keys(values)
        for shift, prefix in todo.get("hist", ()):
            sub = _matching(keys, shift, prefix)
            digits = (sub >> np.uint64(shift - 16)) & _DIGIT
            counts = np.bincount(digits.astype(np.intp), minlength=1 << 16)
            nz = np.flatnonzero(counts)
            res["hist"][(shift, prefix)] = (nz, counts[nz])
        for shift, prefix in todo.get("gather", ()):
            res["gather"][(shift, prefix)] = _matching(keys, shift, prefix)
        out[column] = res
    return out


def _matching(keys, shift, prefix):
    if shift == 64:
        return keys
    return keys[(keys >> np.uint64(shift)) == np.uint64(prefix)]


def _partition_sketches(pdf, columns, k, number=None):
    from ._sketch import empty_sketch, update_sketch

    _check_partition(pdf, columns, number)
    out = {}
    for column in columns:
        values = column_as_float(pdf[column], str(column))
        n_inf = int(np.count_nonzero(np.isinf(values)))
        out[column] = (update_sketch(empty_sketch(k), values), n_inf)
    return out, len(pdf)


def _run_pass(ddf, plan):
    dask, _ = _require_dask()
    parts = ddf.to_delayed()
    fn = dask.delayed(_partition_pass, pure=True)
    results = dask.compute(*[fn(p, plan, i) for i, p in enumerate(parts)])
    merged = {}
    for column in plan:
        hist, gather, n, n_inf = {}, {}, 0, 0
        for res in results:
            r = res[column]
            n += r.get("n", 0)
            n_inf += r.get("n_inf", 0)
            for key, (nz, counts) in r["hist"].items():
                dense = hist.setdefault(key, np.zeros(1 << 16, dtype=np.int64))
                dense[nz] += counts
            for key, sub in r["gather"].items():
                gather.setdefault(key, []).append(sub)
        merged[column] = {
            "hist": hist,
            "gather": {k: np.concatenate(v) for k, v in gather.items()},
            "n": n,
            "n_inf": n_inf,
        }
    return merged


# --------------------------------------------------------------------------
# exact selection
# --------------------------------------------------------------------------
def _select_ranks(ddf, wanted, hists):
    """Exact order statistics by radix descent over the partitions.

    ``wanted`` maps a column to 0-based ranks; ``hists`` holds each column's
    histogram of the top 16 bits (``{(64, 0): counts}``), from the first pass.
    Returns ``{column: {rank: value}}``.
    """
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
                found[c][r] = _values(np.array([prefix], dtype=np.uint64))[0]
                del state[(c, r)]
                continue
            state[(c, r)] = [shift, prefix, within]
            todo = plan.setdefault(c, {"hist": [], "gather": []})
            kind = "gather" if size <= GATHER_LIMIT else "hist"
            if (shift, prefix) not in todo[kind]:
                todo[kind].append((shift, prefix))
        if not state:
            break
        results = _run_pass(ddf, plan)
        for (c, r), (shift, prefix, within) in list(state.items()):
            gathered = results[c]["gather"].get((shift, prefix))
            if gathered is not None:
                key = np.partition(gathered, within)[within]
                found[c][r] = _values(np.array([key], dtype=np.uint64))[0]
                del state[(c, r)]
        for c, res in results.items():
            hists[c].update(res["hist"])
    return found


def exact_percentiles(ddf, percentiles, *, method="linear"):
    """Exact percentiles of dask DataFrame columns, bit-identical to numpy.

    NaN values are ignored (as by :class:`PercentileThresholder`).

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
    percentiles : dict of column -> sequence of float
        Percentiles in ``[0, 100]`` per column.
    method : str, default="linear"
        Any method of :func:`numpy.percentile`.

    Returns
    -------
    dict of column -> ndarray of float64
        Equal, bit for bit, to ``np.percentile(values_without_nan, q,
        method=method)`` (see the module notes for signed zeros).

    Raises
    ------
    ValueError
        If a column has no non-missing value, or holds infinite values.

    Examples
    --------
    >>> import numpy as np, pandas as pd, dask.dataframe as dd
    >>> from sklearn_mece.dask import exact_percentiles
    >>> ddf = dd.from_pandas(pd.DataFrame({"aov": np.arange(100.0)}), npartitions=4)
    >>> exact_percentiles(ddf, {"aov": [40, 75]})
    {'aov': array([39.6 , 74.25])}
    """
    from ._select import _as_quantiles, _check_method, _lerp, _plan

    _check_method(method, _methods())
    _require_dask()
    if not percentiles:
        return {}
    # pass 1: counts, infinities and the histogram of the top 16 bits
    first = _run_pass(ddf, {c: {"count": True, "hist": [(64, 0)]} for c in percentiles})
    plans, wanted = {}, {}
    for column, q in percentiles.items():
        n, n_inf = first[column]["n"], first[column]["n_inf"]
        if n_inf:
            raise ValueError(
                f"Column {column!r} contains {n_inf} infinite value(s); replace "
                "them (or mark them missing with NaN) before thresholding."
            )
        if n == 0:
            raise ValueError(f"Column {column!r}: no non-missing values")
        _, quantiles = _as_quantiles(q)
        previous, nxt, gamma = _plan(n, quantiles, method)
        plans[column] = (n, previous, nxt, gamma)
        idx = previous if nxt is None else np.concatenate((previous, nxt))
        wanted[column] = sorted({int(i + n if i < 0 else i) for i in idx})
    found = _select_ranks(ddf, wanted, {c: first[c]["hist"] for c in percentiles})
    out = {}
    for column, (n, previous, nxt, gamma) in plans.items():
        table = found[column]

        def at(index, table=table, n=n):
            return np.array(
                [table[int(i + n if i < 0 else i)] for i in np.atleast_1d(index)],
                dtype=np.float64,
            )

        if nxt is None:
            out[column] = at(previous)
        else:
            out[column] = np.asarray(_lerp(at(previous), at(nxt), gamma), np.float64)
    return out


def _methods():
    from ._select import METHODS

    return METHODS


def sketch_percentiles(ddf, percentiles, *, k=1000):
    """Percentiles from KLL sketches built per partition and merged.

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
    percentiles : dict of column -> sequence of float
    k : int, default=1000
        Sketch parameter.

    Returns
    -------
    cuts : dict of column -> ndarray of float64
        The sketches' inclusive quantiles.
    sketches : dict of column -> bytes
        The merged serialized sketches.
    n : dict of column -> int
        Non-missing values per column.
    epsilon : dict of column -> float
        Rank error of each column's cuts (99 % confidence; 0 when exact).
    n_rows : int
        Rows of ``ddf``.

    Examples
    --------
    >>> import numpy as np, pandas as pd, dask.dataframe as dd
    >>> from sklearn_mece.dask import sketch_percentiles
    >>> ddf = dd.from_pandas(pd.DataFrame({"aov": np.arange(100.0)}), npartitions=4)
    >>> cuts, sketches, n, eps, n_rows = sketch_percentiles(ddf, {"aov": [40, 75]})
    >>> cuts, n, eps  # few values: the sketches are exact (inverted CDF)
    ({'aov': array([39., 74.])}, {'aov': 100}, {'aov': 0.0})
    """
    dask, _ = _require_dask()
    from ._sketch import merge_sketches, sketch_quantiles

    columns = list(percentiles)
    fn = dask.delayed(_partition_sketches, pure=True)
    results = dask.compute(
        *[fn(p, columns, k, i) for i, p in enumerate(ddf.to_delayed())]
    )
    parts = [r[0] for r in results]
    n_rows = sum(r[1] for r in results)
    cuts, sketches, counts, eps = {}, {}, {}, {}
    for column in columns:
        n_inf = sum(p[column][1] for p in parts)
        if n_inf:
            raise ValueError(
                f"Column {column!r} contains {n_inf} infinite value(s); replace "
                "them (or mark them missing with NaN) before thresholding."
            )
        blobs = [p[column][0] for p in parts]
        while len(blobs) > 1:  # pairwise: a balanced merge tree
            blobs = [
                merge_sketches(blobs[i], blobs[i + 1])
                if i + 1 < len(blobs)
                else blobs[i]
                for i in range(0, len(blobs), 2)
            ]
        sketches[column] = blobs[0]
        q = np.asarray(percentiles[column], dtype=np.float64) / 100.0
        try:
            cuts[column], counts[column], eps[column] = sketch_quantiles(blobs[0], q)
        except ValueError:
            raise ValueError(f"Column {column!r}: no non-missing values") from None
    return cuts, sketches, counts, eps, n_rows


# --------------------------------------------------------------------------
# estimators
# --------------------------------------------------------------------------
def _meta_frame(ddf):
    """A small pandas frame with the columns and dtypes of ``ddf``."""
    meta = getattr(ddf, "_meta_nonempty", None)
    if isinstance(meta, pd.DataFrame) and len(meta):
        return meta
    return ddf.head(2, npartitions=-1)  # pragma: no cover - older dask


def fit_thresholder(thresholder, ddf, *, algorithm="exact"):
    """Fit a :class:`PercentileThresholder` on a dask DataFrame.

    Parameters
    ----------
    thresholder : PercentileThresholder
        Unfitted or fitted; it is (re)fitted in place, as by ``fit``.
    ddf : dask.dataframe.DataFrame
        The data; every partition must hold the thresholded columns.
    algorithm : {"exact", "sketch"}, default="exact"
        ``"exact"``: cuts bit-identical to ``thresholder.fit(ddf.compute())``
        (radix selection over the partitions, a few passes). ``"sketch"``: one
        pass of per-partition KLL sketches (``thresholder.sketch_k``) merged;
        the result is as if fitted by ``partial_fit`` (``sketches_``,
        ``rank_error_``, mergeable with :meth:`~PercentileThresholder.merge`).

    Returns
    -------
    PercentileThresholder
        The fitted ``thresholder``.

    Notes
    -----
    ``groupby`` and sample weights are not supported here.

    Examples
    --------
    >>> import numpy as np, pandas as pd, dask.dataframe as dd
    >>> from sklearn_mece import PercentileThresholder
    >>> from sklearn_mece.dask import fit_thresholder, transform
    >>> ddf = dd.from_pandas(pd.DataFrame({"aov": np.arange(100.0)}), npartitions=4)
    >>> t = fit_thresholder(PercentileThresholder(percentiles=(40, 75)), ddf)
    >>> t.cuts_
    {'aov': array([39.6 , 74.25])}
    >>> transform(t, ddf).compute()["aov_level"].value_counts().sort_index().tolist()
    [40, 35, 25]
    """
    _require_dask()
    if algorithm not in ("exact", "sketch"):
        raise ValueError(f"algorithm must be 'exact' or 'sketch', got {algorithm!r}.")
    if thresholder.groupby is not None:
        raise ValueError("groupby is not supported on dask DataFrames.")
    thresholder._validate_params()
    meta = _meta_frame(ddf)
    # resolve names and percentiles exactly as fit would
    probe = thresholder._validate_input(meta, reset=True)
    labels = thresholder._column_labels(probe.shape[1])
    spec = thresholder._column_spec(probe.shape[1])
    todo = {}
    for pos, q in spec:
        override = thresholder._overrides_for(labels[pos], pos)
        if override is None or isinstance(override, dict):
            todo[meta.columns[pos]] = q
    if algorithm == "exact":
        learned = (
            exact_percentiles(ddf, todo, method=thresholder.method) if todo else {}
        )
        by_pos = {pos: learned.get(meta.columns[pos]) for pos, _ in spec}
        return thresholder._set_learned_cuts(meta, by_pos, epsilon=0.0)
    if todo:
        _, sketches, _, _, n_rows = sketch_percentiles(
            ddf, todo, k=thresholder.sketch_k
        )
    else:
        sketches, n_rows = {}, int(ddf.shape[0].compute())
    with thresholder._all_or_nothing_fit():
        thresholder._validate_input(meta, reset=True)
        thresholder._begin_fit(meta)
        thresholder.sketches_ = {
            labels[pos]: sketches[meta.columns[pos]]
            for pos, _ in spec
            if meta.columns[pos] in sketches
        }
        thresholder.n_samples_seen_ = int(n_rows)
        thresholder._cuts_from_sketches()
    return thresholder


def transform(estimator, ddf, *, meta=None):
    """Apply a fitted estimator or pipeline to every partition of ``ddf``.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        Anything with ``transform`` (e.g. the preset pipeline).
    ddf : dask.dataframe.DataFrame
    meta : pandas.DataFrame, optional
        Empty frame with the output columns and dtypes; by default it is
        computed by transforming the first rows of ``ddf``.

    Returns
    -------
    dask.dataframe.DataFrame
        Lazy; the input columns followed by the estimator's new columns, with
        the dtypes of its pandas output (level codes, categorical segments).

    Examples
    --------
    >>> import pandas as pd, dask.dataframe as dd
    >>> from sklearn_mece import make_cart_abandoner_pipeline
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> from sklearn_mece.dask import transform
    >>> X = make_cart_abandoners(2_000, random_state=0)
    >>> pipe = make_cart_abandoner_pipeline(min_size=50)[:2].fit(X)
    >>> out = transform(pipe, dd.from_pandas(X, npartitions=3))
    >>> out.npartitions, str(out.dtypes["segment"])
    (3, 'category')
    >>> out.compute()["segment"].equals(pipe.transform(X)["segment"])
    True
    """
    _require_dask()
    if meta is None:
        head = ddf.head(8, npartitions=-1)
        meta = _transform_partition(head, estimator, None).iloc[:0]
    return ddf.map_partitions(
        _transform_partition,
        estimator,
        meta,
        list(ddf.columns),
        meta=meta,
    )


def _transform_partition(pdf, estimator, meta, columns=(), partition_info=None):
    """``estimator.transform`` of one partition, as a pandas DataFrame."""
    _check_partition(pdf, columns, (partition_info or {}).get("number"))
    if meta is not None and len(pdf) == 0:
        return meta.copy()
    from sklearn import config_context

    with config_context(transform_output="pandas"):
        out = estimator.transform(pdf)
    if not isinstance(out, pd.DataFrame):
        out = pd.DataFrame(
            out, columns=estimator.get_feature_names_out(), index=pdf.index
        )
    return out
