"""Bit-identity of sklearn_mece._select against numpy.percentile."""

import contextlib
import os
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sklearn_mece import _backend, _select
from sklearn_mece._select import (
    METHODS,
    percentiles,
    select_backend,
    weighted_percentiles,
)

NUMPY_HAS_WEIGHTS = tuple(int(p) for p in np.__version__.split(".")[:2]) >= (2, 0)

BACKENDS = [
    "numpy",
    pytest.param(
        "numba",
        marks=pytest.mark.skipif(
            _backend.numba_kernels() is None, reason="numba unavailable"
        ),
    ),
]

Q_GRID = np.array(
    [0, 1e-9, 0.1, 1, 5, 10, 12.5, 20, 25, 30, 33.3, 40, 50, 60, 62.5, 66.7,
     70, 75, 80, 90, 95, 99, 99.9, 100]
)  # fmt: skip


@contextlib.contextmanager
def radix(direct_n=0, leaf=3):
    """Force the radix select even on tiny inputs (and tiny leaves)."""
    old = _select._DIRECT_N, _select._LEAF
    _select._DIRECT_N, _select._LEAF = direct_n, leaf
    try:
        yield
    finally:
        _select._DIRECT_N, _select._LEAF = old


# (direct_n, leaf): the shipped thresholds, the radix select with small
# leaves, and the radix select refining every bucket down to the last bits
CONFIGS = {
    "shipped": (_select._DIRECT_N, _select._LEAF),
    "radix-leaf3": (0, 3),
    "radix-64bit": (0, 0),
}


def bits(a):
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64)).view(np.uint64)


def assert_bits_equal(got, expected):
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape
    if not np.array_equal(bits(got), bits(expected), equal_nan=False):
        raise AssertionError(f"\n got      {got!r}\n expected {expected!r}")


def mixed_zeros(x):
    signs = np.signbit(np.asarray(x, dtype=np.float64)[np.asarray(x) == 0])
    return bool(signs.any() and not signs.all())


def reference(x, q, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.percentile(
            np.asarray(x, dtype=np.float64),
            np.asarray(q, dtype=np.float64),
            method=method,
        )


def ours(x, q, method, backend):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return percentiles(x, q, method=method, backend=backend)


def _datasets():
    rng = np.random.default_rng(12345)
    n = 1000
    data = {
        "lognormal-cents": np.round(rng.lognormal(3.5, 1.0, n), 2),
        "uniform": rng.random(n),
        "integer-days": rng.integers(0, 365, n).astype(float),
        "heavy-ties": rng.integers(0, 3, n).astype(float),
        "all-equal": np.full(n, 3.7),
        "all-zero": np.zeros(n),
        "all-negzero": np.full(n, -0.0),
        "sorted": np.sort(rng.normal(size=n)),
        "reversed": np.sort(rng.normal(size=n))[::-1].copy(),
        "signed-normal": rng.normal(size=n),
        "negative-only": -rng.lognormal(size=n),
        "one-bucket": 1.0 + rng.random(n) * 1e-9,
        "zeros-mixed": rng.choice([-0.0, 0.0, 1.0, -1.0], size=n),
        "zeros-mixed-only": rng.choice([-0.0, 0.0], size=n),
        "negzero-and-positive": rng.choice([-0.0, 2.0], size=n),
        "infs": rng.choice([-np.inf, np.inf, 0.5, -2.0, 3.0], size=n),
        "inf-heavy": rng.choice([np.inf, 1.0], size=n, p=[0.9, 0.1]),
        "all-inf": np.full(n, np.inf),
        "all-neginf": np.full(n, -np.inf),
        "only-infs": rng.choice([-np.inf, np.inf], size=n),
        "subnormal": rng.choice([5e-324, -5e-324, 1e-310, -0.0, 0.0], size=n),
        "extremes": rng.choice(
            [np.finfo(float).max, -np.finfo(float).max, 1e-300, 0.0], size=n
        ),
        "wide-exponents": rng.normal(size=n) * 10.0 ** rng.integers(-300, 300, n),
    }
    for k in range(1, 6):
        data[f"tiny-{k}"] = rng.normal(size=k)
        data[f"tiny-ties-{k}"] = np.ones(k)
    data["tiny-zeros-2"] = np.array([0.0, -0.0])
    data["tiny-infs-2"] = np.array([np.inf, -np.inf])
    return data


DATASETS = _datasets()


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", list(DATASETS))
def test_bit_identical_adversarial(name, method, backend, config):
    x = DATASETS[name]
    with radix(*CONFIGS[config]):
        got = ours(x, Q_GRID, method, backend)
    assert_bits_equal(got, reference(x, Q_GRID, method))


def _large():
    rng = np.random.default_rng(7)
    n = 2_000_000
    return {
        "lognormal-cents": np.round(rng.lognormal(3.5, 1.0, n), 2),
        "uniform-scores": rng.random(n),
        "integer-days": rng.integers(0, 90, n).astype(float),
        "one-bucket": 1.0 + rng.random(n) * 1e-6,
        "signed": rng.standard_t(3, n),
        "constant": np.full(n, -2.5),
        "mixed-zeros": rng.choice([-0.0, 0.0, 1.0], size=n, p=[0.3, 0.3, 0.4]),
        "infs": rng.choice([-np.inf, np.inf, 1.0, 2.0], size=n),
    }


@pytest.fixture(scope="module")
def large():
    return _large()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "name",
    [
        "lognormal-cents",
        "uniform-scores",
        "integer-days",
        "one-bucket",
        "signed",
        "constant",
        "mixed-zeros",
        "infs",
    ],
)
def test_bit_identical_large(large, name, backend):
    x = large[name]
    q = np.array([0, 0.5, 25, 40, 50, 70, 75, 99.99, 100])
    for method in METHODS:
        assert_bits_equal(ours(x, q, method, backend), reference(x, q, method))


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_contiguous_and_read_only(backend):
    rng = np.random.default_rng(3)
    base = np.round(rng.lognormal(3.0, 1.0, 200_001), 2)
    base.setflags(write=False)
    before = base.copy()
    for x in (base, base[::2], base[::-3]):
        assert not x.flags.writeable
        for method in METHODS:
            assert_bits_equal(
                ours(x, [40, 75], method, backend), reference(x, [40, 75], method)
            )
    np.testing.assert_array_equal(bits(base), bits(before))


