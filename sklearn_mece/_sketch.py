"""Mergeable quantile sketches (Apache DataSketches KLL), one per column.

:class:`PercentileThresholder.partial_fit` learns cuts from chunks it never
holds together: every thresholded column feeds a KLL sketch, and the cuts are
read from the sketches after each chunk. Sketches of different chunks, or of
different machines, merge into the sketch of all their data.

The guarantee (DataSketches' own, see ``get_normalized_rank_error``): with
probability 99 %, every quantile read from a sketch of parameter ``k`` has a
normalized rank within ``epsilon(k)`` of the requested one, whatever the order
in which the values arrived. ``epsilon(200) ~ 1.33 %``, ``epsilon(1000) ~
0.28 %``, ``epsilon(2000) ~ 0.14 %``. While a sketch has seen too few values to
compact anything (``n`` up to about ``k``), it is exact: ``epsilon = 0``.

What a cut means. A sketch cut at percentile ``p`` is the sketch's inclusive
quantile at rank ``p / 100``: the smallest retained value whose (estimated)
normalized rank is ``>= p / 100``. On exact sketches this is
``np.percentile(values, p, method="inverted_cdf")``; cuts learned by ``fit``
use the thresholder's ``method`` on all values (``"linear"`` by default), so
the two differ by the interpolation between neighbouring values.

Sketch objects are not picklable; the estimator stores their
``serialize()``-d bytes, which pickle and save with skops like any attribute.
DataSketches needs writable, contiguous float64 arrays (pandas 3 hands out
read-only views): values are copied once per chunk, NaN removed.
"""

import numpy as np

__all__ = [
    "DEFAULT_K",
    "empty_sketch",
    "merge_sketches",
    "rank_error",
    "sketch_quantiles",
    "update_sketch",
]

#: Default ``k`` of the sketches (rank error ~0.28 % with 99 % confidence).
DEFAULT_K = 1000


def _kll():
    try:
        from datasketches import kll_doubles_sketch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "partial_fit needs Apache DataSketches: pip install "
            "'sklearn-mece[sketch]' (or pip install datasketches)."
        ) from exc
    return kll_doubles_sketch


def rank_error(k):
    """Normalized rank error of a KLL sketch of parameter ``k`` (99 % confidence).

    Parameters
    ----------
    k : int
        Sketch parameter.

    Returns
    -------
    float
        ``epsilon``: a quantile read from the sketch has a normalized rank
        within ``epsilon`` of the one requested, with probability 99 %.

    Examples
    --------
    >>> round(rank_error(1000), 4)
    0.0028
    """
    return float(_kll().get_normalized_rank_error(int(k), False))


def empty_sketch(k):
    """Serialized empty sketch of parameter ``k``.

    Examples
    --------
    >>> isinstance(empty_sketch(200), bytes)
    True
    """
    return bytes(_kll()(int(k)).serialize())


def _load(data):
    return _kll().deserialize(bytes(data))


def update_sketch(data, values):
    """Feed ``values`` (float64, NaN ignored) to a serialized sketch.

    Parameters
    ----------
    data : bytes
        Serialized sketch.
    values : ndarray of float64
        New values; never modified (a writable copy is made).

    Returns
    -------
    bytes
        The serialized updated sketch.

    Examples
    --------
    >>> s = update_sketch(empty_sketch(200), np.array([1.0, 2.0, np.nan]))
    >>> sketch_quantiles(s, [0.5])[0]
    array([1.])
    """
    sketch = _load(data)
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]  # a new, writable, contiguous array
    if values.size:
        sketch.update(values)
    return bytes(sketch.serialize())


def merge_sketches(a, b):
    """Serialized sketch of the union of two serialized sketches' data.

    Examples
    --------
    >>> a = update_sketch(empty_sketch(200), np.array([1.0, 2.0]))
    >>> b = update_sketch(empty_sketch(200), np.array([3.0, 4.0]))
    >>> sketch_quantiles(merge_sketches(a, b), [0.5, 1.0])[0]
    array([2., 4.])
    """
    sketch = _load(a)
    sketch.merge(_load(b))
    return bytes(sketch.serialize())


def sketch_quantiles(data, ranks):
    """Inclusive quantiles of a serialized sketch, its count and rank error.

    Parameters
    ----------
    data : bytes
        Serialized sketch.
    ranks : sequence of float
        Normalized ranks in ``[0, 1]``.

    Returns
    -------
    quantiles : ndarray of float64
    n : int
        Number of values the sketch has seen.
    epsilon : float
        Rank error of every quantile (99 % confidence); ``0.0`` while the
        sketch is exact (not yet compacted).

    Examples
    --------
    >>> s = update_sketch(empty_sketch(200), np.arange(10.0))
    >>> sketch_quantiles(s, [0.4, 0.75])
    (array([3., 7.]), 10, 0.0)
    """
    sketch = _load(data)
    if sketch.is_empty():
        raise ValueError("no non-missing values")
    ranks = np.asarray(ranks, dtype=np.float64)
    quantiles = np.asarray(sketch.get_quantiles(ranks.tolist(), True), dtype=np.float64)
    exact = not sketch.is_estimation_mode()
    epsilon = 0.0 if exact else float(sketch.normalized_rank_error(False))
    return quantiles, int(sketch.n), epsilon
