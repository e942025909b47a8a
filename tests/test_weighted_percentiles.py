"""Frequency weights: an integer weight repeats the row, for every numpy method."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sklearn_mece import PercentileThresholder
from sklearn_mece._levels import NUMPY_METHODS, WEIGHTED_METHODS, compute_cuts
from sklearn_mece._quantiles import weighted_percentiles
from sklearn_mece.presets import make_cart_abandoner_pipeline

FREQUENCY_METHODS = [m for m in NUMPY_METHODS if m not in WEIGHTED_METHODS]
QS = st.lists(
    st.floats(0, 100, allow_nan=False), min_size=1, max_size=5, unique=True
).map(sorted)


def _bits(a):
    return np.asarray(a, dtype=np.float64).view(np.uint64)


@st.composite
def _weighted_column(draw, max_size=40):
    n = draw(st.integers(1, max_size))
    # a small value set makes ties; + 0.0 turns -0.0 into +0.0 (numpy's sign
    # of a selected zero depends on its partition when both zeros are present)
    values = draw(
        arrays(
            np.float64,
            n,
            elements=st.sampled_from([-3.5, -1.0, 0.0, 0.25, 1.0, 2.0, 1e6, 7.125]),
        )
        | arrays(np.float64, n, elements=st.floats(-1e9, 1e9, allow_nan=False))
    )
    weights = draw(arrays(np.int64, n, elements=st.integers(0, 4)))
    if weights.sum() == 0:
        weights[draw(st.integers(0, n - 1))] = 1
    return values + 0.0, weights


@settings(max_examples=150, deadline=None)
@given(_weighted_column(), QS, st.sampled_from(NUMPY_METHODS))
def test_integer_weights_equal_repeated_rows_bit_for_bit(column, q, method):
    x, w = column
    expected = np.percentile(np.repeat(x, w), q, method=method)
    got = compute_cuts(x, q, method=method, sample_weight=w.astype(np.float64))
    if method in WEIGHTED_METHODS:
        # numpy's own weighted definition: the same values (bits may differ
        # only through the sign of zero, excluded above)
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_array_equal(_bits(got), _bits(expected))


@pytest.mark.parametrize("method", FREQUENCY_METHODS)
def test_large_integer_weights_use_the_selection_and_stay_exact(method):
    # above the size where numpy answers directly: the weighted radix select
    rng = np.random.default_rng(3)
    x = np.round(rng.lognormal(3, 1, 50_000), 2)
    w = rng.integers(0, 5, x.size)
    q = [0, 0.5, 25, 40, 75, 99.9, 100]
    got = weighted_percentiles(x, w.astype(np.float64), q, method=method)
    expected = np.percentile(np.repeat(x, w), q, method=method)
    np.testing.assert_array_equal(_bits(got), _bits(expected))


@settings(max_examples=60, deadline=None)
@given(_weighted_column(), QS)
def test_unit_weights_are_the_unweighted_path(column, q):
    x, w = column
    ones = (w > 0).astype(np.float64)
    got = compute_cuts(x, q, sample_weight=ones)
    np.testing.assert_array_equal(_bits(got), _bits(compute_cuts(x[ones > 0], q)))


@settings(max_examples=100, deadline=None)
@given(
    _weighted_column(),
    st.sampled_from(FREQUENCY_METHODS),
    arrays(np.float64, 40, elements=st.floats(0.01, 3.0)),
)
def test_non_integer_weights_are_monotone_and_within_the_data(column, method, frac):
    x, w = column
    w = w * frac[: w.size]  # non-integer, zeros kept
    if w.sum() <= 1:
        w = w * (2 / w.sum())
    q = np.linspace(0, 100, 41)
    got = weighted_percentiles(x, w, q, method=method)
    kept = x[w > 0]
    assert np.all(np.diff(got) >= 0)
    assert got[0] >= kept.min() and got[-1] <= kept.max()


def test_non_integer_weights_definition():
    # W = 2: h = 0.5 for the median; v(0) = 1 (cumulative 0.5 > 0), v(1) = 3
    # (the first cumulative weight above 1), halfway: 2
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(
        weighted_percentiles(x, np.array([0.5, 0.5, 1.0]), [0, 50, 100]),
        [1.0, 2.0, 3.0],
    )
    # the largest value with positive weight at the top, even a light one
    np.testing.assert_array_equal(
        weighted_percentiles(np.array([1.0, 2.0]), np.array([1.6, 0.4]), [99, 100]),
        [1.0, 2.0],
    )


def test_weight_errors():
    x = np.array([1.0, 2.0])
    with pytest.raises(ValueError, match="non-negative"):
        weighted_percentiles(x, np.array([1.0, -1.0]), [50])
    with pytest.raises(ValueError, match="all zero"):
        weighted_percentiles(x, np.zeros(2), [50])
    with pytest.raises(ValueError, match="NaN"):
        weighted_percentiles(np.array([1.0, np.nan]), np.ones(2), [50])
    with pytest.raises(ValueError, match="at most one row"):
        weighted_percentiles(x, np.array([0.25, 0.75]), [50])


def test_thresholder_default_method_takes_weights_with_nan_and_groups():
    x = np.array([5.0, np.nan, 1.0, 3.0, 2.0, 8.0])
    w = np.array([1, 5, 2, 0, 3, 1])
    t = PercentileThresholder((25, 50, 75)).fit(x[:, None], sample_weight=w)
    keep = ~np.isnan(x)
    expected = np.percentile(np.repeat(x[keep], w[keep]), (25, 50, 75))
    np.testing.assert_array_equal(t.cuts_["x0"], expected)

    frame = pd.DataFrame({"g": list("aabbab"), "v": x})
    tg = PercentileThresholder({"v": (50,)}, groupby="g").fit(frame, sample_weight=w)
    for g, cuts in zip(tg.groups_, tg.group_cuts_["v"]):
        rows = (frame["g"] == g).to_numpy() & keep
        ref = np.percentile(np.repeat(x[rows], w[rows]), 50)
        np.testing.assert_array_equal(cuts, [ref])


def test_pipeline_routes_weights_to_the_thresholds_step():
    from sklearn_mece.datasets import make_cart_abandoners

    X = make_cart_abandoners(1_000, random_state=0)
    w = np.random.default_rng(0).integers(0, 3, len(X))
    pipe = make_cart_abandoner_pipeline(min_size=10)[:2]
    pipe.fit(X, thresholds__sample_weight=w)
    repeated = X.loc[X.index.repeat(w)].reset_index(drop=True)
    ref = make_cart_abandoner_pipeline(min_size=10)[:2].fit(repeated)
    got, exp = pipe.named_steps["thresholds"], ref.named_steps["thresholds"]
    for name in exp.cuts_:
        np.testing.assert_array_equal(got.cuts_[name], exp.cuts_[name])
