"""Conditions on text and category columns (``["country", "==", "US"]``).

A string value on a column that is not declared under ``levels`` (nor its
level column) is a text test; a number is a numeric comparison. Text tests
compile into the same lookup table as level and numeric tests.
"""

import json
import pickle
import tomllib
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_mece import (
    HierarchicalSegmenter,
    PercentileThresholder,
    RuleSet,
    SegmentSizeWarning,
    load,
    load_rules,
    save,
)
from sklearn_mece._rules import CompiledVariable, build_table, compile_rules
from sklearn_mece._segmenter import text_codes

RULES = {
    "segments": [
        {"name": "US web", "when": [["country", "==", "US"], ["channel", "==", "web"]]},
        {"name": "Apps", "when": [["channel", "in", ["app", "tablet"]]]},
        {"name": "Recent", "when": [["days", "<=", 30], ["country", "!=", "FR"]]},
        {"name": "Abroad", "when": [["country", "not in", ["US", "FR"]]]},
    ],
    "else": "Rest",
}


def _frame(n=500, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "country": rng.choice(["US", "FR", "DE", "IT"], n),
            "channel": rng.choice(["web", "app", "shop"], n),
            "days": rng.integers(0, 90, n).astype(float),
            "spend": rng.gamma(2.0, 50.0, n),
        }
    )


def _reference(X):
    """Sequential masks, written independently of the package."""
    country, channel = X["country"].astype(object), X["channel"].astype(object)
    out = np.full(len(X), "Rest", dtype=object)
    free = np.ones(len(X), dtype=bool)
    for name, mask in [
        ("US web", (country == "US") & (channel == "web")),
        ("Apps", channel.isin(["app", "tablet"])),
        ("Recent", (X["days"] <= 30) & (country != "FR")),
        ("Abroad", ~country.isin(["US", "FR"])),
    ]:
        hit = free & np.asarray(mask)
        out[hit] = name
        free &= ~hit
    return out


def _as(X, dtype):
    """``X`` with its text columns as ``dtype``."""
    X = X.copy()
    for column in ("country", "channel"):
        X[column] = X[column].astype(object).astype(dtype)
    return X


# -- declaring and compiling -------------------------------------------------------
def test_a_string_on_an_undeclared_column_is_a_text_test():
    rules = RuleSet.from_dict(RULES)
    positions = {"country": 0, "channel": 1, "days": 2}
    variables, conditions = compile_rules(rules, positions.__getitem__)
    assert [(v.kind, v.column) for v in variables] == [
        ("text", "country"),
        ("text", "channel"),
        ("compare", "days"),
    ]
    # one slot per listed value, one for any other value, slot 0 missing
    country, channel = variables[0], variables[1]
    assert country.categories == ("US", "FR") and country.domain == 4
    assert channel.categories == ("web", "app", "tablet") and channel.domain == 5
    assert conditions[0] == [(0, [1]), (1, [1])]  # US, web
    assert conditions[1] == [(1, [2, 3])]  # app or tablet
    assert conditions[2] == [(2, [2]), (0, [1, 3])]  # days <= 30, not FR
    assert conditions[3] == [(0, [3])]  # any other country
    table = build_table(variables, conditions)
    assert table.size == 4 * 5 * 3


def test_compiled_variables_are_plain_data_and_round_trip():
    variables, _ = compile_rules(RuleSet.from_dict(RULES), lambda c: 0)
    for var in variables:
        plain = var.to_dict()
        assert json.loads(json.dumps(plain)) == plain
        assert CompiledVariable.from_dict(plain) == var


def test_text_rules_round_trip_through_json_and_toml(tmp_path):
    rules = RuleSet.from_dict(RULES)
    assert RuleSet.from_json(rules.to_json()) == rules
    toml = tmp_path / "rules.toml"
    toml.write_text(
        'else = "Rest"\n[[segments]]\nname = "Apps"\n'
        'when = [["channel", "in", ["app", "tablet"]], ["country", "!=", "FR"]]\n'
    )
    loaded = load_rules(toml)
    assert loaded.segments[0].conditions[0].value == ("app", "tablet")
    assert tomllib.loads(toml.read_text())["segments"][0]["when"][1] == [
        "country",
        "!=",
        "FR",
    ]
    assert RuleSet.from_dict(loaded.to_dict()) == loaded


def test_describe_reads_text_tests():
    text = RuleSet.from_dict(RULES).describe()
    assert "country is 'US'" in text
    assert "channel in ['app', 'tablet']" in text
    assert "country is not 'FR'" in text
    assert "country not in ['US', 'FR']" in text
    assert "days <= 30" in text


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
def test_ordering_a_text_is_an_error_naming_segment_and_column(op):
    rules = RuleSet.from_dict([{"name": "A", "when": [["country", op, "US"]]}])
    with pytest.raises(ValueError, match=r"Segment 'A', when\[0\].*'country'.*order"):
        compile_rules(rules, lambda c: 0)
    with pytest.raises(ValueError, match="'country'"):
        HierarchicalSegmenter(rules).fit(_frame())


