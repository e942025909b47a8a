"""Tests for sklearn_mece._mece: check_mece and MECEReport."""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_mece._mece import MECEReport, check_mece

SEGMENTS = ["high_aov", "engaged", "recent", "other"]


def _partition(n=1_000, seed=0):
    """A clean labelling of n rows and the equivalent dict of masks."""
    rng = np.random.default_rng(seed)
    labels = np.array(SEGMENTS)[rng.integers(0, len(SEGMENTS), n)]
    masks = {name: labels == name for name in SEGMENTS}
    return labels, masks


def _assert_plain(value):
    """Recursively assert value holds only builtin types (no numpy/pandas)."""
    plain = (int, float, str, bool, type(None), tuple, list, dict)
    assert type(value) in plain, type(value)
    if isinstance(value, dict):
        for k, v in value.items():
            _assert_plain(k)
            _assert_plain(v)
    elif isinstance(value, (tuple, list)):
        for v in value:
            _assert_plain(v)


# --- clean segmentations ----------------------------------------------------


def test_clean_labelling_passes():
    labels, _ = _partition()
    report = check_mece(labels)
    assert isinstance(report, MECEReport)
    assert report.is_mece and bool(report)
    assert report.count_check
    assert report.mutually_exclusive
    assert report.collectively_exhaustive
    assert report.n_rows == 1_000
    assert sum(report.sizes.values()) == 1_000
    assert report.sizes == {s: int((labels == s).sum()) for s in sorted(SEGMENTS)}
    assert report.overlaps == {}
    assert report.n_uncovered == 0
    assert report.n_overlapping_rows == 0
    assert report.raise_if_invalid() is report
    text = str(report)
    assert text.startswith("MECE check: PASS")
    assert "FAIL" not in text


def test_clean_masks_pass_and_match_labels():
    labels, masks = _partition()
    from_masks = check_mece(masks=masks)
    from_labels = check_mece(labels)
    assert from_masks.is_mece
    assert from_masks.sizes == {s: from_labels.sizes[s] for s in SEGMENTS}
    assert list(from_masks.sizes) == SEGMENTS  # mask order is kept


def test_attributes_are_plain_python_types():
    labels, masks = _partition()
    for report in [
        check_mece(labels),
        check_mece(masks=masks),
        check_mece(np.arange(10) % 3),
    ]:
        for field in [
            "n_rows",
            "sizes",
            "overlaps",
            "n_overlapping_rows",
            "n_uncovered",
            "n_outside_universe",
            "unexpected_labels",
        ]:
            _assert_plain(getattr(report, field))
        for verdict in [
            "count_check",
            "mutually_exclusive",
            "collectively_exhaustive",
            "is_mece",
        ]:
            assert type(getattr(report, verdict)) is bool
    assert list(check_mece(np.arange(10) % 3).sizes) == [0, 1, 2]


# --- failures are detected, with exact counts --------------------------------


@pytest.mark.parametrize("k", [1, 7, 250])
def test_overlap_of_exactly_k_rows(k):
    # more rows than one block of the blocked matrix product
    labels, masks = _partition(n=200_000, seed=1)
    rows = np.flatnonzero(masks["other"])[:k]
    masks["engaged"] = masks["engaged"].copy()
    masks["engaged"][rows] = True
    report = check_mece(masks=masks)
    assert report.overlaps == {("engaged", "other"): k}
    assert report.n_overlapping_rows == k
    assert not report.mutually_exclusive
    assert report.collectively_exhaustive
    assert not report.count_check
    assert report.sizes["engaged"] == int((labels == "engaged").sum()) + k
    assert not report.is_mece and not bool(report)
    assert f"engaged & other: {k:,} rows" in str(report)


def test_row_in_three_segments_counts_once_and_in_every_pair():
    masks = {
        "a": np.array([True, True, False, False]),
        "b": np.array([True, False, True, False]),
        "c": np.array([True, False, False, True]),
    }
    report = check_mece(masks=masks)
    assert report.overlaps == {("a", "b"): 1, ("a", "c"): 1, ("b", "c"): 1}
    assert report.n_overlapping_rows == 1
    assert report.n_uncovered == 0


