import operator
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sklearn_mece._rules as rules_module
from sklearn_mece import HierarchicalSegmenter, SegmentSizeWarning

LEVELS = {"a": ["low", "medium", "high"]}


def _frame(n=1_000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a_level": rng.integers(0, 3, n).astype(np.int8),
            "days": rng.integers(0, 90, n),
            "spend": rng.gamma(2.0, 50.0, n),
            "user": np.arange(n),
            "note": rng.choice(["x", "y"], n),
        }
    )


RULES = {
    "levels": LEVELS,
    "segments": [
        {"name": "High", "when": [["a", "==", "high"]]},
        {"name": "Recent", "when": [["days", "<=", 30]]},
        {"name": "MidSpender", "when": [["a", "==", "medium"], ["spend", ">", 100]]},
    ],
    "else": "Rest",
}


def _reference(X):
    """Sequential masks, written independently of the package."""
    out = pd.Series("Rest", index=X.index, dtype=object)
    free = pd.Series(True, index=X.index)
    for name, mask in [
        ("High", X["a_level"] == 2),
        ("Recent", X["days"] <= 30),
        ("MidSpender", (X["a_level"] == 1) & (X["spend"] > 100)),
    ]:
        hit = free & mask
        out[hit] = name
        free &= ~hit
    return out


def test_first_matching_rule_wins_and_else_catches_rest():
    X = _frame()
    seg = HierarchicalSegmenter(RULES, output="names").set_output(transform="pandas")
    out = seg.fit_transform(X)
    assert (out["segment"].astype(object) == _reference(X)).all()
    assert seg.segment_names_ == ["High", "Recent", "MidSpender", "Rest"]
    assert seg.segment_sizes_.sum() == len(X)
    assert list(seg.predict(X)) == list(_reference(X))
    # pass-through columns untouched, including text
    pd.testing.assert_frame_equal(out[X.columns], X)


def test_codes_by_default_index_segment_names():
    X = _frame()
    seg = HierarchicalSegmenter(RULES).set_output(transform="pandas")
    codes = seg.fit_transform(X)["segment"].to_numpy()
    names = np.asarray(seg.segment_names_, dtype=object)[codes]
    assert list(names) == list(_reference(X))


def test_min_size_merges_into_parent_transitively_and_is_learned_at_fit():
    X = _frame(2_000)
    X["a_level"] = np.where(np.arange(2_000) < 30, 2, np.minimum(X["a_level"], 1))
    rules = {
        "levels": LEVELS,
        "segments": [
            {"name": "High", "when": [["a", "==", "high"]], "parent": "Mid"},
            {"name": "Mid", "when": [["a", "==", "medium"], ["days", "<", 3]]},
            {"name": "Recent", "when": [["days", "<=", 30]]},
        ],
        "else": "Rest",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SegmentSizeWarning)
        seg = HierarchicalSegmenter(rules, min_size=100, output="names").fit(X)
    # High (30 rows) -> Mid; Mid (+High) still < 100 -> Rest
    assert seg.merge_map_ == {
        "High": "Rest",
        "Mid": "Rest",
        "Recent": "Recent",
        "Rest": "Rest",
    }
    assert seg.segment_names_ == ["Recent", "Rest"]
    labels = seg.predict(X)
    assert set(labels[:30]) <= {"Recent", "Rest"}
    # decided at fit: a batch with only "High" rows is still labelled by the map
    only_high = X.iloc[:30]
    assert np.array_equal(seg.predict(only_high), labels[:30])


def test_min_size_fraction_and_zero():
    X = _frame(1_000)
    seg = HierarchicalSegmenter(RULES, min_size=0.2).fit(X)
    assert seg.min_size_ == 200
    assert all(s >= 200 for s in seg.segment_sizes_.drop("Rest"))
    none = HierarchicalSegmenter(RULES, min_size=0).fit(X)
    assert none.segment_names_ == ["High", "Recent", "MidSpender", "Rest"]


