"""SegmentScorer's fast paths give what the straightforward code gives.

The references below are plain numpy / pandas: ``np.percentile`` for the
quartiles, ``np.clip``, a pandas ``groupby`` mean per segment, scipy's
``rankdata`` for the mid-rank percentiles of :mod:`sklearn_mece.features`,
and a per-row ``np.append(scores_, nan)[codes]`` lookup.
"""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from _shared import robust_unit_reference
from scipy.stats import rankdata

from sklearn_mece import SegmentScorer, _backend, _kernels, features
from sklearn_mece import _scorer as mod


# -- references ---------------------------------------------------------------------------
def _old_midrank(values):
    out = np.full(values.shape, np.nan)
    finite = ~np.isnan(values)
    n = int(finite.sum())
    if n:
        out[finite] = (rankdata(values[finite], method="average") - 0.5) / n
    return out


def _bits(a):
    return np.asarray(a, dtype=np.float64).view(np.int64)


# -- data ---------------------------------------------------------------------------------
def _columns(n, rng):
    aov = np.round(rng.lognormal(4.5, 0.8, n), 2)  # ties
    aov[rng.random(n) < 0.05] = np.nan
    aov[:2] = [25_000.0, 40_000.0]  # beyond the fences
    days = rng.integers(0, 60, n).astype(np.float64)  # heavy ties
    days[rng.random(n) < 0.03] = np.nan
    days[:3] = [0.0, -0.0, 0.0]  # signed zeros are equal
    return {
        "segment": rng.choice(
            ["a", "b", "c", "d", "e"], n, p=[0.4, 0.3, 0.2, 0.09, 0.01]
        ),
        "avg_order_value": aov,
        # mostly zeros: equal quartiles, the standard-deviation scale
        "engagement_score": np.where(
            rng.random(n) < 0.8, 0.0, np.round(rng.random(n), 3)
        ),
        "profitability_score": np.where(
            rng.random(n) < 0.02, np.nan, np.round(rng.beta(2, 3, n) * 1.3, 3)
        ),
        "days_since_last_order": days,
    }


@pytest.fixture(params=[300, 5_000, 300_000], ids=["n300", "n5k", "n300k"])
def data(request):
    rng = np.random.default_rng(request.param)
    frame = pd.DataFrame(_columns(request.param, rng))
    frame["segment"] = frame["segment"].astype("category")
    return frame


# -- mid-rank percentiles (features) --------------------------------------------------------
@pytest.mark.parametrize("share", [0.0, 0.75, 1.0], ids=["argsort", "auto", "hash"])
@pytest.mark.parametrize(
    "kind", ["ties", "continuous", "nan", "all_nan", "one", "zeros", "inf_free_big"]
)
def test_midrank_percentile_is_rankdata(kind, share, monkeypatch):
    monkeypatch.setattr(features, "_HASH_RANK_MAX_DISTINCT", share)
    rng = np.random.default_rng(1)
    n = 70_000
    x = {
        "ties": np.round(rng.random(n) * 50),
        "continuous": rng.standard_normal(n),
        "nan": np.where(rng.random(n) < 0.3, np.nan, np.round(rng.random(n), 2)),
        "all_nan": np.full(50, np.nan),
        "one": np.array([3.5]),
        "zeros": np.array([0.0, -0.0, 1.0, -0.0, np.nan, 0.0, -1.0]),
        "inf_free_big": np.round(rng.lognormal(0, 3, n), 1),
    }[kind]
    expected = _old_midrank(x)
    for descending in (False, True):
        got = features._midrank_percentile(x, descending=descending)
        want = 1.0 - expected if descending else expected
        np.testing.assert_array_equal(_bits(got), _bits(want))