@pytest.mark.parametrize("k", [1, 13])
def test_gap_of_k_rows_in_masks(k):
    labels, masks = _partition(n=5_000, seed=2)
    rows = np.flatnonzero(masks["recent"])[:k]
    masks["recent"] = masks["recent"].copy()
    masks["recent"][rows] = False
    report = check_mece(masks=masks)
    assert report.n_uncovered == k
    assert not report.collectively_exhaustive
    assert report.mutually_exclusive
    assert not report.count_check
    assert not report.is_mece
    assert f"{k:,} universe rows in no segment" in str(report)


@pytest.mark.parametrize("missing", [None, np.nan])
def test_gap_of_k_unassigned_labels(missing):
    labels, _ = _partition(n=500, seed=3)
    labels = labels.astype(object)
    labels[[3, 50, 400]] = missing
    report = check_mece(labels)
    assert report.n_uncovered == 3
    assert report.n_rows == 500
    assert sum(report.sizes.values()) == 497
    assert not report.collectively_exhaustive
    assert not report.count_check
    assert report.mutually_exclusive
    assert None not in report.sizes
    assert not report.is_mece


def test_overlap_and_gap_cancel_in_the_count_check_but_fail_mece():
    labels, masks = _partition(n=2_000, seed=4)
    masks = {k: v.copy() for k, v in masks.items()}
    masks["high_aov"][np.flatnonzero(masks["other"])[:5]] = True  # 5 overlaps
    masks["recent"][np.flatnonzero(masks["recent"])[:5]] = False  # 5 gaps
    report = check_mece(masks=masks)
    assert report.count_check  # sizes still add up to the universe
    assert report.n_overlapping_rows == 5
    assert report.n_uncovered == 5
    assert not report.is_mece


def test_raise_if_invalid_carries_the_report_text():
    report = check_mece(["a", "b", None])
    with pytest.raises(ValueError, match="collectively exhaustive") as info:
        report.raise_if_invalid()
    assert str(info.value) == str(report)
    assert "[FAIL]" in str(info.value)


# --- input forms ---------------------------------------------------------------


def test_masks_as_dataframe_equal_masks_as_dict():
    _, masks = _partition(n=3_000, seed=5)
    masks["engaged"] = masks["engaged"] | masks["other"]  # overlaps
    frame = pd.DataFrame(masks, index=np.arange(3_000) * 2)
    assert check_mece(masks=frame) == check_mece(masks=masks)
    series = {name: frame[name] for name in frame.columns}
    assert check_mece(masks=series) == check_mece(masks=masks)


def test_pandas_label_forms_agree():
    labels, _ = _partition(n=300, seed=6)
    expected = check_mece(labels)
    assert check_mece(list(labels)) == expected
    assert check_mece(pd.Series(labels)) == expected
    assert check_mece(pd.Series(labels, dtype="string")) == expected
    assert check_mece(pd.Index(labels)) == expected


def test_categorical_lists_unused_categories():
    labels = pd.Categorical(["b", "a", None], categories=["a", "b", "c"])
    report = check_mece(pd.Series(labels))
    assert report.sizes == {"a": 1, "b": 1, "c": 0}
    assert report.n_uncovered == 1


def test_nullable_boolean_masks():
    masks = pd.DataFrame(
        {"a": pd.array([True, False]), "b": pd.array([False, True])},
        dtype="boolean",
    )
    assert check_mece(masks=masks).is_mece
    masks.loc[0, "a"] = pd.NA
    with pytest.raises(ValueError, match="missing"):
        check_mece(masks=masks)


def test_universe_mask_flags_rows_outside_and_uncovered_inside():
    labels = ["a", "b", None, "a", None]
    universe = np.array([True, True, True, False, False])
    report = check_mece(labels, universe=universe)
    assert report.n_rows == 3
    assert report.n_uncovered == 1  # row 2
    assert report.n_outside_universe == 1  # row 3
    assert not report.within_universe
    assert not report.is_mece
    clean = check_mece(["a", "b", "a", None], universe=[True, True, True, False])
    assert clean.is_mece