def test_input_not_modified_small_and_large():
    rng = np.random.default_rng(4)
    for n in (10, 100_000):
        x = rng.normal(size=n)
        keep = x.copy()
        percentiles(x, [10, 50, 90])
        weighted_percentiles(x, np.ones(n) * 2, [10, 50, 90])
        np.testing.assert_array_equal(bits(x), bits(keep))


def test_pandas_read_only_column():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"a": rng.random(100_000), "b": rng.random(100_000)})
    col = df["a"].to_numpy()
    assert_bits_equal(percentiles(col, [40, 70]), np.percentile(col, [40, 70]))
    assert_bits_equal(
        percentiles(df["b"], [70]), np.percentile(df["b"].to_numpy(), [70])
    )


def test_scalar_q_and_dtypes():
    x = np.arange(10, dtype=np.int64)
    assert_bits_equal(percentiles(x, 50), np.percentile(x.astype(float), [50]))
    assert percentiles(x, 50).shape == (1,)
    f32 = np.linspace(0, 1, 11, dtype=np.float32)
    assert_bits_equal(
        percentiles(f32, [33]), np.percentile(f32.astype(np.float64), [33])
    )
    assert percentiles([1.0, 2.0], np.array([10, 90], dtype=np.int32)).dtype == (
        np.float64
    )


def test_nan_like_numpy():
    x = np.array([1.0, np.nan, 3.0] * 20_000)
    for cfg in CONFIGS.values():
        with radix(*cfg):
            assert_bits_equal(
                percentiles(x, [10, 90]), reference(x, [10, 90], "linear")
            )
    inf_nan = np.array([np.inf, np.nan, 3.0] * 20_000)
    with radix(0, 3):
        assert_bits_equal(
            percentiles(inf_nan, [10, 90]), reference(inf_nan, [10, 90], "linear")
        )


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"x": [], "q": [50]}, ValueError),
        ({"x": [[1.0, 2.0]], "q": [50]}, ValueError),
        ({"x": [1.0], "q": [101]}, ValueError),
        ({"x": [1.0], "q": [-1]}, ValueError),
        ({"x": [1.0], "q": [np.nan]}, ValueError),
        ({"x": [1.0], "q": [[50]]}, ValueError),
        ({"x": [1.0], "q": [50], "method": "bogus"}, ValueError),
        ({"x": ["a"], "q": [50]}, TypeError),
        ({"x": [1.0], "q": [50], "backend": "gpu"}, ValueError),
    ],
)
def test_errors(kwargs, exc):
    x = kwargs.pop("x")
    q = kwargs.pop("q")
    with pytest.raises(exc):
        with radix():
            percentiles(np.asarray(x), q, **kwargs)