def test_max_size_flag_warns_and_reports_invalid():
    X = _frame(1_000)
    with pytest.warns(SegmentSizeWarning, match="> max_size 200"):
        seg = HierarchicalSegmenter(RULES, max_size=200).fit(X)
    table = seg.segment_table_
    assert not table.loc["Rest", "valid"] or table.loc["Rest", "size"] <= 200
    assert (table["valid"] == (table["size"] <= 200)).all()


def test_max_size_split_is_deterministic_and_respects_limit():
    X = _frame(3_000)
    seg = HierarchicalSegmenter(
        RULES, max_size=400, max_size_policy="split", split_column="spend"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", SegmentSizeWarning)
        seg.fit(X)
    assert seg.segment_sizes_.max() <= 400
    assert seg.segment_sizes_.sum() == len(X)
    assert any(n.startswith("Rest_") for n in seg.segment_names_)
    again = HierarchicalSegmenter(**seg.get_params()).fit(
        X.sample(frac=1, random_state=1)
    )
    assert again.segment_names_ == seg.segment_names_
    assert np.array_equal(again.predict(X), seg.predict(X))
    split = seg.splits_[0]
    rows = seg.predict(X) == f"{split['segment']}_1"
    assert (X.loc[rows, "spend"] < split["cuts"][0]).all()


def test_split_needs_a_column():
    with pytest.raises(ValueError, match="split_column"):
        HierarchicalSegmenter(RULES, max_size=100, max_size_policy="split").fit(
            _frame()
        )


def test_nan_in_tested_column_raises_naming_column_and_count():
    X = _frame().astype({"days": float})
    X.loc[[1, 5, 9], "days"] = np.nan
    with pytest.raises(ValueError, match="'days': 3 row\\(s\\)"):
        HierarchicalSegmenter(RULES).fit(X)
    seg = HierarchicalSegmenter(RULES).fit(_frame().astype({"days": float}))
    with pytest.raises(ValueError, match="'days': 3 row\\(s\\)"):
        seg.transform(X)


def test_nan_routed_to_named_segment_never_satisfies_a_rule():
    X = _frame().astype({"days": float})
    X.loc[[1, 5, 9], "days"] = np.nan
    X.loc[1, "a_level"] = 2  # would match "High" without looking at days
    X.loc[2, "a_level"] = -1  # missing level code
    seg = HierarchicalSegmenter(RULES, nan_segment="Unknown", output="names").fit(X)
    labels = seg.predict(X)
    assert set(labels[[1, 2, 5, 9]]) == {"Unknown"}
    assert seg.segment_sizes_["Unknown"] == 4
    assert seg.segment_names_[-1] == "Unknown"


def test_nan_in_untested_column_passes_through():
    X = _frame()
    X["extra"] = np.nan
    HierarchicalSegmenter(RULES).fit(X)


def test_inf_and_bad_level_codes_are_refused():
    X = _frame().astype({"days": float})
    X.loc[0, "days"] = np.inf
    with pytest.raises(ValueError, match="'days' contains 1 infinite"):
        HierarchicalSegmenter(RULES).fit(X)
    X = _frame()
    X.loc[0, "a_level"] = 7
    with pytest.raises(ValueError, match="not level codes 0..2"):
        HierarchicalSegmenter(RULES).fit(X)


def test_unknown_column_in_rule():
    rules = {"segments": [{"name": "A", "when": [["nope", "<", 1]]}]}
    with pytest.raises(ValueError, match="Unknown rule column 'nope'"):
        HierarchicalSegmenter(rules).fit(_frame())


def test_empty_input():
    with pytest.raises(ValueError, match="0 sample"):
        HierarchicalSegmenter(RULES).fit(_frame().iloc[:0])


def test_rules_from_file(tmp_path):
    path = tmp_path / "rules.json"
    from sklearn_mece import RuleSet

    path.write_text(RuleSet.from_dict(RULES).to_json())
    seg = HierarchicalSegmenter(str(path), output="names").fit(_frame())
    assert list(seg.predict(_frame())) == list(_reference(_frame()))


def test_describe_lists_rules_sizes_and_merges():
    X = _frame()
    seg = HierarchicalSegmenter(RULES, min_size=0).fit(X)
    text = seg.describe(cuts={"a": np.array([1.5, 2.5])})
    assert "1. High" in text and "a is high (a >= 2.5)" in text
    assert f"[n={seg.segment_sizes_['High']:,}]" in text


# ---------------------------------------------------------------------------------
# Property: every row in exactly one segment, for arbitrary data and rules
# ---------------------------------------------------------------------------------
_OPS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "in": lambda x, v: x in v,
    "not in": lambda x, v: x not in v,
}
_NAMES = ["low", "medium", "high"]

