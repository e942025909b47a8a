"""Row kernels of the transform hot path, with a pure-numpy and a numba engine.

Three jobs take nearly all the time of a transform on many rows:

* :func:`level_codes`: the level code of every value of a column (the number
  of cuts ``<=`` the value; ``-1`` for NaN), counting NaN and infinite values
  on the way, so no separate validation pass is needed;
* :func:`rule_lookup`: for every row, the cell of a lookup table addressed by
  the slots of several variables (level codes and comparisons of raw
  columns), and the table's value there. This is how compiled rules are
  applied: one table lookup per row instead of one mask per rule;
* :func:`bincount` and :func:`take`: counts of small codes and remapping them
  through a small table, without numpy's conversion of the indices to
  ``intp`` (an 8x larger temporary).

Both engines give identical results. The numpy engine processes rows in
blocks of :data:`BLOCK` rows so that no temporary is larger than a block (1-2
bytes per row of it, near the CPU cache) and the threads each take a slice of
the rows; it is correct on every platform numpy runs on. The numba engine
runs the compiled loops of :mod:`sklearn_mece._numba_kernels`. Which engine
runs, on how many threads, and how to switch numba off: see
:mod:`sklearn_mece._backend` (one switch and one thread pool for the whole
package; its row rule says when numba runs).

Comparison operators are those of :data:`sklearn_mece._operators.OPERATORS`,
by name; any other name raises ``ValueError`` whatever the input size or
engine.

Slots of :func:`rule_lookup`. A variable with domain ``d`` takes the slots
``0 .. d - 1``; slot ``0`` means *missing*. A level variable with ``L``
levels has ``d = L + 1`` and slot ``code + 1``; a comparison has ``d = 3``
and slots ``1`` (false) and ``2`` (true). The table is in C order over the
variables' domains.
"""

import numpy as np

from . import _backend
from ._backend import engine_for
from ._operators import get_operator

#: Rows per block of the numpy engine. Smaller blocks keep temporaries in the
#: L2 cache but cost more ufunc calls, and every call releases and re-takes
#: the GIL: measured on 2 threads, a level-code column of 10^7 rows took
#: 29 ms with 2^13-row blocks, 11 ms with 2^15 and 6.5 ms with 2^17-2^18.
BLOCK = 1 << 17

#: Up to this many rows the numpy engine works on whole arrays, with no
#: blocks, threads or error-state changes: a single-row transform is dominated
#: by per-call overhead, not by arithmetic.
SMALL_ROWS = 1024

#: Rows per block of the numba rule lookup (its index array stays in cache).
NUMBA_BLOCK = 1 << 16


def _blocks(n):
    return range(0, n, BLOCK)


# --------------------------------------------------------------------------
# public kernels
# --------------------------------------------------------------------------
def nonfinite_counts(values, engine=None):
    """Number of NaN and of infinite values in a float64 column.

    Parameters
    ----------
    values : ndarray of float64, 1-D
    engine : {"numba", "numpy"} or None

    Returns
    -------
    n_nan, n_inf : int

    Examples
    --------
    >>> nonfinite_counts(np.array([1.0, np.nan, np.inf, -np.inf]))
    (1, 2)
    """
    if engine_for(values.shape[0], engine) == "numba":
        return _numba_nonfinite(values)
    # A finite sum proves there is no NaN and no infinity (NaN and inf
    # propagate); only otherwise count exactly.
    with np.errstate(invalid="ignore", over="ignore"):
        if _finite(values):
            return 0, 0
    return int(np.count_nonzero(np.isnan(values))), int(
        np.count_nonzero(np.isinf(values))
    )


def outside_count(values, lo, hi, engine=None):
    """Number of values below ``lo`` or above ``hi`` (NaN is never counted).

    Examples
    --------
    >>> outside_count(np.array([-1.0, 0.0, 2.0, np.nan]), 0.0, 1.0)
    2
    """
    n = values.shape[0]
    if engine_for(n, engine) == "numba":
        k = _backend.numba_kernels()
        values = _backend.readonly(values)
        res = _backend.run_in_slices(
            lambda a, b: k.outside_count(values[a:b], lo, hi), n
        )
        return int(sum(res))
    count = 0
    for s in _blocks(n):
        chunk = values[s : s + BLOCK]
        count += int(np.count_nonzero((chunk < lo) | (chunk > hi)))
    return count