# ---------------------------------------------------------------------------
# hypothesis
# ---------------------------------------------------------------------------

SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, np.inf, -np.inf, 5e-324, -5e-324,
           1e308, -1e308, 1.0000000000000002, 0.1, 0.3]  # fmt: skip

values = st.one_of(
    st.sampled_from(SPECIAL),
    st.floats(allow_nan=False, allow_infinity=True, width=64),
    st.integers(-3, 3).map(float),
)
arrays = st.lists(values, min_size=1, max_size=120).map(np.array)
qs = st.lists(
    st.one_of(
        st.floats(0, 100, allow_nan=False),
        st.integers(0, 100).map(float),
        st.sampled_from([0.0, 100.0, 50.0, 33.333333333333336, 1e-300]),
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(x=arrays, q=qs, method=st.sampled_from(METHODS), leaf=st.sampled_from([0, 3]))
def test_hypothesis_bit_identical(x, q, method, leaf):
    expected = reference(x, q, method)
    for backend in ("numpy", "numba"):
        if backend == "numba" and _backend.numba_kernels() is None:
            continue
        with radix(0, leaf):
            got = ours(x, q, method, backend)
        assert np.array_equal(bits(got), bits(expected), equal_nan=False), (
            got,
            expected,
        )


# ---------------------------------------------------------------------------
# weighted
# ---------------------------------------------------------------------------


def numpy_weighted(x, w, q):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.percentile(
            np.asarray(x, dtype=np.float64),
            np.asarray(q, dtype=np.float64),
            weights=np.asarray(w, dtype=np.float64),
            method="inverted_cdf",
        )


def ours_w(x, w, q, method, backend=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return weighted_percentiles(x, w, q, method=method, backend=backend)


def _weighted_cases():
    rng = np.random.default_rng(99)
    n = 600
    cents = np.round(rng.lognormal(3.0, 1.0, n), 2)
    ties = rng.integers(0, 4, n).astype(float)
    return {
        "int-weights": (cents, rng.integers(0, 5, n).astype(float)),
        "unit-weights": (cents, np.ones(n)),
        "ties-int": (ties, rng.integers(1, 4, n).astype(float)),
        "float-weights": (cents, rng.random(n)),
        "tenth-weights": (ties, np.full(n, 0.1)),
        "zero-heavy": (cents, rng.choice([0.0, 1.0, 7.0], size=n)),
        "leading-zero-weight": (np.arange(n, dtype=float), np.r_[0.0, np.ones(n - 1)]),
        "mixed-zeros": (rng.choice([-0.0, 0.0, 1.0], size=n), rng.integers(1, 3, n)),
        "infs": (rng.choice([-np.inf, np.inf, 1.0, 2.0], size=n), np.ones(n) * 3),
        "one-positive": (cents, np.r_[np.zeros(n - 1), 4.0]),
        "huge-weight": (cents, np.r_[1e12, np.ones(n - 1)]),
    }


WCASES = _weighted_cases()


@pytest.mark.skipif(not NUMPY_HAS_WEIGHTS, reason="numpy < 2 has no weights")
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(WCASES))
def test_weighted_inverted_cdf_matches_numpy(case, backend, config):
    x, w = WCASES[case]
    with radix(*CONFIGS[config]):
        got = ours_w(x, w, Q_GRID, "inverted_cdf", backend)
    assert_bits_equal(got, numpy_weighted(x, w, Q_GRID))


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(WCASES))
def test_weighted_averaged_reference_and_repeats(case, backend, config):
    x, w = WCASES[case]
    qf = Q_GRID / 100
    with radix(*CONFIGS[config]):
        got = ours_w(x, w, Q_GRID, "averaged_inverted_cdf", backend)
    # the sorting reference defines the method (unit weights: numpy's)
    if np.all(w[w > 0] == 1):
        expected = reference(x[w > 0], Q_GRID, "averaged_inverted_cdf")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = _select._weighted_averaged_reference(
                np.asarray(x, float), np.asarray(w, float), qf
            )
    assert_bits_equal(got, expected)
    # integer weights == repeated rows (finite values; which of -0.0 / +0.0
    # numpy returns for a zero depends on its partition, not on the values)
    exact = np.all(np.trunc(w) == w) and w.sum() < 1e7
    if exact and np.isfinite(x).all() and not mixed_zeros(x):
        rep = np.repeat(x, w.astype(np.int64))
        assert_bits_equal(got, reference(rep, Q_GRID, "averaged_inverted_cdf"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_weighted_large_fast_path(backend):
    rng = np.random.default_rng(11)
    n = 400_000
    x = np.round(rng.lognormal(3.5, 1.0, n), 2)
    w = rng.integers(0, 4, n).astype(float)
    q = [0, 10, 40, 50, 70, 75, 100]
    got = ours_w(x, w, q, "inverted_cdf", backend)
    if NUMPY_HAS_WEIGHTS:
        assert_bits_equal(got, numpy_weighted(x, w, q))
    rep = np.repeat(x, w.astype(np.int64))
    assert_bits_equal(
        ours_w(x, w, q, "averaged_inverted_cdf", backend),
        reference(rep, q, "averaged_inverted_cdf"),
    )
    ones = np.ones(n)
    assert_bits_equal(
        ours_w(x, ones, q, "averaged_inverted_cdf", backend),
        reference(x, q, "averaged_inverted_cdf"),
    )


@pytest.mark.skipif(not NUMPY_HAS_WEIGHTS, reason="numpy < 2 has no weights")
def test_weighted_inverted_cdf_follows_numpy_weighted_not_repeats():
    # numpy's weighted inverted_cdf tests fl(S / W) >= q, its unweighted one
    # takes ceil(fl(n * q)): for 25 rows at 28 %, 7 / 25 rounds to 0.28 but
    # 25 * 0.28 rounds to 7.000000000000001.  We follow the weighted one.
    x = np.arange(25, dtype=float)
    w = np.ones(25)
    assert np.percentile(x, 28, weights=w, method="inverted_cdf") == 6.0
    assert np.percentile(x, 28, method="inverted_cdf") == 7.0
    for cfg in CONFIGS.values():
        with radix(*cfg):
            assert_bits_equal(weighted_percentiles(x, w, [28]), [6.0])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    counts=st.lists(st.integers(0, 6), min_size=1, max_size=40),
    total_log2=st.integers(0, 8),
    q=qs,
    leaf=st.sampled_from([0, 3]),
)
def test_hypothesis_weighted_inverted_cdf_repeats(counts, total_log2, q, leaf):
    # with a power-of-two total W, fl(S / W) and fl(W * q) are exact, so the
    # weighted inverted_cdf equals the unweighted one on repeated rows
    counts = np.array(counts, dtype=np.int64)
    missing = 2**total_log2 - counts.sum()
    if missing < 0:
        return
    counts = np.append(counts, missing)
    if counts.sum() == 0:
        return
    x = np.random.default_rng(len(counts)).integers(-5, 5, counts.size) * 1.5
    rep = np.repeat(x, counts)
    for backend in ("numpy", "numba"):
        if backend == "numba" and _backend.numba_kernels() is None:
            continue
        with radix(0, leaf):
            got = ours_w(x, counts, q, "inverted_cdf", backend)
        assert_bits_equal(got, reference(rep, q, "inverted_cdf"))


@pytest.mark.parametrize("zero_weight_nan", [False, True])
def test_weighted_nan_like_numpy(zero_weight_nan):
    rng = np.random.default_rng(31)
    x = np.round(rng.normal(size=40_000), 2)
    w = rng.integers(1, 3, x.size).astype(float)
    x[5] = np.nan
    if zero_weight_nan:
        w[5] = 0.0
    for cfg in CONFIGS.values():
        with radix(*cfg):
            got = ours_w(x, w, [10, 50], "inverted_cdf")
            avg = ours_w(x, w, [10, 50], "averaged_inverted_cdf")
        if NUMPY_HAS_WEIGHTS:
            assert_bits_equal(got, numpy_weighted(x, w, [10, 50]))
        assert np.isnan(avg).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_weight_in_one_bucket_zero_weights_elsewhere(backend):
    # all positive weight on one value: the zero-weight rows of the other
    # buckets must not leak into the refinement of that bucket
    rng = np.random.default_rng(41)
    x = np.r_[np.full(300, 5.0), 5.0 + rng.random(3000), -rng.random(3000)]
    w = np.r_[rng.integers(1, 4, 300), np.zeros(6000)].astype(float)
    for cfg in CONFIGS.values():
        with radix(*cfg):
            got = ours_w(x, w, Q_GRID, "inverted_cdf", backend)
            avg = ours_w(x, w, Q_GRID, "averaged_inverted_cdf", backend)
        assert_bits_equal(got, np.full(Q_GRID.size, 5.0))
        assert_bits_equal(avg, np.full(Q_GRID.size, 5.0))


def test_zero_weights_are_absent():
    rng = np.random.default_rng(21)
    x = np.round(rng.normal(size=50_000), 3)
    w = rng.integers(0, 3, x.size).astype(float)
    q = Q_GRID
    for method in ("inverted_cdf", "averaged_inverted_cdf"):
        for cfg in CONFIGS.values():
            with radix(*cfg):
                assert_bits_equal(
                    ours_w(x, w, q, method), ours_w(x[w > 0], w[w > 0], q, method)
                )


def test_weighted_scale_invariance_power_of_two():
    rng = np.random.default_rng(22)
    x = rng.integers(0, 20, 3000).astype(float)
    w = rng.integers(1, 5, x.size).astype(float)
    for method in ("inverted_cdf", "averaged_inverted_cdf"):
        for cfg in CONFIGS.values():
            with radix(*cfg):
                a = ours_w(x, w, Q_GRID, method)
                b = ours_w(x, w / 4, Q_GRID, method)
            assert_bits_equal(a, b)


@pytest.mark.parametrize(
    "w, msg",
    [
        ([1.0, -1.0, 1.0], "non-negative"),
        ([1.0, np.nan, 1.0], "NaN, inf or were all zero"),
        ([1.0, np.inf, 1.0], "NaN, inf or were all zero"),
        ([0.0, 0.0, 0.0], "NaN, inf or were all zero"),
        ([1.0, 1.0], "shape"),
    ],
)
def test_weighted_errors(w, msg):
    with pytest.raises(ValueError, match=msg):
        weighted_percentiles([1.0, 2.0, 3.0], w, [50])


def test_weighted_method_error():
    with pytest.raises(ValueError, match="not a valid method"):
        weighted_percentiles([1.0, 2.0], [1.0, 1.0], [50], method="linear")


wvalues = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, np.inf, -np.inf, 1e300]),
    st.integers(-4, 4).map(float),
)


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    data=st.lists(
        st.tuples(wvalues, st.integers(0, 4)), min_size=1, max_size=60
    ).filter(lambda rows: any(c > 0 for _, c in rows)),
    q=qs,
    leaf=st.sampled_from([0, 3]),
    scale=st.sampled_from([1.0, 0.25, 0.1]),
)
def test_hypothesis_weighted(data, q, leaf, scale):
    x = np.array([v for v, _ in data])
    counts = np.array([c for _, c in data], dtype=np.int64)
    w = counts * scale
    for backend in ("numpy", "numba"):
        if backend == "numba" and _backend.numba_kernels() is None:
            continue
        with radix(0, leaf):
            got_icdf = ours_w(x, w, q, "inverted_cdf", backend)
            got_avg = ours_w(x, w, q, "averaged_inverted_cdf", backend)
        if NUMPY_HAS_WEIGHTS:
            assert np.array_equal(bits(got_icdf), bits(numpy_weighted(x, w, q)))
        if scale == 1.0 and np.isfinite(x).all() and not mixed_zeros(x):
            rep = np.repeat(x, counts)
            expected = reference(rep, q, "averaged_inverted_cdf")
            assert np.array_equal(bits(got_avg), bits(expected)), (got_avg, expected)
        # numpy's quirks near inf (weights all 1: numpy answers), in either call
        unit = np.all(counts[counts > 0] == 1) or np.all(w[w > 0] == 1)
        if scale == 0.25 and (np.isfinite(x).all() or not unit):
            # exact scaling: same cut points as the counts
            with radix(0, leaf):
                unscaled = ours_w(x, counts, q, "averaged_inverted_cdf", backend)
            assert np.array_equal(bits(got_avg), bits(unscaled))


