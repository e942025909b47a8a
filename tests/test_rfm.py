"""Tests for the RFM preset (sklearn_mece._rfm).

The segment table is written out again here, independently of the module, and a
reference oracle (numpy percentiles, then the first matching row of that table)
labels every customer; the preset must agree with it on any data.
"""

import itertools
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from sklearn_mece import (
    RFM_RULES,
    CollapsedCutsWarning,
    HierarchicalSegmenter,
    PercentileThresholder,
    check_mece,
    describe_pipeline,
    export_assignments,
    export_report,
    html_report,
    load,
    make_rfm_pipeline,
    save,
    segment_report,
)
from sklearn_mece._rfm import rfm_rules
from sklearn_mece.presets import SegmentationPipeline

#: The specification: first-match order, inclusive (low, high) scores of R, F, M.
SPEC = [
    ("Champions", (4, 5), (4, 5), (4, 5)),
    ("Loyal Customers", (2, 5), (3, 5), (3, 5)),
    ("New Customers", (4, 5), (1, 1), (1, 1)),
    ("Promising", (3, 4), (1, 1), (1, 1)),
    ("Potential Loyalists", (3, 5), (1, 3), (1, 3)),
    ("Need Attention", (2, 3), (2, 3), (2, 3)),
    ("About To Sleep", (2, 3), (1, 2), (1, 2)),
    ("Can't Lose Them", (1, 1), (4, 5), (4, 5)),
    ("At Risk", (1, 2), (2, 5), (2, 5)),
    ("Lost", (1, 1), (1, 1), (1, 1)),
    ("Hibernating", (1, 2), (1, 2), (1, 2)),
]
ELSE = "Others"
NAMES = [row[0] for row in SPEC] + [ELSE]
COLUMNS = ["days_since_last_order", "n_orders", "total_value"]
LEVELS = [c + "_level" for c in COLUMNS]


# -- the reference oracle -------------------------------------------------------------
def oracle_segment(r, f, m):
    """First row of SPEC whose box holds the scores (r, f, m), else ELSE."""
    for name, rr, ff, mm in SPEC:
        if rr[0] <= r <= rr[1] and ff[0] <= f <= ff[1] and mm[0] <= m <= mm[1]:
            return name
    return ELSE


def oracle_cuts(X, columns=COLUMNS):
    """Quintile cuts of each column, as numpy computes them."""
    return {c: np.percentile(X[c].to_numpy(float), [20, 40, 60, 80]) for c in columns}


def oracle_scores(X, cuts, columns=COLUMNS):
    """R, F, M scores: a value equal to a cut goes down a level (pandas.qcut's
    right-closed bins); recency reversed."""
    codes = [
        np.searchsorted(cuts[c], X[c].to_numpy(float), side="left") for c in columns
    ]
    return 5 - codes[0], codes[1] + 1, codes[2] + 1


def oracle_labels(X, cuts=None, columns=COLUMNS):
    cuts = oracle_cuts(X, columns) if cuts is None else cuts
    r, f, m = oracle_scores(X, cuts, columns)
    return np.array([oracle_segment(*s) for s in zip(r, f, m)], dtype=object)


