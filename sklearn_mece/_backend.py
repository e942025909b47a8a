"""The compute backend: one numba switch, one lazy build, one thread pool.

Every compiled or threaded computation of the package (the row kernels of
:mod:`sklearn_mece._kernels` and the exact selection of
:mod:`sklearn_mece._select`) goes through this module.

Engine choice
-------------
Two engines give bit-identical results: pure numpy (always available) and
numba (optional, ``pip install 'sklearn-mece[fast]'``). The numba kernels are
top-level functions of :mod:`sklearn_mece._numba_kernels`, compiled once and
cached on disk; that module (and numba itself) is imported only when a numba
kernel is first needed, so ``import sklearn_mece`` never imports numba.

The rule, for a call that does not name its engine:

* an input of fewer than :data:`NUMBA_MIN_ROWS` rows (65,536) uses numpy;
* numba is loaded (imported, kernels read from the cache) by the first input
  of at least :data:`NUMBA_LOAD_ROWS` rows (2^22, about 4.2 million), by a
  call with ``engine="numba"`` or by :func:`numba_kernels`; once loaded, it
  runs every input of at least :data:`NUMBA_MIN_ROWS` rows.

Loading costs a fresh process about 0.45 s once (2 cores: importing numba
~0.2 s, its compiler's set-up and the cached kernels ~0.25 s; the very first
use on a machine also compiles them, ~2 s), while numba saves about 8 ns per
row of a fit (the exact cut points of 4 columns) and 2 ns per row of a
transform (see ``benchmarks/first_fit.py`` and ``compare_trees.py``). So a process that only sees inputs below 4 million rows (the
40,000-row demo, one-row transforms, batches) never pays it, and its first
fit costs what the numpy engine costs; a long-running process that handles
many inputs of 65,536 to 4 million rows gains by loading numba upfront with
:func:`numba_kernels`. numba is not used when it is missing, when
:data:`USE_NUMBA` is ``False``, when the environment variable
``SKLEARN_MECE_NO_NUMBA`` is set (to anything but ``""``, ``0``, ``false`` or
``no``), when building or the self-test of the kernels fails, or after a
kernel failed at run time.

The on-disk cache is numba's: next to ``_numba_kernels.py`` (in
``__pycache__``) when the package directory is writable, otherwise in the
user's cache directory (``~/.cache/numba`` on Linux), or wherever
``NUMBA_CACHE_DIR`` points. When no location is writable the kernels are
compiled in memory at every start (about 0.5 s on first use). The cache keys on
``_numba_kernels.py`` only; the operator codes it reads from
:mod:`sklearn_mece._operators` are frozen into the compiled code, so the
self-test run at load checks every operator against its numpy comparison.

Threads
-------
Large inputs (at least :data:`THREAD_MIN_ROWS` rows) are split into one slice
of rows per thread; the kernels release the GIL. The number of threads is, in
order of precedence:

1. the value set with :func:`set_num_threads` or, for a block of code,
   :func:`thread_limit`;
2. the environment variable ``SKLEARN_MECE_NUM_THREADS`` (a positive
   integer), read at every call;
3. the CPUs available to the process, at most :data:`DEFAULT_MAX_THREADS`
   (8: the kernels are bound by memory bandwidth beyond that), and at most
   the threads OpenMP would use now, as scikit-learn reads them: so
   ``OMP_NUM_THREADS`` and ``threadpoolctl.threadpool_limits(n,
   user_api="openmp")`` (or a global ``threadpool_limits(n)``) limit this
   pool too when nothing above is set.

Whatever is asked, it never exceeds the CPUs available to the process
(``os.sched_getaffinity`` where it exists, ``os.cpu_count()`` otherwise).

Examples
--------
>>> from sklearn_mece import _backend
>>> with _backend.thread_limit(1):
...     _backend.get_num_threads()
1
>>> _backend.engine_for(10)
'numpy'
"""

import contextlib
import os
import threading
import warnings

import numpy as np

from ._base import check_positive_integer
from ._compat import openmp_threads

#: Set to ``False`` to never use numba (same as ``SKLEARN_MECE_NO_NUMBA=1``).
USE_NUMBA = True

#: Inputs with fewer rows use the numpy engine: no numba import, no compilation.
NUMBA_MIN_ROWS = 1 << 16