# -- fit ------------------------------------------------------------------------------------
def test_fit_matches_the_documented_normalisation(data):
    scorer = SegmentScorer().fit(data)
    codes = data["segment"].cat.codes.to_numpy()
    k = len(scorer.segments_)
    for spec in mod.SCORE_INPUTS:
        x = data[spec.column].to_numpy()
        unit, raw = robust_unit_reference(x, codes, spec.normalisation == "robust_desc")
        unit, raw = unit.reindex(range(k)).to_numpy(), raw.reindex(range(k)).to_numpy()
        np.testing.assert_allclose(
            scorer.segment_means_[spec.column], raw, rtol=1e-12, equal_nan=True
        )
        # conversion_potential = 0.7 engagement + 0.3 recency, etc.: check the
        # inputs through the report's dimensions
        if spec.term == "engagement":
            engagement = unit
        elif spec.term == "recency":
            recency = unit
        elif spec.term == "profitability":
            profit = unit
        else:
            aov = unit
    np.testing.assert_allclose(
        scorer.dimensions_["conversion_potential"],
        0.7 * engagement + 0.3 * recency,
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        scorer.dimensions_["profitability"], 0.8 * profit + 0.2 * aov, rtol=1e-12
    )
    learned = scorer.scales_["engagement_score"]
    assert learned["q25"] == learned["q75"] == 0.0  # equal quartiles
    p10, p90 = np.percentile(data["engagement_score"], [10, 90])
    assert learned["scale"] == pytest.approx((p90 - p10) * 1.3489795 / 2.5631031)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_segment_sums_are_identical_across_engines_and_threads(threads):
    rng = np.random.default_rng(7)
    n = 3 * _kernels.SUM_BLOCK + 1234
    codes = rng.integers(0, 9, n).astype(np.int8)
    x = rng.lognormal(3, 2, n)
    x[rng.random(n) < 0.1] = np.nan
    want = _kernels.segment_sums(codes, 9, x, 1.0, 500.0, engine="numpy")
    with _backend.thread_limit(threads):
        for engine in ("numba", "numpy"):
            got = _kernels.segment_sums(codes, 9, x, 1.0, 500.0, engine=engine)
            for a, b in zip(got, want):
                np.testing.assert_array_equal(_bits(a), _bits(b))
    ok = ~np.isnan(x)
    np.testing.assert_array_equal(want[0], np.bincount(codes[ok], minlength=9))
    np.testing.assert_allclose(
        want[1], np.bincount(codes[ok], np.clip(x[ok], 1.0, 500.0), 9), rtol=1e-12
    )
    np.testing.assert_allclose(want[2], np.bincount(codes[ok], x[ok], 9), rtol=1e-12)


@pytest.mark.parametrize("order", ["random", "sorted"])
def test_segment_sums_without_nan_take_the_fast_loop_with_the_same_bits(order):
    rng = np.random.default_rng(11)
    n = 2 * _kernels.SUM_BLOCK + 77
    codes = rng.integers(0, 5, n).astype(np.int8)
    if order == "sorted":  # segments in runs, as in data sorted by segment
        codes.sort()
    x = rng.lognormal(3, 1, n)
    want = _kernels.segment_sums(codes, 5, x, 5.0, 80.0, engine="numpy")
    for threads in (1, 2, 3):
        with _backend.thread_limit(threads):
            for engine in ("numba", "numpy"):
                got = _kernels.segment_sums(
                    codes, 5, x, 5.0, 80.0, has_nan=False, engine=engine
                )
                for a, b in zip(got, want):
                    np.testing.assert_array_equal(_bits(a), _bits(b))
    np.testing.assert_allclose(
        want[1], np.bincount(codes, np.clip(x, 5.0, 80.0), 5), rtol=1e-12
    )


def _two_input_scorer():
    """A scorer of order value and engagement only, by a "segment" column."""
    return SegmentScorer(
        segment_column="segment", profitability_column=None, recency_column=None
    )


