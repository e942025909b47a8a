"""The original script's interface (issue: MECESegmentationEngine)."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from sklearn_mece import MECESegmentationEngine, make_cart_abandoner_pipeline
from sklearn_mece.datasets import make_cart_abandoners

# The seed README's usage examples, verbatim except for the import line.
SEED_BASIC = """
from sklearn_mece import MECESegmentationEngine

# Initialize
engine = MECESegmentationEngine()

# Run segmentation
segments, universe_df = engine.run_segmentation()

# Export results
engine.export_results(segments, "my_segments")
"""

SEED_CONFIG = """
# Customize thresholds
engine = MECESegmentationEngine(
    min_segment_size=500,    # Minimum viable segment size
    max_segment_size=20000   # Maximum manageable segment size
)

# Modify scoring weights
scoring_weights = {
    'conversion_potential': 0.25,
    'profitability': 0.25,
    'lift_vs_control': 0.20,
    'strategic_fit': 0.20,
    'size_score': 0.10
}
"""

SEED_CUSTOM = """
# Use your own dataset
my_data = pd.read_csv('my_cart_data.csv')
segments, universe_df = engine.run_segmentation(my_data)
"""

SEED_INTEGRATION = """
# Get segments for API integration
segment_list = engine.segments
for segment in segment_list:
    if segment['valid']:
        send_to_marketing_platform(segment)
