"""The numba kernels: top-level compiled functions, cached on disk.

Importing this module imports numba; only :func:`sklearn_mece._backend.numba_kernels`
does, on first use (see there for the engine rule, the threads and where the
cache lives). Every kernel is a serial loop that releases the GIL; the
callers in :mod:`sklearn_mece._kernels` and :mod:`sklearn_mece._select` split
large inputs into row slices on the backend's thread pool. (numba's own
``parallel=True`` with its default OpenMP layer busy-waits: several times
slower than serial as soon as another process uses the cores.)

The row kernels are compiled for the argument types of their first call (the
callers pass read-only C-contiguous inputs, so there are few); the selection
kernels have explicit signatures. Operator codes come from
:mod:`sklearn_mece._operators` and are frozen into the compiled code:
:func:`self_test` checks every operator against its numpy comparison, so a
cache compiled with other codes is never used.
"""

import numba
import numpy as np
from numba import types

from ._operators import OPERATORS

_EQ = OPERATORS["=="].code
_NE = OPERATORS["!="].code
_LT = OPERATORS["<"].code
_LE = OPERATORS["<="].code
_GT = OPERATORS[">"].code
_GE = OPERATORS[">="].code
_IN = OPERATORS["in"].code
_NOT_IN = OPERATORS["not in"].code

_NBUCKET = 1 << 16


def _jit(*signatures, fastmath=False):
    """``numba.njit(nogil=True)`` cached on disk, or in memory when no cache
    location is writable (numba refuses ``cache=True`` then)."""

    def wrap(func):
        try:
            return numba.njit(*signatures, cache=True, nogil=True, fastmath=fastmath)(
                func
            )
        except RuntimeError:  # no usable cache locator
            return numba.njit(*signatures, nogil=True, fastmath=fastmath)(func)

    return wrap


# --------------------------------------------------------------------------
# row kernels (sklearn_mece._kernels)
# --------------------------------------------------------------------------
@_jit()
def nonfinite_counts(x):
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


@_jit()
def outside_count(x, lo, hi):
    n = 0
    for i in range(x.shape[0]):
        v = x[i]
        n += (v < lo) | (v > hi)
    return n


@_jit()
def level_codes_1(x, c0, out):
    bad = 0
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = np.int8(v >= c0)
        bad += (v - v) != 0.0
    return bad


@_jit()
def level_codes_2(x, c0, c1, out):
    bad = 0
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = np.int8(v >= c0) + np.int8(v >= c1)
        bad += (v - v) != 0.0
    return bad


@_jit()
def level_codes_3(x, c0, c1, c2, out):
    bad = 0
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = np.int8(v >= c0) + np.int8(v >= c1) + np.int8(v >= c2)
        bad += (v - v) != 0.0
    return bad


@_jit()
def level_codes_4(x, c0, c1, c2, c3, out, add):
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


@_jit()
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


@_jit()
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


@_jit()
def lookup(idx, table, out):
    # the cell is clamped so that invalid codes (reported by the min / max
    # of acc_level, results discarded) stay in bounds
    top = idx.dtype.type(table.shape[0] - 1)
    for i in range(idx.shape[0]):
        out[i] = table[min(idx[i], top)]


@_jit()
def count_level(codes, n_levels):
    nbad = 0
    nmiss = 0
    for i in range(codes.shape[0]):
        c = np.int64(codes[i])
        nmiss += c == -1
        nbad += (c < -1) | (c >= n_levels)
    return nbad, nmiss


@_jit()
def acc_compare(x, op, operands, idx, first):
    t = idx.dtype.type
    a = operands[0]
    mult = t(0 if first else 3)
    one = t(1)
    n = x.shape[0]
    bad = 0
    if op == _LE:
        for i in range(n):
            v = x[i]
            idx[i] = idx[i] * mult + (t(v <= a) + one)
            bad += (v - v) != 0.0
    elif op == _GE:
        for i in range(n):
            v = x[i]
            idx[i] = idx[i] * mult + (t(v >= a) + one)
            bad += (v - v) != 0.0
    elif op == _LT:
        for i in range(n):
            v = x[i]
            idx[i] = idx[i] * mult + (t(v < a) + one)
            bad += (v - v) != 0.0
    elif op == _GT:
        for i in range(n):
            v = x[i]
            idx[i] = idx[i] * mult + (t(v > a) + one)
            bad += (v - v) != 0.0
    elif op == _EQ:
        for i in range(n):
            v = x[i]
            idx[i] = idx[i] * mult + (t(v == a) + one)
            bad += (v - v) != 0.0
    elif op == _NE:
        for i in range(n):
            v = x[i]
            idx[i] = idx[i] * mult + (t(v != a) + one)
            bad += (v - v) != 0.0
    elif op == _IN or op == _NOT_IN:
        neg = op == _NOT_IN
        for i in range(n):
            v = x[i]
            h = False
            for k in range(operands.shape[0]):
                h |= v == operands[k]
            idx[i] = idx[i] * mult + (t(h != neg) + one)
            bad += (v - v) != 0.0
    else:
        raise ValueError("unknown operator code")
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


@_jit()
def take(table, codes, out):
    m = table.shape[0]
    for i in range(codes.shape[0]):
        c = np.int64(codes[i])
        out[i] = table[c if c >= 0 else c + m]


@_jit()
def bincount(codes, n_bins):
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


