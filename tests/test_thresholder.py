import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from sklearn_mece import CollapsedCutsWarning, PercentileThresholder
from sklearn_mece._levels import NUMPY_METHODS


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    n = 1_000
    return pd.DataFrame(
        {
            "aov": np.round(rng.lognormal(4, 1, n), 0),  # many ties
            "eng": rng.uniform(size=n),
            "user": [f"u{i}" for i in range(n)],
            "country": rng.choice(["UK", "FR", "DE"], n),
        }
    )


@pytest.mark.parametrize("method", NUMPY_METHODS)
def test_cuts_equal_numpy_percentile_for_every_method(frame, method):
    t = PercentileThresholder({"aov": (40, 75), "eng": (40, 70)}, method=method)
    t.fit(frame)
    for col, q in [("aov", (40, 75)), ("eng", (40, 70))]:
        expected = np.percentile(frame[col].to_numpy(), q, method=method)
        assert np.array_equal(t.cuts_[col], expected)


def test_default_method_matches_pandas_quantile(frame):
    t = PercentileThresholder({"aov": (40, 75)}).fit(frame)
    assert t.cuts_["aov"].tolist() == frame["aov"].quantile([0.4, 0.75]).tolist()


def test_value_equal_to_cut_goes_to_upper_level():
    X = pd.DataFrame({"v": [1.0, 2.0, 3.0, 4.0, 5.0]})
    t = PercentileThresholder({"v": (50,)}).fit(X)
    assert t.cuts_["v"].tolist() == [3.0]
    out = t.set_output(transform="pandas").transform(X)
    assert out["v_level"].tolist() == [0, 0, 1, 1, 1]


def test_passthrough_columns_untouched_and_order(frame):
    t = PercentileThresholder({"aov": (40, 75)}).set_output(transform="pandas")
    out = t.fit_transform(frame)
    assert list(out.columns) == [*frame.columns, "aov_level"]
    assert list(t.get_feature_names_out()) == list(out.columns)
    pd.testing.assert_frame_equal(out[frame.columns], frame)
    assert out.index.equals(frame.index)
    assert out["aov_level"].dtype == np.int8


def test_ndarray_output_by_default(frame):
    X = frame[["aov", "eng"]].to_numpy()
    out = PercentileThresholder().fit_transform(X)
    assert isinstance(out, np.ndarray) and out.shape == (len(X), 4)
    np.testing.assert_array_equal(out[:, :2], X)


def test_ties_collapse_warns_and_keeps_level_codes():
    X = pd.DataFrame({"v": [0.0] * 80 + [1.0] * 20})
    with pytest.warns(CollapsedCutsWarning, match="level\\(s\\) \\[1\\] are empty"):
        t = PercentileThresholder({"v": (40, 75)}).fit(X)
    assert t.cuts_["v"].tolist() == [0.0, 0.0]
    assert t.n_levels_["v"] == 3
    assert t.effective_n_levels_["v"] == 2
    assert t.collapsed_levels_["v"] == [1]
    codes = t.set_output(transform="pandas").transform(X)["v_level"]
    # no value lands in the collapsed middle level; equal-to-cut goes up
    assert sorted(codes.unique().tolist()) == [2]


def test_nan_ignored_at_fit_and_coded_minus_one(frame):
    X = frame[["aov"]].copy()
    X.loc[::10, "aov"] = np.nan
    t = PercentileThresholder({"aov": (50,)}).set_output(transform="pandas")
    out = t.fit_transform(X)
    expected = np.nanpercentile(X["aov"].to_numpy(), 50)
    assert t.cuts_["aov"][0] == expected
    assert (out.loc[X["aov"].isna(), "aov_level"] == -1).all()
    assert (out.loc[X["aov"].notna(), "aov_level"] >= 0).all()


def test_inf_is_refused_naming_the_column(frame):
    X = frame[["aov", "eng"]].copy()
    X.loc[3, "eng"] = np.inf
    with pytest.raises(ValueError, match="Column 'eng' contains 1 infinite"):
        PercentileThresholder().fit(X)


def test_all_nan_column_is_refused():
    X = pd.DataFrame({"a": [np.nan, np.nan]})
    with pytest.raises(ValueError, match="Column 'a': cannot learn cuts"):
        PercentileThresholder().fit(X)