@pytest.mark.parametrize("big", [1e18, 1e20])
def test_clipped_sums_keep_the_ordinary_values_next_to_a_far_outlier(big):
    """The clipped sum was the raw sum plus the clipping excess: next to 60
    values at 1e18 the ordinary values' sum lost 90 % (1e20: all of it)."""
    rng = np.random.default_rng(0)
    x = rng.lognormal(4, 1, 5_000)
    x[:60] = big
    codes = np.zeros(x.shape[0], np.int8)
    want = np.clip(x, -406.0, 740.0).sum()
    for engine in ("numba", "numpy"):
        got = _kernels.segment_sums(codes, 1, x, -406.0, 740.0, engine=engine)[1]
        np.testing.assert_allclose(got, [want], rtol=1e-12)


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("with_nan", [False, True])
def test_segment_means_near_the_float64_limit_are_the_true_means(
    engine, threads, with_nan, monkeypatch
):
    """Values of both signs near the float64 limit in one segment: lanes
    overflow to +inf and -inf and the raw sum is NaN (a mean of NaN, and a
    clipped sum of NaN that sent the whole dimension to 0.5). The means are
    those of the values scaled down, scaled back; the scores those of the
    same data with far outliers of ordinary size there."""
    monkeypatch.setattr(_kernels, "engine_for", lambda n, engine_=None: engine)
    rng = np.random.default_rng(2)
    n = 400
    big = 1.7e308
    X = pd.DataFrame(
        {
            "segment": np.where(np.arange(n) < 200, "a", "b"),
            "avg_order_value": rng.lognormal(3, 1, n),
            "engagement_score": rng.random(n),
        }
    )
    extreme = X.copy()
    rows = np.arange(0, 24, 2)
    extreme.loc[rows, "avg_order_value"] = np.where(rows % 4 == 0, big, -big)
    ordinary = X.copy()
    ordinary.loc[rows, "avg_order_value"] = np.where(rows % 4 == 0, 1e9, -1e9)
    if with_nan:
        for frame in (extreme, ordinary):
            frame.loc[[1, 3, 201], "avg_order_value"] = np.nan
    fitted = []
    for frame in (extreme, ordinary):
        with _backend.thread_limit(threads), warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            fitted.append(_two_input_scorer().fit(frame))
    scorer = fitted[0]
    # exactly rounded sums (the extremes cancel), scaled as the scorer does
    expected = extreme.groupby("segment")["avg_order_value"].agg(
        lambda v: math.fsum(v.dropna() / 2**600) / v.count() * 2**600
    )
    np.testing.assert_allclose(
        scorer.segment_means_["avg_order_value"], expected.to_numpy(), rtol=1e-12
    )
    # both kinds of outlier are clipped to the same fences: the same scores
    np.testing.assert_allclose(scorer.scores_, fitted[1].scores_, rtol=1e-9)
    assert np.isfinite(scorer.scales_["avg_order_value"]["center"])


