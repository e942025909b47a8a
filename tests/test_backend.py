"""The compute backend: one switch, one lazy build, one thread pool, one
operator table read by every evaluation path."""

import os
import subprocess
import sys

import numpy as np
import pytest

import sklearn_mece
from sklearn_mece import _backend, _kernels
from sklearn_mece._operators import OPERATORS

HAS_NUMBA = _backend.engine_for(10**9, "numba") == "numba"


# ---------------------------------------------------------------------------
# operators
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("engine", [None, "numpy", "numba"])
@pytest.mark.parametrize(
    "n",
    [1, _kernels.SMALL_ROWS + 1, _backend.NUMBA_MIN_ROWS - 1, _backend.NUMBA_MIN_ROWS],
)
@pytest.mark.parametrize("op", ["~", "=<", "IN", None])
def test_unknown_operator_raises_at_every_size_and_engine(engine, n, op):
    values = np.zeros(n)
    inputs = [("compare", values, op, np.array([0.0]))]
    with pytest.raises(ValueError, match="unknown operator"):
        _kernels.rule_lookup(inputs, np.zeros(3, np.int8), engine=engine)


@pytest.mark.parametrize("switch", ["flag", "env"])
def test_unknown_operator_raises_with_numba_switched_off(switch, monkeypatch):
    if switch == "flag":
        monkeypatch.setattr(_backend, "USE_NUMBA", False)
    else:
        monkeypatch.setenv(_backend.ENV_NO_NUMBA, "1")
    values = np.zeros(_backend.NUMBA_MIN_ROWS)
    with pytest.raises(ValueError, match="unknown operator"):
        _kernels.rule_lookup(
            [("compare", values, "~", np.array([0.0]))], np.zeros(3, np.int8)
        )


def test_kernels_read_the_operator_table():
    # no second copy of the operators anywhere in the kernels' modules
    for name in ("OPS", "_NP_CMP", "_OP_CODES"):
        assert not hasattr(_kernels, name)
    if HAS_NUMBA:
        k = _backend.numba_kernels()
        for name, op in OPERATORS.items():
            const = {"==": "_EQ", "!=": "_NE", "<": "_LT", "<=": "_LE"}.get(name)
            const = const or {">": "_GT", ">=": "_GE", "in": "_IN"}.get(name)
            assert getattr(k, const or "_NOT_IN") == op.code


@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize("op", list(OPERATORS))
def test_every_operator_matches_its_numpy_comparison(engine, op):
    if engine == "numba" and not HAS_NUMBA:
        pytest.skip("numba not installed")
    rng = np.random.default_rng(5)
    n = 5_000
    v = np.round(rng.normal(0, 1, n), 1)
    v[::97] = np.nan
    operands = np.array([0.0, 0.5]) if OPERATORS[op].takes_list else np.array([0.2])
    out, counts = _kernels.rule_lookup(
        [("compare", v, op, operands)], np.arange(3, dtype=np.int8), engine=engine
    )
    expected = OPERATORS[op].holds(v, operands).astype(np.int8) + 1
    expected[np.isnan(v)] = 0
    np.testing.assert_array_equal(out, expected)
    assert counts.tolist() == [[0, int(np.isnan(v).sum()), 0]]


# ---------------------------------------------------------------------------
# engine switch
# ---------------------------------------------------------------------------
def test_engine_rule_and_switches(monkeypatch):
    assert _backend.engine_for(_backend.NUMBA_MIN_ROWS - 1) == "numpy"
    big = "numba" if HAS_NUMBA else "numpy"
    assert _backend.engine_for(_backend.NUMBA_MIN_ROWS) == big  # loaded above
    assert _backend.engine_for(10**9, "numpy") == "numpy"
    with pytest.raises(ValueError, match="engine must be"):
        _backend.engine_for(10, "cuda")
    for value in ("1", "yes", "true"):
        monkeypatch.setenv(_backend.ENV_NO_NUMBA, value)
        assert _backend.engine_for(10**9, "numba") == "numpy"
        assert _backend.numba_kernels() is None
    for value in ("", "0", "no", "false"):
        monkeypatch.setenv(_backend.ENV_NO_NUMBA, value)
        assert _backend.engine_for(10**9) == big
    monkeypatch.setattr(_backend, "USE_NUMBA", False)
    assert _backend.engine_for(10**9, "numba") == "numpy"


