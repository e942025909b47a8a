"""Your column names: RuleSet.rename and the preset's ``columns=``."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from sklearn_mece import make_cart_abandoner_pipeline
from sklearn_mece._rules import RuleSet
from sklearn_mece._scorer import SCORE_INPUTS
from sklearn_mece.datasets import make_cart_abandoners
from sklearn_mece.presets import (
    CART_ABANDONER_RULES,
    PRESET_COLUMNS,
    describe_pipeline,
)

HILLSTROM_NAMES = {"avg_order_value": "history", "days_since_last_order": "recency"}
ALL_RENAMED = {
    "avg_order_value": "aov",
    "engagement_score": "eng",
    "profitability_score": "margin",
    "days_since_last_order": "days",
}

RULES = {
    "levels": {
        "aov": {"names": ["low", "mid", "high"], "percentiles": [40, 75]},
        "eng": {"names": ["low", "high"]},
    },
    "segments": [
        {"name": "Big", "when": [["aov", "==", "high"]], "strategy": "call"},
        {"name": "Keen", "when": {"eng": "high", "aov": ["in", ["low", "mid"]]}},
        {"name": "Coded", "when": [["aov_level", ">=", 1]], "parent": "Big"},
        {"name": "Recent", "when": [["days", "<=", 30], ["country", "==", "US"]]},
        {"name": "Third", "when": [[2, ">", 0.5]]},
    ],
    "else": {"name": "Rest", "description": "everyone else"},
}


# ---------------------------------------------------------------------------------
# RuleSet.rename
# ---------------------------------------------------------------------------------
def _columns(rules):
    return [[c.column for c in seg.conditions] for seg in rules.segments]


def test_rename_follows_every_reference():
    rules = RuleSet.from_dict(RULES)
    renamed = rules.rename({"aov": "history", "days": "recency", "country": "nation"})
    assert list(renamed.levels) == ["history", "eng"]
    assert renamed.levels["history"] == rules.levels["aov"]
    assert renamed.percentiles() == {"history": (40.0, 75.0)}
    assert _columns(renamed) == [
        ["history"],
        ["eng", "history"],
        ["history_level"],  # a level column follows its feature
        ["recency", "nation"],
        [2],  # a position is not a name
    ]
    # everything else is unchanged
    assert renamed.names == rules.names
    assert renamed.parents() == rules.parents()
    assert renamed.else_segment == rules.else_segment
    for old, new in zip(rules.segments, renamed.segments):
        assert (old.name, old.parent, old.description, old.strategy) == (
            new.name,
            new.parent,
            new.description,
            new.strategy,
        )
        assert [(c.op, c.value) for c in old.conditions] == [
            (c.op, c.value) for c in new.conditions
        ]
    # the original is untouched
    assert rules == RuleSet.from_dict(RULES)
    assert "history" not in json.dumps(rules.to_dict())


def test_rename_round_trips_and_describes_the_new_names():
    renamed = RuleSet.from_dict(RULES).rename({"aov": "history", "eng": "visits"})
    assert RuleSet.from_dict(renamed.to_dict()) == renamed
    assert RuleSet.from_json(renamed.to_json()) == renamed
    text = renamed.describe(cuts={"history": [10.0, 20.0]})
    assert "history is high (history >= 20)" in text
    assert "visits is high" in text
    assert "aov" not in text and "eng " not in text


def test_rename_swaps_and_identity():
    rules = RuleSet.from_dict(RULES)
    swapped = rules.rename({"aov": "eng", "eng": "aov"})
    assert list(swapped.levels) == ["eng", "aov"]
    assert swapped.levels["eng"].names == ("low", "mid", "high")
    assert swapped.rename({"aov": "eng", "eng": "aov"}) == rules
    assert rules.rename({}) == rules
    assert rules.rename({"aov": "aov"}) == rules


def test_rename_with_another_level_suffix():
    rules = RuleSet.from_dict(
        {
            "levels": {"aov": ["low", "high"]},
            "segments": [{"name": "A", "when": [["aov_lvl", "==", 1]]}],
        }
    )
    assert _columns(rules.rename({"aov": "spend"}, suffix="_lvl")) == [["spend_lvl"]]


@pytest.mark.parametrize(
    "mapping, error, match",
    [
        ({"spend": "x"}, ValueError, r"Cannot rename \['spend'\].*they name \['aov'"),
        ({"aov_level": "x"}, ValueError, r"Cannot rename \['aov_level'\]"),
        ({"aov": "x", "b": 1, "a": 2}, ValueError, r"\['a', 'b'\]"),
        ({"aov": "eng"}, ValueError, "'aov' and 'eng' would both be named 'eng'"),
        (
            {"aov": "x", "days": "x"},
            ValueError,
            "'aov' and 'days' would both be named 'x'",
        ),
        ({"days": "aov_level"}, ValueError, "'days' would be named 'aov_level'"),
        ({"aov": "days"}, ValueError, "'aov' and 'days' would both be named 'days'"),
        ({"aov": 3}, TypeError, "new name of 'aov' must be a non-empty string"),
        ({"aov": ""}, ValueError, "new name of 'aov' must be a non-empty string"),
        ([("aov", "x")], TypeError, "'mapping' must be a mapping"),
    ],
)
def test_rename_errors(mapping, error, match):
    rules = RuleSet.from_dict(RULES)
    with pytest.raises(error, match=match):
        rules.rename(mapping)
    # a name ending in the suffix is fine when no level feature owns it
    assert _columns(rules.rename({"days": "recency_level"}))[3][0] == "recency_level"


# ---------------------------------------------------------------------------------
# the preset's columns
# ---------------------------------------------------------------------------------
def test_preset_columns_are_the_rules_features_and_the_scorer_inputs():
    from sklearn_mece._rules import _rule_features

    assert set(_rule_features(CART_ABANDONER_RULES)) == set(PRESET_COLUMNS)
    assert set(PRESET_COLUMNS) == {i.column for i in SCORE_INPUTS}
    assert all(isinstance(v, str) and v for v in PRESET_COLUMNS.values())
    with pytest.raises(TypeError):
        PRESET_COLUMNS["x"] = "y"  # read-only: one home


@pytest.fixture(scope="module")
def data():
    return make_cart_abandoners(6_000, random_state=0)


def _fit(pipe, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pipe.fit_transform(X)


@pytest.mark.parametrize("columns", [HILLSTROM_NAMES, ALL_RENAMED], ids=["some", "all"])
def test_mapped_pipeline_equals_the_default_on_the_original_names(data, columns):
    default = make_cart_abandoner_pipeline(min_size=100)
    expected = _fit(default, data)
    mine = data.rename(columns=columns).sample(frac=1.0, axis=1, random_state=0)
    pipe = make_cart_abandoner_pipeline(min_size=100, columns=columns)
    out = _fit(pipe, mine)

    out = out.loc[expected.index]
    for column in ("segment", "segment_score", "segment_tier"):
        pd.testing.assert_series_equal(out[column], expected[column])
    # level columns are named after your columns
    for preset in ("avg_order_value", "engagement_score", "profitability_score"):
        user = columns.get(preset, preset)
        assert f"{preset}_level" not in out or preset == user
        np.testing.assert_array_equal(out[f"{user}_level"], expected[f"{preset}_level"])
    # the steps read your names
    thresholds = pipe.named_steps["thresholds"]
    assert set(thresholds.percentiles) == {
        columns.get(c, c)
        for c in ("avg_order_value", "engagement_score", "profitability_score")
    }
    scorer = pipe.named_steps["scores"]
    for i in SCORE_INPUTS:
        assert getattr(scorer, i.param) == columns.get(i.column, i.column)
    # the same scores per segment; the means are named after your columns
    rename_means = {f"mean_{k}": f"mean_{v}" for k, v in columns.items()}
    pd.testing.assert_frame_equal(
        scorer.report_,
        default.named_steps["scores"].report_.rename(columns=rename_means),
    )
    # the rules in words use your names; the segment names are the preset's
    words = describe_pipeline(pipe)
    assert f"{columns['avg_order_value']} is high" in words
    assert "avg_order_value" not in words
    assert list(pipe.named_steps["segments"].segment_names_) == list(
        default.named_steps["segments"].segment_names_
    )
    # a fitted pipeline labels new data of your names like the default one
    new = make_cart_abandoners(1_000, random_state=1)
    np.testing.assert_array_equal(
        pipe.transform(new.rename(columns=columns))["segment"],
        default.transform(new)["segment"],
    )


def test_mapped_pipeline_clones_and_keeps_its_params(data):
    pipe = make_cart_abandoner_pipeline(min_size=100, columns=HILLSTROM_NAMES)
    params = clone(pipe).get_params()
    assert params["scores__aov_column"] == "history"
    assert params["scores__recency_column"] == "recency"
    assert params["scores__engagement_column"] == "engagement_score"
    assert "history" in params["thresholds__percentiles"]
    # an explicit step parameter still wins
    pipe = make_cart_abandoner_pipeline(
        columns=HILLSTROM_NAMES, scores__recency_column=None
    )
    assert pipe.named_steps["scores"].recency_column is None


def test_no_columns_is_the_default_pipeline():
    default = make_cart_abandoner_pipeline()
    for columns in (None, {}):
        pipe = make_cart_abandoner_pipeline(columns=columns)
        assert repr(pipe) == repr(default)


@pytest.mark.parametrize(
    "columns, error, match",
    [
        (
            {"aov": "history"},
            ValueError,
            r"Unknown preset column\(s\) 'aov' in columns.*avg_order_value: Average "
            r"order value.*engagement_score.*profitability_score.*"
            r"days_since_last_order",
        ),
        ({"avg_order_value": 1}, TypeError, r"columns\['avg_order_value'\] must be"),
        ({"avg_order_value": ""}, ValueError, r"columns\['avg_order_value'\] must be"),
        (
            {"avg_order_value": "x", "engagement_score": "x"},
            ValueError,
            "'avg_order_value' and 'engagement_score' would both read the column 'x'",
        ),
        (
            {"avg_order_value": "engagement_score"},
            ValueError,
            "would both read the column 'engagement_score'",
        ),
        ([("avg_order_value", "history")], TypeError, "columns must be a mapping"),
        ("history", TypeError, "columns must be a mapping"),
    ],
)
def test_columns_errors(columns, error, match):
    with pytest.raises(error, match=match):
        make_cart_abandoner_pipeline(columns=columns)


def test_swapped_columns_are_allowed(data):
    swap = {"engagement_score": "profitability_score",
            "profitability_score": "engagement_score"}  # fmt: skip
    expected = _fit(make_cart_abandoner_pipeline(min_size=100), data)
    out = _fit(
        make_cart_abandoner_pipeline(min_size=100, columns=swap),
        data.rename(columns=swap),
    )
    pd.testing.assert_series_equal(out["segment"], expected["segment"])
    pd.testing.assert_series_equal(out["segment_score"], expected["segment_score"])


def test_custom_rules_with_columns(data):
    rules = {
        "levels": {"avg_order_value": {"names": ["low", "high"], "percentiles": [80]}},
        "segments": [
            {"name": "Big", "when": [["avg_order_value", "==", "high"]]},
            {"name": "Recent", "when": [["days_since_last_order", "<=", 14]]},
        ],
    }
    expected = _fit(make_cart_abandoner_pipeline(min_size=0, rules=rules), data)
    pipe = make_cart_abandoner_pipeline(
        min_size=0, rules=rules, columns=HILLSTROM_NAMES
    )
    out = _fit(pipe, data.rename(columns=HILLSTROM_NAMES))
    pd.testing.assert_series_equal(out["segment"], expected["segment"])
    pd.testing.assert_series_equal(out["segment_score"], expected["segment_score"])
    assert pipe.named_steps["thresholds"].percentiles == {"history": (80.0,)}
    assert "history_level" in out
    # the rules given are not changed
    assert rules["segments"][0]["when"] == [["avg_order_value", "==", "high"]]

    # rules that already use your names: only the scorer needs the mapping
    mine = RuleSet.from_dict(rules).rename(HILLSTROM_NAMES)
    pipe = make_cart_abandoner_pipeline(min_size=0, rules=mine, columns=HILLSTROM_NAMES)
    out = _fit(pipe, data.rename(columns=HILLSTROM_NAMES))
    pd.testing.assert_series_equal(out["segment_score"], expected["segment_score"])

    # a preset column mapped onto a name the rules already use for another column
    clash = {
        **rules,
        "segments": [*rules["segments"], {"name": "H", "when": [["history", ">", 1]]}],
    }
    with pytest.raises(ValueError, match="would both be named 'history'"):
        make_cart_abandoner_pipeline(rules=clash, columns=HILLSTROM_NAMES)


def test_a_rules_file_with_columns(data, tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(CART_ABANDONER_RULES.to_json())
    pipe = make_cart_abandoner_pipeline(min_size=100, rules=path, columns=ALL_RENAMED)
    out = _fit(pipe, data.rename(columns=ALL_RENAMED))
    expected = _fit(make_cart_abandoner_pipeline(min_size=100), data)
    pd.testing.assert_series_equal(out["segment"], expected["segment"])


def test_a_reversed_mapping_is_pointed_out():
    with pytest.raises(
        ValueError, match=r"did you mean \{'avg_order_value': 'history'"
    ):
        make_cart_abandoner_pipeline(columns={"history": "avg_order_value"})


def test_a_level_column_condition_follows_with_another_suffix(data):
    rules = {
        "levels": {"avg_order_value": {"names": ["low", "high"], "percentiles": [75]}},
        "segments": [{"name": "Big", "when": [["avg_order_value_lv", "==", 1]]}],
    }
    kwargs = {"min_size": 0, "rules": rules, "thresholds__suffix": "_lv",
              "segments__level_suffix": "_lv"}  # fmt: skip
    expected = _fit(make_cart_abandoner_pipeline(**kwargs), data)
    pipe = make_cart_abandoner_pipeline(columns=HILLSTROM_NAMES, **kwargs)
    out = _fit(pipe, data.rename(columns=HILLSTROM_NAMES))
    assert "history_lv" in out
    pd.testing.assert_series_equal(out["segment"], expected["segment"])