@_jit()
def segment_sums(codes, x, lo, hi, block, has_nan, out):
    # per block of rows and per lane (row i of a block in lane i % 4, so that
    # consecutive rows of one code add to different accumulators), in row
    # order: the non-NaN count (only with has_nan), the sum of the values
    # clipped to [lo, hi], the raw sum
    n = codes.shape[0]
    for b in range(out.shape[0]):
        s = b * block
        e = min(s + block, n)
        m = s + (e - s) // 4 * 4
        if has_nan:
            for i in range(s, e):
                v = x[i]
                if v == v:
                    lane = (i - s) & 3
                    c = np.int64(codes[i])
                    out[b, lane, 0, c] += 1.0
                    out[b, lane, 1, c] += min(max(v, lo), hi)
                    out[b, lane, 2, c] += v
            continue
        for i in range(s, m, 4):
            for lane in range(4):
                v = x[i + lane]
                c = np.int64(codes[i + lane])
                out[b, lane, 1, c] += min(max(v, lo), hi)
                out[b, lane, 2, c] += v
        for i in range(m, e):
            v = x[i]
            c = np.int64(codes[i])
            out[b, i - m, 1, c] += min(max(v, lo), hi)
            out[b, i - m, 2, c] += v


# --------------------------------------------------------------------------
# radix selection kernels (sklearn_mece._select)
# --------------------------------------------------------------------------
_U64 = types.Array(types.uint64, 1, "C", readonly=True)
_F64 = types.Array(types.float64, 1, "C", readonly=True)
_I64 = types.Array(types.int64, 1, "C", readonly=True)
_U64_OUT = types.Array(types.uint64, 1, "C")
_F64_OUT = types.Array(types.float64, 1, "C")
_I64_OUT = types.Array(types.int64, 1, "C")
_SHIFT = types.uint64


@_jit(_I64_OUT(_U64, _SHIFT))
def hist(bits, shift):
    h = np.zeros(_NBUCKET, dtype=np.int64)
    mask = np.uint64(0xFFFF)
    for i in range(bits.shape[0]):
        h[(bits[i] >> shift) & mask] += 1
    return h


@_jit(types.Tuple((_I64_OUT, _F64_OUT))(_U64, _F64, _SHIFT))
def hist_w(bits, w, shift):
    h = np.zeros(_NBUCKET, dtype=np.int64)
    hw = np.zeros(_NBUCKET, dtype=np.float64)
    mask = np.uint64(0xFFFF)
    for i in range(bits.shape[0]):
        d = (bits[i] >> shift) & mask
        h[d] += 1
        hw[d] += w[i]
    return h, hw


@_jit(types.none(_U64, _SHIFT, _I64, _I64, _U64_OUT))
def gather(bits, shift, table, offsets, out):
    pos = offsets.copy()
    mask = np.uint64(0xFFFF)
    for i in range(bits.shape[0]):
        s = table[(bits[i] >> shift) & mask]
        if s >= 0:
            out[pos[s]] = bits[i]
            pos[s] += 1


@_jit(types.none(_U64, _F64, _SHIFT, _I64, _I64, _U64_OUT, _F64_OUT))
def gather_w(bits, w, shift, table, offsets, out, wout):
    pos = offsets.copy()
    mask = np.uint64(0xFFFF)
    for i in range(bits.shape[0]):
        s = table[(bits[i] >> shift) & mask]
        if s >= 0:
            out[pos[s]] = bits[i]
            wout[pos[s]] = w[i]
            pos[s] += 1


@_jit(
    types.Tuple(
        (types.boolean, types.boolean, types.boolean, types.float64, types.int64)
    )(_F64),
    fastmath={"reassoc"},
)
def weight_stats(w):
    # fastmath "reassoc" only: the total may be summed in any order, which is
    # exact for integer-valued weights (the only case where it is used beyond
    # a finiteness check)
    negative = 0
    nonfinite = 0
    fractional = 0
    positive = 0
    total = 0.0
    for i in range(w.shape[0]):
        a = w[i]
        total += a
        negative += a < 0
        positive += a > 0
        nonfinite += not np.isfinite(a)
        fractional += a != np.floor(a)
    return (
        negative > 0,
        nonfinite > 0,
        nonfinite == 0 and fractional == 0,
        total,
        positive,
    )


@_jit(types.boolean(_F64))
def has_nan(x):
    found = 0
    for i in range(x.shape[0]):
        found += x[i] != x[i]
    return found > 0


# --------------------------------------------------------------------------
# self-test
# --------------------------------------------------------------------------
def _readonly(a):
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def self_test():
    """Raise ``RuntimeError`` unless the kernels give the numpy engine's answers.

    Runs on small probes with the argument types the callers use, so it
    also loads (or compiles) the kernels every transform needs. Every
    operator of :data:`sklearn_mece._operators.OPERATORS` is checked: the
    compiled code must agree with the table it was built from.
    """
    x = _readonly(np.array([0.5, 1.5, np.nan, 2.5, -np.inf, 1.0]))
    out = np.empty(x.shape[0], np.int8)
    level_codes_2(x, 1.0, 2.0, out)
    nn, ni = fix_nan(x, out)
    if out.tolist() != [0, 1, -1, 2, 0, 1] or (nn, ni) != (1, 1):
        raise RuntimeError("numba level kernel is wrong")
    for op in OPERATORS.values():
        operands = np.array([1.0, 2.5] if op.takes_list else [1.5])
        idx = np.zeros(x.shape[0], np.uint8)
        acc_compare(x, np.int64(op.code), operands, idx, True)
        with np.errstate(invalid="ignore"):
            expected = op.holds(x, operands).astype(np.uint8) + 1
        expected[np.isnan(x)] = 0
        if idx.tolist() != expected.tolist():
            raise RuntimeError(f"numba kernel of operator {op.name!r} is wrong")
    bits = _readonly(np.array([3.0, -1.0, 2.0, -0.0]).view(np.uint64))
    expected = np.bincount((bits >> np.uint64(48)).astype(np.intp), minlength=_NBUCKET)
    if not np.array_equal(hist(bits, np.uint64(48)), expected):
        raise RuntimeError("numba histogram kernel is wrong")