def test_text_and_numbers_in_one_condition_are_an_error():
    rules = RuleSet.from_dict([{"name": "A", "when": [["country", "in", ["US", 1]]]}])
    with pytest.raises(TypeError, match=r"Segment 'A'.*'country'.*mix text"):
        compile_rules(rules, lambda c: 0)


def test_ordering_a_declared_level_name_still_works():
    rules = {
        "levels": {"spend": ["low", "high"]},
        "segments": [{"name": "Big", "when": [["spend", ">=", "high"]]}],
    }
    variables, _ = compile_rules(RuleSet.from_dict(rules), lambda c: 0)
    assert variables[0].kind == "level"


# -- fitting and applying ------------------------------------------------------------
@pytest.mark.parametrize(
    "dtype", [object, "string", "category", "string[pyarrow]", "str"]
)
def test_every_text_dtype_segments_like_the_reference(dtype):
    X = _as(_frame(), dtype)
    seg = HierarchicalSegmenter(RULES, output="names").fit(X)
    assert list(seg.predict(X)) == list(_reference(X))
    # fit and apply may use different text dtypes
    assert list(seg.predict(_as(X, object))) == list(_reference(X))


def test_numpy_object_array_by_position():
    X = _frame()
    rules = {
        "segments": [
            {"name": "US", "when": [[0, "==", "US"]]},
            {"name": "Web", "when": [["x1", "in", ["web"]], [2, "<", 50]]},
        ]
    }
    arr = X[["country", "channel", "days"]].to_numpy(dtype=object)
    seg = HierarchicalSegmenter(rules).fit(arr)
    expected = np.where(
        X["country"] == "US",
        "US",
        np.where((X["channel"] == "web") & (X["days"] < 50), "Web", "Other"),
    )
    assert list(seg.predict(arr)) == list(expected)


def test_large_input_takes_the_same_path_as_small():
    # from 65,536 rows the kernels may switch engine: same result as the reference
    X = _frame(70_000, seed=1)
    seg = HierarchicalSegmenter(RULES).fit(X)
    assert np.array_equal(seg._rule_index(X), seg._rule_index_reference(X))
    assert list(seg.predict(X)) == list(_reference(X))


def test_fit_transform_equals_fit_then_transform():
    X = _as(_frame(), "category")
    a = HierarchicalSegmenter(RULES).fit_transform(X)
    b = HierarchicalSegmenter(RULES).fit(X).transform(X)
    np.testing.assert_array_equal(np.asarray(a)[:, -1], np.asarray(b)[:, -1])


def test_one_row_and_a_value_no_rule_lists():
    seg = HierarchicalSegmenter(RULES, output="names").fit(_frame())
    row = pd.DataFrame(
        {"country": ["ES"], "channel": ["web"], "days": [90.0], "spend": [1.0]}
    )
    assert list(seg.predict(row)) == ["Abroad"]


def test_categorical_without_the_listed_categories():
    X = _frame()
    X["channel"] = pd.Categorical(X["channel"], categories=["web", "shop", "app"])
    seg = HierarchicalSegmenter(RULES).fit(X)
    assert list(seg.predict(X)) == list(_reference(X))


def test_a_text_test_of_a_numeric_column_is_an_error_at_fit():
    rules = [{"name": "A", "when": [["days", "==", "high"]]}]
    with pytest.raises(ValueError, match=r"Segment 'A'.*'days' does not hold text"):
        HierarchicalSegmenter(rules).fit(_frame())


def test_a_number_compared_with_a_text_column_is_an_error_at_fit():
    rules = [{"name": "A", "when": [["country", "==", 3]]}]
    with pytest.raises(ValueError, match=r"Segment 'A'.*'country' holds text"):
        HierarchicalSegmenter(rules).fit(_frame())


def test_non_text_values_in_a_text_column_are_refused_naming_it():
    seg = HierarchicalSegmenter(RULES).fit(_frame())
    X = _frame(4)
    X["country"] = pd.Series(["US", 5, "FR", "DE"], dtype=object)
    with pytest.raises(ValueError, match="'country' is tested as text.*5"):
        seg.transform(X)


# -- missing values and unseen categories --------------------------------------------
@pytest.mark.parametrize("missing", [None, np.nan, pd.NA])
@pytest.mark.parametrize("dtype", [object, "string", "category"])
def test_missing_text_raises_naming_the_column_or_goes_to_nan_segment(missing, dtype):
    X = _as(_frame(50), dtype)
    X["country"] = X["country"].astype(object)
    X.loc[[3, 7], "country"] = missing
    X["country"] = X["country"].astype(dtype)
    with pytest.raises(ValueError, match=r"Missing values.*'country': 2 row"):
        HierarchicalSegmenter(RULES).fit(X)
    seg = HierarchicalSegmenter(RULES, nan_segment="Unknown").fit(X)
    names = seg.predict(X)
    assert list(np.flatnonzero(names == "Unknown")) == [3, 7]
    assert seg.segment_sizes_["Unknown"] == 2


