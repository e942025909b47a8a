"""SegmentScorer: dimensions, weights, tiers, observed lift, the column contract, and
scikit-learn's checks in several configurations."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from _shared import FEATURES, robust_unit_reference
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_mece import SegmentScorer, assign_holdout, make_cart_abandoner_pipeline
from sklearn_mece._scorer import (
    DEFAULT_STRATEGIC_PRIORITY,
    DEFAULT_WEIGHTS,
    DIMENSIONS,
    size_score,
    tier_codes,
)
from sklearn_mece.datasets import make_cart_abandoners

SEED_SEGMENTS = list(DEFAULT_STRATEGIC_PRIORITY)


@pytest.fixture(scope="module")
def segmented():
    """Cart data with the preset's segment column (names, categorical)."""
    X = make_cart_abandoners(12_000, random_state=0)
    pipe = make_cart_abandoner_pipeline(min_size=200, max_size=None)
    pipe.steps = pipe.steps[:2]  # thresholds + segments
    return pipe.fit_transform(X)


def tiny(segment, **columns):
    """A small frame with the segment and every default feature column."""
    n = len(segment)
    defaults = {
        "avg_order_value": np.arange(1.0, n + 1),
        "engagement_score": 0.5,
        "profitability_score": 0.5,
        "days_since_last_order": 10.0,
    }
    return pd.DataFrame({"segment": segment, **{**defaults, **columns}})


# -- the preset ---------------------------------------------------------------------------
def test_preset_returns_segment_score_and_tier():
    X = make_cart_abandoners(5_000, random_state=1)
    pipe = make_cart_abandoner_pipeline(min_size=100)
    out = pipe.fit_transform(X)
    assert list(out.columns[-3:]) == ["segment", "segment_score", "segment_tier"]
    assert list(out.columns[: X.shape[1]]) == list(X.columns)
    assert out["segment_score"].dtype == np.float64
    assert out["segment_score"].between(0, 1).all()
    assert set(out["segment_tier"].astype(str)) <= {f"Tier {i}" for i in range(1, 5)}
    scorer = pipe.named_steps["scores"]
    report = scorer.report_
    # every row carries its segment's score and tier from the report
    by_segment = report.loc[out["segment"].astype(str)]
    np.testing.assert_array_equal(out["segment_score"], by_segment["score"])
    np.testing.assert_array_equal(out["segment_tier"].astype(str), by_segment["tier"])
    assert set(report.index) == set(pipe.named_steps["segments"].segment_names_)
    assert report["size"].sum() == len(X)
    required = {"size", "share", *DIMENSIONS, "score", "tier"}
    assert required <= set(report.columns)
    # validity is the segment step's: segment_report shows it, the scorer does not
    assert "valid" not in report
    assert (report["lift_source"] == "simulated").all()
    assert report["score"].idxmax() == "High_AOV_Premium"


def test_preset_scoring_weights_and_observed_lift_pass_through():
    X = make_cart_abandoners(5_000, random_state=2)
    X["treatment"] = 1 - assign_holdout(X["user_id"], 0.3, "p").astype(int)
    X["converted"] = (np.random.default_rng(2).random(len(X)) < 0.1).astype(int)
    weights = {**DEFAULT_WEIGHTS, "size_score": 0.0, "strategic_fit": 0.3}
    pipe = make_cart_abandoner_pipeline(
        min_size=100,
        scoring_weights=weights,
        scores__treatment="treatment",
        scores__outcome="converted",
    )
    pipe.fit(X)
    scorer = pipe.named_steps["scores"]
    assert scorer.weights_["size_score"] == 0.0
    assert scorer.weights_["strategic_fit"] == pytest.approx(0.3)
    assert (scorer.report_["lift_source"] == "observed").all()


# -- strategic fit ------------------------------------------------------------------------
@pytest.mark.parametrize("observed", [False, True], ids=["simulated", "observed"])
@pytest.mark.parametrize("segment", SEED_SEGMENTS)
def test_raising_one_priority_raises_that_score_and_no_other(
    segmented, segment, observed
):
    X = segmented.copy()
    params = {}
    if observed:
        rng = np.random.default_rng(0)
        X["treatment"] = 1 - assign_holdout(X["user_id"], 0.3, "t").astype(int)
        X["converted"] = (rng.random(len(X)) < 0.1 + 0.05 * X["treatment"]).astype(int)
        params = {"treatment": "treatment", "outcome": "converted"}
    base = SegmentScorer(**params).fit(X)
    old = DEFAULT_STRATEGIC_PRIORITY[segment]
    raised = SegmentScorer(
        strategic_priority={segment: min(old + 0.05, 1.0)}, **params
    ).fit(X)
    before = base.report_["score"]
    after = raised.report_["score"]
    assert after[segment] > before[segment]
    others = before.index != segment
    np.testing.assert_array_equal(after[others], before[others])
    # and the rows' scores follow
    changed = base.transform(X)[:, -2] != raised.transform(X)[:, -2]
    np.testing.assert_array_equal(changed, (X["segment"] == segment).to_numpy())


