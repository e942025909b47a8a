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

Serialized sketches are checked before DataSketches sees them. Its
deserialiser trusts the header: a sketch whose level boundaries are
inconsistent deserializes, then reads and writes out of bounds (the process
dies) at the next update, merge or quantile. Bytes can come from a model file,
so :func:`validate_sketch` checks them against the KLL serialization format
(apache/datasketches-cpp, ``kll_sketch.hpp``) and every function here
deserializes through it.
"""

import math
import struct

import numpy as np

#: Default ``k`` of the sketches (rank error ~0.28 % with 99 % confidence).
DEFAULT_K = 1000


def _kll():
    from ._base import optional_import

    return optional_import(
        "datasketches",
        feature="partial_fit",
        extra="sketch",
        detail="(Apache DataSketches; or pip install datasketches)",
    ).kll_doubles_sketch


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


# -- continuing from fit: a uniform sample of the rows fit saw ------------------------
#: ``fit`` keeps at most ``SAMPLE_PER_K * k`` values of each thresholded column.
SAMPLE_PER_K = 8
# the sample is seeded: fitting twice on the same data keeps the same sample
_SAMPLE_SEED = 0
# rows fed to a sketch at once when the sample is expanded
_EXPAND_BLOCK = 1 << 22


def sample_rows(n_rows, k):
    """Rows of the uniform sample that ``fit`` keeps, sorted; None for all rows.

    ``fit`` computes exact cuts and keeps, for :meth:`partial_fit` to continue
    from, the values of ``SAMPLE_PER_K * k`` rows drawn uniformly without
    replacement (seeded, so refitting keeps the same rows); with fewer rows it
    keeps them all.

    Examples
    --------
    >>> sample_rows(100, 200) is None
    True
    >>> rows = sample_rows(100_000, 200)
    >>> rows.size, bool((rows[1:] > rows[:-1]).all())
    (1600, True)
    """
    size = SAMPLE_PER_K * int(k)
    if n_rows <= size:
        return None
    rng = np.random.default_rng(_SAMPLE_SEED)
    return np.sort(rng.choice(n_rows, size=size, replace=False))


def sample_values(values, rows):
    """The non-missing values of ``rows`` (all rows when None), as a new array.

    Examples
    --------
    >>> sample_values(np.array([3.0, np.nan, 1.0]), None)
    array([3., 1.])
    >>> sample_values(np.array([3.0, np.nan, 1.0]), np.array([1, 2]))
    array([1.])
    """
    taken = values if rows is None else values[rows]
    return np.array(taken[~np.isnan(taken)], dtype=np.float64)


def sample_rank_error(sample_size, n_values):
    """Normalized rank error of a uniform sample's quantiles (99 % confidence).

    The Dvoretzky-Kiefer-Wolfowitz inequality: the empirical distribution of
    ``m`` values drawn uniformly is within ``sqrt(ln(2 / 0.01) / (2 m))`` of the
    distribution of all ``n_values`` everywhere, with probability 99 %
    (``0`` when the sample holds every value).

    Examples
    --------
    >>> round(sample_rank_error(8000, 10**7), 4)
    0.0182
    >>> sample_rank_error(30, 30)
    0.0
    """
    if sample_size >= n_values:
        return 0.0
    return math.sqrt(math.log(2 / 0.01) / (2 * sample_size))


def sketch_of_sample(sample, n_values, k):
    """A serialized sketch of ``n_values`` values, each sampled value standing for
    ``n_values / sample.size`` of them (counts differ by at most one).

    Expanding the sample costs about as much as feeding ``n_values`` values to
    a sketch; it runs once, when ``partial_fit`` first continues after ``fit``.

    Examples
    --------
    >>> s = sketch_of_sample(np.array([1.0, 2.0]), 4, 200)
    >>> sketch_quantiles(s, [0.5, 1.0])
    (array([1., 2.]), 4, 0.0)
    """
    sample = np.asarray(sample, dtype=np.float64)
    counts = np.full(sample.size, n_values // sample.size, dtype=np.intp)
    counts[: n_values % sample.size] += 1
    sketch = _load(empty_sketch(k))
    per_block = max(1, _EXPAND_BLOCK // max(1, int(counts.max())))
    for start in range(0, sample.size, per_block):
        stop = start + per_block
        sketch.update(np.repeat(sample[start:stop], counts[start:stop]))
    return bytes(sketch.serialize())


# -- the serialized KLL doubles sketch (datasketches-cpp kll_sketch.hpp) -------------
#  byte 0 preamble ints (2: empty or single item, 5: otherwise), 1 serial version
#  (1, or 2 for a single item), 2 family id (15), 3 flags (bit 0 empty, 1 level zero
#  sorted, 2 single item), 4-5 k (uint16), 6 m (8), 7 unused.
#  Empty: nothing more. Single item: the item (float64), 16 bytes in all.
#  Otherwise: 8-15 n (uint64), 16-17 min k (uint16), 18 number of levels, 19 unused,
#  then the level boundaries but the last (uint32 each; the last one is the total
#  capacity, derived from k and the number of levels), min and max (float64) and
#  the retained items (float64), from the first boundary to the capacity.
_FAMILY = 15
_M = 8
_MIN_K = 8
_EMPTY, _SORTED, _SINGLE = 1, 2, 4
_PREAMBLE = struct.Struct("<BBBBHBB")
_FULL_PREAMBLE = struct.Struct("<QHBB")
_DATA_START = 20
_EMPTY_SIZE = 8
_SINGLE_ITEM_SIZE = 16
# level capacities use k * (2/3)**depth with depth <= 60 (int_cap_aux)
_MAX_LEVELS = 61


def _level_capacity_aux(k, depth):
    # kll_helper::int_cap_aux_aux: round(k * (2/3)**depth) in integers
    return ((((2 * k) << depth) // 3**depth) + 1) >> 1


def _total_capacity(k, num_levels):
    """Items a sketch of ``num_levels`` levels holds (kll_helper::compute_total_capacity)."""
    total = 0
    for height in range(num_levels):
        depth = num_levels - height - 1
        if depth <= 30:
            cap = _level_capacity_aux(k, depth)
        else:
            half = depth // 2
            cap = _level_capacity_aux(_level_capacity_aux(k, half), depth - half)
        total += max(_M, cap)
    return total


def validate_sketch(data):
    """Check serialized KLL doubles sketch bytes before deserializing them.

    Every field is checked against the serialization format of Apache
    DataSketches (preamble, serial version, family, flags, ``k``, ``m``,
    ``n``, ``min_k``, the level boundaries against the capacity that ``k``
    and the number of levels imply, the exact length) and against what the
    sketch's own invariants require: the levels weigh exactly ``n``
    (level ``h`` counts ``2**h``), levels above zero are sorted (level zero
    too when flagged sorted), items are finite and within ``[min, max]``.
    Only the level-zero-sorted flag when cleared, ``min_k`` (any value in
    ``[8, k]``) and ``k`` of an empty sketch can change without being
    noticed; none of them can make DataSketches read out of bounds.

    Parameters
    ----------
    data : bytes, bytearray or memoryview
        A serialized ``kll_doubles_sketch``.

    Returns
    -------
    bytes
        ``data`` as bytes, safe to deserialize.

    Raises
    ------
    TypeError
        If ``data`` is not bytes-like.
    ValueError
        If ``data`` is not a well-formed KLL doubles sketch.

    Examples
    --------
    >>> data = update_sketch(empty_sketch(200), np.arange(10.0))
    >>> validate_sketch(data) == data
    True
    >>> validate_sketch(data[:-1])
    Traceback (most recent call last):
    ...
    ValueError: malformed KLL sketch: 119 bytes, its header describes 120
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"a serialized KLL sketch must be bytes, got {type(data).__name__}"
        )
    data = bytes(data)
    size = len(data)

    def bad(problem):
        return ValueError(f"malformed KLL sketch: {problem}")

    if size < _EMPTY_SIZE:
        raise bad(f"{size} bytes, even an empty sketch has {_EMPTY_SIZE}")
    preamble, version, family, flags, k, m, unused = _PREAMBLE.unpack_from(data)
    if family != _FAMILY:
        raise bad(f"family id {family}, a KLL sketch has {_FAMILY}")
    if version not in (1, 2):
        raise bad(f"serial version {version}, expected 1 or 2")
    if m != _M:
        raise bad(f"m is {m}, expected {_M}")
    if k < _MIN_K:
        raise bad(f"k is {k}, at least {_MIN_K} expected")
    if flags & ~(_EMPTY | _SORTED | _SINGLE):
        raise bad(f"unknown flags {flags:#04x}")
    empty, single = bool(flags & _EMPTY), bool(flags & _SINGLE)
    if empty and single:
        raise bad("flagged both empty and single-item")
    expected = 2 if empty or single else 5
    if preamble != expected:
        raise bad(f"{preamble} preamble ints, expected {expected}")
    if unused:
        raise bad("unused header byte is not zero")
    if empty or single:
        expected = _EMPTY_SIZE if empty else _SINGLE_ITEM_SIZE
        if size != expected:
            raise bad(f"{size} bytes, its header describes {expected}")
        if single and not np.isfinite(np.frombuffer(data, "<f8", 1, _EMPTY_SIZE)[0]):
            raise bad("its item is not finite")
        return data

    if size < _DATA_START:
        raise bad(f"{size} bytes, its header alone has {_DATA_START}")
    n, min_k, num_levels, unused = _FULL_PREAMBLE.unpack_from(data, _EMPTY_SIZE)
    if unused:
        raise bad("unused header byte is not zero")
    if not _MIN_K <= min_k <= k:
        raise bad(f"min k is {min_k}, expected {_MIN_K} to k={k}")
    # a sketch grows a level when its top level is full: level h holds a value of
    # weight 2**h, so n >= 2**(num_levels - 1) (kll_helper::ub_on_num_levels)
    if not 1 <= num_levels <= min(_MAX_LEVELS, n.bit_length()):
        raise bad(f"{num_levels} levels for n={n}")
    items_start = _DATA_START + 4 * num_levels
    if size < items_start:
        raise bad(f"{size} bytes, its header describes more")
    capacity = _total_capacity(k, num_levels)
    levels = np.frombuffer(data, "<u4", num_levels, _DATA_START).tolist() + [capacity]
    if any(lo > hi for lo, hi in zip(levels, levels[1:])) or levels[0] >= capacity:
        raise bad(
            f"level boundaries {levels[:-1]} are not increasing up to the "
            f"capacity {capacity} of k={k} with {num_levels} levels"
        )
    retained = capacity - levels[0]
    expected = items_start + 8 * (2 + retained)
    if size != expected:
        raise bad(f"{size} bytes, its header describes {expected}")
    weight = sum((hi - lo) << h for h, (lo, hi) in enumerate(zip(levels, levels[1:])))
    if weight != n:
        raise bad(f"its levels hold a weight of {weight}, but n is {n}")
    low, high = np.frombuffer(data, "<f8", 2, items_start)
    items = np.frombuffer(data, "<f8", retained, items_start + 16)
    if not (np.isfinite(low) and np.isfinite(high) and np.isfinite(items).all()):
        raise bad("it holds non-finite values")
    if low > high or items.min() < low or items.max() > high:
        raise bad("its items are not within its min and max")
    for h, (lo, hi) in enumerate(zip(levels, levels[1:])):
        if (h or flags & _SORTED) and np.any(
            np.diff(items[lo - levels[0] : hi - levels[0]]) < 0
        ):
            raise bad(f"level {h} is not sorted")
    return data


def _load(data):
    return _kll().deserialize(validate_sketch(data))


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
