"""Dask integration: learn cuts over partitions, transform with ``map_partitions``.

Optional: ``pip install 'sklearn-mece[dask]'``. Dask is imported when a
function of this module is called, not when the module is imported.

Learning the cuts of a :class:`~sklearn_mece.PercentileThresholder` on a dask
DataFrame, two ways:

* ``algorithm="exact"`` (default): the distributed radix selection of
  :func:`sklearn_mece._quantiles.distributed_percentiles`, each of its passes
  run over the partitions. A first pass
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

This module is a thin adapter: it runs passes and builds sketches over
partitions; the selection is :mod:`sklearn_mece._quantiles` and the
thresholder is fitted through its protocol for state learned elsewhere
(:meth:`~PercentileThresholder.learning_plan`,
:meth:`~PercentileThresholder.fit_from_cuts`,
:meth:`~PercentileThresholder.fit_from_sketches`).
"""

import numpy as np
import pandas as pd

from . import _quantiles
from ._base import column_as_float, infinite_values_error

__all__ = ["exact_percentiles", "fit_thresholder", "sketch_percentiles", "transform"]

#: A bucket with at most this many values is gathered instead of refined.
GATHER_LIMIT = _quantiles.GATHER_LIMIT


def _require_dask():
    from ._base import optional_import

    hint = {
        "feature": "sklearn_mece.dask",
        "extra": "dask",
        "detail": "(dask[dataframe,distributed] and pyarrow)",
    }
    return optional_import("dask", **hint), optional_import("dask.dataframe", **hint)


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


def _partition_pass(pdf, plan, number=None):
    """:func:`sklearn_mece._quantiles.local_pass` over one partition."""
    _check_partition(pdf, list(plan), number)
    columns = {c: column_as_float(pdf[c], str(c)) for c in plan}
    return _quantiles.local_pass(columns, plan)


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
    """One pass of the selection over every partition, merged on the client."""
    dask, _ = _require_dask()
    parts = ddf.to_delayed()
    fn = dask.delayed(_partition_pass, pure=True)
    results = dask.compute(*[fn(p, plan, i) for i, p in enumerate(parts)])
    return _quantiles.merge_passes(results, plan)


# --------------------------------------------------------------------------
# exact selection
# --------------------------------------------------------------------------
def exact_percentiles(ddf, percentiles, *, method="linear"):
    """Exact percentiles of dask DataFrame columns, bit-identical to numpy.

    NaN values are ignored (as by :class:`PercentileThresholder`).

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
        The data, holding the columns named in ``percentiles``.
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
    _require_dask()
    return _quantiles.distributed_percentiles(
        lambda plan: _run_pass(ddf, plan),
        percentiles,
        method=method,
        gather_limit=GATHER_LIMIT,
    )


def sketch_percentiles(ddf, percentiles, *, k=1000):
    """Percentiles from KLL sketches built per partition and merged.

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
        The data, holding the columns named in ``percentiles``.
    percentiles : dict of column -> sequence of float
        Percentiles in ``[0, 100]`` per column.
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
            raise infinite_values_error(column, n_inf)
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
    meta = _meta_frame(ddf)
    todo = thresholder.learning_plan(meta)
    if algorithm == "exact":
        cuts = exact_percentiles(ddf, todo, method=thresholder.method)
        return thresholder.fit_from_cuts(meta, cuts)
    if todo:
        _, sketches, _, _, n_rows = sketch_percentiles(
            ddf, todo, k=thresholder.sketch_k
        )
    else:
        sketches, n_rows = {}, int(ddf.shape[0].compute())
    return thresholder.fit_from_sketches(meta, sketches, int(n_rows))


def transform(estimator, ddf, *, meta=None):
    """Apply a fitted estimator or pipeline to every partition of ``ddf``.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        Anything with ``transform`` (e.g. the preset pipeline).
    ddf : dask.dataframe.DataFrame
        The rows to transform, with the columns the estimator was fitted on.
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