def test_text_in_thresholded_column_is_refused(frame):
    with pytest.raises((ValueError, TypeError), match="Column 'user' must be numeric"):
        PercentileThresholder({"user": (50,)}).fit(frame)


def test_unknown_column_and_names_without_frame(frame):
    with pytest.raises(ValueError, match="Unknown thresholded column 'nope'"):
        PercentileThresholder({"nope": (50,)}).fit(frame)
    with pytest.raises(ValueError, match="has no column names"):
        PercentileThresholder({"aov": (50,)}).fit(np.ones((3, 2)))


@pytest.mark.parametrize(
    "q, msg",
    [((75, 40), "strictly ascending"), ((50, 101), r"\[0, 100\]"), ((), "between 1")],
)
def test_bad_percentiles(frame, q, msg):
    with pytest.raises(ValueError, match=msg):
        PercentileThresholder({"aov": q}).fit(frame)


def test_cut_value_overrides(frame):
    full = PercentileThresholder({"aov": (40, 75)}, cut_values={"aov": [50, 150]})
    full.fit(frame)
    assert full.cuts_["aov"].tolist() == [50.0, 150.0]
    assert np.isnan(full.percentiles_["aov"]).all()
    partial = PercentileThresholder({"aov": (40, 75)}, cut_values={"aov": {75: 999}})
    partial.fit(frame)
    learned = np.percentile(frame["aov"], 40)
    assert partial.cuts_["aov"].tolist() == [learned, 999.0]
    with pytest.raises(ValueError, match="non-decreasing"):
        PercentileThresholder({"aov": (40, 75)}, cut_values={"aov": {40: 1e9}}).fit(
            frame
        )
    with pytest.raises(ValueError, match="percentile 60"):
        PercentileThresholder({"aov": (40, 75)}, cut_values={"aov": {60: 1}}).fit(frame)


def test_sample_weight_equals_repeated_rows():
    rng = np.random.default_rng(1)
    x = np.round(rng.normal(size=200), 1)
    w = rng.integers(0, 4, size=200)
    t_w = PercentileThresholder((20, 50, 90), method="inverted_cdf")
    t_w.fit(x[:, None], sample_weight=w)
    t_r = PercentileThresholder((20, 50, 90), method="inverted_cdf")
    t_r.fit(np.repeat(x, w)[:, None])
    assert np.array_equal(t_w.cuts_["x0"], t_r.cuts_["x0"])


def test_sample_weight_with_the_default_linear_method():
    # frequency weights: an integer weight repeats the row, zero drops it
    x = np.array([4.0, 1.0, 3.0, 2.0, 9.0])
    w = np.array([2, 1, 0, 3, 1])
    t = PercentileThresholder((10, 50, 90)).fit(x[:, None], sample_weight=w)
    assert np.array_equal(t.cuts_["x0"], np.percentile(np.repeat(x, w), (10, 50, 90)))
    with pytest.raises(ValueError, match="zero"):
        PercentileThresholder().fit(x[:, None], sample_weight=np.zeros(5))


def test_groupby_cuts_per_group_and_unseen_policy():
    X = pd.DataFrame(
        {"cat": ["a"] * 50 + ["b"] * 50, "v": np.r_[np.arange(50), np.arange(50) * 10]}
    )
    t = PercentileThresholder({"v": (50,)}, groupby="cat").set_output(
        transform="pandas"
    )
    out = t.fit_transform(X)
    assert t.groups_ == ["a", "b"]
    assert t.group_cuts_["v"][:, 0].tolist() == [24.5, 245.0]
    assert out.groupby("cat")["v_level"].sum().tolist() == [25, 25]
    new = pd.DataFrame({"cat": ["a", "zz", None], "v": [30.0, 30.0, 30.0]})
    levels = t.transform(new)["v_level"].tolist()
    global_cut = np.percentile(X["v"], 50)
    assert levels == [1, int(30 >= global_cut), int(30 >= global_cut)]
    t.set_params(unseen_group="error")
    with pytest.raises(ValueError, match="2 row\\(s\\) have a group not seen"):
        t.transform(new)


def test_select_by_name_accepts_reordered_and_extra_columns(frame):
    t = PercentileThresholder({"aov": (50,)}, select_by_name=True).set_output(
        transform="pandas"
    )
    out = t.fit_transform(frame)
    shuffled = frame[frame.columns[::-1]].assign(extra=1)
    again = t.transform(shuffled)
    pd.testing.assert_frame_equal(again, out)
    with pytest.raises(ValueError, match="missing: \\['eng'\\]"):
        t.transform(frame.drop(columns="eng"))


