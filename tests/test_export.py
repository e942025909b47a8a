"""Exports: the per-segment report read from fitted_preset steps, CSV/JSON/Parquet writers."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from sklearn_mece import (
    CART_ABANDONER_RULES,
    HierarchicalSegmenter,
    make_cart_abandoner_pipeline,
)
from sklearn_mece.datasets import make_cart_abandoners
from sklearn_mece.export import (
    export_assignments,
    export_report,
    rule_text,
    segment_report,
    to_records,
)


def test_report_reads_what_the_steps_learned(fitted_preset):
    pipe, out = fitted_preset
    seg = pipe.named_steps["segments"]
    report = segment_report(pipe, out)
    assert list(report.index) == list(seg.segment_names_)
    assert report.index.name == "segment"
    np.testing.assert_array_equal(report["size"], seg.segment_sizes_.to_numpy())
    np.testing.assert_allclose(report["share"], seg.segment_table_["share"])
    assert report["valid"].tolist() == seg.segment_table_["valid"].tolist()
    # descriptions and strategies come from the one rule declaration
    declared = {s.name: s for s in CART_ABANDONER_RULES.all_segments}
    for name in report.index:
        assert report.loc[name, "description"] == declared[name].description
        assert report.loc[name, "strategy"] == declared[name].strategy
    # the rule text carries the learned cut, not a recomputed one
    cut = pipe.named_steps["thresholds"].cuts_["avg_order_value"][1]
    assert f"{cut:,.6g}" in report.loc["High_AOV_Premium", "rule"]
    means = out.groupby("segment", observed=False)["avg_order_value"].mean()
    np.testing.assert_allclose(report["mean_avg_order_value"], means[report.index])


def test_report_includes_scorer_report_when_present(fitted_preset):
    pipe, out = fitted_preset
    scores = pipe.named_steps["scores"].report_
    report = segment_report(pipe, out)
    for column in ("score", "tier", "conversion_potential", "size_score"):
        assert column in report
        assert report[column].tolist() == scores[column].reindex(report.index).tolist()


def test_report_with_merges_names_what_was_merged(preset_data):
    pipe = make_cart_abandoner_pipeline(min_size=400, max_size=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(preset_data)
    merge_map = pipe.named_steps["segments"].merge_map_
    merged = sorted(n for n, t in merge_map.items() if t != n)
    assert merged, "the fixture should merge at least one segment"
    report = segment_report(pipe)
    absorbed = report.loc["Other_Bucket", "merged_from"].split(", ")
    assert sorted(absorbed) == merged
    assert "also absorbs merged" in report.loc["Other_Bucket", "rule"]
    assert not set(merged) & set(report.index)


def test_report_of_split_segments_inherits_strategy(preset_data):
    pipe = make_cart_abandoner_pipeline(
        min_size=0,
        max_size=600,
        segments__max_size_policy="split",
        segments__split_column="avg_order_value",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(preset_data)
    report = segment_report(pipe)
    parts = [n for n in report.index if n.startswith("Other_Bucket_")]
    assert len(parts) >= 2
    strategy = CART_ABANDONER_RULES.else_segment.strategy
    assert all(report.loc[n, "strategy"] == strategy for n in parts)
    assert "split part 1" in report.loc[parts[0], "rule"]
    assert "avg_order_value <" in report.loc[parts[0], "rule"]


def test_report_of_a_bare_segmenter():
    X = pd.DataFrame({"days": [5.0, 50.0, 10.0]})
    seg = HierarchicalSegmenter(
        {"segments": [{"name": "Recent", "when": [["days", "<=", 30]]}]},
        output="names",
    ).fit(X)
    report = segment_report(seg)
    assert report["size"].to_dict() == {"Recent": 2, "Other": 1}
    assert rule_text(seg, "Recent") == "days <= 30"


def test_report_refuses_a_pipeline_without_segments():
    from sklearn_mece import PercentileThresholder

    with pytest.raises(ValueError, match="segments"):
        segment_report(PercentileThresholder())


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_report_round_trips(fitted_preset, tmp_path, fmt):
    pipe, out = fitted_preset
    report = segment_report(pipe, out)
    path = export_report(report, tmp_path / f"segments.{fmt}")
    back = {
        "csv": pd.read_csv,
        "json": lambda p: pd.DataFrame(json.loads(p.read_text())),
        "parquet": pd.read_parquet,
    }[fmt](path)
    assert list(back.columns[:3]) == ["segment", "size", "share"]
    assert back["segment"].tolist() == list(report.index)
    assert back["size"].tolist() == report["size"].tolist()
    assert back["strategy"].tolist() == report["strategy"].tolist()


def test_json_report_holds_plain_scalars(fitted_preset, tmp_path):
    pipe, out = fitted_preset
    report = segment_report(pipe, out)
    report["lift_ci_low"] = np.nan
    path = export_report(report, tmp_path / "r.json")
    records = json.loads(path.read_text())
    assert records[0]["lift_ci_low"] is None
    assert isinstance(records[0]["size"], int)
    assert isinstance(records[0]["valid"], bool)
    assert "NaN" not in path.read_text()


def test_format_argument_overrides_the_suffix(fitted_preset, tmp_path):
    pipe, out = fitted_preset
    path = export_report(segment_report(pipe), tmp_path / "report.dat", format="json")
    assert json.loads(path.read_text())[0]["segment"] == "High_AOV_Premium"
    with pytest.raises(ValueError, match="suffix"):
        export_report(segment_report(pipe), tmp_path / "report.dat")
    with pytest.raises(ValueError, match="Unknown format"):
        export_report(segment_report(pipe), tmp_path / "r.csv", format="xlsx")


def test_compressed_csv(fitted_preset, tmp_path):
    _, out = fitted_preset
    path = export_assignments(out, tmp_path / "a.csv.gz", id_col="user_id")
    back = pd.read_csv(path)
    assert back["segment"].tolist() == out["segment"].astype(str).tolist()


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_assignments_round_trips(fitted_preset, tmp_path, fmt):
    _, out = fitted_preset
    path = export_assignments(out, tmp_path / f"a.{fmt}", id_col="user_id")
    back = {
        "csv": pd.read_csv,
        "json": lambda p: pd.DataFrame(json.loads(p.read_text())),
        "parquet": pd.read_parquet,
    }[fmt](path)
    assert list(back.columns[:2]) == ["user_id", "segment"]
    assert back["user_id"].tolist() == out["user_id"].tolist()
    assert back["segment"].astype(str).tolist() == out["segment"].astype(str).tolist()


def test_export_assignments_without_id_writes_the_index(fitted_preset, tmp_path):
    _, out = fitted_preset
    sub = out.iloc[[5, 2, 9]]
    path = export_assignments(sub, tmp_path / "a.csv", columns=["country"])
    back = pd.read_csv(path)
    assert back.columns.tolist()[:2] == ["row", "segment"]
    assert back.columns.tolist()[-1] == "country"
    assert back["row"].tolist() == [5, 2, 9]


def test_export_assignments_missing_column(fitted_preset, tmp_path):
    _, out = fitted_preset
    with pytest.raises(ValueError, match="Missing column"):
        export_assignments(out, tmp_path / "a.csv", id_col="customer")


def test_to_records_plain_types():
    frame = pd.DataFrame(
        {
            "n": np.array([1, 2], dtype=np.int64),
            "ok": np.array([True, False]),
            "x": [0.5, np.nan],
            "when": pd.to_datetime(["2026-01-01", None]),
            "label": pd.Categorical(["a", "b"]),
        }
    )
    records = to_records(frame)
    assert records[0] == {
        "n": 1,
        "ok": True,
        "x": 0.5,
        "when": "2026-01-01T00:00:00",
        "label": "a",
    }
    assert records[1]["x"] is None and records[1]["when"] is None
    assert all(type(v) in (int, bool, float, str) for v in records[0].values())
    json.dumps(records)


# -- steps are found by what they are ----------------------------------------------------
def _renamed(pipe):
    """The same fitted steps under other names, in a plain scikit-learn Pipeline."""
    from sklearn.pipeline import Pipeline

    names = {"thresholds": "levels", "segments": "rules", "scores": "value"}
    return Pipeline([(names[n], step) for n, step in pipe.steps])


def test_find_steps_by_type():
    from sklearn.pipeline import Pipeline

    from sklearn_mece import PercentileThresholder, SegmentScorer
    from sklearn_mece._pipeline import find_steps, segment_step, segment_steps

    pipe = _renamed(make_cart_abandoner_pipeline())
    steps = find_steps(pipe)
    assert isinstance(steps.thresholder, PercentileThresholder)
    assert isinstance(steps.segmenter, HierarchicalSegmenter)
    assert isinstance(steps.scorer, SegmentScorer)
    assert steps.segment_index == 1
    assert steps.names == {
        "thresholder": "levels",
        "segmenter": "rules",
        "scorer": "value",
    }
    assert [name for name, _ in segment_steps(pipe)] == ["rules"]
    with pytest.raises(ValueError, match="segment step 'rules'.*not fitted"):
        segment_step(pipe)
    assert segment_step(pipe, fitted=False) is steps.segmenter
    # a bare step is found in the field of its type, nothing else
    bare = find_steps(steps.scorer)
    assert bare.scorer is steps.scorer and bare.segmenter is None
    assert bare.segment_index is None and bare.names == {}
    with pytest.raises(ValueError, match="found none in SegmentScorer"):
        segment_step(steps.scorer)
    with pytest.raises(ValueError, match=r"found none in the pipeline's steps \['a'\]"):
        segment_step(Pipeline([("a", PercentileThresholder())]))


def test_the_thresholder_read_is_the_one_before_the_segment_step():
    from sklearn.pipeline import Pipeline

    from sklearn_mece import PercentileThresholder
    from sklearn_mece._pipeline import find_steps

    first, last = PercentileThresholder(), PercentileThresholder()
    seg = HierarchicalSegmenter()
    steps = find_steps(Pipeline([("a", first), ("s", seg), ("b", last)]))
    assert steps.thresholder is first and steps.names["thresholder"] == "a"


def test_reports_read_a_pipeline_with_other_step_names(fitted_preset):
    from sklearn_mece import describe_pipeline, html_report

    pipe, out = fitted_preset
    renamed = _renamed(pipe)
    pd.testing.assert_frame_equal(
        segment_report(renamed, out), segment_report(pipe, out)
    )
    assert rule_text(renamed, "Recent_Customers") == rule_text(pipe, "Recent_Customers")
    assert describe_pipeline(renamed) == describe_pipeline(pipe)
    page = html_report(renamed, out)
    assert page.count("data:image/png;base64,") == html_report(pipe, out).count(
        "data:image/png;base64,"
    )
    assert "No thresholder" not in page and "No scorer" not in page


def test_rules_are_written_in_full_with_the_first_match():
    """Found by the marketer's read of the report: Recent_Customers showed
    "days_since_last_order <= 30" although it holds only rows the four
    segments above did not take."""
    pipe = make_cart_abandoner_pipeline(min_size=0).fit(
        make_cart_abandoners(3_000, random_state=0)
    )
    report = segment_report(pipe)
    rules = report["rule"].tolist()
    assert " AND not in segment" not in rules[0]
    assert rules[1].endswith(" AND not in segment 1")
    for k in range(2, 5):
        assert rules[k].endswith(f" AND not in segments 1-{k}")
    assert rules[5].startswith("ELSE")


def test_the_report_reads_the_segmenters_own_column():
    """A segmenter writing into another column than "segment": the report
    still has each input's mean per segment (it looked for "segment")."""
    from sklearn_mece import make_cart_abandoner_pipeline
    from sklearn_mece.datasets import make_cart_abandoners

    X = make_cart_abandoners(3_000, random_state=0)
    pipe = make_cart_abandoner_pipeline(min_size=0)
    pipe.set_params(segments__output_column="seg", scores__segment_column="seg")
    X_out = pipe.fit_transform(X)
    report = segment_report(pipe, X_out, mean_columns=["cart_value"])
    expected = (
        X_out.groupby("seg", observed=False)["cart_value"].mean().reindex(report.index)
    )
    np.testing.assert_allclose(report["mean_cart_value"], expected, rtol=1e-12)
