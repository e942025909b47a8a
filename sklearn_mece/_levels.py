"""Cut points and level codes: exact percentiles, overrides, ties, level lookup.

Conventions used everywhere in the package
------------------------------------------
* A column with ``k`` cut values ``c_0 <= ... <= c_{k-1}`` has ``k + 1`` levels,
  coded ``0`` (lowest) to ``k``.
* A value equal to a cut goes to the **upper** level: the level of ``x`` is the
  number of cuts ``c`` with ``x >= c`` (the seed script's ``>=``).
* ``NaN`` gets the level code ``-1`` (``MISSING``); it never lands in a real level.
* When ties make two cuts equal, the level between them is empty. The level
  keeps its code (rules that name it still compile) and the collapse is
  reported; nothing is dropped silently.
"""

import numpy as np

from . import _kernels
from ._select import METHODS

MISSING = -1

#: Most cut values of one thresholded column: its level codes ``-1 .. 127``
#: are ``int8``. Split sub-segments may need more; :func:`level_codes` sizes
#: their codes from the count.
MAX_CUTS = 126


def signed_dtype(n):
    """Smallest signed integer dtype holding the codes ``-1 .. n - 1``.

    Examples
    --------
    >>> signed_dtype(127), signed_dtype(128), signed_dtype(40_000)
    (dtype('int8'), dtype('int16'), dtype('int32'))
    """
    for dtype in (np.int8, np.int16, np.int32):
        if n <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


#: Every numpy percentile method (the selection's method table).
NUMPY_METHODS = METHODS
#: Methods whose sample weights follow numpy's weighted definition (invariant
#: to the scale of the weights); every other method takes frequency weights
#: (:func:`sklearn_mece._quantiles.weighted_percentiles`). Both agree with
#: repeating each row ``k`` times for integer weights.
WEIGHTED_METHODS = ("inverted_cdf", "averaged_inverted_cdf")


def default_level_names(n_levels):
    """Default names of ``n_levels`` ordered levels.

    Parameters
    ----------
    n_levels : int
        Number of levels (number of cuts + 1).

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> default_level_names(3)
    ('low', 'medium', 'high')
    >>> default_level_names(4)
    ('level_0', 'level_1', 'level_2', 'level_3')
    """
    if n_levels == 2:
        return ("low", "high")
    if n_levels == 3:
        return ("low", "medium", "high")
    return tuple(f"level_{i}" for i in range(n_levels))


def _percentiles(values, q, method, weights, require_finite=False):
    from ._select import percentiles, weighted_percentiles

    if weights is None:
        return percentiles(values, q, method=method, require_finite=require_finite)
    if method in WEIGHTED_METHODS:
        return weighted_percentiles(values, weights, q, method=method)
    from ._quantiles import weighted_percentiles as frequency_weighted

    return frequency_weighted(values, weights, q, method=method)


def compute_cuts(
    values, q, *, method="linear", sample_weight=None, has_nan=None, finite=False
):
    """Exact percentiles of ``values`` at ``q`` (in percent), ignoring NaN.

    Parameters
    ----------
    values : ndarray of float64
        One column. NaN values are ignored; infinite values are refused.
    q : sequence of float
        Percentiles in ``[0, 100]``, ascending.
    method : str, default="linear"
        Any method of :func:`numpy.percentile`; the result equals
        ``np.percentile(values, q, method=method)`` on the non-NaN values bit
        for bit. ``"linear"`` equals pandas' ``Series.quantile``.
    sample_weight : ndarray or None
        Non-negative frequency weights: an integer weight ``k`` counts the
        value ``k`` times, so the cuts equal ``np.percentile(np.repeat(values,
        k), q, method=method)``; see
        :func:`sklearn_mece._quantiles.weighted_percentiles` for non-integer
        weights. ``"inverted_cdf"`` and ``"averaged_inverted_cdf"`` use
        numpy's weighted definitions (:func:`sklearn_mece._select.weighted_percentiles`,
        which agree with repetition for integer weights).
    has_nan : bool or None, default=None
        Whether ``values`` holds NaN, when the caller already knows; ``None``
        checks.
    finite : bool, default=False
        Assume the values are all finite and raise
        :class:`~sklearn_mece._select.NonFiniteValues` if they are not. The
        proof comes from the selection's first histogram (no extra pass);
        only without sample weights.

    Returns
    -------
    ndarray of float64
        The cut values, ascending.

    Examples
    --------
    >>> compute_cuts(np.array([1.0, 2.0, 3.0, 4.0, np.nan]), [50])
    array([2.5])
    >>> compute_cuts(np.array([1.0, 2.0, 3.0]), [50], sample_weight=np.array([3, 0, 1]))
    array([1.])
    """
    values = np.asarray(values, dtype=np.float64)
    if finite and sample_weight is None:
        cuts = _percentiles(values, np.asarray(q, dtype=np.float64), method, None, True)
        return np.asarray(cuts, dtype=np.float64)
    if has_nan is None:
        has_nan = _kernels.nonfinite_counts(values)[0] > 0
    if has_nan:
        keep = ~np.isnan(values)
        values = values[keep]
        if sample_weight is not None:
            sample_weight = sample_weight[keep]
    if values.size == 0:
        raise ValueError("no non-missing values")
    if sample_weight is not None:
        if not np.any(sample_weight > 0):
            raise ValueError("all sample weights of the non-missing values are zero")
    return np.asarray(
        _percentiles(values, np.asarray(q, dtype=np.float64), method, sample_weight),
        dtype=np.float64,
    )


def level_codes(values, cuts, out=None):
    """Level code of every value: the number of cuts ``<=`` the value.

    Parameters
    ----------
    values : ndarray of float64
        One column.
    cuts : ndarray of float64
        Ascending cut values.
    out : ndarray of integers, optional
        Where to write the codes.

    Returns
    -------
    ndarray of int8 (more than ``MAX_CUTS`` cuts: the smallest signed dtype
    holding ``len(cuts)``)
        ``0`` .. ``len(cuts)``; ``-1`` for NaN.

    Notes
    -----
    One pass over the values, no temporary as large as the column (see
    :mod:`sklearn_mece._kernels`; numba is used by the row rule of
    :mod:`sklearn_mece._backend`).

    Examples
    --------
    >>> level_codes(np.array([1.0, 2.0, 2.5, 3.0, np.nan]), np.array([2.0, 3.0]))
    array([ 0,  1,  1,  2, -1], dtype=int8)
    """
    values = np.asarray(values, dtype=np.float64)
    cuts = np.asarray(cuts, dtype=np.float64)
    if cuts.size > MAX_CUTS:
        # more levels than int8 holds (e.g. split sub-segments): codes sized
        # from the count, never wrapped around
        codes = np.searchsorted(cuts, values, side="right").astype(
            signed_dtype(cuts.size + 1)
        )
        codes[np.isnan(values)] = MISSING
        if out is None:
            return codes
        out[...] = codes
        return out
    return _kernels.level_codes(values, cuts, out)[0]


def collapsed_levels(cuts):
    """Indices of levels that are empty by construction (equal adjacent cuts).

    Examples
    --------
    >>> collapsed_levels(np.array([1.0, 1.0, 2.0]))
    [1]
    """
    return [i + 1 for i in range(len(cuts) - 1) if cuts[i] == cuts[i + 1]]