def level_codes(values, cuts, out=None, engine=None):
    """Level codes of a float64 column and its NaN / infinite counts.

    Parameters
    ----------
    values : ndarray of float64, 1-D
        The column (may be read-only or strided).
    cuts : ndarray of float64
        Ascending cut values, at most 126 of them.
    out : ndarray of int8, optional
        Where to write the codes.
    engine : {"numba", "numpy"} or None

    Returns
    -------
    codes : ndarray of int8
        Number of cuts ``<=`` each value; ``-1`` for NaN.
    n_nan, n_inf : int
        Counts of NaN and of infinite values (infinite values get a code).

    Examples
    --------
    >>> level_codes(np.array([1.0, 2.0, np.nan, 9.0]), np.array([2.0, 3.0]))
    (array([ 0,  1, -1,  2], dtype=int8), 1, 0)
    """
    n = values.shape[0]
    cuts = np.asarray(cuts, dtype=np.float64)
    if out is None:
        out = np.empty(n, dtype=np.int8)
    if cuts.size == 0:
        out[...] = 0
        n_nan, n_inf = nonfinite_counts(values, engine)
        if n_nan:
            out[np.isnan(values)] = -1
        return out, n_nan, n_inf
    if engine_for(n, engine) == "numba":
        return (out, *_numba_level_codes(values, cuts, out))
    if n <= SMALL_ROWS:
        return (out, *_small_level_codes(values, cuts, out))

    def work(lo, hi):
        with np.errstate(invalid="ignore", over="ignore"):
            return _numpy_level_codes(values[lo:hi], cuts, out[lo:hi])

    res = _backend.run_in_slices(work, n)
    return out, sum(r[0] for r in res), sum(r[1] for r in res)


def rule_lookup(inputs, table, out=None, engine=None):
    """Look every row up in a table addressed by the slots of several variables.

    Parameters
    ----------
    inputs : list of tuple
        One per variable, in the table's axis order: ``("level", codes,
        n_levels)`` with integer codes (``-1`` missing), or ``("compare",
        values, op, operands)`` with float64 values, ``op`` the name of an
        operator of :data:`sklearn_mece._operators.OPERATORS` and
        ``operands`` a float64 array (one value, or the listed values of
        ``in`` / ``not in``).
    table : ndarray, 1-D
        Table in C order over the domains (``n_levels + 1`` or ``3``), slot
        ``0`` of each axis meaning missing.
    out : ndarray, optional
        Where to write the looked-up values (dtype of ``table``).
    engine : {"numba", "numpy"} or None

    Returns
    -------
    out : ndarray
        ``table[cell]`` of every row.
    counts : ndarray of int64, shape (n_variables, 3)
        Per variable: values that are not valid level codes (level variables
        only), missing values (``-1`` codes or NaN), infinite values
        (comparisons only). Rows with an invalid value get an unspecified
        table value: check the counts.

    Raises
    ------
    ValueError
        If an operator is unknown (at every input size, on both engines).

    Examples
    --------
    >>> codes = np.array([0, 2, -1, 1], dtype=np.int8)
    >>> days = np.array([5.0, 50.0, 1.0, np.nan])
    >>> table = np.arange(12)  # 4 level slots x 3 comparison slots
    >>> out, counts = rule_lookup(
    ...     [("level", codes, 3), ("compare", days, "<=", np.array([30.0]))], table)
    >>> out.tolist()
    [5, 10, 2, 6]
    >>> counts.tolist()
    [[0, 1, 0], [0, 1, 0]]
    """
    inputs = [_with_operator(v) for v in inputs]
    n = out.shape[0] if out is not None else _n_rows(inputs)
    if out is None:
        out = np.empty(n, dtype=table.dtype)
    if not inputs:
        out[...] = table[0]
        return out, np.zeros((0, 3), dtype=np.int64)
    doms = [(v[2] + 1 if v[0] == "level" else 3) for v in inputs]
    if engine_for(n, engine) == "numba":
        return out, _numba_rule_lookup(inputs, doms, table, out)
    if n <= SMALL_ROWS:
        return out, _small_rule_lookup(inputs, doms, table, out)
    return out, _numpy_rule_lookup(inputs, doms, table, out)