def test_segments_whose_total_overflows_fit():
    """Every segment's sum fits in float64 but their total does not (values
    near 1e306): fit raised OverflowError from math.fsum (and the parent code
    stored an infinite centre)."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "segment": np.repeat(["a", "b"], 100),
            "avg_order_value": rng.uniform(0.9e306, 1.1e306, 200),
            "engagement_score": rng.random(200),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        scorer = _two_input_scorer().fit(X)
    learned = scorer.scales_["avg_order_value"]
    assert learned["center"] == pytest.approx(
        math.fsum(X["avg_order_value"] / 2**600) / 200 * 2**600, rel=1e-12
    )
    means = X.groupby("segment")["avg_order_value"].agg(
        lambda v: math.fsum(v / 2**600) / len(v) * 2**600
    )
    np.testing.assert_allclose(
        scorer.segment_means_["avg_order_value"], means.to_numpy(), rtol=1e-12
    )


def test_many_segments_with_overflowing_sums_get_their_exact_means():
    """A scorer keyed by customer with the float64 maximum as a missing-value
    marker: 3,000 segments overflow, each gets its exact mean."""
    rng = np.random.default_rng(1)
    n_segments = 3_000
    values = rng.lognormal(3, 1, (n_segments, 4))
    values[:, :2] = np.finfo(np.float64).max  # two markers per segment
    values[::7, 3] = np.nan
    X = pd.DataFrame(
        {
            "segment": np.repeat(np.arange(n_segments), 4),
            "avg_order_value": values.ravel(),
            "engagement_score": rng.random(4 * n_segments),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pandas' reference
        expected = X.groupby("segment")["avg_order_value"].agg(
            lambda v: math.fsum(v.dropna() / 2**600) / v.count() * 2**600
        )
    scorer = _two_input_scorer().fit(X)
    np.testing.assert_allclose(
        scorer.segment_means_["avg_order_value"], expected.to_numpy(), rtol=1e-12
    )


def test_quartiles_beyond_float64_are_refused_naming_the_column():
    """A quarter of the values at each float64 limit: the IQR is infinite,
    and no score can be learned from it."""
    X = pd.DataFrame(
        {
            "segment": ["a", "b"] * 200,
            "avg_order_value": np.repeat([-1.7e308, 1.7e308], 200),
        }
    )
    with pytest.raises(ValueError, match="'avg_order_value': its quartiles .* rescale"):
        _two_input_scorer().fit(X.assign(engagement_score=0.5))


def test_scores_near_the_float64_limit_are_those_of_any_far_outlier():
    """Order values at 1.7e308 are clipped to the fence like any far outlier:
    the same scores as with 1e9 there, and the segment means are the true
    (finite) means; before, the whole dimension fell to 0.5 (NaN sums)."""
    from sklearn_mece import make_cart_abandoner_pipeline
    from sklearn_mece.datasets import make_cart_abandoners

    base = make_cart_abandoners(5_000, random_state=0)
    rows = base.index[:60]
    scores, means = [], []
    for value in (1e9, 1.7e308):
        X = base.copy()
        X.loc[rows, "avg_order_value"] = value
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            pipe = make_cart_abandoner_pipeline(min_size=0).fit(X)
        scorer = pipe.named_steps["scores"]
        scores.append(scorer.scores_)
        segment = pipe.transform(X)["segment"]
        expected = (X["avg_order_value"] / 2**600).groupby(
            segment, observed=True
        ).mean().reindex(scorer.segments_) * 2**600
        np.testing.assert_allclose(
            scorer.segment_means_["avg_order_value"], expected, rtol=1e-12
        )
        means.append(scorer.segment_means_["avg_order_value"])
    np.testing.assert_allclose(scores[1], scores[0], rtol=1e-9)
    assert np.isfinite(means[1]).all() and means[1].max() > 1e306


def test_segment_sums_with_many_codes_use_few_blocks():
    rng = np.random.default_rng(3)
    n, k = 600_000, 200_000  # a scorer keyed by customer
    codes = rng.integers(0, k, n)
    x = rng.random(n)
    with _backend.thread_limit(2):
        got = _kernels.segment_sums(codes, k, x, engine="numba")
        again = _kernels.segment_sums(codes, k, x, engine="numpy")
    for a, b in zip(got, again):
        np.testing.assert_array_equal(_bits(a), _bits(b))
    np.testing.assert_array_equal(got[0], np.bincount(codes, minlength=k))
    np.testing.assert_allclose(got[2], np.bincount(codes, x, k), rtol=1e-12)


# -- transform ------------------------------------------------------------------------------
def _expected(scorer, values):
    where = {s: i for i, s in enumerate(scorer.segments_)}
    idx = np.array(
        [where.get(mod._plain_key(v, scorer.segment_kind_), -1) for v in values]
    )
    scores = np.append(scorer.scores_, np.nan)[idx]
    tiers = np.append(scorer.tier_codes_, 0)[idx]
    return scores, tiers


def _segment_inputs(data):
    """The segment column in every supported form, with the fit's segments."""
    cat = data["segment"]
    codes = cat.cat.codes.to_numpy()
    return {
        "categorical": cat,
        "categorical other order": cat.cat.reorder_categories(
            ["e", "d", "c", "b", "a"]
        ),
        "categorical extra unseen": cat.cat.add_categories(["zeta"]),
        "str": cat.astype(object),
        "uint8 codes": pd.Series(codes.astype(np.uint8)),
        "int64 codes": pd.Series(codes.astype(np.int64)),
        "float codes": pd.Series(codes.astype(np.float64)),
    }


