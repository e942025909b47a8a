"""PercentileThresholder.partial_fit: KLL sketches, their guarantee, persistence, merge.

The guarantee tested: after every ``partial_fit`` call each cut's normalized
rank, counted exactly over all the rows seen so far, is within
``rank_error_`` of its percentile, whatever the order of the rows. A value's
rank is an interval when it is tied (``[share < c, share <= c]``), so the
check is ``share(< c) - eps <= q <= share(<= c) + eps``. KLL's bound holds with
probability 99 %; the errors actually seen at these sizes are a fraction of it
(measured: at most ~0.3 eps in 300 runs), so the test is not flaky.
"""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

datasketches = pytest.importorskip("datasketches")

from sklearn_mece import (  # noqa: E402
    CollapsedCutsWarning,
    HierarchicalSegmenter,
    PercentileThresholder,
    make_cart_abandoner_pipeline,
)
from sklearn_mece._sketch import rank_error  # noqa: E402
from sklearn_mece.datasets import make_cart_abandoners  # noqa: E402

Q = (10, 40, 70, 75, 99)
K = 200  # small sketches: larger error bound, compaction after few rows


def _frames(df, k):
    return [df.iloc[rows] for rows in np.array_split(np.arange(len(df)), k)]


def _rank_interval(seen, cut):
    seen = np.sort(seen[~np.isnan(seen)])
    lo = np.searchsorted(seen, cut, side="left") / seen.size
    hi = np.searchsorted(seen, cut, side="right") / seen.size
    return lo, hi


def _check_guarantee(t, seen, name="x0"):
    eps = t.rank_error_[name]
    for q, cut, e in zip(t.percentiles_[name], t.cuts_[name], eps):
        lo, hi = _rank_interval(seen, cut)
        assert lo - e - 1e-12 <= q / 100 <= hi + e + 1e-12, (q, cut, lo, hi, e)


