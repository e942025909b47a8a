"""Warnings a user needs on real data: empty levels, merges, domains, shifts.

Each warning has a test that triggers it and one that shows it stays silent on
clean data; each points at the user's line (this file), not inside a library.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from sklearn_mece import (
    ClusterSegmenter,
    DomainWarning,
    EmptyLevelWarning,
    HierarchicalSegmenter,
    PopulationShiftWarning,
    SegmentMergeWarning,
    make_cart_abandoner_pipeline,
)
from sklearn_mece._segment_base import population_stability_index
from sklearn_mece.datasets import make_cart_abandoners

NEW_WARNINGS = (
    EmptyLevelWarning,
    SegmentMergeWarning,
    PopulationShiftWarning,
    DomainWarning,
)


@pytest.fixture
def mock():
    return make_cart_abandoners(20_000, random_state=0)


# -- clean data: silence ------------------------------------------------------------
def test_clean_data_raises_none_of_the_new_warnings(mock):
    with warnings.catch_warnings():
        for category in NEW_WARNINGS:
            warnings.simplefilter("error", category)
        pipe = make_cart_abandoner_pipeline(min_size=0).fit(mock)
        fresh = make_cart_abandoners(20_000, random_state=1)  # same population
        out = pipe.transform(fresh)
        pipe.named_steps["segments"].predict(out)
    assert len(out) == len(fresh)


# -- empty levels ---------------------------------------------------------------------
def test_a_level_with_no_row_warns_even_without_collapsed_cuts(mock):
    # half the engagement scores are 0: p40 = 0 = the minimum, so "low"
    # (values < p40) holds no row although p40 < p70 (no collapsed cut)
    X = mock.copy()
    rng = np.random.default_rng(0)
    X.loc[rng.random(len(X)) < 0.5, "engagement_score"] = 0.0
    pipe = make_cart_abandoner_pipeline(min_size=0)
    with pytest.warns(EmptyLevelWarning) as caught:
        pipe.fit(X)
    thresholds = pipe.named_steps["thresholds"]
    cuts = thresholds.cuts_["engagement_score"]
    assert cuts[0] == X["engagement_score"].min() and cuts[0] < cuts[1]
    assert thresholds.collapsed_levels_["engagement_score"] == []
    ours = [w for w in caught if w.category is EmptyLevelWarning]
    assert len(ours) == 1
    message = str(ours[0].message)
    assert "'engagement_score_level'" in message and "['low']" in message
    assert ours[0].filename == __file__  # the user's line, not sklearn's
    counts = pipe.named_steps["segments"].level_counts_["engagement_score_level"]
    assert counts[0] == 0 and sum(counts) == len(X)


# -- merges -----------------------------------------------------------------------------
def test_merges_at_fit_are_announced_with_sizes_and_targets(mock):
    pipe = make_cart_abandoner_pipeline(min_size=3_000)
    with pytest.warns(SegmentMergeWarning) as caught:
        pipe.fit(mock)
    segments = pipe.named_steps["segments"]
    merged = {n: t for n, t in segments.merge_map_.items() if n != t}
    assert merged  # the mock data has segments below 3,000 rows
    ours = [w for w in caught if w.category is SegmentMergeWarning]
    assert len(ours) == 1 and ours[0].filename == __file__
    message = str(ours[0].message)
    for name, target in merged.items():
        assert f"{name!r} (" in message and f"-> {target!r}" in message
    assert "min_size=3000 rows" in message


def test_no_merge_no_warning(mock):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SegmentMergeWarning)
        make_cart_abandoner_pipeline(min_size=10).fit(mock)


# -- population shift -----------------------------------------------------------------
def test_a_shifted_population_warns_once_naming_the_columns(mock):
    pipe = make_cart_abandoner_pipeline(min_size=0).fit(mock)
    other_shop = make_cart_abandoners(5_000, random_state=2)
    other_shop["avg_order_value"] *= 5  # another shop: baskets five times larger
    with pytest.warns(PopulationShiftWarning) as caught:
        pipe.transform(other_shop)
    ours = [w for w in caught if w.category is PopulationShiftWarning]
    assert len(ours) == 1 and ours[0].filename == __file__
    message = str(ours[0].message)
    assert "'segment'" in message and "'avg_order_value_level'" in message
    assert "'engagement_score_level'" not in message  # unchanged column
    assert "5000 rows" in message


def test_shift_check_needs_enough_rows_and_can_be_switched_off(mock):
    shifted = mock.assign(avg_order_value=mock["avg_order_value"] * 5)
    pipe = make_cart_abandoner_pipeline(min_size=0).fit(mock)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PopulationShiftWarning)
        pipe.transform(shifted.head(999))  # too few rows to compare shares
        pipe.set_params(segments__shift_threshold=None)
        pipe.transform(shifted)
    pipe.set_params(segments__shift_threshold=0.25)
    with pytest.warns(PopulationShiftWarning):
        pipe.named_steps["segments"].predict(pipe[:1].transform(shifted))


def test_shift_check_works_on_files_without_level_counts(mock):
    # a model saved before level counts existed still compares segment shares
    pipe = make_cart_abandoner_pipeline(min_size=0).fit(mock)
    del pipe.named_steps["segments"].level_counts_
    with pytest.warns(PopulationShiftWarning, match="'segment'"):
        pipe.transform(mock.assign(avg_order_value=mock["avg_order_value"] * 5))


def test_cluster_segmenter_checks_segment_shares():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=3_000), "b": rng.normal(size=3_000)})
    seg = ClusterSegmenter(columns=["a", "b"], random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PopulationShiftWarning)
        seg.transform(X.sample(frac=1.0, random_state=1))  # same rows: no shift
    with pytest.warns(PopulationShiftWarning, match="'segment'"):
        seg.transform(X + 3.0)


def test_population_stability_index_known_values():
    assert population_stability_index([10, 10], [10, 10]) == 0.0
    # (0.9 - 0.5) ln(0.9 / 0.5) + (0.1 - 0.5) ln(0.1 / 0.5)
    expected = 0.4 * np.log(1.8) - 0.4 * np.log(0.2)
    assert population_stability_index([1, 1], [9, 1]) == pytest.approx(expected)
    # an empty bin is floored, never infinite
    assert np.isfinite(population_stability_index([1, 0], [0, 1]))


def test_loaded_level_counts_are_checked(mock):
    seg = make_cart_abandoner_pipeline(min_size=0).fit(mock).named_steps["segments"]
    seg.level_counts_ = {"avg_order_value_level": [1, 2]}  # 3 levels declared
    with pytest.raises(ValueError, match="level_counts_"):
        seg._check_fitted_state()


def test_hierarchical_segmenter_shift_threshold_is_validated():
    X = pd.DataFrame({"days": np.arange(10.0)})
    rules = {"segments": [{"name": "Recent", "when": [["days", "<=", 3]]}]}
    with pytest.raises(ValueError, match="shift_threshold"):
        HierarchicalSegmenter(rules, shift_threshold=-1).fit(X)


# -- declared domains ---------------------------------------------------------------
def test_negative_days_warn_at_fit_and_transform_naming_the_column(mock):
    X = mock.copy()
    X.loc[:392, "days_since_last_order"] = -3.0  # 393 rows, as on CDNOW
    pipe = make_cart_abandoner_pipeline(min_size=0)
    with pytest.warns(DomainWarning) as caught:
        pipe.fit(X)
    ours = [w for w in caught if w.category is DomainWarning]
    assert len(ours) == 1 and ours[0].filename == __file__
    message = str(ours[0].message)
    assert "'days_since_last_order'" in message and "393 value(s)" in message
    assert "[0.0, inf)" in message and "at fit" in message and "-3.0" in message
    with pytest.warns(DomainWarning, match="at transform"):
        pipe.transform(X)


def test_scores_above_one_warn(mock):
    X = mock.assign(engagement_score=mock["engagement_score"] * 100)  # a 0-100 scale
    with pytest.warns(DomainWarning, match=r"'engagement_score'.*\[0.0, 1.0\]"):
        make_cart_abandoner_pipeline(min_size=0).fit(X)


def test_values_inside_their_domains_are_silent(mock):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DomainWarning)
        pipe = make_cart_abandoner_pipeline(min_size=0).fit(mock)
        pipe.transform(mock)


def test_domains_follow_a_column_mapping_and_round_trip():
    from sklearn_mece import CART_ABANDONER_RULES, RuleSet

    renamed = CART_ABANDONER_RULES.rename({"days_since_last_order": "recency"})
    assert renamed.domains["recency"] == (0.0, None)
    assert RuleSet.from_dict(renamed.to_dict()) == renamed
    assert RuleSet.from_json(renamed.to_json()) == renamed
    # the TOML form: no null, open sides are left out
    assert renamed.to_dict()["domains"]["recency"] == {"min": 0.0}


@pytest.mark.parametrize(
    "bad, error",
    [
        ({"d": [1]}, ValueError),
        ({"d": [2, 1]}, ValueError),
        ({"d": ["a", 1]}, TypeError),
        ({"d": {"min": 0, "low": 1}}, ValueError),
        ({"d": 5}, TypeError),
        ({"d": [float("nan"), 1]}, TypeError),
    ],
)
def test_malformed_domains_are_refused_with_their_location(bad, error):
    from sklearn_mece import RuleSet

    with pytest.raises(error, match=r"domains\['d'\]"):
        RuleSet.from_dict({"domains": bad})


def test_a_domain_for_a_column_the_step_does_not_see_is_not_checked():
    # a segment step that sees only level columns (no raw column) checks nothing
    rules = {
        "domains": {"spend": {"min": 0}},
        "segments": [{"name": "Recent", "when": [["days", "<=", 30]]}],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error", DomainWarning)
        seg = HierarchicalSegmenter(rules).fit(pd.DataFrame({"days": [1.0, 40.0]}))
    assert seg.predict(pd.DataFrame({"days": [3.0]})).tolist() == ["Recent"]


def test_a_large_batch_is_compared_on_a_sample(mock, monkeypatch):
    from sklearn_mece import _segment_base

    monkeypatch.setattr(_segment_base, "SHIFT_SAMPLE_ROWS", 2_000)
    pipe = make_cart_abandoner_pipeline(min_size=0).fit(mock)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PopulationShiftWarning)
        pipe.transform(make_cart_abandoners(20_000, random_state=3))
    shifted = mock.assign(avg_order_value=mock["avg_order_value"] * 5)
    with pytest.warns(PopulationShiftWarning, match="'avg_order_value_level'"):
        pipe.transform(shifted)