def test_masks_built_on_the_whole_frame_fail_against_the_universe():
    _, masks = _partition(n=1_000, seed=7)
    universe = np.zeros(1_000, dtype=bool)
    universe[:800] = True
    report = check_mece(masks=masks, universe=universe)
    assert report.n_rows == 800
    assert report.n_outside_universe == 200
    assert report.collectively_exhaustive
    assert not report.is_mece
    restricted = {k: v & universe for k, v in masks.items()}
    assert check_mece(masks=restricted, universe=universe).is_mece


def test_integer_universe():
    labels = ["a", "b", "a"]
    assert check_mece(labels, universe=3).is_mece
    short = check_mece(labels, universe=5)
    assert short.n_rows == 5 and short.n_uncovered == 2 and not short.is_mece
    over = check_mece(labels, universe=2)
    assert over.n_outside_universe == 1 and not over.is_mece


def test_expected_labels():
    report = check_mece(["a", "b", "x", "a"], expected_labels=["a", "b", "c"])
    assert report.unexpected_labels == ("x",)
    assert report.sizes == {"a": 2, "b": 1, "c": 0, "x": 1}
    assert not report.is_mece
    assert "unexpected segment names: x" in str(report)
    assert check_mece(["a", "b"], expected_labels=["a", "b", "c"]).is_mece
    # a sentinel label is a segment unless expected_labels says otherwise
    assert check_mece([0, 1, -1]).is_mece
    assert not check_mece([0, 1, -1], expected_labels=[0, 1]).is_mece


def test_expected_labels_apply_to_mask_names():
    masks = {"a": [True, False], "typo": [False, True]}
    report = check_mece(masks=masks, expected_labels=["a", "b"])
    assert report.unexpected_labels == ("typo",)


def test_empty_labelling_is_vacuously_mece():
    report = check_mece([])
    assert report.n_rows == 0 and report.is_mece


# --- serialisation ---------------------------------------------------------------


def test_to_dict_is_json_serialisable_and_complete():
    _, masks = _partition(n=400, seed=8)
    masks["engaged"] = masks["engaged"] | masks["other"]
    report = check_mece(masks=masks, expected_labels=SEGMENTS)
    d = report.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["is_mece"] is False and d["mutually_exclusive"] is False
    assert d["sizes"] == report.sizes
    assert d["overlaps"] == [
        {"a": "engaged", "b": "other", "count": report.overlaps[("engaged", "other")]}
    ]
    assert d["n_overlapping_rows"] == report.n_overlapping_rows


def test_to_dict_with_numeric_labels():
    d = check_mece(np.array([1, 2, 2, 3]), expected_labels=[1, 2]).to_dict()
    json.dumps(d)
    assert d["sizes"] == {"1": 1, "2": 2, "3": 1}
    assert d["unexpected_labels"] == ["3"]
    # labels whose strings collide fall back to repr, so no segment is lost
    d = check_mece(np.array([1, "1"], dtype=object)).to_dict()
    assert len(d["sizes"]) == 2
    json.dumps(d)


# --- errors -----------------------------------------------------------------------


def test_exactly_one_of_labels_or_masks():
    with pytest.raises(ValueError, match="exactly one"):
        check_mece()
    with pytest.raises(ValueError, match="exactly one"):
        check_mece(["a"], masks={"a": [True]})


def test_invalid_inputs():
    with pytest.raises(ValueError, match="boolean"):
        check_mece(masks={"a": np.array([1, 0])})
    with pytest.raises(ValueError, match="same length"):
        check_mece(masks={"a": [True, False], "b": [True]})
    with pytest.raises(ValueError, match="1-D"):
        check_mece(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="at least one"):
        check_mece(masks={})
    with pytest.raises(ValueError, match="rows"):
        check_mece(["a", "b"], universe=[True])
    with pytest.raises(TypeError):
        check_mece(masks=[[True, False]])
    with pytest.raises(TypeError):
        check_mece(["a"], universe=True)


def test_misaligned_pandas_indexes_are_rejected():
    a = pd.Series([True, False], index=[0, 1])
    b = pd.Series([False, True], index=[1, 2])
    with pytest.raises(ValueError, match="index"):
        check_mece(masks={"a": a, "b": b})
    with pytest.raises(ValueError, match="index"):
        check_mece(
            pd.Series(["x", "y"]), universe=pd.Series([True, True], index=[5, 6])
        )