def fit_quietly(pipe, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # collapsed cuts, empty levels, shifts
        return pipe.fit_transform(X)


def fit_warns(pipe, X, category):
    """fit_transform, asserting that ``category`` is among the warnings issued."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = pipe.fit_transform(X)
    assert any(issubclass(w.category, category) for w in caught), caught
    return out


def transform_quietly(pipe, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pipe.transform(X)


def score_grid(columns=COLUMNS):
    """One customer per (R, F, M) combination, raw values 1..5 per column.

    With 25 customers per value, the quintile cuts fall between the values
    (1.8, 2.6, 3.4, 4.2), so value v has level code v - 1: F = M = v and, as
    recency is reversed, R = 6 - days.
    """
    cells = list(itertools.product(range(1, 6), repeat=3))
    X = pd.DataFrame(
        {
            columns[0]: [6.0 - r for r, _, _ in cells],
            columns[1]: [float(f) for _, f, _ in cells],
            columns[2]: [float(m) for _, _, m in cells],
        }
    )
    return X, cells


def customer_features_frame(n=400, seed=0):
    """A frame shaped like customer_features' output, built by hand."""
    rng = np.random.default_rng(seed)
    n_orders = rng.geometric(0.45, n)  # heavy ties: about half have one order
    aov = rng.gamma(2.0, 40.0, n).round(2)
    last = pd.Timestamp("2026-11-30") - pd.to_timedelta(rng.integers(0, 400, n), "D")
    tenure = rng.integers(0, 300, n)
    first = last - pd.to_timedelta(tenure, "D")
    return pd.DataFrame(
        {
            "n_orders": n_orders,
            "total_value": (aov * n_orders).round(2),
            "avg_order_value": aov,
            "first_order": first,
            "last_order": last,
            "days_since_last_order": (pd.Timestamp("2026-12-01") - last).days,
            "tenure_days": tenure,
            "engagement_score": rng.uniform(0, 1, n),
            "profitability_score": rng.uniform(0, 1, n),
        },
        index=pd.Index([f"C{i:05d}" for i in range(n)], name="customer_id"),
    )


# -- the rules --------------------------------------------------------------------------
def test_rules_follow_the_specification():
    assert RFM_RULES.names == NAMES
    for seg in RFM_RULES.all_segments:
        assert seg.description and seg.strategy, seg.name
    levels = RFM_RULES.levels
    assert list(levels) == COLUMNS
    assert levels["days_since_last_order"].names == ("R5", "R4", "R3", "R2", "R1")
    assert levels["n_orders"].names == ("F1", "F2", "F3", "F4", "F5")
    assert levels["total_value"].names == ("M1", "M2", "M3", "M4", "M5")
    for spec in levels.values():
        assert spec.percentiles == (20.0, 40.0, 60.0, 80.0)
    # the declaration survives its plain-data form (what the segment step holds)
    assert type(RFM_RULES).from_json(RFM_RULES.to_json()) == RFM_RULES


def _codes_frame():
    """All 125 level-code combinations, and their (R, F, M) scores."""
    cells = list(itertools.product(range(1, 6), repeat=3))
    X = pd.DataFrame(
        {
            LEVELS[0]: [5 - r for r, _, _ in cells],
            LEVELS[1]: [f - 1 for _, f, _ in cells],
            LEVELS[2]: [m - 1 for _, _, m in cells],
        }
    )
    return X, cells


def test_every_score_combination_follows_the_oracle_and_every_segment_is_reached():
    X, cells = _codes_frame()
    seg = HierarchicalSegmenter(RFM_RULES, output="names").fit(X)
    labels = seg.predict(X)
    assert labels.tolist() == [oracle_segment(*c) for c in cells]
    assert set(labels) == set(NAMES)  # all 11 named segments and the ELSE bucket
    assert check_mece(labels, expected_labels=NAMES).is_mece


def test_scores_mode_gives_the_same_segments():
    X, cells = _codes_frame()
    scores = pd.DataFrame(
        {
            "r": [c[0] for c in cells],
            "f": [c[1] for c in cells],
            "m": [c[2] for c in cells],
        }
    )
    rules = rfm_rules("r", "f", "m", scores=True)
    assert rules.names == NAMES and not rules.levels
    by_scores = HierarchicalSegmenter(rules, output="names").fit(scores).predict(scores)
    by_levels = HierarchicalSegmenter(RFM_RULES, output="names").fit(X).predict(X)
    assert by_scores.tolist() == by_levels.tolist()
    # positions too, on an array
    positional = HierarchicalSegmenter(rfm_rules(0, 1, 2, scores=True), output="names")
    assert positional.fit(scores.to_numpy()).predict(scores.to_numpy()).tolist() == (
        by_levels.tolist()
    )


def test_scores_mode_takes_one_combined_fm_column():
    grid = pd.DataFrame(
        list(itertools.product(range(1, 6), repeat=2)), columns=["r", "fm"]
    )
    rules = rfm_rules("r", "fm", "fm", scores=True)
    labels = HierarchicalSegmenter(rules, output="names").fit(grid).predict(grid)
    assert labels.tolist() == [oracle_segment(r, fm, fm) for r, fm in grid.values]
    assert check_mece(labels, expected_labels=NAMES).is_mece
    with pytest.raises(ValueError, match="combined FM score column needs scores"):
        rfm_rules("r", "fm", "fm")
    with pytest.raises(ValueError, match="`recency` and `monetary`"):
        rfm_rules("r", "f", "r", scores=True)


def _docstring_table():
    """The rule table of make_rfm_pipeline's docstring: {segment: (R, F, M, cells)}."""
    lines = make_rfm_pipeline.__doc__.splitlines()
    rows = {}
    pattern = re.compile(
        r"^\s*(.+?)\s{2,}(any|\d(?:-\d)?)\s+(any|\d(?:-\d)?)\s+(any|\d(?:-\d)?)\s+"
        r"(\d+)\s{2,}\S"
    )
    for line in lines:
        match = pattern.match(line)
        if match:
            name, *boxes, cells = match.groups()
            rows[name] = (*boxes, int(cells))
    return rows


def test_docstring_table_is_the_rule_table():
    table = _docstring_table()
    assert list(table) == NAMES

    def words(low, high):
        return str(low) if low == high else f"{low}-{high}"

    for name, r, f, m in SPEC:
        assert table[name][:3] == (words(*r), words(*f), words(*m)), name
    assert table[ELSE][:3] == ("any", "any", "any")
    X, cells = _codes_frame()
    labels = HierarchicalSegmenter(RFM_RULES, output="names").fit(X).predict(X)
    counts = pd.Series(labels).value_counts()
    assert {name: row[3] for name, row in table.items()} == counts.to_dict()
    assert sum(row[3] for row in table.values()) == 125


# -- the pipeline --------------------------------------------------------------------
def test_pipeline_shape_and_parameters():
    pipe = make_rfm_pipeline()
    assert isinstance(pipe, SegmentationPipeline)
    assert list(pipe.named_steps) == ["thresholds", "segments"]  # no scorer
    thresholds, segments = pipe.named_steps.values()
    assert thresholds.select_by_name and segments.select_by_name
    assert segments.output == "names"
    assert segments.min_size == 0 and segments.max_size is None
    assert {k: tuple(v) for k, v in thresholds.percentiles.items()} == dict.fromkeys(
        COLUMNS, (20.0, 40.0, 60.0, 80.0)
    )
    assert segments.rules == RFM_RULES.to_dict()
    assert pipe._sklearn_output_config["transform"] == "pandas"
    pipe = make_rfm_pipeline(
        min_size=5, max_size=0.5, segments__nan_segment="No Orders"
    )
    assert pipe.get_params()["segments__min_size"] == 5
    assert pipe.get_params()["segments__max_size"] == 0.5
    assert pipe.get_params()["segments__nan_segment"] == "No Orders"
    assert clone(pipe).get_params()["segments__nan_segment"] == "No Orders"


def test_pipeline_on_the_score_grid_reaches_every_segment():
    X, cells = score_grid()
    pipe = make_rfm_pipeline()
    out = fit_quietly(pipe, X)
    np.testing.assert_allclose(
        pipe.named_steps["thresholds"].cuts_["n_orders"], [1.8, 2.6, 3.4, 4.2]
    )
    labels = out["segment"].astype(object).to_numpy()
    assert labels.tolist() == [oracle_segment(*c) for c in cells]
    assert labels.tolist() == oracle_labels(X).tolist()
    assert set(labels) == set(NAMES)
    sizes = pipe.named_steps["segments"].segment_sizes_
    assert list(sizes.index) == NAMES and (sizes > 0).all()


def test_recency_is_reversed():
    X, _ = score_grid()
    pipe = make_rfm_pipeline()
    fit_quietly(pipe, X)
    probe = pd.DataFrame(
        {
            "days_since_last_order": [1.0, 5.0, 1.0, 5.0],  # fewest days: R5
            "n_orders": [5.0, 5.0, 1.0, 1.0],
            "total_value": [5.0, 5.0, 1.0, 1.0],
        }
    )
    out = pipe.transform(probe)
    assert out["days_since_last_order_level"].tolist() == [0, 4, 0, 4]
    assert out["segment"].tolist() == [
        "Champions",
        "Can't Lose Them",
        "New Customers",
        "Lost",
    ]


def test_ties_go_down_and_collapse_with_a_warning():
    # half the customers have exactly one order: p20 = p40 = 1
    X = pd.DataFrame(
        {
            "days_since_last_order": np.arange(100.0),
            "n_orders": np.r_[np.ones(50), np.arange(2.0, 52.0)],
            "total_value": np.arange(100.0),
        }
    )
    pipe = make_rfm_pipeline()
    out = fit_warns(pipe, X, CollapsedCutsWarning)
    thresholds = pipe.named_steps["thresholds"]
    assert thresholds.cuts_["n_orders"][:2].tolist() == [1.0, 1.0]
    assert 1 in thresholds.collapsed_levels_["n_orders"]
    one_order = out.loc[X["n_orders"] == 1, "n_orders_level"]
    assert (one_order == 0).all()  # every one-order customer scores F1
    assert not (out["n_orders_level"] == 1).any()  # F2 emptied by p20 == p40
    assert out["segment"].astype(object).tolist() == oracle_labels(X).tolist()
    # a recency value equal to a cut takes the lower code: the more recent R5
    cut = thresholds.cuts_["days_since_last_order"][0]
    at_cut = pipe.transform(X.assign(days_since_last_order=cut))
    assert (at_cut["days_since_last_order_level"] == 0).all()  # R5, not R4
    # with the seed's closed="left", one-order customers would all score F3
    left = make_rfm_pipeline(thresholds__closed="left")
    out = fit_warns(left, X, CollapsedCutsWarning)
    assert (out.loc[X["n_orders"] == 1, "n_orders_level"] == 2).all()
    assert not out["segment"].isin(["New Customers", "Promising", "Lost"]).any()
    # fixed frequency cuts
    fixed = make_rfm_pipeline(thresholds__cut_values={"n_orders": [1, 2, 3, 5]})
    out = fit_quietly(fixed, X)
    assert (out.loc[X["n_orders"] == 1, "n_orders_level"] == 0).all()
    assert (out.loc[X["n_orders"] == 2, "n_orders_level"] == 1).all()


def test_runs_on_a_customer_features_frame_without_renaming():
    X = customer_features_frame()
    pipe = make_rfm_pipeline()
    out = fit_warns(pipe, X, CollapsedCutsWarning)
    assert out.index.equals(X.index)
    assert list(out.columns) == [*X.columns, *LEVELS, "segment"]
    pd.testing.assert_frame_equal(out[X.columns], X)
    assert isinstance(out["segment"].dtype, pd.CategoricalDtype)
    assert list(out["segment"].cat.categories) == NAMES
    assert out["segment"].notna().all()
    assert out["segment"].astype(object).tolist() == oracle_labels(X).tolist()
    assert check_mece(out["segment"], expected_labels=NAMES).is_mece
    # columns selected by name: another order and extra columns are fine
    shuffled = X[X.columns[::-1]].assign(extra="x")
    again = transform_quietly(pipe, shuffled)
    assert again["segment"].tolist() == out["segment"].tolist()


def test_column_parameters_rename():
    X = customer_features_frame(seed=1)
    renamed = X.rename(
        columns={
            "days_since_last_order": "recency",
            "n_orders": "frequency",
            "total_value": "monetary",
        }
    )
    pipe = make_rfm_pipeline(
        recency="recency", frequency="frequency", monetary="monetary"
    )
    out = fit_quietly(pipe, renamed)
    expected = fit_quietly(make_rfm_pipeline(), X)
    assert out["segment"].tolist() == expected["segment"].tolist()
    assert {"recency_level", "frequency_level", "monetary_level"} <= set(out.columns)
    assert not set(LEVELS) & set(out.columns)
    rules = pipe.named_steps["segments"].rules
    assert list(rules["levels"]) == ["recency", "frequency", "monetary"]
    assert list(pipe.named_steps["thresholds"].percentiles) == [
        "recency",
        "frequency",
        "monetary",
    ]
    assert (
        out["segment"].astype(object).tolist()
        == oracle_labels(renamed, columns=["recency", "frequency", "monetary"]).tolist()
    )
    # the original frame lacks the renamed columns: the error names the column
    with pytest.raises(ValueError, match="'recency'"):
        fit_quietly(clone(pipe), X)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"recency": "n_orders"}, ValueError, "`recency` and `frequency`.*'n_orders'"),
        ({"monetary": "n_orders"}, ValueError, "`frequency` and `monetary`"),
        ({"frequency": 1}, TypeError, "`frequency` must be a column name.*position"),
        ({"frequency": np.int64(1)}, TypeError, "`frequency` must be a column name"),
        ({"monetary": None}, TypeError, "`monetary` must be a column name"),
        ({"recency": ""}, ValueError, "`recency` must be a non-empty"),
    ],
)
def test_column_parameter_errors_name_the_parameter(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_rfm_pipeline(**kwargs)


def test_missing_values_are_refused_or_routed():
    X, _ = score_grid()
    X.loc[3, "total_value"] = np.nan
    with pytest.raises(ValueError, match="total_value"):
        fit_quietly(make_rfm_pipeline(), X)
    pipe = make_rfm_pipeline(segments__nan_segment="No Orders")
    out = fit_quietly(pipe, X)
    assert out.loc[3, "segment"] == "No Orders"
    assert out["segment"].notna().all()


# -- segment names with spaces and an apostrophe --------------------------------------
def test_segment_names_work_everywhere(tmp_path):
    X, _ = score_grid()
    pipe = make_rfm_pipeline()
    out = fit_quietly(pipe, X)
    seg = pipe.named_steps["segments"]
    assert seg.segment_names_ == NAMES
    assert "Can't Lose Them" in seg.predict(pipe.named_steps["thresholds"].transform(X))
    assert seg.segment_table_.index.tolist() == NAMES
    text = describe_pipeline(pipe)
    assert "8. Can't Lose Them" in text
    assert "days_since_last_order is R1" in text
    report = segment_report(pipe, out)
    assert report.index.tolist() == NAMES
    assert report.loc["Can't Lose Them", "size"] == 4
    export_report(report, tmp_path / "report.csv")
    read = pd.read_csv(tmp_path / "report.csv")
    assert read["segment"].tolist() == NAMES
    export_assignments(out, tmp_path / "assignments.csv")
    read = pd.read_csv(tmp_path / "assignments.csv")
    assert read["segment"].tolist() == out["segment"].tolist()
    html = html_report(pipe, X)
    assert "Can&#x27;t Lose Them" in html or "Can&#39;t Lose Them" in html
    path = save(pipe, tmp_path / "rfm.skops")
    loaded = load(path)
    assert transform_quietly(loaded, X)["segment"].tolist() == out["segment"].tolist()
    # merges into the ELSE bucket keep the names too
    small = make_rfm_pipeline(min_size=5)
    merged = fit_quietly(small, X)
    merge_map = small.named_steps["segments"].merge_map_
    assert merge_map["Can't Lose Them"] == "Others"
    assert "Can't Lose Them" not in set(merged["segment"])


# -- MECE on arbitrary data -------------------------------------------------------------
def _column(n):
    """n floats: continuous, heavily tied, constant, or a mix."""
    continuous = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
    tied = st.sampled_from([0.0, 1.0, 1.0, 1.0, 2.0, 5.0])
    return st.one_of(
        st.lists(continuous, min_size=n, max_size=n),
        st.lists(tied, min_size=n, max_size=n),
        st.lists(continuous | tied, min_size=n, max_size=n),
        st.floats(-10, 10, allow_nan=False).map(lambda v: [v] * n),
    )


@st.composite
def _frames(draw, min_rows=1):
    n = draw(st.integers(min_rows, 60))
    return pd.DataFrame({c: draw(_column(n)) for c in COLUMNS})


@settings(max_examples=80, deadline=None, derandomize=True, database=None)
@given(X=_frames(), X_new=_frames())
def test_mece_on_arbitrary_data(X, X_new):
    pipe = make_rfm_pipeline()
    out = fit_quietly(pipe, X)
    labels = out["segment"].astype(object).to_numpy()
    report = check_mece(labels, expected_labels=NAMES)
    assert report.is_mece and report.n_rows == len(X)
    assert labels.tolist() == oracle_labels(X).tolist()
    # new data is scored with the cuts learned at fit
    cuts = oracle_cuts(X)
    new = transform_quietly(pipe, X_new)["segment"].astype(object).to_numpy()
    assert check_mece(new, expected_labels=NAMES).is_mece
    assert new.tolist() == oracle_labels(X_new, cuts).tolist()


def test_thresholder_alone_matches_the_oracle_cuts():
    X = customer_features_frame(seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollapsedCutsWarning)
        t = PercentileThresholder(RFM_RULES.percentiles(), select_by_name=True).fit(X)
    for column, cuts in oracle_cuts(X).items():
        np.testing.assert_array_equal(t.cuts_[column], cuts)
