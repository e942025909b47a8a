"""Shared test configuration."""

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """OpenMP/BLAS threads busy-wait: on a loaded 2-core machine a KMeans fit of a
    few thousand rows takes ~100x longer with them than with one thread."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="session")
def preset_data():
    """3,000 mock cart abandoners."""
    from sklearn_mece.datasets import make_cart_abandoners

    return make_cart_abandoners(3_000, random_state=0)


@pytest.fixture(scope="session")
def fitted_preset(preset_data):
    """The preset (min_size=50) fitted on ``preset_data``, and its output."""
    import warnings

    from sklearn_mece import make_cart_abandoner_pipeline

    pipe = make_cart_abandoner_pipeline(min_size=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pipe.fit_transform(preset_data)
    return pipe, out