"""


@pytest.fixture(scope="module")
def run():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine = MECESegmentationEngine(random_state=0)
        segments, universe_df = engine.run_segmentation()
    return engine, segments, universe_df


def test_seed_readme_examples_run_verbatim(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_cart_abandoners(8_000, random_state=1).to_csv("my_cart_data.csv", index=False)
    sent = []
    ns = {"pd": pd, "send_to_marketing_platform": sent.append}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for block in (SEED_BASIC, SEED_CONFIG, SEED_CUSTOM, SEED_INTEGRATION):
            exec(block, ns)
    assert (tmp_path / "my_segments.csv").exists()
    assert (tmp_path / "my_segments.json").exists()
    assert sent and all(s["valid"] for s in sent)
    # the timestamps read back as text are parsed: the last 7 days are the universe
    assert 0.75 * 8_000 < len(ns["universe_df"]) < 0.85 * 8_000


def test_mock_universe_and_sizes(run):
    engine, segments, universe_df = run
    assert len(universe_df) == 40_000  # 80 % of 50,000 abandoned in the last 7 days
    assert sum(s["size"] for s in segments) == len(universe_df)
    assert bool(engine.validation_) and engine.validation_.n_rows == len(universe_df)
    assert engine.segments is segments
    assert [s["name"] for s in segments][-1] == "Other_Bucket"
    for key in (
        "name", "size", "share", "rule", "mean_aov", "mean_engagement",
        "mean_profitability", "conversion_potential", "profitability",
        "lift_vs_control", "strategic_fit", "size_score", "overall_score", "tier",
        "valid", "invalid_reason", "description", "strategy",
    ):  # fmt: skip
        assert key in segments[0], key
    assert ">=" in segments[0]["rule"]  # the learned threshold in words
    assert {"segment", "segment_score", "segment_tier"} <= set(universe_df.columns)


def test_labels_equal_the_preset_pipeline(run):
    engine, _, universe_df = run
    universe = universe_df.drop(columns=["segment", "segment_score", "segment_tier"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = make_cart_abandoner_pipeline(500, 20_000).fit_transform(universe)
    assert out["segment"].equals(universe_df["segment"])
    assert np.allclose(out["segment_score"], universe_df["segment_score"])


def test_valid_follows_min_and_max():
    data = make_cart_abandoners(10_000, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine = MECESegmentationEngine(min_segment_size=300, max_segment_size=2_500)
        segments, _ = engine.run_segmentation(data)
    for s in segments:
        assert s["valid"] == (300 <= s["size"] <= 2_500), s
        assert bool(s["invalid_reason"]) == (not s["valid"])


def test_weights_reach_the_scorer():
    weights = {
        "conversion_potential": 0.0,
        "profitability": 0.0,
        "lift_vs_control": 0.0,
        "strategic_fit": 1.0,
        "size_score": 0.0,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine = MECESegmentationEngine(scoring_weights=weights, n_users=5_000)
        segments, _ = engine.run_segmentation()
    scorer = engine.pipeline_.named_steps["scores"]
    assert scorer.weights == weights
    for s in segments:  # with all weight on strategic fit, the score is that fit
        assert s["overall_score"] == pytest.approx(s["strategic_fit"])


def test_exports_read_back_equal(run, tmp_path):
    engine, segments, universe_df = run
    paths = engine.export_results(segments, str(tmp_path / "out" / "segs"))
    assert [p.rsplit("/", 1)[-1] for p in paths] == [
        "segs.csv",
        "segs.json",
        "segs_assignments.csv",
    ]
    records = json.loads((tmp_path / "out" / "segs.json").read_text())
    assert records == json.loads(json.dumps(segments))
    csv = pd.read_csv(tmp_path / "out" / "segs.csv", keep_default_na=False)
    assert csv["name"].tolist() == [s["name"] for s in segments]
    assert csv["size"].tolist() == [s["size"] for s in segments]
    assert np.allclose(csv["overall_score"], [s["overall_score"] for s in segments])
    assignments = pd.read_csv(tmp_path / "out" / "segs_assignments.csv")
    assert len(assignments) == len(universe_df)
    assert (
        assignments["segment"].to_numpy()
        == universe_df["segment"].astype(str).to_numpy()
    ).all()


def test_pipeline_is_the_fitted_object_to_ship(run, tmp_path):
    pytest.importorskip("skops")
    import sklearn_mece

    engine, _, universe_df = run
    path = sklearn_mece.save(engine.pipeline_, tmp_path / "engine.skops")
    loaded = sklearn_mece.load(path)
    raw = universe_df.drop(columns=["segment", "segment_score", "segment_tier"])
    assert loaded.transform(raw)["segment"].equals(universe_df["segment"])


# ---------------------------------------------------------------------------------
# your column names
# ---------------------------------------------------------------------------------
HILLSTROM_NAMES = {"avg_order_value": "history", "days_since_last_order": "recency"}


def _segments_without_rules(segments):
    return [{k: v for k, v in s.items() if k != "rule"} for s in segments]


def test_columns_reach_the_pipeline_and_the_report():
    data = make_cart_abandoners(8_000, random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default = MECESegmentationEngine(min_segment_size=200)
        expected, expected_df = default.run_segmentation(data)
        engine = MECESegmentationEngine(min_segment_size=200, columns=HILLSTROM_NAMES)
        segments, universe_df = engine.run_segmentation(
            data.rename(columns=HILLSTROM_NAMES)
        )
    assert engine.columns == HILLSTROM_NAMES
    scorer = engine.pipeline_.named_steps["scores"]
    assert (scorer.aov_column, scorer.recency_column) == ("history", "recency")
    # the script's vocabulary (mean_aov, ...) whatever the columns are called
    assert _segments_without_rules(segments) == _segments_without_rules(expected)
    assert segments[0]["rule"].startswith("history is high (history >=")
    for column in ("segment", "segment_score", "segment_tier"):
        assert universe_df[column].equals(expected_df[column])
    assert "history" in universe_df and "avg_order_value" not in universe_df


def test_columns_with_mock_data():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected, _ = MECESegmentationEngine(
            n_users=5_000, min_segment_size=100, random_state=0
        ).run_segmentation()
        engine = MECESegmentationEngine(
            n_users=5_000, min_segment_size=100, random_state=0, columns=HILLSTROM_NAMES
        )
        segments, universe_df = engine.run_segmentation()
    assert {"history", "recency"} <= set(universe_df.columns)
    assert _segments_without_rules(segments) == _segments_without_rules(expected)


def test_missing_or_bad_columns_are_named():
    data = make_cart_abandoners(2_000, random_state=0)
    mine = data.rename(columns=HILLSTROM_NAMES)
    with pytest.raises(ValueError, match=r"no column 'avg_order_value' \(Average"):
        MECESegmentationEngine().run_segmentation(mine)
    with pytest.raises(ValueError, match=r"columns=\{'avg_order_value': 'your_column'"):
        MECESegmentationEngine().run_segmentation(mine)
    with pytest.raises(
        ValueError, match="'hist' .*maps the preset's 'avg_order_value'"
    ):
        MECESegmentationEngine(columns={"avg_order_value": "hist"}).run_segmentation(
            mine
        )
    with pytest.raises(ValueError, match=r"Unknown preset column\(s\) 'aov'"):
        MECESegmentationEngine(columns={"aov": "history"}).run_segmentation(mine)
    # __init__ only stores the parameter
    engine = MECESegmentationEngine(columns={"aov": "history"})
    assert engine.columns == {"aov": "history"}