raw_condition = st.tuples(
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
    st.integers(-2, 4),
) | st.tuples(
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from(["in", "not in"]),
    st.lists(st.integers(-2, 4), min_size=1, max_size=3),
)
level_condition = st.tuples(
    st.just("f"), st.sampled_from(["==", "!=", ">=", "<"]), st.sampled_from(_NAMES)
) | st.tuples(
    st.just("f"),
    st.sampled_from(["in", "not in"]),
    st.lists(st.sampled_from(_NAMES), min_size=1, max_size=2),
)
# text tests of column "t": listed values the data holds ("u", "v"), one it
# never holds ("z"); the data also holds "w", which no rule lists
_TEXTS = ["u", "v", "z"]
text_condition = st.tuples(
    st.just("t"), st.sampled_from(["==", "!="]), st.sampled_from(_TEXTS)
) | st.tuples(
    st.just("t"),
    st.sampled_from(["in", "not in"]),
    st.lists(st.sampled_from(_TEXTS), min_size=1, max_size=3),
)
rule_lists = st.lists(
    st.lists(raw_condition | level_condition | text_condition, max_size=3),
    max_size=6,
)
cell = st.integers(-3, 5) | st.just(None)
text_cell = st.sampled_from(["u", "v", "w"]) | st.just(None)


def _holds(row, column, op, value):
    if column == "f":
        code = row["f_level"]
        value = (
            [_NAMES.index(v) for v in value]
            if isinstance(value, list)
            else _NAMES.index(value)
        )
        return _OPS[op](code, value)
    return _OPS[op](row[column], value)


def _missing(value):
    return value is None or value is pd.NA or value != value  # NaN


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    data=st.lists(
        st.tuples(st.integers(0, 2), cell, cell, cell, text_cell),
        min_size=1,
        max_size=60,
    ),
    rules=rule_lists,
    min_size=st.integers(0, 10),
    small_table=st.booleans(),
    text_dtype=st.sampled_from(["object", "category", "string"]),
)
def test_every_row_in_exactly_one_segment(
    monkeypatch, data, rules, min_size, small_table, text_dtype
):
    if small_table:  # force the row-wise path instead of the lookup table
        monkeypatch.setattr(rules_module, "MAX_TABLE_SIZE", 1)
    X = pd.DataFrame(
        [row[:4] for row in data], columns=["f_level", "a", "b", "c"], dtype=float
    )
    X["f_level"] = X["f_level"].astype(np.int8)
    X["t"] = pd.Series([row[4] for row in data], dtype=object).astype(text_dtype)
    decl = {
        "levels": {"f": _NAMES},
        "segments": [
            {"name": f"s{i}", "when": [list(c) for c in conds]}
            for i, conds in enumerate(rules)
        ],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SegmentSizeWarning)
        seg = HierarchicalSegmenter(decl, min_size=min_size, nan_segment="NA")
        seg.set_output(transform="pandas").fit(X)
    codes = seg.transform(X)["segment"].to_numpy().astype(int)
    # the kernels and the reference evaluation agree
    assert np.array_equal(seg._rule_index(X), seg._rule_index_reference(X))
    # exactly one valid segment per row, sizes sum to the row count
    assert ((codes >= 0) & (codes < len(seg.segment_names_))).all()
    assert seg.segment_sizes_.sum() == len(X)
    assert np.array_equal(
        np.bincount(codes, minlength=len(seg.segment_names_)), seg.segment_counts_
    )
    # each row is in the first segment whose conditions all hold (after the
    # merges learned at fit); a missing value in any tested column -> "NA"
    tested = {c for conds in rules for c, _, _ in conds if c != "f"}
    names = np.asarray(seg.segment_names_)[codes]
    for (_, row), name in zip(X.iterrows(), names):
        if any(_missing(row[c]) for c in tested):
            assert name == "NA"
            continue
        first = next(
            (
                d["name"]
                for d in decl["segments"]
                if all(_holds(row, *cond) for cond in d["when"])
            ),
            "Other",
        )
        assert seg.merge_map_[first] == name