#: The first input with at least this many rows loads numba (see the rule).
NUMBA_LOAD_ROWS = 1 << 22

#: Rows from which the work is split across threads.
THREAD_MIN_ROWS = 1 << 20

#: Default upper bound of the number of threads.
DEFAULT_MAX_THREADS = 8

ENV_NO_NUMBA = "SKLEARN_MECE_NO_NUMBA"
ENV_NUM_THREADS = "SKLEARN_MECE_NUM_THREADS"

_KERNELS = None  # None: not tried yet; False: unavailable; else the module
_LOCK = threading.Lock()
_NUM_THREADS = None  # set by set_num_threads / thread_limit
_POOL = None
_POOL_SIZE = 0
_WORKER_PREFIX = "sklearn-mece"  # name prefix of the pool's threads


# --------------------------------------------------------------------------
# engine choice
# --------------------------------------------------------------------------
def numba_disabled():
    """Whether numba is switched off (:data:`USE_NUMBA` or the env var)."""
    flag = os.environ.get(ENV_NO_NUMBA, "").strip().lower()
    return (not USE_NUMBA) or flag not in ("", "0", "false", "no")


def numba_kernels():
    """The numba kernels module, built on first use; ``None`` if unavailable.

    The first call imports numba and loads the kernels from numba's cache
    (or compiles them), then runs their self-test: a wrong kernel is never
    used.

    Examples
    --------
    >>> kernels = numba_kernels()
    >>> kernels is None or hasattr(kernels, "level_codes_2")
    True
    """
    global _KERNELS
    if numba_disabled():
        return None
    if _KERNELS is None:
        with _LOCK:
            if _KERNELS is None:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        from . import _numba_kernels

                        _numba_kernels.self_test()
                    _KERNELS = _numba_kernels
                except Exception:  # numba missing or broken: numpy engine
                    _KERNELS = False
    return _KERNELS or None


def numba_failed():
    """Stop using numba in this process (a kernel failed at run time)."""
    global _KERNELS
    _KERNELS = False


def engine_for(n_rows, engine=None):
    """Name of the engine used for ``n_rows`` rows: ``"numba"`` or ``"numpy"``.

    Parameters
    ----------
    n_rows : int
        Number of rows to process.
    engine : {"numba", "numpy"} or None
        Force an engine; ``"numba"`` still falls back to numpy when numba is
        unavailable or disabled (and loads it). ``None`` applies the row
        rule (:data:`NUMBA_MIN_ROWS`, :data:`NUMBA_LOAD_ROWS`).

    Returns
    -------
    str

    Examples
    --------
    >>> engine_for(10)
    'numpy'
    >>> engine_for(10**9, "numpy")
    'numpy'
    """
    if engine not in (None, "numba", "numpy"):
        raise ValueError(f"engine must be 'numba', 'numpy' or None, got {engine!r}.")
    if engine == "numpy" or numba_disabled():
        return "numpy"
    if engine is None and (
        n_rows < NUMBA_MIN_ROWS or (_KERNELS is None and n_rows < NUMBA_LOAD_ROWS)
    ):
        return "numpy"
    return "numba" if numba_kernels() is not None else "numpy"