def test_strategic_fit_defaults_split_names_and_unknown_segments():
    X = tiny(["High_AOV_Premium_2", "Recent_Customers", "Mystery", "Mystery"])
    scorer = SegmentScorer(default_priority=0.1).fit(X)
    fit = scorer.report_["strategic_fit"]
    assert fit["High_AOV_Premium_2"] == 0.95  # a split sub-segment inherits
    assert fit["Recent_Customers"] == 0.70
    assert fit["Mystery"] == 0.1
    scorer = SegmentScorer(strategic_priority={"Mystery": 0.9}).fit(X)
    assert scorer.report_["strategic_fit"]["Mystery"] == 0.9
    with pytest.raises(ValueError, match=r"strategic_priority\['Mystery'\]"):
        SegmentScorer(strategic_priority={"Mystery": 1.5}).fit(X)


# -- size score ---------------------------------------------------------------------------
@pytest.mark.parametrize("optimal", [1, 50, 5_000, 12_345])
def test_size_score_is_maximal_at_optimal_size(optimal):
    sizes = np.unique(
        np.r_[np.arange(0, 4 * optimal + 3), np.linspace(0, 50 * optimal, 500).round()]
    )
    scores = size_score(sizes, optimal)
    assert sizes[np.argmax(scores)] == optimal
    assert scores[sizes == optimal][0] == 1.0
    assert (scores[sizes != optimal] < 1.0).all()
    assert ((0 <= scores) & (scores <= 1)).all()
    below, above = sizes < optimal, sizes > optimal
    assert (np.diff(scores[below]) > 0).all()  # rising up to the optimum
    assert (np.diff(scores[above]) <= 0).all()  # never rising after it


def test_size_score_is_the_seed_function_at_5000():
    def seed(size):  # the seed script's function, written independently
        if size <= 5000:
            return size / 5000
        return max(0.5, 1 - (size - 5000) / 20000)

    sizes = [0, 1, 499, 2500, 4999, 5000, 5001, 10_000, 15_000, 25_000, 40_000]
    np.testing.assert_allclose(size_score(sizes), [seed(s) for s in sizes])


def test_segment_of_optimal_size_gets_the_full_size_score():
    X = tiny(np.repeat([0, 1, 2], [30, 40, 55]))
    report = SegmentScorer(optimal_size=40).fit(X).report_
    assert report["size_score"].idxmax() == 1
    np.testing.assert_allclose(report["size_score"], [30 / 40, 1.0, 1 - 15 / 160])
    # a fraction of the fit rows
    scorer = SegmentScorer(optimal_size=0.32).fit(X)
    assert scorer.optimal_size_ == 40


# -- tiers --------------------------------------------------------------------------------
def test_tier_boundaries_are_exact():
    def below(x):
        return float(np.nextafter(x, -np.inf))

    priority = {
        "a": 0.70,
        "b": below(0.70),
        "c": 0.60,
        "d": below(0.60),
        "e": 0.50,
        "f": below(0.50),
        "g": 1.0,
        "h": 0.0,
    }
    X = tiny(list(priority))
    scorer = SegmentScorer(
        weights={"strategic_fit": 1.0}, strategic_priority=priority, tier_output="names"
    ).fit(X)
    report = scorer.report_
    np.testing.assert_array_equal(report["score"], list(priority.values()))
    assert report["tier"].tolist() == [
        "Tier 1",
        "Tier 2",
        "Tier 2",
        "Tier 3",
        "Tier 3",
        "Tier 4",
        "Tier 1",
        "Tier 4",
    ]
    assert scorer.transform(X)[:, -1].tolist() == report["tier"].tolist()
    codes = SegmentScorer(weights=(0, 0, 0, 1, 0), strategic_priority=priority)
    assert codes.fit_transform(X)[:, -1].tolist() == [1, 2, 2, 3, 3, 4, 1, 4]
    assert tier_codes([0.9, 0.5, 0.49], thresholds=[0.8, 0.5]).tolist() == [1, 2, 3]


@pytest.mark.parametrize(
    "thresholds", [(0.5, 0.6), (0.7, 0.7), (), (1.2, 0.5), ("a",), [[0.7]]]
)
def test_tier_thresholds_are_validated(thresholds):
    X = tiny([0, 1])
    with pytest.raises(ValueError, match="tier_thresholds"):
        SegmentScorer(tier_thresholds=thresholds).fit(X)