def test_failed_fit_leaves_the_segmenter_unfitted():
    from sklearn.exceptions import NotFittedError

    seg = HierarchicalSegmenter(RULES).fit(_frame())
    bad = _frame().astype({"days": float})
    bad.loc[0, "days"] = np.nan
    with pytest.raises(ValueError, match="Missing values"):
        seg.fit(bad)
    assert not hasattr(seg, "segment_names_")
    with pytest.raises(NotFittedError):
        seg.predict(_frame())


def test_unused_nan_segment_is_not_flagged_too_small():
    with warnings.catch_warnings():
        warnings.simplefilter("error", SegmentSizeWarning)
        seg = HierarchicalSegmenter(RULES, min_size=10, nan_segment="Unknown")
        seg.fit(_frame())
    assert seg.segment_sizes_["Unknown"] == 0
    assert seg.segment_table_.loc["Unknown", "valid"]


@pytest.mark.parametrize("output", ["codes", "names"])
@pytest.mark.parametrize("transform_output", ["default", "pandas"])
@pytest.mark.parametrize(
    "params",
    [
        {"min_size": 0.2},
        {"max_size": 400, "max_size_policy": "split", "split_column": "spend"},
        {"nan_segment": "Unknown", "min_size": 50},
    ],
    ids=["merges", "splits", "nan-segment"],
)
def test_fit_transform_equals_fit_then_transform(output, transform_output, params):
    # fit_transform reuses the rule index computed at fit instead of a second
    # lookup; the result must be the one of fit(X).transform(X)
    X = _frame(3_000).astype({"days": float})
    X.loc[[3, 30, 300], "days"] = np.nan
    if "nan_segment" not in params:
        X = X.dropna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SegmentSizeWarning)
        seg = HierarchicalSegmenter(RULES, output=output, **params)
        seg.set_output(transform=transform_output)
        once = seg.fit_transform(X)
        twice = HierarchicalSegmenter(RULES, output=output, **params)
        twice = twice.set_output(transform=transform_output).fit(X).transform(X)
    if transform_output == "pandas":
        pd.testing.assert_frame_equal(once, twice)
    else:
        assert once.dtype == twice.dtype  # object arrays: NaN != NaN elementwise
        pd.testing.assert_frame_equal(pd.DataFrame(once), pd.DataFrame(twice))


def test_split_codes_beyond_int8_and_infinite_split_values():
    # 127 segments split into more than 127 codes: no int8 overflow
    names = [f"l{i}" for i in range(127)]
    rules = {
        "levels": {"a": names},
        "segments": [
            {"name": f"s{i}", "when": [["a", "==", n]]}
            for i, n in enumerate(names[:-1])
        ],
        "else": "rest",
    }
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {"a_level": rng.integers(0, 127, 3_000).astype(np.int8), "v": rng.random(3_000)}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SegmentSizeWarning)
        seg = HierarchicalSegmenter(
            rules, max_size=20, max_size_policy="split", split_column="v"
        ).fit(X)
    assert len(seg.segment_names_) > 127
    assert seg.segment_sizes_.max() <= 20
    np.testing.assert_array_equal(
        seg.predict(X),
        np.asarray(seg.segment_names_, dtype=object)[
            seg.transform(X)[:, -1].astype(int)
        ],
    )
    # infinite values in the split column: refused, naming the column
    X.loc[:5, "v"] = -np.inf
    with pytest.raises(
        ValueError, match="Column 'v' contains 1 infinite value\\(s\\) in segment"
    ):
        HierarchicalSegmenter(
            rules, max_size=20, max_size_policy="split", split_column="v"
        ).fit(X)