def _orders(n=120_000, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.lognormal(4.0, 1.0, n)
    cohorts = np.concatenate(
        [rng.normal(loc, 1.0, n // 8) for loc in np.linspace(-20, 20, 8)]
    )
    ties = rng.choice([1.0, 2.0, 2.0, 5.0, 5.0, 5.0, 9.0], n)
    some = rng.random(n) < 0.2
    ties[some] = np.round(rng.random(int(some.sum())) * 10, 0)
    return {
        "sorted": np.sort(base),
        "reversed": np.sort(base)[::-1].copy(),
        "cohort_chunks": cohorts,  # each chunk from another cohort
        "heavy_ties": ties,
        "with_nan": np.where(rng.random(n) < 0.1, np.nan, base),
        "constant": np.full(n, 3.25),
    }


ORDERS = _orders()


@pytest.mark.parametrize("order", list(ORDERS))
@pytest.mark.parametrize("n_chunks", [1, 7, 40])
def test_rank_guarantee_after_every_call(order, n_chunks):
    data = ORDERS[order]
    t = PercentileThresholder(percentiles=Q, sketch_k=K)
    seen = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollapsedCutsWarning)
        for chunk in np.array_split(data, n_chunks):
            t.partial_fit(chunk[:, None])
            seen += chunk.size
            assert t.n_samples_seen_ == seen
            _check_guarantee(t, data[:seen])
    eps = rank_error(K)
    assert np.allclose(t.rank_error_["x0"], eps)
    assert 0.013 < eps < 0.014


@pytest.mark.parametrize("n_rows", [1, 2, 5, 17, 150])
def test_fewer_rows_than_the_sketch_is_exact(n_rows):
    rng = np.random.default_rng(n_rows)
    x = np.round(rng.normal(size=n_rows), 1)
    t = PercentileThresholder(percentiles=Q, sketch_k=K)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollapsedCutsWarning)
        for chunk in np.array_split(x, min(n_rows, 3)):
            t.partial_fit(chunk[:, None])
    np.testing.assert_array_equal(
        t.cuts_["x0"], np.percentile(x, Q, method="inverted_cdf")
    )
    np.testing.assert_array_equal(t.rank_error_["x0"], 0.0)


def test_constant_column_collapses_and_warns_once():
    t = PercentileThresholder(percentiles=(40, 75), sketch_k=K)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(5):
            t.partial_fit(np.full((1000, 1), 7.0))
    collapsed = [w for w in caught if issubclass(w.category, CollapsedCutsWarning)]
    assert len(collapsed) == 1
    np.testing.assert_array_equal(t.cuts_["x0"], [7.0, 7.0])
    assert t.collapsed_levels_["x0"] == [1]


def test_transform_after_each_call_uses_current_cuts():
    X = make_cart_abandoners(5_000, random_state=0)
    cols = ["avg_order_value", "engagement_score"]
    t = PercentileThresholder(percentiles=(40, 75), columns=cols, sketch_k=K)
    t.set_output(transform="pandas")
    for chunk in _frames(X, 5):
        out = t.partial_fit(chunk).transform(chunk)
        for c in cols:
            expected = (chunk[c].to_numpy()[:, None] >= t.cuts_[c]).sum(axis=1)
            np.testing.assert_array_equal(out[c + "_level"], expected)


def test_pipeline_with_partial_fitted_thresholder_transforms_like_any_other():
    X = make_cart_abandoners(20_000, random_state=1)
    pipe = make_cart_abandoner_pipeline(min_size=100, max_size=None)[:2]
    thresholds = pipe.named_steps["thresholds"].set_params(sketch_k=K)
    for chunk in _frames(X, 8):
        thresholds.partial_fit(chunk)
    pipe.named_steps["segments"].fit(thresholds.transform(X))
    got = pipe.transform(X)
    # the same cuts given as fixed values to an ordinary fit
    fixed = make_cart_abandoner_pipeline(min_size=100, max_size=None)[:2]
    fixed.set_params(thresholds__cut_values=dict(thresholds.cuts_))
    expected = fixed.fit(X).transform(X)
    pd.testing.assert_frame_equal(got, expected)


def test_pickle_and_skops_keep_sketches():
    rng = np.random.default_rng(0)
    t = PercentileThresholder(percentiles=(40, 75), sketch_k=K)
    for chunk in np.array_split(rng.random((10_000, 2)), 4):
        t.partial_fit(chunk)
    for restored in (pickle.loads(pickle.dumps(t)), _skops_roundtrip(t)):
        if restored is None:
            continue
        assert restored.sketches_ == t.sketches_
        assert restored.n_samples_seen_ == t.n_samples_seen_
        for name in t.cuts_:
            np.testing.assert_array_equal(restored.cuts_[name], t.cuts_[name])
        X = rng.random((100, 2))
        np.testing.assert_array_equal(restored.transform(X), t.transform(X))
        restored.partial_fit(rng.random((3_000, 2)))  # keeps learning
        assert restored.n_samples_seen_ == 13_000


def _skops_roundtrip(t):
    pytest.importorskip("skops")
    import tempfile

    from sklearn_mece.io import load, save

    with tempfile.TemporaryDirectory() as tmp:
        return load(save(t, f"{tmp}/thresholds.skops"))  # trusts only our types


def test_merge_equals_the_union():
    data = ORDERS["cohort_chunks"]
    half = data.size // 2
    a = PercentileThresholder(percentiles=Q, sketch_k=K)
    b = PercentileThresholder(percentiles=Q, sketch_k=K)
    for chunk in np.array_split(data[:half], 5):
        a.partial_fit(chunk[:, None])
    for chunk in np.array_split(data[half:], 3):
        b.partial_fit(chunk[:, None])
    b_cuts = b.cuts_["x0"].copy()
    assert a.merge(b) is a
    assert a.n_samples_seen_ == data.size
    _check_guarantee(a, data)
    np.testing.assert_array_equal(b.cuts_["x0"], b_cuts)  # other untouched


def test_merge_refuses_mismatches():
    x = np.arange(1000.0)[:, None]
    a = PercentileThresholder(percentiles=(50,)).partial_fit(x)
    with pytest.raises(ValueError, match="parameters differ"):
        a.merge(PercentileThresholder(percentiles=(60,)).partial_fit(x))
    with pytest.raises(ValueError, match="no sketches"):
        a.merge(PercentileThresholder(percentiles=(50,)).fit(x))
    with pytest.raises(ValueError, match="different columns"):
        a.merge(PercentileThresholder(percentiles=(50,)).partial_fit(np.hstack([x, x])))


def test_fit_forgets_sketches_and_is_exact():
    x = np.random.default_rng(0).random((5_000, 1))
    t = PercentileThresholder(percentiles=(40,), sketch_k=K).partial_fit(x)
    assert hasattr(t, "sketches_")
    t.fit(x)
    assert not hasattr(t, "sketches_") and not hasattr(t, "n_samples_seen_")
    np.testing.assert_array_equal(t.cuts_["x0"], np.percentile(x, 40))
    np.testing.assert_array_equal(t.rank_error_["x0"], 0.0)
    # partial_fit after fit would silently discard the exact cuts: refused
    with pytest.raises(ValueError, match="partial_fit cannot continue"):
        t.partial_fit(x)
    np.testing.assert_array_equal(t.cuts_["x0"], np.percentile(x, 40))
    assert clone(t).partial_fit(x).n_samples_seen_ == 5_000


def test_fixed_cut_values_and_unsupported_options():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.random(3_000), "b": rng.random(3_000)})
    t = PercentileThresholder(
        percentiles={"a": (40, 75), "b": (50,)},
        cut_values={"a": (0.1, 0.2), "b": {50: 0.33}},
    ).partial_fit(X)
    np.testing.assert_array_equal(t.cuts_["a"], [0.1, 0.2])
    np.testing.assert_array_equal(t.cuts_["b"], [0.33])
    assert np.isnan(t.rank_error_["a"]).all()
    with pytest.raises(ValueError, match="sample_weight"):
        PercentileThresholder().partial_fit(X, sample_weight=np.ones(3_000))
    with pytest.raises(ValueError, match="groupby"):
        PercentileThresholder(columns=["a"], groupby="b").partial_fit(X)
    with pytest.raises(ValueError, match="infinite"):
        PercentileThresholder().partial_fit(X.assign(a=np.inf))
    t2 = PercentileThresholder().partial_fit(X)
    with pytest.raises(ValueError, match="feature names should match"):
        t2.partial_fit(X[["a"]])
    with pytest.raises(ValueError, match="no non-missing values"):
        PercentileThresholder().partial_fit(np.full((10, 1), np.nan))


def test_segmenter_fitted_on_sketched_levels():
    X = make_cart_abandoners(8_000, random_state=2)
    rules = {
        "levels": {"avg_order_value": ["low", "mid", "high"]},
        "segments": [{"name": "top", "when": [["avg_order_value", "==", "high"]]}],
    }
    t = PercentileThresholder(percentiles={"avg_order_value": (40, 75)}, sketch_k=K)
    for chunk in _frames(X, 4):
        t.partial_fit(chunk)
    seg = HierarchicalSegmenter(rules).fit(
        t.set_output(transform="pandas").transform(X)
    )
    cut = t.cuts_["avg_order_value"][1]
    assert seg.segment_sizes_["top"] == (X["avg_order_value"] >= cut).sum()
    _check_guarantee(t, X["avg_order_value"].to_numpy(), "avg_order_value")
