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
(optional, ``pip install sklearn-mece[fast]``) runs compiled, multi-threaded
loops. It is imported lazily, only for inputs of at
least :data:`NUMBA_MIN_ROWS` rows, and is not used when ``numba`` is missing,
when :data:`USE_NUMBA` is ``False``, when the environment variable
``SKLEARN_MECE_NO_NUMBA=1`` is set, or when compiling fails.

Slots of :func:`rule_lookup`. A variable with domain ``d`` takes the slots
``0 .. d - 1``; slot ``0`` means *missing*. A level variable with ``L``
levels has ``d = L + 1`` and slot ``code + 1``; a comparison has ``d = 3``
and slots ``1`` (false) and ``2`` (true). The table is in C order over the
variables' domains.
"""

import os
import threading
import warnings

import numpy as np

__all__ = [
    "BLOCK",
    "NUMBA_MIN_ROWS",
    "OPS",
    "USE_NUMBA",
    "bincount",
    "engine_for",
    "level_codes",
    "nonfinite_counts",
    "rule_lookup",
    "take",
]

#: Set to ``False`` to never use numba (same as ``SKLEARN_MECE_NO_NUMBA=1``).
USE_NUMBA = True

#: Inputs with fewer rows use the numpy engine: no compilation, no thread start.
NUMBA_MIN_ROWS = 1 << 16

#: Rows per block of the numpy engine. Smaller blocks keep temporaries in the
#: L2 cache but cost more ufunc calls, and every call releases and re-takes
#: the GIL: measured on 2 threads, a level-code column of 10^7 rows took
#: 29 ms with 2^13-row blocks, 11 ms with 2^15 and 6.5 ms with 2^17-2^18.
BLOCK = 1 << 17

#: Up to this many rows the numpy engine works on whole arrays, with no
#: blocks, threads or error-state changes: a single-row transform is dominated
#: by per-call overhead, not by arithmetic.
SMALL_ROWS = 1024

#: Comparison operators of :func:`rule_lookup`, by code.
OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")

_ENV_NO_NUMBA = "SKLEARN_MECE_NO_NUMBA"
_NUMBA = None  # None: not tried yet; False: unavailable; else the kernels
_LOCK = threading.Lock()


# --------------------------------------------------------------------------
# engine choice
# --------------------------------------------------------------------------
def _numba_disabled():
    flag = os.environ.get(_ENV_NO_NUMBA, "").strip().lower()
    return (not USE_NUMBA) or flag not in ("", "0", "false", "no")


def _numba():
    global _NUMBA
    if _NUMBA is None:
        with _LOCK:
            if _NUMBA is None:
                try:
                    _NUMBA = _build_numba()
                except Exception:  # numba missing or broken: numpy engine
                    _NUMBA = False
    return _NUMBA or None


def engine_for(n_rows, engine=None):
    """Name of the engine used for ``n_rows`` rows: ``"numba"`` or ``"numpy"``.

    Parameters
    ----------
    n_rows : int
        Number of rows to process.
    engine : {"numba", "numpy"} or None
        Force an engine; ``"numba"`` still falls back to numpy when numba is
        unavailable or disabled.

    Returns
    -------
    str

    Examples
    --------
    >>> engine_for(10)
    'numpy'
    """
    if engine == "numpy" or _numba_disabled():
        return "numpy"
    if engine is None and n_rows < NUMBA_MIN_ROWS:
        return "numpy"
    if engine not in (None, "numba"):
        raise ValueError(f"engine must be 'numba', 'numpy' or None, got {engine!r}.")
    return "numba" if _numba() is not None else "numpy"


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

    res = _run(work, n)
    return out, sum(r[0] for r in res), sum(r[1] for r in res)


def rule_lookup(inputs, table, out=None, engine=None):
    """Look every row up in a table addressed by the slots of several variables.

    Parameters
    ----------
    inputs : list of tuple
        One per variable, in the table's axis order: ``("level", codes,
        n_levels)`` with integer codes (``-1`` missing), or ``("compare",
        values, op, operands)`` with float64 values, ``op`` one of
        :data:`OPS` and ``operands`` a float64 array (one value, or the set
        of ``in`` / ``not in``).
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