# --------------------------------------------------------------------------
# threads
# --------------------------------------------------------------------------
def available_cpus():
    """CPUs this process may run on (its affinity mask where there is one).

    Examples
    --------
    >>> available_cpus() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def get_num_threads():
    """Number of threads the kernels split large inputs across.

    Returns
    -------
    int
        :func:`set_num_threads`'s value, else ``SKLEARN_MECE_NUM_THREADS``,
        else ``min(DEFAULT_MAX_THREADS, OpenMP's threads)`` (which honours
        ``OMP_NUM_THREADS`` and threadpoolctl limits); never more than the
        CPUs available to the process.

    Examples
    --------
    >>> 1 <= get_num_threads() <= available_cpus()
    True
    """
    n = _NUM_THREADS
    if n is None:
        env = os.environ.get(ENV_NUM_THREADS, "").strip()
        if env:
            try:
                n = check_positive_integer(int(env), ENV_NUM_THREADS)
            except ValueError:
                raise ValueError(
                    f"{ENV_NUM_THREADS} must be a positive integer, got {env!r}."
                ) from None
        else:
            n = max(1, min(DEFAULT_MAX_THREADS, openmp_threads()))
    return min(n, available_cpus())


def set_num_threads(n):
    """Set the number of threads for the whole process; ``None`` resets it.

    Parameters
    ----------
    n : int or None
        A positive integer (capped at the available CPUs), or ``None`` to go
        back to ``SKLEARN_MECE_NUM_THREADS`` or the default.

    Examples
    --------
    >>> set_num_threads(1)
    >>> get_num_threads()
    1
    >>> set_num_threads(None)
    """
    global _NUM_THREADS
    _NUM_THREADS = None if n is None else check_positive_integer(n, "n")


@contextlib.contextmanager
def thread_limit(n):
    """Use ``n`` threads inside a ``with`` block (process-wide), then restore.

    Parameters
    ----------
    n : int or None
        As in :func:`set_num_threads`.

    Yields
    ------
    None
        Nothing; the limit holds until the block exits.

    Examples
    --------
    >>> with thread_limit(1):
    ...     get_num_threads()
    1
    """
    global _NUM_THREADS
    saved = _NUM_THREADS
    set_num_threads(n)
    try:
        yield
    finally:
        _NUM_THREADS = saved


def _forget_pool():
    global _POOL, _POOL_SIZE, _LOCK
    _POOL = None  # a forked child has none of the parent's threads
    _POOL_SIZE = 0
    _LOCK = threading.Lock()  # nor the thread that may have held the lock


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _pool(size):
    global _POOL, _POOL_SIZE
    if _POOL is None or _POOL_SIZE < size:
        with _LOCK:
            if _POOL is None or _POOL_SIZE < size:
                from concurrent.futures import ThreadPoolExecutor

                # a larger pool replaces a smaller one; the old one is not
                # shut down (a caller may still be submitting to it): its
                # idle threads exit once it is garbage collected
                _POOL = ThreadPoolExecutor(
                    max_workers=size, thread_name_prefix=_WORKER_PREFIX
                )
                _POOL_SIZE = size
    return _POOL


def row_slices(n):
    """Row slices ``(lo, hi)``: one per thread for large inputs, else one.

    Examples
    --------
    >>> row_slices(10)
    [(0, 10)]
    """
    k = get_num_threads() if n >= THREAD_MIN_ROWS else 1
    step = -(-n // k) if n else 1
    return [(lo, min(n, lo + step)) for lo in range(0, max(n, 1), step)]


def run_in_slices(func, n):
    """Run ``func(lo, hi)`` over :func:`row_slices`; results in slice order.

    Called from one of the pool's own threads (a kernel nested in another),
    it runs serially: a worker waiting on tasks queued behind it would
    deadlock.

    Examples
    --------
    >>> run_in_slices(lambda lo, hi: hi - lo, 10)
    [10]
    """
    parts = row_slices(n)
    if len(parts) == 1:
        return [func(*parts[0])]
    if threading.current_thread().name.startswith(_WORKER_PREFIX):
        return [func(lo, hi) for lo, hi in parts]
    return list(_pool(len(parts)).map(lambda p: func(*p), parts))


def run_per_item(func, items, n_rows):
    """``[func(item) for item in items]``, items spread over the threads.

    For independent jobs on whole columns (each runs its kernels serially on
    its thread): serial steps of one job overlap with another's passes,
    which splitting each job's rows across the threads cannot do. Runs in
    the calling thread for one item, small inputs (``n_rows`` per item below
    :data:`THREAD_MIN_ROWS`), one thread, or from a pool thread.

    Examples
    --------
    >>> run_per_item(lambda x: x * 2, [1, 2, 3], 10)
    [2, 4, 6]
    """
    items = list(items)
    k = min(get_num_threads(), len(items)) if n_rows >= THREAD_MIN_ROWS else 1
    if k <= 1 or threading.current_thread().name.startswith(_WORKER_PREFIX):
        return [func(item) for item in items]
    return list(_pool(k).map(func, items))


def readonly(a):
    """A C-contiguous, read-only view (or copy) of ``a``: one numba signature."""
    a = np.ascontiguousarray(a)
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a