# --- properties ---------------------------------------------------------------------


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.lists(st.one_of(st.none(), st.integers(0, 4)), max_size=60))
def test_labelling_property(labels):
    report = check_mece(labels)
    n_missing = labels.count(None)
    assert report.n_rows == len(labels)
    assert sum(report.sizes.values()) + report.n_uncovered == report.n_rows
    assert report.n_uncovered == n_missing
    assert report.mutually_exclusive
    assert report.is_mece == (n_missing == 0)
    assert bool(report) == (n_missing == 0)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(
    st.integers(1, 5).flatmap(
        lambda k: st.lists(st.lists(st.booleans(), min_size=k, max_size=k), max_size=40)
    )
)
def test_masks_property_matches_brute_force(rows):
    k = len(rows[0]) if rows else 2
    matrix = np.array(rows, dtype=bool).reshape(len(rows), k)
    names = [f"s{j}" for j in range(k)]
    report = check_mece(masks={n: matrix[:, j] for j, n in enumerate(names)})
    per_row = matrix.sum(axis=1)
    assert report.sizes == {n: int(matrix[:, j].sum()) for j, n in enumerate(names)}
    expected_overlaps = {}
    for i in range(k):
        for j in range(i + 1, k):
            count = int((matrix[:, i] & matrix[:, j]).sum())
            if count:
                expected_overlaps[(names[i], names[j])] = count
    assert report.overlaps == expected_overlaps
    assert report.n_overlapping_rows == int((per_row > 1).sum())
    assert report.n_uncovered == int((per_row == 0).sum())
    assert report.is_mece == bool((per_row == 1).all())


_TEXT_TESTS = st.tuples(
    st.just("country"),
    st.sampled_from(["==", "!=", "in", "not in"]),
    st.lists(st.sampled_from(["US", "FR", "XX"]), min_size=1, max_size=2),
)
_NUMBER_TESTS = st.tuples(
    st.just("days"), st.sampled_from(["<", ">="]), st.integers(0, 4).map(lambda v: [v])
)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    countries=st.lists(st.sampled_from(["US", "FR", "DE"]), min_size=1, max_size=40),
    rules=st.lists(
        st.lists(_TEXT_TESTS | _NUMBER_TESTS, min_size=1, max_size=2), max_size=4
    ),
    dtype=st.sampled_from([object, "category", "string"]),
)
def test_text_rules_give_a_mece_partition(countries, rules, dtype):
    # a segmenter with text tests labels every row once; the first-match masks
    # of its rules, built with pandas alone, are the same partition
    from sklearn_mece import HierarchicalSegmenter

    n = len(countries)
    X = pd.DataFrame(
        {"country": pd.Series(countries, dtype=object).astype(dtype)},
    ).assign(days=np.arange(n) % 5)
    decl = []
    for i, tests in enumerate(rules):
        when = []
        for column, op, values in tests:
            value = values if op in ("in", "not in") else values[0]
            when.append([column, op, value])
        decl.append({"name": f"s{i}", "when": when})
    labels = HierarchicalSegmenter(decl, output="names").fit(X).predict(X)
    expected = [f"s{i}" for i in range(len(rules))] + ["Other"]
    report = check_mece(labels, expected_labels=expected)
    assert report.is_mece and report.n_rows == n

    country = X["country"].astype(object)
    free = np.ones(n, dtype=bool)
    masks = {}
    for i, tests in enumerate(rules):
        hit = free.copy()
        for column, op, values in tests:
            col = country if column == "country" else X["days"]
            held = {
                "==": col == values[0],
                "!=": col != values[0],
                "in": col.isin(values),
                "not in": ~col.isin(values),
                "<": col < values[0],
                ">=": col >= values[0],
            }[op]
            hit &= np.asarray(held)
        masks[f"s{i}"] = hit
        free &= ~hit
    masks["Other"] = free
    assert check_mece(masks=masks).is_mece
    for name, mask in masks.items():
        assert np.array_equal(labels == name, mask), name