def test_strict_mode_rejects_reordered_columns(frame):
    t = PercentileThresholder({"aov": (50,)}).fit(frame)
    with pytest.raises(ValueError, match="same order"):
        t.transform(frame[frame.columns[::-1]])


def test_empty_input_is_refused():
    with pytest.raises(ValueError, match="0 sample"):
        PercentileThresholder().fit(pd.DataFrame({"a": pd.Series([], dtype=float)}))


def test_output_column_clash(frame):
    X = frame.assign(aov_level=1)
    with pytest.raises(ValueError, match="already exist"):
        PercentileThresholder({"aov": (50,)}).fit(X)


def test_polars_output_in_pipeline(frame):
    pl = pytest.importorskip("polars")
    pipe = Pipeline([("t", PercentileThresholder({"aov": (40, 75)}))])
    pipe.set_output(transform="polars")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pipe.fit_transform(frame)
    assert isinstance(out, pl.DataFrame)
    assert out.columns == [*frame.columns, "aov_level"]
    # polars input works too
    out2 = pipe.transform(pl.from_pandas(frame))
    assert out2["aov_level"].to_list() == out["aov_level"].to_list()


def test_failed_fit_leaves_the_estimator_unfitted(frame):
    from sklearn.exceptions import NotFittedError

    t = PercentileThresholder({"aov": (50,)}).fit(frame)
    bad = frame.assign(eng=frame["country"])  # text in a thresholded column
    with pytest.raises(ValueError, match="Column 'eng' must be numeric"):
        t.set_params(percentiles={"aov": (50,), "eng": (50,)}).fit(bad)
    assert not hasattr(t, "cuts_") and not hasattr(t, "n_features_in_")
    with pytest.raises(NotFittedError):
        t.transform(frame)


def test_group_collapse_is_recorded_and_warned():
    X = pd.DataFrame(
        {"g": ["a"] * 50 + ["b"] * 50, "v": np.r_[np.arange(50.0), [0.0] * 50]}
    )
    with pytest.warns(CollapsedCutsWarning, match="group 'b'.*level\\(s\\) \\[1\\]"):
        t = PercentileThresholder({"v": (40, 75)}, groupby="g").fit(X)
    assert t.group_collapsed_levels_ == {"v": {"b": [1]}}


@pytest.mark.parametrize("n", [500, 200_001])  # direct check / histogram proof
def test_nan_and_inf_handled_alike_on_small_and_large_columns(n):
    # fit proves a column finite inside the selection; a NaN or an infinity
    # anywhere (here the last row) must still be seen
    rng = np.random.default_rng(n)
    X = pd.DataFrame({"a": np.round(rng.gamma(2.0, 50.0, n), 2), "b": rng.random(n)})
    X.loc[n - 1, "a"] = np.nan
    t = PercentileThresholder({"a": (40, 75), "b": (50,)}).fit(X)
    np.testing.assert_array_equal(
        t.cuts_["a"], np.nanpercentile(X["a"].to_numpy(), [40, 75])
    )
    np.testing.assert_array_equal(t.cuts_["b"], np.percentile(X["b"], [50]))
    X.loc[n - 1, "a"] = -np.inf
    with pytest.raises(ValueError, match="Column 'a' contains 1 infinite"):
        PercentileThresholder({"a": (40, 75)}).fit(X)


def test_output_column_index_is_not_shared_between_outputs(frame):
    t = PercentileThresholder({"aov": (50,)}).set_output(transform="pandas").fit(frame)
    first = t.transform(frame)
    first.columns.name = "renamed in place"
    assert t.transform(frame).columns.name is None
    assert t.transform(frame.iloc[:3]).columns.name is None


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow in numpy's lerp
def test_non_finite_cuts_are_refused():
    X = pd.DataFrame({"a": [-1.7e308, 1.7e308, 1.7e308]})
    with pytest.raises(ValueError, match="Column 'a': cut values must be finite"):
        PercentileThresholder({"a": (0, 50)}).fit(X)


def test_set_output_refuses_unknown_containers(frame):
    with pytest.raises(ValueError, match="set_output"):
        PercentileThresholder().set_output(transform="arrow")