def test_unseen_category_goes_to_other_by_default():
    seg = HierarchicalSegmenter(RULES, output="names").fit(_frame())
    assert seg.unknown_category == "other"
    assert seg.text_categories_ == {
        "country": ["DE", "FR", "IT", "US"],
        "channel": ["app", "shop", "web"],
    }
    X = _frame(20, seed=3)
    X["country"] = "NL"  # never seen at fit: any other country
    assert list(seg.predict(X)) == list(_reference(X))


def test_unseen_category_raises_with_error_policy():
    seg = HierarchicalSegmenter(RULES, unknown_category="error").fit(_frame())
    X = _frame(20, seed=3)
    seg.predict(X)  # every value seen at fit
    X.loc[[1, 2], "country"] = "NL"
    with pytest.raises(
        ValueError, match=r"'country' holds 2 row.*not seen at fit, e.g. 'NL'"
    ):
        seg.predict(X)
    # a value the rules list is known even when fit never saw it
    X.loc[[1, 2], "channel"] = "tablet"
    X.loc[[1, 2], "country"] = "US"
    seg.predict(X)


def test_unknown_category_is_validated():
    with pytest.raises(InvalidParameterError, match="unknown_category"):
        HierarchicalSegmenter(RULES, unknown_category="ignore").fit(_frame())


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    values=st.lists(st.sampled_from(["a", "b", "c", "d"]) | st.none(), max_size=30),
    listed=st.lists(st.sampled_from(["a", "b", "x"]), min_size=1, unique=True),
    dtype=st.sampled_from([object, "string", "category"]),
)
def test_text_codes_match_a_plain_mapping(values, listed, dtype):
    column = pd.Series(values, dtype=object).astype(dtype)
    expected = [
        -1 if v is None else (listed.index(v) if v in listed else len(listed))
        for v in values
    ]
    assert text_codes(column, listed, "t").tolist() == expected


# -- pipelines, polars, persistence --------------------------------------------------
def test_select_by_name_pipeline_with_a_thresholder():
    rules = {
        "levels": {"spend": ["low", "high"]},
        "segments": [
            {
                "name": "Big US",
                "when": [["spend", "==", "high"], ["country", "==", "US"]],
            },
            *RULES["segments"],
        ],
        "else": "Rest",
    }
    X = _frame()
    pipe = make_pipeline(
        PercentileThresholder({"spend": (50,)}, select_by_name=True),
        HierarchicalSegmenter(rules, output="names", select_by_name=True),
    ).set_output(transform="pandas")
    out = pipe.fit_transform(X)
    shuffled = X[["spend", "channel", "days", "country"]].assign(extra=1)
    again = pipe.transform(shuffled)
    assert list(again["segment"]) == list(out["segment"])
    big = (X["spend"] >= pipe[0].cuts_["spend"][0]) & (X["country"] == "US")
    assert (out["segment"][big] == "Big US").all()
    assert list(out["segment"][~big]) == list(_reference(X)[~big.to_numpy()])


def test_polars_input():
    pl = pytest.importorskip("polars")
    X = _frame()
    seg = HierarchicalSegmenter(RULES, output="names").fit(pl.from_pandas(X))
    assert list(seg.predict(pl.from_pandas(X))) == list(_reference(X))
    categorical = pl.from_pandas(X).with_columns(pl.col("channel").cast(pl.Categorical))
    assert list(seg.predict(categorical)) == list(_reference(X))


def test_save_and_load_keep_text_tests(tmp_path):
    X = _as(_frame(), "category")
    seg = HierarchicalSegmenter(RULES, unknown_category="error").fit(X)
    path = save(seg, tmp_path / "model.skops")
    loaded = load(path)
    assert loaded.text_categories_ == seg.text_categories_
    assert np.array_equal(loaded.predict(X), seg.predict(X))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: s.variables_[0].update(categories=["US"]),
        lambda s: s.variables_[0].update(n_levels=9),
    ],
    ids=["categories", "n_levels"],
)
def test_compiled_text_tests_are_rebuilt_at_load(tamper):
    # the compiled tests derive from rules_: a file never supplies them
    X = _frame()
    seg = HierarchicalSegmenter(RULES).fit(X)
    expected = seg.predict(X)
    tamper(seg)
    loaded = pickle.loads(pickle.dumps(seg))
    loaded._check_fitted_state()
    assert np.array_equal(loaded.predict(X), expected)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: setattr(s, "text_categories_", {"country": ["US"]}),
        lambda s: setattr(s, "text_categories_", {"country": [1], "channel": []}),
    ],
    ids=["missing-column", "not-text"],
)
def test_crafted_text_state_is_refused(tamper):
    seg = HierarchicalSegmenter(RULES).fit(_frame())
    seg._check_fitted_state()
    tamper(seg)
    with pytest.raises(ValueError, match="variables_|text_categories_"):
        seg._check_fitted_state()


def test_text_segment_sizes_sum_to_rows():
    X = _frame(300, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SegmentSizeWarning)
        seg = HierarchicalSegmenter(RULES, min_size=80).fit(X)
    assert seg.segment_sizes_.sum() == len(X)
