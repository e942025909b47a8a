"""Exact percentiles by fast order-statistic selection.

:func:`percentiles` returns the same bits as :func:`numpy.percentile` for every
numpy ``method``, but instead of partitioning a full copy of the data it
selects only the few order statistics the method needs:

1. Numpy's own formulas (mirrored from ``numpy/lib/_function_base_impl.py``:
   ``_QuantileMethods``, ``_get_indexes``, ``_get_gamma``, ``_lerp``) say which
   order statistics (0-based ranks) are needed and with which interpolation
   weight ``gamma``.
2. A radix (histogram) select on the IEEE-754 bit pattern finds those order
   statistics: one histogram of the top 16 bits (sign, exponent and 4 mantissa
   bits), then only the values in the buckets holding a wanted rank are
   gathered and either partitioned (small bucket) or refined on the next 16
   bits (large bucket).  Buckets of negative numbers are visited in reverse
   order, so the bucket order is the numeric order without transforming the
   data.
3. The order statistics are combined with numpy's ``_lerp`` formula,
   including its ``gamma >= 0.5`` branch, so that the result has the same bits.

Two engines run step 2: a pure-numpy one (``np.bincount`` over chunks plus
index gathers, about 5x faster than ``np.percentile`` on 10^7 values) and an
optional numba one (one histogram pass and one gather pass, compiled in
:mod:`sklearn_mece._numba_kernels`; about 8-14x faster, ~12 ms for two cut
points of 10^7 values on 2 cores).  On large inputs both split the histogram
and the gather over row slices on the thread pool of
:mod:`sklearn_mece._backend` (results in row order, so the bits do not
change).  The backend also decides the engine by its row rule (numba for
large inputs when it is available and not switched off with
``SKLEARN_MECE_NO_NUMBA=1`` or ``sklearn_mece._backend.USE_NUMBA = False``,
numpy otherwise, silently; see :mod:`sklearn_mece._backend`).
:func:`select_backend` tells which one an input uses.

The few cases where numpy's answer depends on the internal layout of its
partition rather than on the values alone are delegated to numpy itself, so
bit-identity also holds there: a wanted order statistic that is a zero when
the data hold both ``-0.0`` and ``+0.0`` (numpy returns whichever zero its
introselect leaves at that position), data containing NaN (numpy returns NaN),
and small inputs (``n <= 32768``), where a plain partition is already fast.
"""

import math
import sys

import numpy as np

from . import _backend

#: Every ``method`` accepted by :func:`percentiles` (all of numpy's).
METHODS = (
    "inverted_cdf",
    "averaged_inverted_cdf",
    "closest_observation",
    "interpolated_inverted_cdf",
    "hazen",
    "weibull",
    "linear",
    "median_unbiased",
    "normal_unbiased",
    "lower",
    "higher",
    "midpoint",
    "nearest",
)

#: The ``method`` values accepted by :func:`weighted_percentiles`.
WEIGHTED_METHODS = ("inverted_cdf", "averaged_inverted_cdf")

# Inputs of at most this many values are handed to numpy directly: a plain
# partition is as fast as the radix select there.
_DIRECT_N = 1 << 15
# A bucket of at most this many candidates is partitioned (or sorted, when
# weighted) instead of being refined on the next 16 bits.
_LEAF = 1 << 15
# Integer-valued weights are summed exactly by float64 up to this total.
_EXACT_SUM = float(2**53)