def bincount(codes, n_bins, engine=None):
    """Counts of the values ``0 .. n_bins - 1`` in an integer array.

    Values outside that range (``-1`` for missing, say) are not counted.

    Examples
    --------
    >>> bincount(np.array([0, 2, 2, -1], dtype=np.int8), 3).tolist()
    [1, 0, 2]
    """
    n = codes.shape[0]
    if engine_for(n, engine) == "numba":
        return _numba_bincount(codes, n_bins)
    counts = np.zeros(n_bins + 2, dtype=np.int64)
    buf = np.empty(min(n, BLOCK), dtype=np.intp)
    for s in _blocks(n):
        chunk = codes[s : s + BLOCK]
        b = buf[: chunk.shape[0]]
        # shift by one and clip, so that -1 and out-of-range values land in
        # the two extra bins that are dropped below
        np.copyto(b, chunk, casting="unsafe")
        b += 1
        np.clip(b, 0, n_bins + 1, out=b)
        counts += np.bincount(b, minlength=n_bins + 2)
    return counts[1 : n_bins + 1]


def take(table, codes, engine=None):
    """``table[codes]`` for small integer codes (negative codes index from the end).

    Examples
    --------
    >>> take(np.array([10, 20, 30]), np.array([2, -1, 0], dtype=np.int8)).tolist()
    [30, 30, 10]
    """
    n = codes.shape[0]
    table = np.ascontiguousarray(table)
    out = np.empty(n, dtype=table.dtype)
    if engine_for(n, engine) == "numba":
        return _numba_take(table, codes, out)
    buf = np.empty(min(n, BLOCK), dtype=np.intp)
    for s in _blocks(n):
        chunk = codes[s : s + BLOCK]
        b = buf[: chunk.shape[0]]
        np.copyto(b, chunk, casting="unsafe")
        np.take(table, b, out=out[s : s + BLOCK])
    return out


#: Rows per block of :func:`segment_sums`: sums are taken in row order within
#: a block and the blocks are added in order, so the result does not depend
#: on the engine or the number of threads.
SUM_BLOCK = 1 << 17

#: Interleaved partial sums of :func:`segment_sums` (row ``i`` of a block in
#: lane ``i % SUM_LANES``): consecutive rows of one code add to different
#: accumulators, which measured 2-3x faster than one chain of additions.
SUM_LANES = 4


#: Sums of values near the float64 limit overflow: the same sums of the
#: values divided by this power of two (exact, but for values below about
#: 1e-142, which vanish next to them) are finite, and so are the means once
#: multiplied back.
OVERFLOW_SCALE = 2.0**600


