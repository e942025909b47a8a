import pickle
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest

import sklearn_mece
from sklearn_mece import make_cart_abandoner_pipeline
from sklearn_mece.datasets import make_cart_abandoners


def seed_style(df, min_size=0):
    """The seed script's logic, written independently: pandas quantiles and
    sequential masks over the users not yet assigned."""
    aov, eng = df["avg_order_value"], df["engagement_score"]
    prof, days = df["profitability_score"], df["days_since_last_order"]
    aov_hi, aov_med = aov.quantile(0.75), aov.quantile(0.40)
    eng_hi, eng_med = eng.quantile(0.70), eng.quantile(0.40)
    prof_hi = prof.quantile(0.70)
    masks = [
        ("High_AOV_Premium", aov >= aov_hi),
        (
            "Med_AOV_High_Engagement",
            (aov >= aov_med) & (aov < aov_hi) & (eng >= eng_hi),
        ),
        (
            "Med_AOV_Med_Engagement_High_Profit",
            (aov >= aov_med)
            & (aov < aov_hi)
            & (eng >= eng_med)
            & (eng < eng_hi)
            & (prof >= prof_hi),
        ),
        ("Low_AOV_High_Engagement", (aov < aov_med) & (eng >= eng_hi)),
        ("Recent_Customers", days <= 30),
    ]
    out = pd.Series("Other_Bucket", index=df.index, dtype=object)
    remaining = pd.Series(True, index=df.index)
    for name, mask in masks:
        hit = remaining & mask
        out[hit] = name
        remaining &= ~hit
    if min_size:
        sizes = out.value_counts()
        small = [n for n in sizes.index if n != "Other_Bucket" and sizes[n] < min_size]
        out[out.isin(small)] = "Other_Bucket"
    return out