# --------------------------------------------------------------------------
# numpy engine
# --------------------------------------------------------------------------
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
            if op in _NP_CMP:
                hit = _NP_CMP[op](values, operands[0])
            else:
                hit = np.isin(values, operands, invert=op == "not in")
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


_NP_CMP = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


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

    counts[:, 1:] += sum(_run(work, n))[:, 1:]
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
            if op in _NP_CMP:
                _NP_CMP[op](v, operands[0], out=h)
            else:
                h[...] = np.isin(v, operands, invert=op == "not in")
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
# numba engine
# --------------------------------------------------------------------------
# The kernels are serial loops that release the GIL; large inputs are split
# into one slice of rows per thread and run on a small thread pool. (numba's
# own ``parallel=True`` with its default OpenMP layer busy-waits: several
# times slower than serial as soon as another process uses the cores.)

#: Rows per block of the numba rule lookup (its index array stays in cache).
NUMBA_BLOCK = 1 << 16

#: Rows from which the numba engine splits the work across threads.
THREAD_MIN_ROWS = 1 << 20

_POOL = None
_WORKER_PREFIX = "sklearn-mece"  # name prefix of the pool's threads


def _forget_pool():
    global _POOL, _LOCK
    _POOL = None  # a forked child has none of the parent's threads
    _LOCK = threading.Lock()  # nor the thread that may have held the lock


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _n_threads():
    return max(1, min(os.cpu_count() or 1, 8))


def _pool():
    global _POOL
    if _POOL is None:
        with _LOCK:
            if _POOL is None:
                from concurrent.futures import ThreadPoolExecutor

                _POOL = ThreadPoolExecutor(
                    max_workers=_n_threads(), thread_name_prefix=_WORKER_PREFIX
                )
    return _POOL