def segment_sums(
    codes, n_bins, values, lo=-np.inf, hi=np.inf, has_nan=True, counts=None, engine=None
):
    """Per code: non-NaN count, sum of the values clipped to ``[lo, hi]``, raw sum.

    One read of ``codes`` and ``values``. NaN values are left out of all three;
    codes must be in ``[0, n_bins)``. The result is bit-identical whatever
    the engine and the number of threads: each block of :data:`SUM_BLOCK`
    rows (longer blocks when there are so many codes that the per-block
    sums would exceed about 2^20 values) is summed in row order in each of
    :data:`SUM_LANES` interleaved lanes, then the lanes and the blocks in
    order. The clipped sum adds the clipped values themselves, so a far
    outlier cannot absorb the ordinary values beside it. A sum beyond float64
    (values near its limit) is not finite (inf, or NaN where overflows of
    both signs meet): take the sums of the values divided by
    :data:`OVERFLOW_SCALE` then.

    Parameters
    ----------
    codes : ndarray of int, 1-D
        Code of every row, in ``[0, n_bins)``.
    n_bins : int
    values : ndarray of float64, 1-D
        Same length as ``codes``; no infinite values.
    lo, hi : float, default=-inf, inf
        Clipping bounds of the second sum.
    has_nan : bool, default=True
        False when ``values`` is known to hold no NaN: a faster loop, and
        the counts are those of the codes.
    counts : ndarray of shape (n_bins,), optional
        The rows per code, when known: the counts with ``has_nan=False``.
    engine : {"numba", "numpy"} or None

    Returns
    -------
    counts, clipped, raw : ndarray of float64 of shape (n_bins,)

    Examples
    --------
    >>> codes = np.array([0, 1, 1, 0], dtype=np.int8)
    >>> values = np.array([1.0, 5.0, np.nan, 30.0])
    >>> [a.tolist() for a in segment_sums(codes, 2, values, hi=10.0)]
    [[2.0, 1.0], [11.0, 5.0], [31.0, 5.0]]
    """
    n = codes.shape[0]
    # many codes (a scorer keyed by customer): fewer, longer blocks, so that
    # the per-block sums stay within about 2^20 values
    block = max(SUM_BLOCK, -(-n // max(2, (1 << 20) // max(n_bins, 1))))
    n_blocks = -(-n // block)
    out = np.zeros((n_blocks, SUM_LANES, 3, n_bins))
    lo, hi, has_nan = float(lo), float(hi), bool(has_nan)
    numba = engine_for(n, engine) == "numba"
    if numba:
        k = _backend.numba_kernels()
        codes, values = _backend.readonly(codes), _backend.readonly(values)

    def work(a, b):
        # whole blocks per thread: the row slices end on block boundaries
        b0, b1 = -(-a // block), -(-b // block)
        if numba:
            s, e = b0 * block, min(b1 * block, n)
            k.segment_sums(codes[s:e], values[s:e], lo, hi, block, has_nan, out[b0:b1])
            return
        for j in range(b0, b1):
            for lane in range(SUM_LANES):
                c = codes[j * block + lane : (j + 1) * block : SUM_LANES]
                v = values[j * block + lane : (j + 1) * block : SUM_LANES]
                if has_nan:
                    ok = ~np.isnan(v)
                    c, v = c[ok], v[ok]
                c = c.astype(np.intp)
                into = out[j, lane]
                if has_nan:
                    into[0] = np.bincount(c, minlength=n_bins)
                into[1] = np.bincount(c, np.clip(v, lo, hi), minlength=n_bins)
                into[2] = np.bincount(c, weights=v, minlength=n_bins)

    _backend.run_in_slices(work, n)
    total = np.zeros((3, n_bins))
    with np.errstate(over="ignore", invalid="ignore"):  # see OVERFLOW_SCALE
        for lanes in out:  # blocks in order, lanes in order, one addition at a time
            part = lanes[0].copy()
            for lane in lanes[1:]:
                part += lane
            total += part
    if has_nan:
        counts = total[0]
    elif counts is None:
        counts = bincount(codes, n_bins)
    return np.asarray(counts, dtype=np.float64), total[1], total[2]


# --------------------------------------------------------------------------
# numpy engine
# --------------------------------------------------------------------------
def _with_operator(inp):
    """A compare input with its :class:`~sklearn_mece._operators.Operator`."""
    if inp[0] == "level":
        return inp
    return (inp[0], inp[1], get_operator(inp[2]), inp[3])


def _n_rows(inputs):
    return inputs[0][1].shape[0]


def _finite(v):
    """Whether a block holds only finite values (else its sum is not finite).

    A finite sum proves there is no NaN and no infinity; a sum that overflows
    only sends the block to the exact (slower) count. Call under
    ``np.errstate(invalid="ignore", over="ignore")``.
    """
    return np.isfinite(np.add.reduce(v))


def _numpy_level_codes(values, cuts, out):
    n = values.shape[0]
    tmp = np.empty(min(n, BLOCK), dtype=np.bool_)
    out_bool = out.view(np.bool_)
    n_nan = n_inf = 0
    for s in _blocks(n):
        v = values[s : s + BLOCK]
        o = out_bool[s : s + BLOCK]
        np.greater_equal(v, cuts[0], out=o)
        if cuts.size > 1:
            o8 = out[s : s + BLOCK]
            t = tmp[: v.shape[0]]
            t8 = t.view(np.int8)
            for c in cuts[1:]:
                np.greater_equal(v, c, out=t)
                np.add(o8, t8, out=o8)
        if not _finite(v):
            nan = np.isnan(v)
            k = int(np.count_nonzero(nan))
            if k:
                out[s : s + BLOCK][nan] = -1
                n_nan += k
            n_inf += int(np.count_nonzero(np.isinf(v)))
    return n_nan, n_inf


def _small_level_codes(values, cuts, out):
    """Whole-array level codes of a few rows: the number of cuts ``<=`` each
    value, counted with ``>=`` like the other paths (so a NaN cut never counts,
    whatever its position)."""
    np.sum(values[:, None] >= cuts[None, :], axis=1, dtype=np.int8, out=out)
    finite = np.isfinite(values)
    if finite.all():
        return 0, 0
    nan = np.isnan(values)
    out[nan] = -1
    n_nan = int(np.count_nonzero(nan))
    return n_nan, values.shape[0] - int(np.count_nonzero(finite)) - n_nan


def _small_rule_lookup(inputs, doms, table, out):
    """Whole-array rule lookup of a few rows, in ``intp`` cells."""
    counts = np.zeros((len(inputs), 3), dtype=np.int64)
    cell = None
    for j, (inp, dom) in enumerate(zip(inputs, doms)):
        if inp[0] == "level":
            codes, n_levels = inp[1], inp[2]
            if codes.dtype.kind not in "iu":
                raise TypeError("level codes must be integers")
            slot = codes.astype(np.intp) + 1
            bad = (slot < 0) | (slot > n_levels)
            if bad.any():
                counts[j, 0] = np.count_nonzero(bad)
                return counts  # invalid codes: the caller raises
            counts[j, 1] = np.count_nonzero(slot == 0)
        else:
            _, values, op, operands = inp
            hit = op.holds(values, operands)
            slot = hit.astype(np.intp) + 1
            finite = np.isfinite(values)
            if not finite.all():
                nan = np.isnan(values)
                slot[nan] = 0
                counts[j, 1] = np.count_nonzero(nan)
                counts[j, 2] = values.shape[0] - np.count_nonzero(finite) - counts[j, 1]
        cell = slot if cell is None else cell * dom + slot
    np.take(table, cell, out=out)
    return counts


def _numpy_rule_lookup(inputs, doms, table, out):
    # Horner's scheme over "slot - 1" values (-1 missing, level code, or the
    # comparison's 0/1), then one shift by sum(strides) to get the cell. With
    # a table of at most 256 cells and 1-byte level codes, the arithmetic runs
    # in wrapping uint8 (exact modulo 256, and every cell is < 256): all
    # operands share one dtype, so numpy never casts.
    n = out.shape[0]
    nv = len(inputs)
    strides = np.ones(nv, dtype=np.int64)
    for j in range(nv - 2, -1, -1):
        strides[j] = strides[j + 1] * doms[j + 1]
    offset = int(strides.sum())
    counts = np.zeros((nv, 3), dtype=np.int64)
    # level codes: validate once on the whole column (two cheap reductions)
    small = int(strides[0]) * doms[0] <= 256
    for j, inp in enumerate(inputs):
        if inp[0] == "level":
            codes, n_levels = inp[1], inp[2]
            if codes.dtype.kind not in "iu":
                raise TypeError("level codes must be integers")
            small &= codes.dtype.itemsize == 1
            lo, hi = (int(codes.min()), int(codes.max())) if n else (0, 0)
            if lo < -1 or hi >= n_levels:
                counts[j, 0] = np.count_nonzero((codes < -1) | (codes >= n_levels))
            if lo <= -1:
                counts[j, 1] = np.count_nonzero(codes == -1)
    if counts[:, 0].any():
        return counts  # invalid codes: the caller raises
    dtype = np.uint8 if small else np.intp
    offset = np.array(offset).astype(dtype)  # wraps modulo 256 when small

    def work(lo, hi):
        with np.errstate(invalid="ignore", over="ignore"):
            return _numpy_lookup_rows(inputs, doms, table, out, lo, hi, dtype, offset)

    counts[:, 1:] += sum(_backend.run_in_slices(work, n))[:, 1:]
    return counts


def _numpy_lookup_rows(inputs, doms, table, out, lo, hi, dtype, offset):
    """Rows ``lo:hi`` of the numpy rule lookup; NaN / infinite counts."""
    small = dtype == np.uint8
    counts = np.zeros((len(inputs), 3), dtype=np.int64)
    idx = np.empty(min(hi - lo, BLOCK), dtype=dtype)
    hit = np.empty(min(hi - lo, BLOCK), dtype=np.bool_)
    for s in range(lo, hi, BLOCK):
        m = min(BLOCK, hi - s)
        ib = idx[:m]
        for j, inp in enumerate(inputs):
            if j:
                np.multiply(ib, doms[j], out=ib)
            if inp[0] == "level":
                chunk = inp[1][s : s + m]
                if small:
                    chunk = chunk.view(np.uint8)
                if j:
                    np.add(ib, chunk, out=ib, casting="unsafe")
                else:
                    np.copyto(ib, chunk, casting="unsafe")
                continue
            _, values, op, operands = inp
            v = values[s : s + m]
            h = hit[:m]
            if op.takes_list:
                h[...] = op.holds(v, operands)
            else:
                op.compare(v, operands[0], out=h)
            hv = h.view(np.uint8) if small else h
            if j:
                np.add(ib, hv, out=ib, casting="unsafe")
            else:
                np.copyto(ib, hv, casting="unsafe")
            if not _finite(v):
                nan = np.isnan(v)
                k = int(np.count_nonzero(nan))
                if k:
                    # the slot just added (0 or 1) must be -1 (missing)
                    ib[nan] -= h[nan].astype(dtype) + dtype(1)
                    counts[j, 1] += k
                counts[j, 2] += int(np.count_nonzero(np.isinf(v)))
        np.add(ib, offset, out=ib)
        np.take(table, ib, out=out[s : s + m])
    return counts


# --------------------------------------------------------------------------
# numba engine: the compiled loops of _numba_kernels on the backend's threads
# --------------------------------------------------------------------------
def _numba_nonfinite(values):
    k = _backend.numba_kernels()
    values = _backend.readonly(values)
    res = _backend.run_in_slices(
        lambda lo, hi: k.nonfinite_counts(values[lo:hi]), values.shape[0]
    )
    return int(sum(r[0] for r in res)), int(sum(r[1] for r in res))


def _numba_level_codes(values, cuts, out):
    k = _backend.numba_kernels()
    values = _backend.readonly(values)
    size = cuts.size
    # padding cuts are NaN: ``v >= NaN`` is always false
    pad = np.concatenate([cuts, np.full(-size % 4, np.nan)]).reshape(-1, 4)
    c = [float(v) for v in cuts]

    def work(lo, hi):
        x, o = values[lo:hi], out[lo:hi]
        if size == 1:
            bad = k.level_codes_1(x, c[0], o)
        elif size == 2:
            bad = k.level_codes_2(x, c[0], c[1], o)
        elif size == 3:
            bad = k.level_codes_3(x, c[0], c[1], c[2], o)
        else:
            bad = 0
            for g, row in enumerate(pad):
                bad = max(bad, k.level_codes_4(x, *row, o, g > 0))
        if not bad:
            return 0, 0
        # NaN or infinite values present: NaN got code 0 above; set -1
        return k.fix_nan(x, o)

    res = _backend.run_in_slices(work, values.shape[0])
    return int(sum(r[0] for r in res)), int(sum(r[1] for r in res))


def _idx_dtype(size):
    if size <= 1 << 8:
        return np.uint8
    if size <= 1 << 16:
        return np.uint16
    return np.uint32


def _numba_rule_lookup(inputs, doms, table, out):
    k = _backend.numba_kernels()
    n = out.shape[0]
    size = int(np.prod(doms, dtype=np.int64))
    table = np.ascontiguousarray(table)
    prepared = []
    for inp in inputs:
        if inp[0] == "level":
            prepared.append((0, _backend.readonly(inp[1]), int(inp[2])))
        else:
            ops = np.ascontiguousarray(inp[3], dtype=np.float64)
            prepared.append((1, _backend.readonly(inp[1]), inp[2].code, ops))
    dtype = _idx_dtype(size)

    def work(lo, hi):
        # one pass per variable over a small index array that stays in the
        # CPU cache (blocks of NUMBA_BLOCK rows), then one lookup pass: each
        # pass is a simple loop the compiler vectorizes (a lookup fused into
        # the last pass measured 2x slower)
        counts = np.zeros((len(prepared), 3), dtype=np.int64)
        idx_buf = np.empty(min(hi - lo, NUMBA_BLOCK), dtype=dtype)
        for s in range(lo, hi, NUMBA_BLOCK):
            e = min(s + NUMBA_BLOCK, hi)
            idx = idx_buf[: e - s]
            for j, p in enumerate(prepared):
                if p[0] == 0:
                    codes = p[1][s:e]
                    c_lo, c_hi = k.acc_level(codes, doms[j], idx, j == 0)
                    if c_lo < 0 or c_hi >= p[2]:
                        counts[j, :2] += k.count_level(codes, p[2])
                else:
                    n_nan, n_inf = k.acc_compare(p[1][s:e], p[2], p[3], idx, j == 0)
                    counts[j, 1] += n_nan
                    counts[j, 2] += n_inf
            k.lookup(idx, table, out[s:e])
        return counts

    return sum(_backend.run_in_slices(work, n))


def _numba_take(table, codes, out):
    k = _backend.numba_kernels()
    codes = _backend.readonly(codes)
    _backend.run_in_slices(
        lambda lo, hi: k.take(table, codes[lo:hi], out[lo:hi]), codes.shape[0]
    )
    return out


def _numba_bincount(codes, n_bins):
    k = _backend.numba_kernels()
    codes = _backend.readonly(codes)
    return sum(
        _backend.run_in_slices(
            lambda lo, hi: k.bincount(codes[lo:hi], n_bins), codes.shape[0]
        )
    )