@pytest.mark.parametrize("output", ["pandas", "default"])
@pytest.mark.parametrize("tier_output", ["codes", "names"])
@pytest.mark.parametrize(
    "form",
    [
        "categorical",
        "categorical other order",
        "categorical extra unseen",
        "str",
        "uint8 codes",
        "int64 codes",
        "float codes",
    ],
)
def test_transform_is_the_plain_lookup(data, form, tier_output, output):
    X = data.copy()
    X["segment"] = _segment_inputs(data)[form]
    fit_on = X.iloc[: len(X) // 2]
    scorer = SegmentScorer(tier_output=tier_output).set_output(transform=output)
    scorer.fit(fit_on)
    for rows in (X, X.iloc[[7]], X.iloc[:1024], X.iloc[:1025]):
        out = scorer.transform(rows)
        frame = pd.DataFrame(out, columns=scorer.get_feature_names_out())
        scores, tiers = _expected(scorer, rows["segment"].tolist())
        np.testing.assert_array_equal(frame["segment_score"].to_numpy(float), scores)
        if tier_output == "codes":
            assert frame["segment_tier"].to_numpy(int).tolist() == tiers.tolist()
            if output == "pandas":
                assert out["segment_tier"].dtype == np.uint8
        else:
            names = [f"Tier {t}" for t in tiers.tolist()]
            assert frame["segment_tier"].tolist() == names
        if output == "pandas":
            assert out.columns.tolist() == scorer.get_feature_names_out().tolist()
            pd.testing.assert_frame_equal(out.iloc[:, :-2], rows)


def test_unseen_segments(data):
    fit_on = data[data["segment"] != "e"].copy()
    fit_on["segment"] = fit_on["segment"].cat.remove_unused_categories()
    first_e = int(np.flatnonzero(data["segment"].to_numpy() == "e")[0])
    n_e = int((data["segment"] == "e").sum())
    cases = {
        "categorical": data,
        "str": data.assign(segment=data["segment"].astype(object)),
    }
    for form, X in cases.items():
        fit = fit_on.assign(segment=fit_on["segment"].astype(X["segment"].dtype))
        if form == "categorical":
            fit = fit_on
        scorer = SegmentScorer().fit(fit)
        with pytest.raises(ValueError, match=rf"{n_e} row\(s\) .* e\.g\. 'e'"):
            scorer.transform(X)
        out = scorer.set_params(handle_unknown="nan").transform(X)
        assert np.isnan(out[first_e, -2]) and out[first_e, -1] == 0
    # integer codes: 4 ("e") never seen at fit
    codes = data["segment"].cat.codes.to_numpy().astype(np.int64)
    X = data.assign(segment=codes)
    scorer = SegmentScorer().fit(X[codes != 4])
    with pytest.raises(ValueError, match=r"e\.g\. np\.float64\(4\.0\)"):
        scorer.transform(X)
    out = scorer.set_params(handle_unknown="nan", tier_output="names").transform(X)
    assert np.isnan(out[first_e, -2]) and out[first_e, -1] is None


def test_missing_categorical_segment_is_refused(data):
    scorer = SegmentScorer().fit(data)
    X = data.copy()
    X.loc[3, "segment"] = np.nan
    with pytest.raises(ValueError, match=r"1 missing value\(s\)"):
        scorer.transform(X)


def test_small_output_frame_equals_the_generic_one(data):
    scorer = SegmentScorer(tier_output="names").set_output(transform="pandas")
    scorer.fit(data)
    rows = data.iloc[[3, 1, 4]]
    out = scorer.transform(rows)
    added = {c: out[c].array for c in ("segment_score", "segment_tier")}
    expected = pd.concat([rows, pd.DataFrame(added, index=rows.index)], axis=1)
    pd.testing.assert_frame_equal(out, expected)
    # copy-on-write: writing to the output leaves the input alone
    before = rows.copy()
    out.iloc[0, 1] = -1.0
    out.loc[out.index[0], "segment_score"] = 2.0
    pd.testing.assert_frame_equal(rows, before)


def test_inputs_fitted_on_several_threads_give_the_same_scorer():
    """Large inputs fit one column per thread; the result (values, and the
    order of the report's columns) is that of one thread."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(_columns(_backend.THREAD_MIN_ROWS + 5_000, rng))
    frame["segment"] = frame["segment"].astype("category")
    with _backend.thread_limit(1):
        one = SegmentScorer().fit(frame)
    with _backend.thread_limit(2):
        two = SegmentScorer().fit(frame)
    pd.testing.assert_frame_equal(two.report_, one.report_, check_exact=True)
    assert list(two.scales_) == list(one.scales_) and two.scales_ == one.scales_
    assert list(two.report_.columns[-4:]) == [
        f"mean_{c}"
        for c in (
            "engagement_score",
            "profitability_score",
            "avg_order_value",
            "days_since_last_order",
        )
    ]