def test_numba_is_loaded_by_large_inputs_only(monkeypatch):
    monkeypatch.setattr(_backend, "_KERNELS", None)  # as in a fresh process
    monkeypatch.delenv(_backend.ENV_NO_NUMBA, raising=False)
    monkeypatch.setattr(_backend, "USE_NUMBA", True)
    assert _backend.engine_for(_backend.NUMBA_LOAD_ROWS - 1) == "numpy"
    assert _backend._KERNELS is None  # not loaded
    big = "numba" if HAS_NUMBA else "numpy"
    assert _backend.engine_for(_backend.NUMBA_LOAD_ROWS) == big
    assert _backend.engine_for(_backend.NUMBA_MIN_ROWS) == big  # now loaded
    assert _backend.engine_for(_backend.NUMBA_MIN_ROWS - 1) == "numpy"


def test_one_switch_for_the_package():
    from sklearn_mece import _select

    for module in (_kernels, _select):
        for name in ("USE_NUMBA", "_ENV_NO_NUMBA", "_LOCK", "_NUMBA_LOCK"):
            assert not hasattr(module, name), (module.__name__, name)


def test_import_does_not_import_numba_and_small_fits_never_do():
    code = (
        "import sys, numpy as np\n"
        "import sklearn_mece\n"
        "from sklearn_mece import _kernels, _select\n"
        "assert 'numba' not in sys.modules\n"
        "x = np.random.default_rng(0).random(200_000)\n"
        "_select.percentiles(x, [40, 70])\n"
        "_kernels.level_codes(x, np.array([0.5]))\n"
        "print('numba' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != _backend.ENV_NO_NUMBA}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------
# threads
# ---------------------------------------------------------------------------
def test_thread_count_controls(monkeypatch):
    monkeypatch.setattr(_backend, "openmp_threads", lambda: 64)  # no OpenMP limit
    monkeypatch.setattr(_backend, "available_cpus", lambda: 4)
    monkeypatch.delenv(_backend.ENV_NUM_THREADS, raising=False)
    assert _backend.get_num_threads() == 4  # default: CPUs, at most 8
    monkeypatch.setattr(_backend, "available_cpus", lambda: 64)
    assert _backend.get_num_threads() == _backend.DEFAULT_MAX_THREADS
    monkeypatch.setenv(_backend.ENV_NUM_THREADS, "3")
    assert _backend.get_num_threads() == 3
    monkeypatch.setenv(_backend.ENV_NUM_THREADS, "16")
    assert _backend.get_num_threads() == 16  # asked for: above the default cap
    monkeypatch.setattr(_backend, "available_cpus", lambda: 2)
    assert _backend.get_num_threads() == 2  # never more than the CPUs
    with _backend.thread_limit(1):
        assert _backend.get_num_threads() == 1
        assert len(_backend.row_slices(10 * _backend.THREAD_MIN_ROWS)) == 1
    assert _backend.get_num_threads() == 2
    _backend.set_num_threads(1)
    try:
        assert _backend.get_num_threads() == 1
    finally:
        _backend.set_num_threads(None)
    assert _backend.get_num_threads() == 2


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_bad_thread_env_var_is_refused(bad, monkeypatch):
    monkeypatch.setenv(_backend.ENV_NUM_THREADS, bad)
    with pytest.raises(ValueError, match=_backend.ENV_NUM_THREADS):
        _backend.get_num_threads()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_thread_count_is_refused(bad):
    with pytest.raises(ValueError, match="positive integer"):
        _backend.set_num_threads(bad)
    assert _backend._NUM_THREADS is None


def test_available_cpus_follows_the_affinity_mask(monkeypatch):
    if hasattr(os, "sched_getaffinity"):
        assert _backend.available_cpus() == len(os.sched_getaffinity(0))
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert _backend.available_cpus() == 3
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert _backend.available_cpus() == 1


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_threaded_results_equal_one_thread(engine, monkeypatch):
    if engine == "numba" and not HAS_NUMBA:
        pytest.skip("numba not installed")
    monkeypatch.setattr(_backend, "THREAD_MIN_ROWS", 1000)
    monkeypatch.setattr(_backend, "available_cpus", lambda: 3)
    rng = np.random.default_rng(1)
    x = np.round(rng.normal(0, 2, 30_001), 1)
    x[::11] = np.nan
    cuts = np.array([-1.0, 0.0, 2.5])
    results = []
    for n in (1, 3):
        with _backend.thread_limit(n):
            assert (
                sum(_backend.run_in_slices(lambda lo, hi: hi - lo, x.shape[0]))
                == x.shape[0]
            )
            assert len(_backend.row_slices(x.shape[0])) == n
            results.append(_kernels.level_codes(x, cuts, engine=engine))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1:] == results[1][1:]