# -- weights -----------------------------------------------------------------------------
def test_weights_as_seed_dict_alias_and_tuple(segmented):
    default = SegmentScorer().fit(segmented).report_["score"]
    seed = {
        "conversion_potential": 0.25,
        "profitability": 0.25,
        "lift_vs_control": 0.20,
        "strategic_fit": 0.20,
        "size_score": 0.10,
    }
    alias = {k: v for k, v in seed.items() if k != "lift_vs_control"}
    alias["lift"] = seed["lift_vs_control"]
    for weights in (dict(DEFAULT_WEIGHTS), alias, (0.25, 0.25, 0.2, 0.2, 0.1)):
        got = SegmentScorer(weights=weights).fit(segmented).report_["score"]
        np.testing.assert_allclose(got, default, rtol=0, atol=1e-15)
    # the score is the weighted sum of the reported dimensions
    report = SegmentScorer().fit(segmented).report_
    by_hand = sum(
        w * report[d] for w, d in zip((0.25, 0.25, 0.2, 0.2, 0.1), DIMENSIONS)
    )
    np.testing.assert_allclose(report["score"], by_hand, atol=1e-12)
    # a missing key weighs 0
    only = SegmentScorer(weights={"profitability": 1}).fit(segmented).report_
    np.testing.assert_array_equal(only["score"], only["profitability"])


@pytest.mark.parametrize(
    "weights, match",
    [
        ({"conversion_potential": 0.5, "profitability": 0.6}, "must sum to 1"),
        ((0.2, 0.2, 0.2, 0.2, 0.1), "must sum to 1"),
        ((0.5, 0.5, 0.2, -0.2, 0.0), "non-negative"),
        ({"profit": 1.0}, "Unknown weight"),
        ({"lift": 0.5, "lift_vs_control": 0.5}, "not several"),
        ({"lift_score": 0.5, "lift": 0.5}, "not several"),
        ((0.5, 0.5), "sequence of 5"),
        ({"lift": "high"}, "must be numbers"),
        ((np.nan, 1, 0, 0, 0), "finite"),
    ],
)
def test_weights_are_validated(weights, match):
    X = tiny([0, 1])
    with pytest.raises(ValueError, match=match):
        SegmentScorer(weights=weights).fit(X)


# -- dimensions and their normalisations ------------------------------------------------------
def test_dimensions_match_an_independent_computation(segmented):
    X = segmented
    report = SegmentScorer().fit(X).report_
    seg = X["segment"].astype(str)
    n = len(X)
    m = pd.DataFrame(
        {
            key: robust_unit_reference(X[column], seg, key == "r")[0]
            for key, column in zip("epar", FEATURES[1:3] + FEATURES[::3])
        }
    ).loc[report.index]
    np.testing.assert_allclose(
        report["conversion_potential"], 0.7 * m["e"] + 0.3 * m["r"], rtol=1e-12
    )
    np.testing.assert_allclose(
        report["profitability"], 0.8 * m["p"] + 0.2 * m["a"], rtol=1e-12
    )
    np.testing.assert_allclose(
        report["lift_score"], 0.1 + 0.4 * m["e"] + 0.3 * m["a"], rtol=1e-12
    )
    sizes = seg.value_counts()[report.index]
    np.testing.assert_array_equal(report["size"], sizes)
    np.testing.assert_allclose(report["share"], sizes / n)
    np.testing.assert_allclose(
        report["mean_avg_order_value"],
        X.groupby(seg)["avg_order_value"].mean()[report.index],
    )
    for dim in DIMENSIONS:
        assert report[dim].between(0, 1).all(), dim


# -- the dimension table --------------------------------------------------------------------
def test_the_dimension_table_is_consistent():
    from sklearn_mece import _scorer

    table = _scorer.DIMENSION_TABLE
    assert DIMENSIONS == _scorer.dimension_names() == tuple(d.name for d in table)
    assert DEFAULT_WEIGHTS == _scorer.default_weights()
    assert sum(DEFAULT_WEIGHTS.values()) == pytest.approx(1.0, abs=1e-12)
    terms = {i.term for i in _scorer.SCORE_INPUTS} | set(_scorer.DERIVED_TERMS)
    for d in table:
        assert set(d.inputs) <= terms, d.name
        assert sum(c for _, c in d.formula) == pytest.approx(1.0), d.name
    assert len({d.name for d in table} | {d.weight_key for d in table}) >= len(table)
    # the seed's scoring_weights, unchanged
    assert DEFAULT_WEIGHTS == {
        "conversion_potential": 0.25,
        "profitability": 0.25,
        "lift_vs_control": 0.20,
        "strategic_fit": 0.20,
        "size_score": 0.10,
    }
    assert "0.7 * engagement + 0.3 * recency" in SegmentScorer.__doc__