def tied_data(n=20_000, seed=0):
    """Values on a coarse grid so that many rows sit exactly on every cut."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "user_id": np.arange(n),
            "avg_order_value": rng.integers(1, 9, n) * 25.0,
            "engagement_score": rng.integers(0, 6, n) / 5,
            "profitability_score": rng.integers(0, 4, n) / 3,
            "days_since_last_order": rng.integers(0, 7, n) * 10,
            "country": rng.choice(["UK", "DE"], n),
        }
    )


@pytest.mark.parametrize("make", [tied_data, lambda: make_cart_abandoners(20_000, 3)])
def test_preset_equals_seed_semantics_with_ties_on_cuts(make):
    X = make()
    pipe = make_cart_abandoner_pipeline(min_size=0, max_size=None)
    out = pipe.fit_transform(X)
    expected = seed_style(X)
    cuts = pipe.named_steps["thresholds"].cuts_
    # the data really has rows exactly on the cut points
    if make is tied_data:
        for col, c in cuts.items():
            assert X[col].isin(c).sum() > 1_000, col
    assert (out["segment"].astype(object) == expected).all()


def test_preset_with_min_size_matches_seed_merge_into_else():
    X = tied_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = make_cart_abandoner_pipeline(min_size=2_000).fit_transform(X)
    assert (out["segment"].astype(object) == seed_style(X, min_size=2_000)).all()


def test_preset_contract_index_rows_extra_columns_and_order():
    X = make_cart_abandoners(5_000, random_state=1)
    X.index = X.index * 3 + 7
    pipe = make_cart_abandoner_pipeline(min_size=0)
    out = pipe.fit_transform(X)
    assert isinstance(out, pd.DataFrame)
    assert out.index.equals(X.index) and len(out) == len(X)
    assert "segment" in out and out["segment"].notna().all()
    assert set(pipe.named_steps) >= {"thresholds", "segments"}
    assert set(out["segment"].cat.categories) == set(
        sklearn_mece.CART_ABANDONER_RULES.names
    )
    # raw and pass-through columns are untouched
    pd.testing.assert_frame_equal(out[X.columns], X)
    # other column order and an extra text column at transform: same labels
    shuffled = X[X.columns[::-1]].assign(free_text="hello")
    assert out["segment"].equals(pipe.transform(shuffled)["segment"])


def test_min_size_zero_merges_nothing():
    X = make_cart_abandoners(3_000, random_state=2)
    pipe = make_cart_abandoner_pipeline(min_size=0, max_size=None).fit(X)
    seg = pipe.named_steps["segments"]
    assert seg.segment_names_ == sklearn_mece.CART_ABANDONER_RULES.names
    assert all(k == v for k, v in seg.merge_map_.items())


def test_params_pass_through():
    pipe = make_cart_abandoner_pipeline(thresholds__method="lower")
    assert pipe.named_steps["thresholds"].method == "lower"


# ---------------------------------------------------------------------------------
# Persistence
# ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted():
    X = make_cart_abandoners(4_000, random_state=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = make_cart_abandoner_pipeline(min_size=200).fit(X)
    return pipe, X


def test_joblib_round_trip(fitted, tmp_path):
    pipe, X = fitted
    joblib.dump(pipe, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib")
    pd.testing.assert_frame_equal(loaded.transform(X), pipe.transform(X))


_FRESH = """
import sys, pandas as pd
import sklearn_mece
from sklearn_mece.datasets import make_cart_abandoners
pipe = sklearn_mece.load(sys.argv[1])
X = make_cart_abandoners(4_000, random_state=5)
pipe.transform(X)["segment"].astype(str).to_csv(sys.argv[2], index=False)
"""


def test_skops_round_trip_in_fresh_process(fitted, tmp_path):
    pytest.importorskip("skops")
    pipe, X = fitted
    path = sklearn_mece.save(pipe, tmp_path / "m.skops")
    subprocess.run(
        [sys.executable, "-c", _FRESH, path, str(tmp_path / "labels.csv")], check=True
    )
    fresh = pd.read_csv(tmp_path / "labels.csv")["segment"]
    assert (
        fresh.to_numpy() == pipe.transform(X)["segment"].astype(str).to_numpy()
    ).all()


def test_skops_refuses_foreign_types(tmp_path):
    pytest.importorskip("skops")
    from fractions import Fraction

    from sklearn_mece.io import UntrustedTypeError

    seg = sklearn_mece.HierarchicalSegmenter()
    seg.fit(np.ones((3, 1)))
    seg.smuggled_ = Fraction(1, 3)
    path = sklearn_mece.save(seg, tmp_path / "bad.skops")
    with pytest.raises(UntrustedTypeError, match="fractions.Fraction"):
        sklearn_mece.load(path)


def test_version_mismatch_warns(fitted, monkeypatch):
    pipe, _ = fitted
    blob = pickle.dumps(pipe.named_steps["segments"])
    saved_with = sklearn_mece._version.__version__
    monkeypatch.setattr(sklearn_mece._version, "__version__", "9.9.9")
    with pytest.warns(
        UserWarning, match=f"from sklearn-mece {saved_with} when using version 9.9.9"
    ):
        pickle.loads(blob)


def test_segment_empty_at_fit_is_scored_and_reachable_later():
    X = make_cart_abandoners(3_000, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = make_cart_abandoner_pipeline(min_size=0).fit(X.iloc[:25])
        out = pipe.transform(X)  # reaches segments that had no row at fit
    report = pipe.named_steps["scores"].report_
    assert list(report.index) == sklearn_mece.CART_ABANDONER_RULES.names
    assert (report.loc[report["size"] == 0, "size_score"] == 0).all()
    assert out["segment_score"].notna().all()
    combined = sklearn_mece.segment_report(pipe, out)
    assert combined["size"].notna().all() and combined["valid"].notna().all()


def test_size_validity_has_one_owner_the_segment_step():
    X = make_cart_abandoners(20_000, random_state=0)
    pipe = make_cart_abandoner_pipeline()
    pipe.set_params(segments__min_size=100, segments__max_size=3_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # SegmentSizeWarning
        warnings.simplefilter("error", FutureWarning)  # no deprecated parameter set
        pipe.fit(X)
    scorer, segmenter = pipe.named_steps["scores"], pipe.named_steps["segments"]
    assert (scorer.min_size, scorer.max_size) == (None, None)
    assert "valid" not in scorer.report_
    valid = segmenter.segment_table_["valid"]
    assert not valid.all()  # something really is out of bounds
    report = sklearn_mece.segment_report(pipe)
    assert report["valid"].tolist() == valid.tolist()
    assert report["issue"].tolist() == segmenter.segment_issues_