# ---------------------------------------------------------------------------
# backend selection
# ---------------------------------------------------------------------------


def test_select_backend_flag(monkeypatch):
    monkeypatch.setattr(_backend, "USE_NUMBA", False)
    assert select_backend() == "numpy"
    monkeypatch.setattr(_backend, "USE_NUMBA", True)
    monkeypatch.setenv("SKLEARN_MECE_NO_NUMBA", "1")
    assert select_backend() == "numpy"
    monkeypatch.setenv("SKLEARN_MECE_NO_NUMBA", "0")
    expected = "numba" if _backend.numba_kernels() is not None else "numpy"
    assert select_backend() == expected


def test_env_var_in_fresh_process():
    code = (
        "from sklearn_mece._select import select_backend, percentiles;"
        "import numpy as np, sys;"
        "x = np.random.default_rng(0).random(100_000);"
        "assert np.array_equal(percentiles(x, [40, 70]), np.percentile(x, [40, 70]));"
        "import sklearn_mece._backend as b;"
        "assert b._KERNELS is None, 'numba kernels were built';"
        "assert 'numba' not in sys.modules, 'numba was imported';"
        "print(select_backend())"
    )
    env = dict(os.environ, SKLEARN_MECE_NO_NUMBA="1")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "numpy"


def test_numba_unavailable_falls_back(monkeypatch):
    monkeypatch.setattr(_backend, "_KERNELS", False)
    assert select_backend() == "numpy"
    x = np.random.default_rng(1).random(100_000)
    assert_bits_equal(percentiles(x, [40, 70]), np.percentile(x, [40, 70]))
    with pytest.raises(RuntimeError, match="numba"):
        percentiles(x, [40], backend="numba")