def test_thread_limit_restores_on_error():
    with pytest.raises(RuntimeError):
        with _backend.thread_limit(1):
            raise RuntimeError
    assert _backend._NUM_THREADS is None


# ---------------------------------------------------------------------------
# the numba build
# ---------------------------------------------------------------------------
@pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")
def test_kernels_are_top_level_and_cached():
    import numba

    k = _backend.numba_kernels()
    for name in ("level_codes_2", "acc_compare", "lookup", "hist", "gather"):
        func = getattr(k, name)
        assert isinstance(func, numba.core.registry.CPUDispatcher)
        assert func.__qualname__ == name  # a module-level function, not a closure
        assert func._cache is not None and type(func._cache).__name__ == "FunctionCache"


def test_broken_build_falls_back_to_numpy(monkeypatch):
    monkeypatch.setattr(_backend, "USE_NUMBA", True)
    monkeypatch.delenv(_backend.ENV_NO_NUMBA, raising=False)
    monkeypatch.setattr(_backend, "_KERNELS", None)
    monkeypatch.setitem(sys.modules, "sklearn_mece._numba_kernels", None)
    monkeypatch.delattr(sklearn_mece, "_numba_kernels", raising=False)
    assert _backend.numba_kernels() is None  # the import fails: numpy engine
    assert _backend._KERNELS is False
    assert _backend.engine_for(10**9, "numba") == "numpy"
    x = np.arange(_backend.NUMBA_MIN_ROWS, dtype=np.float64)
    codes, _, _ = _kernels.level_codes(x, np.array([10.0]))
    assert int(codes.sum()) == x.shape[0] - 10


@pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")
def test_no_writable_cache_location_compiles_in_memory(monkeypatch):
    import numba

    k = _backend.numba_kernels()
    real = numba.njit

    def njit(*args, cache=False, **kwargs):
        if cache:  # what numba raises when no cache location is writable
            raise RuntimeError("cannot cache function: no locator available")
        return real(*args, **kwargs)

    monkeypatch.setattr(numba, "njit", njit)

    @k._jit()
    def double(x):
        return 2 * x

    assert double(21) == 42
    assert type(double._cache).__name__ == "NullCache"


def test_default_thread_count_honours_threadpoolctl_limits(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    monkeypatch.delenv(_backend.ENV_NUM_THREADS, raising=False)
    monkeypatch.setattr(_backend, "available_cpus", lambda: 4)
    _backend.set_num_threads(None)
    with threadpoolctl.threadpool_limits(1):
        assert _backend.get_num_threads() == 1  # the limit reaches our pool
        with _backend.thread_limit(3):  # an explicit setting wins
            assert _backend.get_num_threads() == 3
    monkeypatch.setattr(_backend, "openmp_threads", lambda: 2)
    assert _backend.get_num_threads() == 2
    monkeypatch.setattr(_backend, "openmp_threads", lambda: 64)
    assert _backend.get_num_threads() == 4  # never beyond the CPUs available