_NBUCKET = 1 << 16
# Values per np.bincount call of the numpy engine's histogram.
_HIST_CHUNK = 1 << 20
# Buckets of the top 16 bits in increasing numeric order: negative numbers
# (sign bit set) from the largest bit pattern down, then non-negative ones.
_ORDER0 = np.concatenate(
    (np.arange(_NBUCKET - 1, _NBUCKET // 2 - 1, -1), np.arange(_NBUCKET // 2))
)
_ASC = np.arange(_NBUCKET)
_DESC = _ASC[::-1].copy()
_LITTLE = sys.byteorder == "little"
# Top-16-bit buckets holding +inf (and nothing else once NaN is excluded),
# -inf, +0.0 (with positive subnormals) and -0.0 (with negative subnormals).
_B_PINF, _B_NINF, _B_PZERO, _B_NZERO = 0x7FF0, 0xFFF0, 0x0000, 0x8000


class _Delegate(Exception):
    """Raised inside the selection when numpy itself must answer."""


class NonFiniteValues(ValueError):
    """``require_finite=True`` and the data hold NaN or infinite values.

    Raised by :func:`percentiles` as soon as the first histogram shows one
    (the top 16 bits of every NaN and infinity are ``0x7FF0..0x7FFF`` or
    ``0xFFF0..0xFFFF``), so proving that a column is finite costs no extra
    pass over the data.
    """


# --------------------------------------------------------------------------
# numpy's quantile index/gamma logic, mirrored
# --------------------------------------------------------------------------


def _discrete_to_boundaries(index, gamma_condition):
    # numpy: _discrete_interpolation_to_boundaries
    previous = np.floor(index)
    nxt = previous + 1
    gamma = index - previous
    res = np.where(gamma_condition(gamma, index), previous, nxt).astype(np.intp)
    res[res < 0] = 0
    return res


def _compute_virtual_index(n, quantiles, alpha, beta):
    # numpy: _compute_virtual_index (same operation order)
    return n * quantiles + (alpha + quantiles * (1 - alpha - beta)) - 1


def _virtual_index(n, quantiles, method):
    """Numpy's ``get_virtual_index`` for ``method`` (int array if discrete)."""
    if method == "inverted_cdf":
        return _discrete_to_boundaries(n * quantiles - 1, lambda g, _: g == 0)
    if method == "closest_observation":
        return _discrete_to_boundaries(
            n * quantiles - 1 - 0.5,
            lambda g, i: (g == 0) & (np.floor(i) % 2 == 1),
        )
    if method == "lower":
        return np.floor((n - 1) * quantiles).astype(np.intp)
    if method == "higher":
        return np.ceil((n - 1) * quantiles).astype(np.intp)
    if method == "nearest":
        return np.around((n - 1) * quantiles).astype(np.intp)
    if method == "linear":
        return (n - 1) * quantiles
    if method == "averaged_inverted_cdf":
        return n * quantiles - 1
    if method == "midpoint":
        return 0.5 * (np.floor((n - 1) * quantiles) + np.ceil((n - 1) * quantiles))
    alpha_beta = {
        "interpolated_inverted_cdf": (0, 1),
        "hazen": (0.5, 0.5),
        "weibull": (0, 0),
        "median_unbiased": (1 / 3.0, 1 / 3.0),
        "normal_unbiased": (3 / 8.0, 3 / 8.0),
    }
    alpha, beta = alpha_beta[method]
    return _compute_virtual_index(n, quantiles, alpha, beta)


def _fix_gamma(gamma, virtual_indexes, method):
    # numpy: the methods' ``fix_gamma`` (identity for the continuous ones)
    if method == "averaged_inverted_cdf":
        return np.where(gamma == 0, 0.5, 1.0)
    if method == "midpoint":
        return np.where(virtual_indexes % 1 == 0, 0.0, 0.5)
    return gamma


def _plan(n, quantiles, method):
    """Which order statistics numpy reads, and how it combines them.

    Returns ``(previous, next, gamma)``: intp arrays of 0-based ranks (numpy
    may use ``-1`` for the last one) and the float64 weights, or
    ``(index, None, None)`` for the methods that take one order statistic.
    """
    virtual = np.asanyarray(_virtual_index(n, quantiles, method))
    if virtual.dtype.kind in "iu":
        return virtual, None, None
    # numpy: _get_indexes
    previous = np.floor(virtual)
    nxt = previous + 1
    above = virtual >= n - 1
    previous[above] = -1
    nxt[above] = -1
    below = virtual < 0
    previous[below] = 0
    nxt[below] = 0
    previous = previous.astype(np.intp)
    nxt = nxt.astype(np.intp)
    # numpy: _get_gamma (uses the already-clipped integer ``previous``)
    gamma = np.asanyarray(virtual - previous)
    gamma = np.asanyarray(_fix_gamma(gamma, virtual, method), dtype=virtual.dtype)
    return previous, nxt, gamma


def _lerp(a, b, t):
    """Numpy's ``_lerp``, operation for operation (so the bits agree)."""
    diff_b_a = b - a
    out = np.add(a, diff_b_a * t)
    np.subtract(b, diff_b_a * (1 - t), out=out, where=t >= 0.5)
    return out


# --------------------------------------------------------------------------
# selection engines
# --------------------------------------------------------------------------


def _digits_into(bits, shift, out):
    """16-bit digit ``(bits >> shift) & 0xFFFF`` of every value, into ``out``."""
    if _LITTLE:  # a strided view of the right uint16 of each value: no temporary
        np.copyto(out, bits.view(np.uint16)[shift // 16 :: 4])
    else:
        digit = (bits >> np.uint64(shift)) & np.uint64(0xFFFF)
        np.copyto(out, digit, casting="unsafe")
    return out


def _digits_np(bits, shift):
    """:func:`_digits_into` a new contiguous uint16 array."""
    return _digits_into(bits, shift, np.empty(bits.shape[0], dtype=np.uint16))


class _NumpyEngine:
    name = "numpy"

    @staticmethod
    def single_bucket(hist, digits, weights):
        # with weights, zero-weight rows may sit in buckets of zero sum
        if np.count_nonzero(hist) != 1:
            return False
        return weights is None or digits.min() == digits.max()

    @staticmethod
    def hist(bits, weights, shift):
        if weights is not None:
            digits = _digits_np(bits, shift)
            return np.bincount(digits, weights=weights, minlength=_NBUCKET), digits
        # unweighted: digits and counts chunk by chunk, on the kernels' threads;
        # np.bincount casts its input to intp, which stays in cache per chunk
        # (2x faster than one call on 10^7 values, more with two threads)
        digits = np.empty(bits.shape[0], dtype=np.uint16)

        def work(lo, hi):
            counts = np.zeros(_NBUCKET, dtype=np.int64)
            for s in range(lo, hi, _HIST_CHUNK):
                e = min(s + _HIST_CHUNK, hi)
                d = digits[s:e]
                _digits_into(bits[s:e], shift, d)
                counts += np.bincount(d, minlength=_NBUCKET)
            return counts

        parts = _backend.run_in_slices(work, bits.shape[0])
        return (parts[0] if len(parts) == 1 else np.sum(parts, axis=0)), digits

    @staticmethod
    def gather(bits, weights, shift, buckets, hist, digits):
        # flatnonzero + take is faster than boolean indexing; compare as
        # uint16 (an int64 scalar would make numpy cast every digit)
        buckets = [np.uint16(bucket) for bucket in buckets]

        def rows_in_buckets(lo, hi):
            # one slice of rows per thread; indices stay in row order
            d = digits[lo:hi]
            mask = np.equal(d, buckets[0])
            if len(buckets) > 1:
                other = np.empty_like(mask)
                for bucket in buckets[1:]:
                    mask |= np.equal(d, bucket, out=other)
            index = np.flatnonzero(mask)
            return index + lo if lo else index

        parts = _backend.run_in_slices(rows_in_buckets, digits.shape[0])
        index = parts[0] if len(parts) == 1 else np.concatenate(parts)
        del parts
        sub_bits = bits.take(index)
        sub_w = None if weights is None else weights.take(index)
        if len(buckets) == 1:
            return [(sub_bits, sub_w)]
        sub_digits = digits.take(index)
        out = []
        for bucket in buckets:
            m = sub_digits == bucket
            out.append((sub_bits[m], None if sub_w is None else sub_w[m]))
        return out


class _NumbaEngine:
    name = "numba"

    def __init__(self, kernels):
        self.k = kernels

    @staticmethod
    def single_bucket(hist, aux, weights):
        return np.count_nonzero(hist if weights is None else aux) == 1

    def hist(self, bits, weights, shift):
        """Histogram of the 16-bit digit at ``shift``; unweighted, ``aux`` holds
        the histograms of the row slices (one per thread on large inputs)."""
        if weights is None:
            slices = _backend.row_slices(bits.shape[0])
            parts = _backend.run_in_slices(
                lambda lo, hi: self.k.hist(bits[lo:hi], np.uint64(shift)),
                bits.shape[0],
            )
            total = parts[0] if len(parts) == 1 else np.sum(parts, axis=0)
            return total, (slices, parts)
        counts, wsum = self.k.hist_w(bits, weights, np.uint64(shift))
        return wsum, counts

    def gather(self, bits, weights, shift, buckets, hist, aux):
        counts = hist if weights is None else aux
        sizes = counts[buckets].astype(np.int64)
        offsets = np.zeros(len(buckets) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        table = np.full(_NBUCKET, -1, dtype=np.int64)
        table[buckets] = np.arange(len(buckets))
        out = np.empty(offsets[-1], dtype=np.uint64)
        if weights is None:
            # each row slice writes after the rows of the slices before it, in
            # each bucket: the same order as one sequential pass
            slices, parts = aux
            starts = [offsets[:-1]]
            for part in parts[:-1]:
                starts.append(starts[-1] + part[buckets].astype(np.int64))
            jobs = dict(zip(slices, starts))
            _backend.run_in_slices(
                lambda lo, hi: self.k.gather(
                    bits[lo:hi], np.uint64(shift), table, jobs[(lo, hi)], out
                ),
                bits.shape[0],
            )
            return [(out[s:e], None) for s, e in zip(offsets[:-1], offsets[1:])]
        wout = np.empty(offsets[-1], dtype=np.float64)
        self.k.gather_w(bits, weights, np.uint64(shift), table, offsets[:-1], out, wout)
        return [(out[s:e], wout[s:e]) for s, e in zip(offsets[:-1], offsets[1:])]


def select_backend(n=None):
    """Name the selection engine that :func:`percentiles` uses by default.

    The engine follows the row rule of :mod:`sklearn_mece._backend`: numba
    for large inputs when it is available and not switched off, numpy
    otherwise. Asking about large inputs may take a moment the first time: it
    imports numba and loads the kernels from numba's cache (or compiles
    them), so that the answer is the engine really used.

    Parameters
    ----------
    n : int or None, default=None
        Number of values; ``None`` asks about large inputs.

    Returns
    -------
    backend : {"numba", "numpy"}

    Examples
    --------
    >>> from sklearn_mece._select import select_backend
    >>> select_backend() in ("numba", "numpy")
    True
    >>> select_backend(1_000)
    'numpy'
    """
    return _backend.engine_for(_backend.NUMBA_LOAD_ROWS if n is None else n)


def _engine(backend, n):
    if backend is None or backend == "auto":
        backend = select_backend(n)
    if backend == "numpy":
        return _NumpyEngine()
    if backend == "numba":
        kernels = _backend.numba_kernels()
        if kernels is None:
            raise RuntimeError("the numba backend is not available")
        return _NumbaEngine(kernels)
    raise ValueError(
        f"backend must be None, 'auto', 'numpy' or 'numba'; got {backend!r}"
    )


def _radix_select(bits, weights, targets, engine, check_top=None):
    """Values at cumulative-count (or weight) targets.

    For each target ``t`` (>= 1) returns the value of the first element, in
    increasing order, whose cumulative count (cumulative weight when
    ``weights`` is given) reaches ``t``; unweighted, that is the order
    statistic of 0-based rank ``t - 1``.  Values are ordered by their bit
    pattern mapped to a total order (``-0.0`` before ``+0.0``); callers deal
    with mixed zeros.  ``targets`` must be sorted.  Weights must be
    integer-valued with an exact float64 total.
    """
    out = np.empty(len(targets), dtype=np.float64)
    stack = [(bits, weights, np.arange(len(targets)), 0, 0, False)]
    while stack:
        b, w, idx, before, level, negative = stack.pop()
        local = targets[idx] - before
        if level == 4 or b.size <= _LEAF:
            vals = b.view(np.float64)
            if level == 4:  # all 64 bits equal: identical values
                out[idx] = vals[0]
            elif w is None:
                kth = (local - 1).astype(np.intp)
                out[idx] = np.partition(vals, kth)[kth]
            else:
                order = np.argsort(vals, kind="stable")
                cum = np.cumsum(w[order])
                pos = np.minimum(np.searchsorted(cum, local, side="left"), b.size - 1)
                out[idx] = vals[order[pos]]
            continue
        shift = 48 - 16 * level
        hist, aux = engine.hist(b, w, shift)
        if level == 0:
            if check_top is not None:
                check_top(hist)
            order = _ORDER0
        else:
            order = _DESC if negative else _ASC
        ordered = hist[order]
        cum = np.cumsum(ordered)
        pos = np.minimum(np.searchsorted(cum, local, side="left"), _NBUCKET - 1)
        upos, inverse = np.unique(pos, return_inverse=True)
        buckets = order[upos]
        if engine.single_bucket(hist, aux, w):  # nothing to gather
            parts = [(b, w)]
        else:
            parts = engine.gather(b, w, shift, buckets, hist, aux)
        for g, (bucket, (sb, sw)) in enumerate(zip(buckets, parts)):
            sel = inverse == g
            j = upos[g]
            start = before + (cum[j] - ordered[j])
            neg = bool(bucket >= _NBUCKET // 2) if level == 0 else negative
            stack.append((sb, sw, idx[sel], start, level + 1, neg))
    return out


def _mixed_zeros(x):
    zeros = np.signbit(x[x == 0])
    return bool(zeros.any()) and not bool(zeros.all())


def _check_top_factory(x, require_finite=False):
    """Level-0 histogram hook: NaN makes numpy answer; flags signed zeros."""

    def check(hist):
        if require_finite and (hist[0x7FF0:0x8000].any() or hist[0xFFF0:].any()):
            raise NonFiniteValues("the values hold NaN or infinite values")
        nan_only = hist[0x7FF1:0x8000].any() or hist[0xFFF1:].any()
        if nan_only:
            raise _Delegate("nan")
        if hist[_B_PINF] or hist[_B_NINF]:
            if np.isnan(x).any():
                raise _Delegate("nan")
        if hist[_B_PZERO] and hist[_B_NZERO]:
            check.maybe_mixed_zeros = True

    check.maybe_mixed_zeros = False
    return check


def _select_values(x, targets, weights, engine, require_finite=False):
    """Run the radix select with the numba -> numpy fallback; check zeros."""
    check = _check_top_factory(x, require_finite)
    bits = x.view(np.uint64)
    try:
        vals = _radix_select(bits, weights, targets, engine, check)
    except (_Delegate, NonFiniteValues):
        raise
    except Exception:
        if engine.name != "numba":
            raise
        _backend.numba_failed()  # broken at run time: numpy from now on
        check = _check_top_factory(x, require_finite)
        vals = _radix_select(bits, weights, targets, _NumpyEngine(), check)
    if check.maybe_mixed_zeros and np.any(vals == 0) and _mixed_zeros(x):
        raise _Delegate("mixed signed zeros")
    return vals


# --------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------


def _as_values(x):
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D; got shape {x.shape}")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"x must be real numbers; got dtype {x.dtype}")
    if x.size == 0:
        raise ValueError("x is empty")
    # C-contiguous, aligned, native float64; a view (never written) if it is
    return np.require(x, dtype=np.float64, requirements=["C", "A"])


def _as_quantiles(q):
    q = np.asarray(q, dtype=np.float64)
    if q.ndim > 1:
        raise ValueError(f"q must be a scalar or 1-D; got shape {q.shape}")
    q = np.atleast_1d(q)
    quantiles = np.true_divide(q, 100)
    if not (np.all(quantiles >= 0) and np.all(quantiles <= 1)):
        raise ValueError("Percentiles must be in the range [0, 100]")
    return q, quantiles


def _check_method(method, allowed):
    if method not in allowed:
        raise ValueError(f"{method!r} is not a valid method. Use one of: {allowed}")


# --------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------


def percentiles(x, q, *, method="linear", backend=None, require_finite=False):
    """Exact percentiles, bit-identical to :func:`numpy.percentile`.

    Selects only the order statistics that ``method`` needs (a radix select
    on the float64 bit patterns) instead of partitioning a full copy of
    ``x``, then combines them with numpy's own formulas, so the result has
    exactly the bits of ``np.percentile(x, q, method=method)``.

    Parameters
    ----------
    x : array-like of shape (n_samples,)
        Real values, converted to float64 (identity holds with
        ``np.percentile`` of the float64 array).  Remove NaN first: like
        numpy, a NaN anywhere makes every result NaN (numpy itself then
        answers).  ``x`` is never written to; read-only and non-contiguous
        arrays are fine (a non-contiguous one is copied once).
    q : float or array-like of shape (n_quantiles,)
        Percentiles in ``[0, 100]``, converted to float64.
    method : str, default="linear"
        Any of numpy's methods: ``"inverted_cdf"``,
        ``"averaged_inverted_cdf"``, ``"closest_observation"``,
        ``"interpolated_inverted_cdf"``, ``"hazen"``, ``"weibull"``,
        ``"linear"``, ``"median_unbiased"``, ``"normal_unbiased"``,
        ``"lower"``, ``"higher"``, ``"midpoint"``, ``"nearest"``.
    backend : {None, "auto", "numpy", "numba"}, default=None
        Selection engine; ``None``/``"auto"`` uses ``select_backend(len(x))``.
        Asking for ``"numba"`` when it is unavailable raises RuntimeError.
    require_finite : bool, default=False
        Raise :class:`NonFiniteValues` if ``x`` holds NaN or infinite values.
        The check reads the first histogram of the selection, so a caller
        that must refuse or drop non-finite values needs no separate pass
        when there are none.

    Returns
    -------
    cuts : ndarray of shape (n_quantiles,), dtype float64
        Always 1-D, also for a scalar ``q``.

    Raises
    ------
    ValueError
        If ``x`` is empty or not 1-D, if a percentile is outside
        ``[0, 100]`` or if ``method`` is unknown.
    NonFiniteValues
        With ``require_finite=True``, if ``x`` holds NaN or infinite values.

    Notes
    -----
    The values are those of ``np.percentile`` including its quirks: for
    instance ``"linear"`` returns ``+0.0`` at a rank holding ``-0.0`` (numpy's
    ``_lerp`` adds ``0.0``), and NaN where it interpolates between two
    infinities.  When a selected order statistic is a zero and ``x`` holds
    both signed zeros, the sign numpy returns depends on its partition
    algorithm; that case (and NaN input, and ``n <= 32768``) is computed by
    ``np.percentile`` itself.  Memory: at most one float64 copy of ``x``
    (only if it is not contiguous) plus the candidates of a few buckets; the
    numpy engine also uses a uint16 array of the top bits.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mece._select import percentiles
    >>> x = np.array([5.0, 1.0, 4.0, 2.0, 3.0])
    >>> percentiles(x, [0, 40, 75, 100])
    array([1. , 2.6, 4. , 5. ])
    >>> percentiles(x, 50, method="lower")
    array([3.])
    >>> rng = np.random.default_rng(0)
    >>> big = rng.lognormal(3.5, 1.0, 100_000).round(2)
    >>> cuts = percentiles(big, [40, 75])
    >>> bool(np.array_equal(cuts, np.percentile(big, [40, 75])))
    True
    """
    _check_method(method, METHODS)
    x = _as_values(x)
    q, quantiles = _as_quantiles(q)
    n = x.size
    if require_finite and n <= max(_DIRECT_N, _LEAF) and not np.isfinite(x).all():
        # no level-0 histogram below these sizes: check directly
        raise NonFiniteValues("the values hold NaN or infinite values")
    if n <= _DIRECT_N:
        return _numpy_percentile(x, q, method)
    previous, nxt, gamma = _plan(n, quantiles, method)
    wanted = previous if nxt is None else np.concatenate((previous, nxt))
    ranks = np.unique(np.where(wanted < 0, wanted + n, wanted))
    engine = _engine(backend, x.size)
    try:
        vals = _select_values(x, ranks + 1, None, engine, require_finite)
    except _Delegate:
        return _numpy_percentile(x, q, method)

    def at(index):
        index = np.where(index < 0, index + n, index)
        return vals[np.searchsorted(ranks, index)]

    if nxt is None:
        return at(previous)
    return _lerp(at(previous), at(nxt), gamma)


def _numpy_percentile(x, q, method):
    return np.asarray(np.percentile(x, q, method=method), dtype=np.float64)


def _as_weights(w, n):
    w = np.asarray(w)
    if w.shape != (n,):
        raise ValueError(f"w must have shape ({n},); got {w.shape}")
    if w.dtype.kind not in "biuf":
        raise TypeError(f"w must be real numbers; got dtype {w.dtype}")
    return np.require(w, dtype=np.float64, requirements=["C", "A"])


def _weight_stats(w, engine):
    """(any negative, any NaN/inf, all integer-valued, total, # positive)."""
    if engine.name == "numba":
        try:
            return engine.k.weight_stats(w)
        except Exception:
            pass
    negative = bool(np.any(w < 0))
    finite = np.isfinite(w)
    nonfinite = not bool(finite.all())
    integral = not nonfinite and bool(np.all(np.trunc(w) == w))
    return negative, nonfinite, integral, float(np.sum(w)), int(np.count_nonzero(w > 0))


def _has_nan(x, engine):
    if engine.name == "numba":
        try:
            return bool(engine.k.has_nan(x))
        except Exception:
            pass
    return bool(np.isnan(x).any())


def _numpy_weighted_inverted_cdf(x, w, quantiles):
    """Numpy's weighted ``inverted_cdf`` (``_quantile``), step for step."""
    order = np.argsort(x)
    arr = x[order]
    cdf = w[order].cumsum(dtype=np.float64)
    cdf /= cdf[-1]
    if cdf[0] == 0:
        cdf[cdf == 0] = -1
    idx = np.minimum(np.searchsorted(cdf, quantiles, side="left"), x.size - 1)
    result = arr[idx]
    if np.isnan(arr[-1]):
        result[...] = arr[-1]
    return result


def _average_where(hit, b, c):
    """``b``, or numpy's midpoint ``_lerp(b, c, 0.5)`` where ``hit``."""
    out = b.copy()
    if hit.any():
        out[hit] = _lerp(b[hit], c[hit], np.full(int(hit.sum()), 0.5))
    return out


def _weighted_averaged_reference(x, w, quantiles):
    """Weighted ``averaged_inverted_cdf`` by sorting (the definition)."""
    if np.isnan(x).any():
        return np.full(quantiles.shape, np.nan)
    keep = w > 0
    xs, ws = x[keep], w[keep]
    order = np.argsort(xs, kind="stable")
    xs = xs[order]
    cum = np.cumsum(ws[order])
    total = cum[-1]
    m = xs.size
    target = total * quantiles
    i = np.minimum(np.searchsorted(cum, target, side="left"), m - 1)
    b = xs[i]
    last = np.searchsorted(xs, b, side="right") - 1  # end of b's tie block
    hit = (cum[last] == target) & (target < total)
    c = xs[np.minimum(last + 1, m - 1)]
    return _average_where(hit, b, c)


def weighted_percentiles(x, w, q, *, method="inverted_cdf", backend=None):
    """Exact weighted percentiles.

    ``method="inverted_cdf"`` returns the bits of
    ``np.percentile(x, q, weights=w, method="inverted_cdf")``: the smallest
    value whose normalised cumulative weight reaches ``q / 100``.

    ``method="averaged_inverted_cdf"`` is the weighted generalisation of
    numpy's unweighted method of that name.  With ``W`` the total weight,
    ``t = W * q / 100`` and ``F(v)`` the total weight of the values ``<= v``,
    let ``b`` be the smallest value with ``F(b) >= t`` (the smallest value
    with positive weight when ``t == 0``).  When the cumulative weight hits
    the target exactly, ``F(b) == t < W``, the result is the average of ``b``
    and the next larger value (numpy's ``_lerp`` with weight 0.5, as numpy
    averages); otherwise it is ``b``.  With all weights equal to 1 the result
    is exactly ``np.percentile(x, q, method="averaged_inverted_cdf")``
    (numpy then answers, quirks included: it returns NaN next to an
    infinity), and integer weights give the same cut points as repeating
    each row that many times (exactly, for finite values).  Scaling all
    weights by a power of two does not change the result.

    Parameters
    ----------
    x : array-like of shape (n_samples,)
        Real values, converted to float64.  Remove NaN first: as in numpy, a
        NaN anywhere (even with zero weight) makes every result NaN.
    w : array-like of shape (n_samples,)
        Non-negative finite weights, not all zero.  A zero weight behaves
        exactly like the row being absent (NaN values aside).
    q : float or array-like of shape (n_quantiles,)
        Percentiles in ``[0, 100]``.
    method : {"inverted_cdf", "averaged_inverted_cdf"}, default="inverted_cdf"
        See above.
    backend : {None, "auto", "numpy", "numba"}, default=None
        Selection engine, as in :func:`percentiles`.

    Returns
    -------
    cuts : ndarray of shape (n_quantiles,), dtype float64

    Raises
    ------
    ValueError
        If a weight is negative (``"Weights must be non-negative."``), if the
        weights include NaN or inf or are all zero, if ``w`` and ``x`` differ
        in shape, or for the reasons :func:`percentiles` raises.

    Notes
    -----
    Fast path: integer-valued weights (counts, repetitions, all ones) whose
    total is below 2**53 are summed exactly, so a radix select over the
    cumulative weight gives the answer without sorting (on 10^7 rows about
    50 ms with numba, 100 ms with numpy, against about 3 s for
    ``np.percentile(..., weights=w)``).  Other weights
    (fractional ones, where numpy's inverted_cdf depends on the rounding of
    its cumulative sum in its sort order) are handled by sorting, as numpy
    does, and so at numpy's speed; for averaged_inverted_cdf the cumulative
    sum is then taken in sorted order with ties in input order.  When the
    selected value is a zero and ``x`` holds both ``-0.0`` and ``+0.0``, the
    sorted computation decides the sign (numpy's own, for inverted_cdf).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mece._select import weighted_percentiles
    >>> x = np.array([1.0, 2.0, 3.0, 4.0])
    >>> w = np.array([1.0, 0.0, 2.0, 1.0])
    >>> weighted_percentiles(x, w, [25, 50, 100])
    array([1., 3., 4.])
    >>> weighted_percentiles(x, w, [25, 50], method="averaged_inverted_cdf")
    array([2., 3.])
    >>> same = np.array([1.0, 3.0, 3.0, 4.0])  # w as repeated rows
    >>> np.percentile(same, [25, 50], method="averaged_inverted_cdf")
    array([2., 3.])
    """
    _check_method(method, WEIGHTED_METHODS)
    x = _as_values(x)
    w = _as_weights(w, x.size)
    q, quantiles = _as_quantiles(q)
    engine = _engine(backend, x.size)
    negative, nonfinite, integral, total, n_positive = _weight_stats(w, engine)
    if negative:
        raise ValueError("Weights must be non-negative.")
    if nonfinite or not math.isfinite(total) or total == 0:
        raise ValueError("Weights included NaN, inf or were all zero.")
    integral = integral and total < _EXACT_SUM
    # like numpy, a NaN anywhere (even with zero weight) makes the result NaN
    nan = _has_nan(x, engine)
    # zero weights need no filtering: a zero-weight row can never be the
    # first to reach a positive cumulative target

    if method == "averaged_inverted_cdf":
        if nan:
            return np.full(quantiles.shape, np.nan)
        if integral and total == n_positive:  # all positive weights are 1
            xp = x if n_positive == x.size else x[w > 0]
            return percentiles(xp, q, method=method, backend=engine.name)
        if not integral or x.size <= _DIRECT_N:
            return _weighted_averaged_reference(x, w, quantiles)
        # ranks in weight units: v(r) = first value whose cumulative weight
        # reaches r; with integer weights, F(b) == t  <=>  v(t + 1) != v(t)
        target = total * quantiles
        whole = (target == np.floor(target)) & (target > 0) & (target < total)
        b_rank = np.minimum(np.maximum(np.ceil(target), 1), total)
        ranks = np.unique(np.concatenate((b_rank, target[whole] + 1)))
        try:
            vals = _select_values(x, ranks, w, engine)
        except _Delegate:
            return _weighted_averaged_reference(x, w, quantiles)
        b = vals[np.searchsorted(ranks, b_rank)]
        c = vals[np.searchsorted(ranks, np.where(whole, target + 1, b_rank))]
        hit = whole & (c != b)
        return _average_where(hit, b, c)

    # inverted_cdf
    if nan or not integral or x.size <= _DIRECT_N:
        return _numpy_weighted_inverted_cdf(x, w, quantiles)
    # numpy picks the first index with fl(S / W) >= q, S the exact integer
    # cumulative weight; fl(s / W) is monotone in s, so find the smallest
    # integer s >= 1 that passes (a few steps from floor(q * W)).
    thresholds = []
    for qq in quantiles.tolist():
        s = max(1.0, math.floor(qq * total) - 3.0)
        while s / total < qq:
            s += 1.0
        thresholds.append(min(s, total))
    thresholds = np.asarray(thresholds)
    ranks = np.unique(thresholds)
    try:
        vals = _select_values(x, ranks, w, engine)
    except _Delegate:
        return _numpy_weighted_inverted_cdf(x, w, quantiles)
    return vals[np.searchsorted(ranks, thresholds)]