def test_the_dimension_table_drives_report_weights_plots_and_tables(
    segmented, monkeypatch
):
    """A sixth dimension is one row of the table: the scorer's report, the
    default weights, the weight validation, the HTML plot, the command line's
    table and segment_report follow it."""
    from sklearn_mece import _scorer, cli, segment_report
    from sklearn_mece.report import plot_scores

    table = [
        d._replace(default_weight=0.15) if d.name == "conversion_potential" else d
        for d in _scorer.DIMENSION_TABLE
    ]
    table.append(
        _scorer.Dimension(
            "engagement_only", "engagement_weight", 0.10, (("engagement", 1.0),), "x"
        )
    )
    monkeypatch.setattr(_scorer, "DIMENSION_TABLE", tuple(table))

    assert _scorer.default_weights()["engagement_weight"] == 0.10
    scorer = SegmentScorer().fit(segmented)
    report = scorer.report_
    names = [d.name for d in table]
    assert list(report.columns[2 : 2 + len(names) + 1]) == [*names, "score"]
    engagement = robust_unit_reference(
        segmented["engagement_score"], segmented["segment"].astype(str)
    )[0]
    np.testing.assert_allclose(
        report["engagement_only"], engagement[report.index], rtol=1e-12
    )
    expected = sum(d.default_weight * report[d.name] for d in table)
    np.testing.assert_allclose(report["score"], expected, rtol=1e-12)
    # weights: the new key, its name as an alias, one number per dimension
    by_alias = SegmentScorer(weights={"engagement_only": 1.0}).fit(segmented)
    np.testing.assert_allclose(by_alias.scores_, report["engagement_only"])
    SegmentScorer(weights=[0.2] * 5 + [0.0]).fit(segmented)
    with pytest.raises(ValueError, match="sequence of 6 numbers"):
        SegmentScorer(weights=[0.2] * 5).fit(segmented)

    display = plot_scores(report)
    labels = [t.get_text() for t in display.ax_.get_xticklabels()]
    assert labels == [n.replace("_", "\n") for n in [*names, "score"]]
    assert "engagement_only" in cli._printed_columns()

    X = make_cart_abandoners(3_000, random_state=0)
    pipe = make_cart_abandoner_pipeline(min_size=0).fit(X)
    assert "engagement_only" in segment_report(pipe).columns


# -- size validity is the segment step's ----------------------------------------------------
def test_size_limits_on_the_scorer_are_deprecated(segmented):
    with pytest.warns(FutureWarning, match="min_size and max_size are deprecated"):
        scorer = SegmentScorer(min_size=1_000, max_size=3_000).fit(segmented)
    sizes = scorer.report_["size"]
    assert not scorer.report_["valid"].all()
    assert (
        scorer.report_["valid"].tolist()
        == ((sizes >= 1_000) & (sizes <= 3_000)).tolist()
    )
    assert (scorer.min_size_, scorer.max_size_) == (1_000, 3_000)


def test_the_scorer_does_not_judge_sizes_by_default(segmented):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        scorer = SegmentScorer().fit(segmented)
    assert scorer.segment_valid_ is None
    assert "valid" not in scorer.report_


def test_inputs_on_any_scale_are_robust_scaled_with_learned_quartiles():
    X = tiny(["a", "a", "b", "b"], engagement_score=[-10.0, 10.0, 30.0, 50.0])
    scorer = SegmentScorer().fit(X)
    learned = scorer.scales_["engagement_score"]
    # quartiles 5 and 35 (numpy's linear method), IQR 30, no value beyond
    # the fences, centre 20: the segments' means 0 and 40 are 2/3 IQR away
    assert learned == {
        "q25": 5.0,
        "q75": 35.0,
        "scale": 30.0,
        "clip_low": -85.0,
        "clip_high": 125.0,
        "center": 20.0,
        "n_values": 4,
    }
    e = 1 / (1 + np.exp(-2 * np.array([-20.0, 20.0]) / 30))
    np.testing.assert_allclose(
        scorer.dimensions_["conversion_potential"][:1], 0.7 * e[:1] + 0.3 * 0.5
    )
    np.testing.assert_allclose(
        scorer.report_["conversion_potential"], 0.7 * e + 0.3 * 0.5
    )


def test_one_outlier_moves_its_segment_only_up_to_the_fence():
    rng = np.random.default_rng(0)
    segment = np.repeat(["a", "b"], 500)
    aov = rng.lognormal(4, 0.5, 1_000)
    X = tiny(segment, avg_order_value=aov)
    base = SegmentScorer().fit(X).dimensions_["profitability"]
    X.loc[0, "avg_order_value"] = 1e12  # a typo in a price
    learned = SegmentScorer().fit(X)
    assert learned.segment_means_["avg_order_value"][0] > 1e9
    # the clipped value counts as the upper fence: the segment moves a little
    assert abs(learned.dimensions_["profitability"][0] - base[0]) < 0.01