def _split(n):
    """Row slices, one per thread for large inputs."""
    k = _n_threads() if n >= THREAD_MIN_ROWS else 1
    step = -(-n // k) if n else 1
    return [(lo, min(n, lo + step)) for lo in range(0, max(n, 1), step)]


def _run(func, n):
    """Run ``func(lo, hi)`` over row slices; list of results in slice order.

    Called from one of the pool's own threads (a kernel nested in another),
    it runs serially: a worker waiting on tasks queued behind it would
    deadlock.
    """
    parts = _split(n)
    if len(parts) > 1 and threading.current_thread().name.startswith(_WORKER_PREFIX):
        return [func(lo, hi) for lo, hi in parts]
    if len(parts) == 1:
        return [func(*parts[0])]
    return list(_pool().map(lambda p: func(*p), parts))


def _readonly(a):
    a = np.ascontiguousarray(a)
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


def _numba_nonfinite(values):
    k = _numba()
    values = _readonly(values)
    res = _run(lambda lo, hi: k["nonfinite"](values[lo:hi]), values.shape[0])
    return int(sum(r[0] for r in res)), int(sum(r[1] for r in res))


def _numba_level_codes(values, cuts, out):
    k = _numba()
    values = _readonly(values)
    size = cuts.size
    # padding cuts are NaN: ``v >= NaN`` is always false
    pad = np.concatenate([cuts, np.full(-size % 4, np.nan)]).reshape(-1, 4)
    c = [float(v) for v in cuts]

    def work(lo, hi):
        x, o = values[lo:hi], out[lo:hi]
        if size == 1:
            bad = k["levels1"](x, c[0], o)
        elif size == 2:
            bad = k["levels2"](x, c[0], c[1], o)
        elif size == 3:
            bad = k["levels3"](x, c[0], c[1], c[2], o)
        else:
            bad = 0
            for g, row in enumerate(pad):
                bad = max(bad, k["levels4"](x, *row, o, g > 0))
        if not bad:
            return 0, 0
        # NaN or infinite values present: NaN got code 0 above; set -1
        return k["fix_nan"](x, o)

    res = _run(work, values.shape[0])
    return int(sum(r[0] for r in res)), int(sum(r[1] for r in res))


_OP_CODES = {op: i for i, op in enumerate(OPS)}


def _idx_dtype(size):
    if size <= 1 << 8:
        return np.uint8
    if size <= 1 << 16:
        return np.uint16
    return np.uint32


def _numba_rule_lookup(inputs, doms, table, out):
    k = _numba()
    n = out.shape[0]
    size = int(np.prod(doms, dtype=np.int64))
    table = np.ascontiguousarray(table)
    prepared = []
    for inp in inputs:
        if inp[0] == "level":
            prepared.append((0, _readonly(inp[1]), int(inp[2])))
        else:
            ops = np.ascontiguousarray(inp[3], dtype=np.float64)
            prepared.append((1, _readonly(inp[1]), _OP_CODES[inp[2]], ops))
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
                    c_lo, c_hi = k["acc_level"](codes, doms[j], idx, j == 0)
                    if c_lo < 0 or c_hi >= p[2]:
                        counts[j, :2] += k["count_level"](codes, p[2])
                else:
                    n_nan, n_inf = k["acc_compare"](p[1][s:e], p[2], p[3], idx, j == 0)
                    counts[j, 1] += n_nan
                    counts[j, 2] += n_inf
            k["lookup"](idx, table, out[s:e])
        return counts

    return sum(_run(work, n))


def _numba_take(table, codes, out):
    k = _numba()
    codes = _readonly(codes)
    _run(lambda lo, hi: k["take"](table, codes[lo:hi], out[lo:hi]), codes.shape[0])
    return out


def _numba_bincount(codes, n_bins):
    k = _numba()
    codes = _readonly(codes)
    return sum(_run(lambda lo, hi: k["bincount"](codes[lo:hi], n_bins), codes.shape[0]))


def _build_numba():
    if _numba_disabled():
        return None
    import numba

    jit = numba.njit(nogil=True, cache=True)

    @jit
    def nonfinite(x):
        bad = 0
        for i in range(x.shape[0]):
            v = x[i]
            bad += (v - v) != 0.0
        nn = 0
        ni = 0
        if bad:
            for i in range(x.shape[0]):
                v = x[i]
                nn += v != v
                ni += abs(v) == np.inf
        return nn, ni

    @jit
    def levels1(x, c0, out):
        bad = 0
        for i in range(x.shape[0]):
            v = x[i]
            out[i] = np.int8(v >= c0)
            bad += (v - v) != 0.0
        return bad

    @jit
    def levels2(x, c0, c1, out):
        bad = 0
        for i in range(x.shape[0]):
            v = x[i]
            out[i] = np.int8(v >= c0) + np.int8(v >= c1)
            bad += (v - v) != 0.0
        return bad

    @jit
    def levels3(x, c0, c1, c2, out):
        bad = 0
        for i in range(x.shape[0]):
            v = x[i]
            out[i] = np.int8(v >= c0) + np.int8(v >= c1) + np.int8(v >= c2)
            bad += (v - v) != 0.0
        return bad

    @jit
    def levels4(x, c0, c1, c2, c3, out, add):
        bad = 0
        if add:
            for i in range(x.shape[0]):
                v = x[i]
                out[i] += (
                    np.int8(v >= c0)
                    + np.int8(v >= c1)
                    + np.int8(v >= c2)
                    + np.int8(v >= c3)
                )
                bad += (v - v) != 0.0
        else:
            for i in range(x.shape[0]):
                v = x[i]
                out[i] = (
                    np.int8(v >= c0)
                    + np.int8(v >= c1)
                    + np.int8(v >= c2)
                    + np.int8(v >= c3)
                )
                bad += (v - v) != 0.0
        return bad

    @jit
    def fix_nan(x, out):
        nn = 0
        ni = 0
        for i in range(x.shape[0]):
            v = x[i]
            if v != v:
                out[i] = -1
                nn += 1
            elif abs(v) == np.inf:
                ni += 1
        return nn, ni

    @jit
    def acc_level(codes, dom, idx, first):
        # slot = code + 1 in the index's own (unsigned, wrapping) type, so the
        # loop vectorizes; -1 (missing) wraps to slot 0. Invalid codes are
        # detected by the min / max and never looked up.
        t = idx.dtype.type
        mult = t(0 if first else dom)
        one = codes.dtype.type(1)
        for i in range(codes.shape[0]):
            idx[i] = idx[i] * mult + t(codes[i] + one)
        lo = codes[0]
        hi = codes[0]
        for i in range(codes.shape[0]):
            c = codes[i]
            lo = min(lo, c)
            hi = max(hi, c)
        return np.int64(lo), np.int64(hi)

    @jit
    def lookup(idx, table, out):
        # the cell is clamped so that invalid codes (reported by the min /
        # max of acc_level, results discarded) stay in bounds
        top = idx.dtype.type(table.shape[0] - 1)
        for i in range(idx.shape[0]):
            out[i] = table[min(idx[i], top)]

    @jit
    def count_level(codes, n_levels):
        nbad = 0
        nmiss = 0
        for i in range(codes.shape[0]):
            c = np.int64(codes[i])
            nmiss += c == -1
            nbad += (c < -1) | (c >= n_levels)
        return nbad, nmiss

    @jit
    def acc_compare(x, op, operands, idx, first):
        t = idx.dtype.type
        a = operands[0]
        mult = t(0 if first else 3)
        one = t(1)
        n = x.shape[0]
        bad = 0
        if op == 3:
            for i in range(n):
                v = x[i]
                idx[i] = idx[i] * mult + (t(v <= a) + one)
                bad += (v - v) != 0.0
        elif op == 5:
            for i in range(n):
                v = x[i]
                idx[i] = idx[i] * mult + (t(v >= a) + one)
                bad += (v - v) != 0.0
        elif op == 2:
            for i in range(n):
                v = x[i]
                idx[i] = idx[i] * mult + (t(v < a) + one)
                bad += (v - v) != 0.0
        elif op == 4:
            for i in range(n):
                v = x[i]
                idx[i] = idx[i] * mult + (t(v > a) + one)
                bad += (v - v) != 0.0
        elif op == 0:
            for i in range(n):
                v = x[i]
                idx[i] = idx[i] * mult + (t(v == a) + one)
                bad += (v - v) != 0.0
        elif op == 1:
            for i in range(n):
                v = x[i]
                idx[i] = idx[i] * mult + (t(v != a) + one)
                bad += (v - v) != 0.0
        else:
            neg = op == 7
            for i in range(n):
                v = x[i]
                h = False
                for k in range(operands.shape[0]):
                    h |= v == operands[k]
                idx[i] = idx[i] * mult + (t(h != neg) + one)
                bad += (v - v) != 0.0
        nn = 0
        ni = 0
        if bad:
            for i in range(n):
                v = x[i]
                if v != v:
                    # undo the slot just added: NaN is missing (slot 0)
                    idx[i] -= idx[i] % 3
                    nn += 1
                elif abs(v) == np.inf:
                    ni += 1
        return nn, ni

    @jit
    def take_(table, codes, out):
        m = table.shape[0]
        for i in range(codes.shape[0]):
            c = np.int64(codes[i])
            out[i] = table[c if c >= 0 else c + m]

    @jit
    def bincount_(codes, n_bins):
        # four interleaved histograms: consecutive equal codes do not wait on
        # each other's increment (2-3x faster than one histogram)
        res = np.zeros((4, n_bins + 1), np.int64)
        n = codes.shape[0]
        m = n - n % 4
        for i in range(0, m, 4):
            for lane in range(4):
                c = np.int64(codes[i + lane])
                ok = (c >= 0) & (c < n_bins)
                res[lane, c if ok else n_bins] += 1
        for i in range(m, n):
            c = np.int64(codes[i])
            ok = (c >= 0) & (c < n_bins)
            res[0, c if ok else n_bins] += 1
        return res[:, :n_bins].sum(axis=0)

    kernels = {
        "nonfinite": nonfinite,
        "levels1": levels1,
        "levels2": levels2,
        "levels3": levels3,
        "levels4": levels4,
        "fix_nan": fix_nan,
        "acc_level": acc_level,
        "count_level": count_level,
        "lookup": lookup,
        "acc_compare": acc_compare,
        "take": take_,
        "bincount": bincount_,
    }
    # smoke test: a wrong kernel must never be used
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = np.array([0.5, 1.5, np.nan, 2.5, -np.inf])
        out = np.empty(5, np.int8)
        kernels["levels2"](x, 1.0, 2.0, out)
        nn, ni = kernels["fix_nan"](x, out)
        if out.tolist() != [0, 1, -1, 2, 0] or (nn, ni) != (1, 1):
            raise RuntimeError("numba level kernel is wrong")
    return kernels