def test_broken_numba_kernel_falls_back(monkeypatch):
    def boom(*args):
        raise RuntimeError("kernel failed")

    broken = types.SimpleNamespace(hist=boom, hist_w=boom, gather=boom, gather_w=boom)
    monkeypatch.setattr(_backend, "_KERNELS", broken)
    monkeypatch.setattr(_backend, "USE_NUMBA", True)
    x = np.random.default_rng(2).random(100_000)
    got = percentiles(x, [40, 70], backend="numba")
    assert_bits_equal(got, np.percentile(x, [40, 70]))
    assert _backend._KERNELS is False  # not tried again in this process


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("leaf", [3, _select._LEAF])
@pytest.mark.parametrize("method", ["linear", "inverted_cdf", "nearest", "hazen"])
def test_threaded_histogram_and_gather_are_bit_identical(
    monkeypatch, backend, leaf, method
):
    # large inputs split the histogram and gather passes across threads (and
    # the numpy engine's histogram into chunks); force that on a small input
    # (slices of 1000 rows, chunks of 777) at every radix level
    monkeypatch.setattr(_backend, "THREAD_MIN_ROWS", 1000)
    monkeypatch.setattr(_backend, "get_num_threads", lambda: 3)
    monkeypatch.setattr(_select, "_HIST_CHUNK", 777)
    rng = np.random.default_rng(leaf)
    x = np.round(rng.standard_t(3, 60_001), 2)  # negatives, ties, both tails
    x[::7] = 0.0
    q = [0, 10, 33.3, 40, 50, 70, 75, 99.9, 100]
    with radix(direct_n=0, leaf=leaf):
        got = percentiles(x, q, method=method, backend=backend)
    assert_bits_equal(got, np.percentile(x, q, method=method))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [1_000, 100_003])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, None])
def test_require_finite_is_proved_by_the_first_histogram(backend, n, bad):
    rng = np.random.default_rng(n)
    x = np.round(rng.normal(0, 3, n), 2)
    if bad is None:
        got = percentiles(x, [40, 75], backend=backend, require_finite=True)
        assert_bits_equal(got, np.percentile(x, [40, 75]))
        return
    x[n // 2] = bad
    with pytest.raises(_select.NonFiniteValues):
        percentiles(x, [40, 75], backend=backend, require_finite=True)
    # without the flag numpy's semantics hold (NaN in, NaN out)
    assert_bits_equal(
        percentiles(x, [40, 75], backend=backend), np.percentile(x, [40, 75])
    )