def test_absent_inputs_count_as_neutral():
    X = pd.DataFrame({"segment": ["a", "b"], "other": [1.0, 2.0]})
    scorer = SegmentScorer(
        aov_column=None,
        engagement_column=None,
        profitability_column=None,
        recency_column=None,
    ).fit(X)
    report = scorer.report_
    for dim in ("conversion_potential", "profitability"):
        np.testing.assert_allclose(report[dim], 0.5)
    np.testing.assert_allclose(report["lift_score"], 0.1 + 0.4 * 0.5 + 0.3 * 0.5)


def test_missing_feature_values_are_left_out(segmented):
    X = segmented.copy()
    holes = np.random.default_rng(0).random(len(X)) < 0.2
    X.loc[holes, "engagement_score"] = np.nan
    report = SegmentScorer().fit(X).report_
    seg = X["segment"].astype(str)
    engagement, raw = robust_unit_reference(X["engagement_score"], seg)  # skips NaN
    engagement = engagement[report.index]
    recency = robust_unit_reference(X["days_since_last_order"], seg, True)[0]
    recency = recency[report.index]
    np.testing.assert_allclose(report["mean_engagement_score"], raw[report.index])
    np.testing.assert_allclose(
        report["conversion_potential"], 0.7 * engagement + 0.3 * recency, rtol=1e-12
    )
    X.loc[0, "avg_order_value"] = np.inf
    with pytest.raises(ValueError, match="'avg_order_value' contains 1 infinite"):
        SegmentScorer().fit(X)


# -- segment column: codes, names, categorical, unseen -------------------------------------------
def test_codes_names_and_categorical_give_the_same_scores():
    X = make_cart_abandoners(6_000, random_state=4)
    names_pipe = make_cart_abandoner_pipeline(min_size=100)
    out_names = names_pipe.fit_transform(X)
    segment_names = names_pipe.named_steps["segments"].segment_names_
    # codes carry no names: priorities are given per code
    by_code = {c: DEFAULT_STRATEGIC_PRIORITY[n] for c, n in enumerate(segment_names)}
    codes_pipe = make_cart_abandoner_pipeline(
        min_size=100, segments__output="codes", scores__strategic_priority=by_code
    )
    out_codes = codes_pipe.fit_transform(X)
    np.testing.assert_array_equal(
        out_names["segment_score"], out_codes["segment_score"]
    )
    by_names = names_pipe.named_steps["scores"].report_
    by_codes = codes_pipe.named_steps["scores"].report_
    assert by_codes.index.tolist() == list(range(len(segment_names)))
    by_codes.index = pd.Index(
        [segment_names[c] for c in by_codes.index], name="segment"
    )
    pd.testing.assert_frame_equal(by_codes, by_names.loc[by_codes.index])
    # without the mapping, codes get the default priority
    plain = SegmentScorer().fit(
        out_codes.drop(columns=["segment_score", "segment_tier"])
    )
    np.testing.assert_array_equal(plain.report_["strategic_fit"], 0.5)
    # plain strings (object or str dtype) give the same as the categorical
    as_str = out_names.drop(columns=["segment_score", "segment_tier"])
    as_str["segment"] = as_str["segment"].astype(str)
    scorer = SegmentScorer().fit(as_str)
    assert scorer.segments_ == sorted(segment_names)
    np.testing.assert_array_equal(
        scorer.report_["score"], by_names.loc[scorer.segments_, "score"]
    )


def test_unseen_segments_raise_or_give_nan():
    X = tiny(["a", "b", "b"])
    new = tiny(["b", "zeta"])
    scorer = SegmentScorer().fit(X)
    with pytest.raises(
        ValueError, match=r"1 row\(s\) in segment\(s\) not seen.*'zeta'"
    ):
        scorer.transform(new)
    out = SegmentScorer(handle_unknown="nan").fit(X).transform(new)
    assert out[0, -2] == scorer.scores_[1] and np.isnan(out[1, -2])
    assert out[1, -1] == 0
    named = SegmentScorer(handle_unknown="nan", tier_output="names").fit(X)
    named.set_output(transform="pandas")
    tiers = named.transform(new)["segment_tier"]
    assert tiers.isna().tolist() == [False, True]
    # a categorical with an extra, unused category is fine
    cat = X.astype({"segment": pd.CategoricalDtype(["a", "b", "zeta"])})
    np.testing.assert_array_equal(
        scorer.transform(cat)[:, -2], scorer.transform(X)[:, -2]
    )
    # numeric codes against a scorer fitted on names are unseen
    with pytest.raises(ValueError, match="not seen at fit"):
        scorer.transform(X.assign(segment=[0, 1, 1]))


