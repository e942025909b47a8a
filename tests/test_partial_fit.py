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
    assert not hasattr(t, "sketches_") and not hasattr(t, "fit_sample_error_")
    assert t.n_samples_seen_ == 5_000
    np.testing.assert_array_equal(t.cuts_["x0"], np.percentile(x, 40))
    np.testing.assert_array_equal(t.rank_error_["x0"], 0.0)


# -- partial_fit after fit: continues from the sample fit kept ----------------------
def test_partial_fit_after_a_small_fit_equals_two_partial_fits():
    # fit saw at most 8 * sketch_k rows: its sample is all of them (NaN left
    # out), so continuing loses nothing. With fewer values than the sketch
    # compacts, both ways are exact: numpy's inverted_cdf over all the rows
    rng = np.random.default_rng(3)
    first = np.where(rng.random((120, 2)) < 0.1, np.nan, rng.lognormal(size=(120, 2)))
    second = rng.lognormal(size=(60, 2)) * 2
    continued = PercentileThresholder(Q, sketch_k=K).fit(first)
    np.testing.assert_array_equal(continued.rank_error_["x0"], 0.0)
    continued.partial_fit(second)
    streamed = PercentileThresholder(Q, sketch_k=K).partial_fit(first)
    streamed.partial_fit(second)
    assert continued.sketches_ == streamed.sketches_
    assert continued.n_samples_seen_ == streamed.n_samples_seen_ == 180
    seen = np.concatenate((first, second))
    for j, name in enumerate(("x0", "x1")):
        column = seen[:, j][~np.isnan(seen[:, j])]
        expected = np.percentile(column, Q, method="inverted_cdf")
        np.testing.assert_array_equal(continued.cuts_[name], expected)
        np.testing.assert_array_equal(continued.rank_error_[name], 0.0)
    assert not hasattr(continued, "fit_sample_")


@pytest.mark.parametrize("order", ["sorted", "cohort_chunks", "with_nan", "heavy_ties"])
def test_partial_fit_after_a_large_fit_keeps_the_guarantee(order):
    # fit saw 120,000 rows and keeps 1,600 of them: rank_error_ adds the
    # sample's bound (weighted by fit's share) to the sketch's, and every cut
    # stays within it over all the rows seen
    values = ORDERS[order]
    fitted, later = values[:90_000, None], values[90_000:, None]
    t = PercentileThresholder(Q, sketch_k=K).fit(fitted)
    m = t.fit_sample_["x0"].size  # 1,600 rows, fewer values where NaN
    assert m <= 8 * K
    t.partial_fit(later[:15_000]).partial_fit(later[15_000:])
    assert t.n_samples_seen_ == values.size
    n_fit = int((~np.isnan(fitted)).sum())
    sample_eps = np.sqrt(np.log(200) / (2 * m))
    share = n_fit / int((~np.isnan(values)).sum())
    assert t.fit_sample_error_["x0"] > 0
    np.testing.assert_allclose(
        t.rank_error_["x0"], rank_error(K) + sample_eps * share, rtol=0.02
    )
    _check_guarantee(t, values)


def test_fit_keeps_the_same_sample_every_time():
    x = np.random.default_rng(0).random((50_000, 1))
    a = PercentileThresholder((50,), sketch_k=K).fit(x)
    b = PercentileThresholder((50,), sketch_k=K).fit(x)
    np.testing.assert_array_equal(a.fit_sample_["x0"], b.fit_sample_["x0"])
    assert a.fit_sample_rows_ == {"x0": 50_000}
    # a uniform sample: its own percentiles are close to the data's
    assert abs(np.percentile(a.fit_sample_["x0"], 50) - 0.5) < 0.05


def test_partial_fit_cannot_continue_what_keeps_no_sample():
    x = np.random.default_rng(0).random((300, 1))
    for t in (
        PercentileThresholder((50,)).fit(x, sample_weight=np.ones(300)),
        PercentileThresholder((50,)).fit_from_cuts(x[:2], {0: [0.5]}),
    ):
        before = t.cuts_["x0"].copy()
        with pytest.raises(ValueError, match="keep no sample"):
            t.partial_fit(x)
        np.testing.assert_array_equal(t.cuts_["x0"], before)
        assert not hasattr(t, "sketches_")


def test_a_failed_continuation_leaves_the_fit_as_it_was():
    X = pd.DataFrame({"a": np.arange(100.0), "b": np.arange(100.0) * 2})
    t = PercentileThresholder((50,), sketch_k=K).fit(X)
    sample = t.fit_sample_["a"].copy()
    with pytest.raises(ValueError, match="'b'"):
        t.partial_fit(X.assign(b="text"))
    assert not hasattr(t, "sketches_") and t.n_samples_seen_ == 100
    np.testing.assert_array_equal(t.fit_sample_["a"], sample)
    np.testing.assert_array_equal(t.cuts_["a"], [49.5])
    t.partial_fit(X)  # the retry counts the chunk once
    assert t.n_samples_seen_ == 200


def test_continuation_survives_save_and_load_and_crafted_samples_are_refused():
    x = np.random.default_rng(0).random((20_000, 1))
    t = PercentileThresholder((40, 75), sketch_k=K).fit(x)
    restored = _skops_roundtrip(t)
    np.testing.assert_array_equal(restored.fit_sample_["x0"], t.fit_sample_["x0"])
    restored.partial_fit(x[:1_000])
    assert restored.n_samples_seen_ == 21_000
    for attr, bad in (
        ("fit_sample_", {"x0": np.array([np.inf])}),
        ("fit_sample_", {"x0": np.zeros(8 * 65535 + 1)}),
        ("fit_sample_", {"other": np.zeros(3)}),
        ("fit_sample_rows_", {"x0": 3}),
        ("n_samples_seen_", 10),
    ):
        crafted = clone(t)
        crafted.__dict__.update(t.__dict__)
        setattr(crafted, attr, bad)
        with pytest.raises(ValueError, match="fit_sample|n_samples_seen_"):
            crafted._check_fitted_state()


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
