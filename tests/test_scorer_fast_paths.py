"""SegmentScorer's fast paths give exactly what the straightforward code gave.

The references below are the scorer's earlier implementation (scipy's
``rankdata`` for the mid-rank percentiles, boolean-mask means, a per-row
``np.append(scores_, nan)[codes]`` lookup); results must be bit-identical.
"""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from sklearn_mece import SegmentScorer
from sklearn_mece import _scorer as mod


# -- the earlier implementation -----------------------------------------------------------
def _old_midrank(values):
    out = np.full(values.shape, np.nan)
    finite = ~np.isnan(values)
    n = int(finite.sum())
    if n:
        out[finite] = (rankdata(values[finite], method="average") - 0.5) / n
    return out


def _old_segment_mean(codes, k, values):
    ok = ~np.isnan(values)
    sums = np.bincount(codes[ok], weights=values[ok], minlength=k)
    counts = np.bincount(codes[ok], minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


def _old_input(self, X, codes, k, param, how, scales, means, counts=None):
    pos = self.columns_[param]
    if pos is None:
        return np.full(k, 0.5)
    label = self._column_labels(X.shape[1])[pos]
    x = self._float_column(X, pos)
    if np.isinf(x).any():
        raise ValueError(
            f"Column {label!r} contains {int(np.isinf(x).sum())} infinite value(s)."
        )
    means[label] = _old_segment_mean(codes, k, x)
    if how == "unit":
        finite = x[~np.isnan(x)]
        low = min(0.0, float(finite.min())) if finite.size else 0.0
        high = max(1.0, float(finite.max())) if finite.size else 1.0
        scales[label] = (low, high)
        unit = (x - low) / (high - low)
    else:
        unit = _old_midrank(x)
        if how == "rank_desc":
            unit = 1.0 - unit
        scales[label] = f"mid-rank percentile among {int((~np.isnan(x)).sum())} rows"
    seg = _old_segment_mean(codes, k, unit)
    return np.where(np.isnan(seg), 0.5, seg)


def _bits(a):
    return np.asarray(a, dtype=np.float64).view(np.int64)


# -- data ---------------------------------------------------------------------------------
def _columns(n, rng):
    aov = np.round(rng.lognormal(4.5, 0.8, n), 2)  # ties
    aov[rng.random(n) < 0.05] = np.nan
    days = rng.integers(0, 60, n).astype(np.float64)  # heavy ties
    days[rng.random(n) < 0.03] = np.nan
    days[:3] = [0.0, -0.0, 0.0]  # signed zeros are equal
    return {
        "segment": rng.choice(
            ["a", "b", "c", "d", "e"], n, p=[0.4, 0.3, 0.2, 0.09, 0.01]
        ),
        "avg_order_value": aov,
        "engagement_score": np.round(rng.random(n), 3),
        "profitability_score": np.where(
            rng.random(n) < 0.02, np.nan, np.round(rng.beta(2, 3, n) * 1.3, 3)
        ),
        "days_since_last_order": days,
    }


@pytest.fixture(params=[300, 5_000, 150_000], ids=["n300", "n5k", "n150k"])
def data(request):
    rng = np.random.default_rng(request.param)
    frame = pd.DataFrame(_columns(request.param, rng))
    frame["segment"] = frame["segment"].astype("category")
    return frame


# -- mid-rank percentiles -----------------------------------------------------------------
@pytest.mark.parametrize("share", [0.0, 0.75, 1.0], ids=["argsort", "auto", "hash"])
@pytest.mark.parametrize(
    "kind", ["ties", "continuous", "nan", "all_nan", "one", "zeros", "inf_free_big"]
)
def test_midrank_percentile_is_rankdata(kind, share, monkeypatch):
    monkeypatch.setattr(mod, "_HASH_RANK_MAX_DISTINCT", share)
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
        got = mod._midrank_percentile(x, descending=descending)
        want = 1.0 - expected if descending else expected
        np.testing.assert_array_equal(_bits(got), _bits(want))


# -- fit ------------------------------------------------------------------------------------
def test_fit_is_identical_to_the_earlier_code(data, monkeypatch):
    new = SegmentScorer().fit(data)
    monkeypatch.setattr(SegmentScorer, "_input", _old_input)
    old = SegmentScorer().fit(data)
    pd.testing.assert_frame_equal(new.report_, old.report_, check_exact=True)
    np.testing.assert_array_equal(_bits(new.scores_), _bits(old.scores_))
    for dim in mod.DIMENSIONS:
        np.testing.assert_array_equal(
            _bits(new.dimensions_[dim]), _bits(old.dimensions_[dim])
        )
    assert new.scales_ == old.scales_
    for label, means in old.segment_means_.items():
        np.testing.assert_array_equal(_bits(new.segment_means_[label]), _bits(means))


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