@pytest.mark.parametrize(
    "segment, error, match",
    [
        (["a", None, "b"], ValueError, r"1 missing value\(s\)"),
        ([0.0, np.nan, 1.0], ValueError, r"1 missing value\(s\)"),
        ([0.0, np.inf, 1.0], ValueError, "infinite"),
        (["a", 1, "b"], TypeError, "string or a number"),
        (pd.Categorical(["a", None, "b"]), ValueError, "missing"),
    ],
)
def test_bad_segment_values(segment, error, match):
    X = tiny(segment)
    with pytest.raises(error, match=match):
        SegmentScorer().fit(X)


# -- column contract ------------------------------------------------------------------------
def test_arrays_use_the_seed_positions_for_default_columns(segmented):
    cols = ["segment", *FEATURES]
    X = segmented[cols].assign(segment=segmented["segment"].astype(str))
    by_name = SegmentScorer().fit(X)
    by_position = SegmentScorer().fit(X.to_numpy(dtype=object))
    np.testing.assert_array_equal(by_name.scores_, by_position.scores_)
    assert by_position.columns_["recency_column"] == 4
    # narrower arrays: positions past the data are absent inputs
    narrow = SegmentScorer().fit(X.to_numpy(dtype=object)[:, :2])
    assert narrow.columns_["engagement_column"] is None
    # explicit names need names
    with pytest.raises(ValueError, match="given by name but X has no column names"):
        SegmentScorer(aov_column="aov").fit(X.to_numpy(dtype=object))


def test_dataframe_without_default_columns_is_refused_naming_the_column():
    X = pd.DataFrame({"segment": [0, 1], "aov": [1.0, 2.0]})
    with pytest.raises(ValueError, match="Unknown aov_column 'avg_order_value'"):
        SegmentScorer().fit(X)
    SegmentScorer(
        aov_column="aov",
        engagement_column=None,
        profitability_column=None,
        recency_column=None,
    ).fit(X)


def test_untouched_columns_pass_through_unvalidated(segmented):
    X = segmented.copy()
    X["note"] = "free text"
    X["when"] = pd.Timestamp("2026-01-01")
    scorer = SegmentScorer(tier_output="names").set_output(transform="pandas")
    out = scorer.fit_transform(X)
    assert list(out.columns) == [*X.columns, "segment_score", "segment_tier"]
    pd.testing.assert_frame_equal(out[X.columns], X)
    assert out["segment_tier"].dtype == pd.CategoricalDtype(
        ["Tier 1", "Tier 2", "Tier 3", "Tier 4"], ordered=True
    )
    assert scorer.get_feature_names_out().tolist() == list(out.columns)
    with pytest.raises(ValueError, match="already exist"):
        SegmentScorer().fit(out)


def test_select_by_name_accepts_reordered_and_extra_columns(segmented):
    scorer = SegmentScorer(select_by_name=True).fit(segmented)
    shuffled = segmented[segmented.columns[::-1]].assign(extra=1)
    np.testing.assert_array_equal(
        scorer.transform(shuffled)[:, -2], scorer.transform(segmented)[:, -2]
    )


def test_treatment_needs_outcome():
    X = tiny([0, 1], t=[1, 0])
    with pytest.raises(ValueError, match="treatment and outcome go together"):
        SegmentScorer(treatment="t").fit(X)


