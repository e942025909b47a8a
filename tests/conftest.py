"""Shared test configuration."""

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """OpenMP/BLAS threads busy-wait: on a loaded 2-core machine a KMeans fit of a
    few thousand rows takes ~100x longer with them than with one thread."""
    with threadpool_limits(1):
        yield