# -- observed lift through the scorer ------------------------------------------------------------
def test_observed_lift_in_the_report(segmented):
    X = segmented.copy()
    rng = np.random.default_rng(1)
    X["treatment"] = 1 - assign_holdout(X["user_id"], 0.3, "r").astype(int)
    effect = (
        X["segment"]
        .astype(str)
        .map(dict(zip(SEED_SEGMENTS, [0.08, 0.0, 0.04, 0.02, -0.02, 0.03])))
    )
    X["converted"] = (rng.random(len(X)) < 0.1 + effect * X["treatment"]).astype(int)
    scorer = SegmentScorer(treatment="treatment", outcome="converted").fit(X)
    report = scorer.report_
    lift_cols = [
        "n_treated",
        "n_control",
        "rate_treated",
        "rate_control",
        "lift_observed",
        "lift_ci_low",
        "lift_ci_high",
        "lift_ci_low_adjusted",
        "lift_ci_high_adjusted",
        "lift_p_value",
        "lift_p_adjusted",
        "lift_significant",
        "lift_shrunk",
    ]
    assert set(lift_cols) <= set(report.columns)
    assert report.attrs["lift_ci"] == "95 % interval of each segment"
    assert report.attrs["lift_ci_adjusted"].startswith(
        "95 % simultaneous intervals over 6 segments (Bonferroni: 99.17 % each)"
    )
    assert scorer.outcome_type_ == "rate"
    seg = X["segment"].astype(str)
    arms = X.groupby([seg, "treatment"])["converted"].mean().unstack()
    diff = (arms[1] - arms[0])[report.index]
    np.testing.assert_allclose(report["lift_observed"], diff, rtol=1e-12)
    # the score reads the shrunk lift (random-effects posterior mean, the
    # standard errors from each segment's interval), on the scale of the
    # largest observed effect: 0.5 + 0.5 * shrunk / max|observed|
    from statsmodels.stats.meta_analysis import combine_effects

    se = (report["lift_ci_high"] - report["lift_ci_low"]) / (2 * 1.959963984540054)
    meta = combine_effects(diff.to_numpy(), se.to_numpy() ** 2, method_re="iterated")
    w = meta.tau2 / (meta.tau2 + se**2)
    shrunk = meta.mean_effect_re + w * (diff - meta.mean_effect_re)
    np.testing.assert_allclose(report["lift_shrunk"], shrunk, rtol=1e-9)
    np.testing.assert_allclose(
        report["lift_score"], 0.5 + 0.5 * shrunk / diff.abs().max(), rtol=1e-9
    )
    assert scorer.scales_["lift_scale"] == pytest.approx(diff.abs().max())
    # simultaneous intervals contain each segment's own
    assert (report["lift_ci_low_adjusted"] < report["lift_ci_low"]).all()
    assert (report["lift_ci_high_adjusted"] > report["lift_ci_high"]).all()
    assert (report["lift_source"] == "observed").all()


def test_segments_without_a_control_fall_back_to_the_simulated_lift(segmented):
    X = segmented.copy()
    X["treatment"] = 1 - assign_holdout(X["user_id"], 0.3, "r").astype(float)
    X.loc[X["segment"] == "Recent_Customers", "treatment"] = 1.0
    X["spend"] = np.random.default_rng(0).gamma(2, 30, len(X)) * X["treatment"]
    with pytest.warns(UserWarning, match="1 segment.*Recent_Customers.*simulated"):
        scorer = SegmentScorer(treatment="treatment", outcome="spend").fit(X)
    report = scorer.report_
    assert scorer.outcome_type_ == "amount"
    assert report.loc["Recent_Customers", "lift_source"] == "simulated"
    assert np.isnan(report.loc["Recent_Customers", "lift_observed"])
    simulated = SegmentScorer().fit(X).report_
    assert (
        report.loc["Recent_Customers", "lift_score"]
        == simulated.loc["Recent_Customers", "lift_score"]
    )
    assert (report.drop("Recent_Customers")["lift_source"] == "observed").all()


# -- invariants (hypothesis) ----------------------------------------------------------------
@st.composite
def scoring_problems(draw):
    n = draw(st.integers(1, 60))
    k = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "segment": rng.integers(0, k, n),
            "avg_order_value": rng.lognormal(4, 1, n),
            "engagement_score": rng.normal(0.5, draw(st.floats(0.01, 3)), n),
            "profitability_score": rng.random(n),
            "days_since_last_order": rng.integers(0, 400, n).astype(float),
        }
    )
    if draw(st.booleans()):
        X.loc[rng.random(n) < 0.2, "engagement_score"] = np.nan
    raw = np.array(draw(st.lists(st.floats(0, 1), min_size=5, max_size=5)))
    weights = tuple(raw / raw.sum()) if raw.sum() > 0 else None
    priority = {
        int(s): draw(st.floats(0, 1)) for s in draw(st.lists(st.integers(0, k - 1)))
    }
    optimal = draw(st.integers(1, 100))
    return X, {
        "weights": weights,
        "strategic_priority": priority,
        "optimal_size": optimal,
    }


@settings(max_examples=60, deadline=None, derandomize=True)
@given(scoring_problems())
def test_scores_are_in_unit_range_and_tiers_follow_scores(problem):
    X, params = problem
    scorer = SegmentScorer(**params).fit(X)
    report = scorer.report_
    for dim in (*DIMENSIONS, "score"):
        assert report[dim].between(0, 1).all(), dim
    thresholds = (0.70, 0.60, 0.50)
    score = report["score"].to_numpy()
    expected = np.select(
        [score >= 0.70, score >= 0.60, score >= 0.50],
        ["Tier 1", "Tier 2", "Tier 3"],
        "Tier 4",
    )
    assert report["tier"].tolist() == expected.tolist()
    np.testing.assert_array_equal(scorer.tier_codes_, tier_codes(score, thresholds))
    out = scorer.transform(X)
    position = [scorer.segments_.index(s) for s in X["segment"]]
    np.testing.assert_array_equal(out[:, -2], score[position])
    np.testing.assert_array_equal(out[:, -1], tier_codes(score, thresholds)[position])


# -- persistence ----------------------------------------------------------------------------
def test_fitted_state_is_plain_and_persists(segmented):
    X = segmented.copy()
    X["treatment"] = 1 - assign_holdout(X["user_id"], 0.3, "r").astype(int)
    X["converted"] = (np.random.default_rng(0).random(len(X)) < 0.1).astype(int)
    scorer = SegmentScorer(treatment="treatment", outcome="converted").fit(X)
    state = {k: v for k, v in vars(scorer).items() if k.endswith("_")}
    for name, value in state.items():
        assert not isinstance(value, (pd.DataFrame, pd.Series, pd.Index)), name
    copy = pickle.loads(pickle.dumps(scorer))
    pd.testing.assert_frame_equal(copy.report_, scorer.report_)
    sio = pytest.importorskip("skops.io")
    data = sio.dumps(scorer)
    untrusted = sio.get_untrusted_types(data=data)
    assert [t for t in untrusted if not t.startswith("sklearn_mece.")] == []
    loaded = sio.loads(data, trusted=untrusted)
    pd.testing.assert_frame_equal(loaded.report_, scorer.report_)
    np.testing.assert_array_equal(
        loaded.transform(X)[:, -2], scorer.transform(X)[:, -2]
    )


# -- scale invariance (issue #15) ---------------------------------------------------------------
@pytest.mark.parametrize("column", FEATURES)
@pytest.mark.parametrize("factor", [2.0**-7, 3.7, 1_000.0, 1e-4])
def test_scores_and_tiers_do_not_change_when_an_input_is_rescaled(
    segmented, column, factor
):
    """Dollars or cents, days or hours, a score in [0, 1] or in [0, 100]: the
    normalisation learned at fit makes the unit irrelevant."""
    X = segmented.copy()
    X.loc[X.index[::37], column] = np.nan  # missing values stay missing
    before = SegmentScorer().fit(X)
    X[column] = X[column] * factor
    after = SegmentScorer().fit(X)
    np.testing.assert_array_equal(after.tier_codes_, before.tier_codes_)
    if np.log2(factor).is_integer():  # exact in floating point: the same bits
        np.testing.assert_array_equal(after.scores_, before.scores_)
    else:
        np.testing.assert_allclose(after.scores_, before.scores_, rtol=1e-12)
    for dim in DIMENSIONS:
        np.testing.assert_allclose(
            after.dimensions_[dim], before.dimensions_[dim], rtol=1e-12
        )
    # every row keeps its tier
    out_before = before.transform(X.assign(**{column: X[column] / factor}))
    np.testing.assert_array_equal(after.transform(X)[:, -1], out_before[:, -1])


def test_real_scale_inputs_spread_the_tiers(segmented):
    """The issue's finding: features on their real scale (a visit count with a
    few bots, a margin in currency with one wholesale order) all landed in
    Tier 4 when read as if in [0, 1]; the robust scaling ignores the unit and
    clips the extremes to the fences."""
    X = segmented.copy()
    X["engagement_score"] = X["engagement_score"] * 40  # visits per quarter
    X.loc[X.index[:5], "engagement_score"] = 5_000.0  # bots
    X["profitability_score"] = X["profitability_score"] * 250  # margin in dollars
    X.loc[X.index[5], "profitability_score"] = 1e6
    scorer = SegmentScorer().fit(X)
    assert len(set(scorer.tier_codes_.tolist())) >= 3
    reference = SegmentScorer().fit(segmented)
    np.testing.assert_allclose(scorer.scores_, reference.scores_, atol=0.01)


def test_a_zero_inflated_input_keeps_its_fences():
    """Found in review: with equal quartiles (80 % zeros) the scale was the
    standard deviation and nothing was clipped, so one bot set the scale and
    made its segment the most engaged."""
    rng = np.random.default_rng(0)
    n = 8_000
    segment = np.repeat(["A", "B", "C", "D"], n // 4)
    active = np.isin(segment, ["A", "B"])
    sessions = np.where(rng.random(n) < np.where(active, 0.35, 0.05), 1.0, 0.0)
    sessions *= rng.integers(1, 20, n)
    X = tiny(segment, engagement_score=sessions)
    before = SegmentScorer().fit(X).dimensions_["conversion_potential"]
    X.loc[n - 1, "engagement_score"] = 1e5  # one bot, in segment D
    after = SegmentScorer().fit(X).dimensions_["conversion_potential"]
    assert np.argsort(after).tolist() == np.argsort(before).tolist()
    assert after[:2].min() > after[2:].max()
    np.testing.assert_allclose(after, before, atol=0.01)
