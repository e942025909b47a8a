"""compare_segmentations, segment_migration and segment_stability."""

import json
import warnings
from io import StringIO

import matplotlib
import numpy as np
import pandas as pd
import pytest
from _shared import FEATURES
from sklearn.base import clone
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

from sklearn_mece import (
    ClusterSegmenter,
    HierarchicalSegmenter,
    compare_segmentations,
    make_cart_abandoner_pipeline,
    segment_migration,
    segment_stability,
)
from sklearn_mece._compare import Comparison, Migration, Stability
from sklearn_mece.datasets import make_cart_abandoners

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def data():
    return make_cart_abandoners(2_500, random_state=0)


def _challenger(output="names", n_clusters=5):
    pipe = make_cart_abandoner_pipeline(min_size=100)
    seg = ClusterSegmenter(
        KMeans(n_clusters, n_init=3), FEATURES, random_state=0, output=output
    )
    return pipe.set_params(segments=seg).set_output(transform="pandas")


def _labels(pipe, X):
    i = list(pipe.named_steps).index("segments")
    return pipe.named_steps["segments"].predict(pipe[:i].transform(X))


@pytest.fixture(scope="module")
def fitted(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        champion = make_cart_abandoner_pipeline(min_size=100).fit(data)
        challenger = _challenger().fit(data)
    return champion, challenger


# ---------------------------------------------------------------------------------
# compare_segmentations
# ---------------------------------------------------------------------------------
def test_comparison_numbers(data, fitted):
    champion, challenger = fitted
    cmp = compare_segmentations(champion, challenger, data)
    assert isinstance(cmp, Comparison)
    a, b = _labels(champion, data), _labels(challenger, data)
    assert cmp.n_rows == len(data)
    assert cmp.adjusted_rand == pytest.approx(adjusted_rand_score(a, b))
    assert cmp.adjusted_mutual_info == pytest.approx(adjusted_mutual_info_score(a, b))
    # the crosstab lists every fitted segment, in fit order, and sums to the sizes
    ct = cmp.crosstab
    assert list(ct.index) == champion.named_steps["segments"].segment_names_
    assert list(ct.columns) == challenger.named_steps["segments"].segment_names_
    assert ct.to_numpy().sum() == len(data)
    pd.testing.assert_series_equal(
        ct.sum(axis=1),
        pd.Series(a).value_counts().reindex(ct.index, fill_value=0),
        check_names=False,
        check_index_type=False,
    )
    assert (cmp.champion["size"] == ct.sum(axis=1)).all()
    assert (cmp.challenger["size"] == ct.sum(axis=0)).all()
    # best match: the other side's segment sharing most rows, with its Jaccard
    for name, row in cmp.champion.iterrows():
        best = ct.loc[name].idxmax()
        assert row["best_match"] == best
        inter = ct.at[name, best]
        union = row["size"] + ct[best].sum() - inter
        assert row["jaccard"] == pytest.approx(inter / union)
    # size compliance uses each segmenter's own min_size_
    assert (cmp.champion["min_size"] == 100).all()
    assert cmp.champion["compliant"].equals(cmp.champion["size"] >= 100)
    assert cmp.summary["n_compliant"]["champion"] == int(
        cmp.champion["compliant"].sum()
    )


def test_comparison_of_identical_and_hand_made_labels():
    a = np.array(["x", "x", "y", "y", "z", "z"], dtype=object)
    same = compare_segmentations(a, a.copy(), np.zeros((6, 1)))
    assert same.adjusted_rand == pytest.approx(1.0)
    assert (same.champion["jaccard"] == 1.0).all()
    assert list(same.champion["best_match"]) == ["x", "y", "z"]
    b = np.array(["p", "p", "p", "q", "q", "q"], dtype=object)
    cmp = compare_segmentations(a, b, np.zeros((6, 1)), names=("rules", "km"))
    assert cmp.names == ("rules", "km")
    assert cmp.crosstab.loc["y"].tolist() == [1, 1]
    assert cmp.champion.loc["x", "best_match"] == "p"
    assert cmp.champion.loc["x", "jaccard"] == pytest.approx(2 / 3)
    # a tie (y shares one row with p and one with q) goes to the higher Jaccard,
    # then to the first segment
    assert cmp.champion.loc["y", "best_match"] == "p"
    assert cmp.challenger.loc["q", "best_match"] == "z"
    with pytest.raises(ValueError, match="one label per row"):
        compare_segmentations(a, b[:5], np.zeros((6, 1)))
    with pytest.raises(ValueError, match="two different labels"):
        compare_segmentations(a, b, np.zeros((6, 1)), names=("x", "x"))


def test_comparison_fits_unfitted_pipelines_when_asked(data):
    champion = make_cart_abandoner_pipeline(min_size=100)
    with pytest.raises(NotFittedError):
        compare_segmentations(champion, _challenger(), data, fit=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cmp = compare_segmentations(champion, _challenger(), data, min_size=300)
    assert hasattr(champion.named_steps["segments"], "segment_names_")
    assert (cmp.challenger["min_size"] == 300).all()
    # a bare segmenter works too
    seg = ClusterSegmenter(KMeans(3, n_init=2), FEATURES, random_state=0).fit(data)
    assert compare_segmentations(seg, seg, data).adjusted_rand == pytest.approx(1.0)


def test_comparison_prints_and_exports(data, fitted, tmp_path):
    cmp = compare_segmentations(*fitted, data)
    text = str(cmp)
    assert "adjusted Rand index" in text and "crosstab" in text
    assert "High_AOV_Premium" in text
    assert "ARI=" in repr(cmp)
    payload = json.loads(cmp.to_json(tmp_path / "cmp.json"))
    assert payload["summary"]["adjusted_rand"] == pytest.approx(cmp.adjusted_rand)
    assert {r["segment"] for r in payload["champion"]} == set(cmp.champion.index)
    assert json.loads((tmp_path / "cmp.json").read_text()) == payload
    csv = pd.read_csv(StringIO(cmp.to_csv(tmp_path / "cmp.csv")), index_col=0)
    assert csv["size"].tolist() == cmp.champion["size"].tolist()
    crosstab = pd.read_csv(StringIO(cmp.to_csv(table="crosstab")), index_col=0)
    assert crosstab.to_numpy().sum() == len(data)
    with pytest.raises(ValueError, match="Unknown table"):
        cmp.to_csv(table="nope")
    page = cmp.to_html(tmp_path / "cmp.html")
    assert page.count("<table") == 4
    assert (tmp_path / "cmp.html").read_text().startswith("<!DOCTYPE html>")
    frame = cmp.to_frame()
    assert set(frame["side"]) == {"champion", "challenger"}
    assert len(frame) == len(cmp.champion) + len(cmp.challenger)


def test_comparison_with_scores(data, fitted):
    champion, challenger = fitted
    cmp = compare_segmentations(champion, challenger, data)
    report = champion.named_steps["scores"].report_
    for column in ("score", "tier", "match_score", "score_diff"):
        assert column in cmp.champion.columns
    name = cmp.champion.index[0]
    match = cmp.champion.loc[name, "best_match"]
    other = challenger.named_steps["scores"].report_
    assert cmp.champion.loc[name, "score"] == pytest.approx(report.loc[name, "score"])
    assert cmp.champion.loc[name, "score_diff"] == pytest.approx(
        report.loc[name, "score"] - other.loc[match, "score"]
    )
    summary = cmp.summary["mean_score"]
    expected = np.average(report["score"], weights=cmp.champion["size"])
    assert summary["champion"] == pytest.approx(expected)
    assert summary["difference"] == pytest.approx(
        summary["challenger"] - summary["champion"]
    )
    assert "row-weighted mean score" in str(cmp)
    # codes output: the scorer's report is keyed by code, mapped back to names
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        coded = _challenger(output="codes").fit(data)
    cmp2 = compare_segmentations(champion, coded, data)
    assert cmp2.challenger["score"].notna().all()
    np.testing.assert_allclose(
        cmp2.challenger["score"].to_numpy(), cmp.challenger["score"].to_numpy()
    )


def test_comparison_with_observed_lift(data):
    pytest.importorskip("sklearn_mece._scorer")
    pytest.importorskip("statsmodels")
    rng = np.random.RandomState(0)
    X = data.assign(
        treated=(rng.uniform(size=len(data)) < 0.7).astype(int),
        converted=(rng.uniform(size=len(data)) < 0.2).astype(int),
    )
    params = {"scores__treatment": "treated", "scores__outcome": "converted"}
    champion = make_cart_abandoner_pipeline(min_size=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        champion.set_params(**params).fit(X)
        challenger = _challenger().set_params(**params).fit(X)
    cmp = compare_segmentations(champion, challenger, X)
    for column in ("lift_observed", "lift_ci_low", "lift_ci_high", "lift_diff"):
        assert column in cmp.challenger.columns
    assert "mean_lift_observed" in cmp.summary


# ---------------------------------------------------------------------------------
# segment_migration
# ---------------------------------------------------------------------------------
def _snapshots(data):
    before = data
    after = data.sample(frac=0.8, random_state=1).copy()
    after["days_since_last_order"] = after["days_since_last_order"] + 25
    after["engagement_score"] = np.clip(after["engagement_score"] * 1.1, 0, 1)
    new = make_cart_abandoners(300, random_state=7)
    new["user_id"] += 10_000_000
    return before, pd.concat([after, new], ignore_index=True)


def test_migration_matrix_rows_sum_to_before_sizes(data, fitted):
    champion, _ = fitted
    before, after = _snapshots(data)
    mig = segment_migration(champion, before, after, "user_id")
    assert isinstance(mig, Migration)
    seg = champion.named_steps["segments"]
    sizes_before = pd.Series(_labels(champion, before)).value_counts()
    sizes_after = pd.Series(_labels(champion, after)).value_counts()
    counts = mig.counts
    assert list(counts.index) == [*seg.segment_names_, "(entered)"]
    assert list(counts.columns) == [*seg.segment_names_, "(exited)"]
    row_sums = counts.drop(index="(entered)").sum(axis=1)
    pd.testing.assert_series_equal(
        row_sums,
        sizes_before.reindex(row_sums.index, fill_value=0),
        check_names=False,
        check_index_type=False,
    )
    col_sums = counts.drop(columns="(exited)").sum(axis=0)
    pd.testing.assert_series_equal(
        col_sums,
        sizes_after.reindex(col_sums.index, fill_value=0),
        check_names=False,
        check_index_type=False,
    )
    assert int(mig.exits.sum()) == 500 and int(mig.entries.sum()) == 300
    assert counts.at["(entered)", "(exited)"] == 0
    assert mig.shares.drop(index="(entered)").sum(axis=1).round(12).isin([0, 1]).all()
    # stability rate: share of common ids that kept their segment
    common = pd.merge(
        pd.DataFrame({"id": before["user_id"], "a": _labels(champion, before)}),
        pd.DataFrame({"id": after["user_id"], "b": _labels(champion, after)}),
    )
    assert mig.stability_rate == pytest.approx((common["a"] == common["b"]).mean())
    assert 0 < mig.stability_rate < 1
    table = mig.segments
    assert (
        table["stayed"] + table["moved_out"] + table["exits"] == table["size_before"]
    ).all()
    assert (
        table["stayed"] + table["moved_in"] + table["entries"] == table["size_after"]
    ).all()
    assert "stability rate" in str(mig)


def test_migration_of_identical_snapshots_and_ids(data, fitted):
    champion, _ = fitted
    shuffled = data.sample(frac=1.0, random_state=3)
    mig = segment_migration(champion, data, shuffled, "user_id")
    assert mig.stability_rate == 1.0
    off_diagonal = mig.counts.to_numpy().sum() - np.trace(mig.counts.to_numpy())
    assert off_diagonal == 0
    # the index as id; duplicated ids are refused
    by_index = segment_migration(
        champion,
        data.set_index("user_id", drop=False),
        shuffled.set_index("user_id", drop=False),
    )
    assert by_index.stability_rate == 1.0
    with pytest.raises(ValueError, match="duplicated id"):
        segment_migration(champion, data, pd.concat([data, data.head(2)]), "user_id")


def test_migration_fit_refit_and_plot(data, tmp_path):
    before, after = _snapshots(data)
    pipe = make_cart_abandoner_pipeline(min_size=0)
    mig = segment_migration(pipe, before, after, "user_id")  # fitted on before
    assert hasattr(pipe.named_steps["segments"], "segment_names_")
    refit = segment_migration(pipe, before, after, "user_id", refit_after=True)
    assert refit.summary["refit_after"] is True
    # refitted cut points absorb the shift of the whole population
    assert refit.stability_rate > mig.stability_rate
    ax = mig.plot()
    assert ax.get_xlabel() == "segment after"
    assert len(ax.texts) == mig.counts.size
    mig.plot(normalize=False, annotate=False)
    ax.figure.savefig(tmp_path / "migration.png")
    import matplotlib.pyplot as plt

    plt.close("all")
    data_out = json.loads(mig.to_json())
    assert {"summary", "segments", "counts", "shares"} <= set(data_out)
    assert "<table" in mig.to_html()
    csv = pd.read_csv(StringIO(mig.to_csv(table="counts")), index_col=0)
    assert csv.to_numpy().sum() == mig.counts.to_numpy().sum()


def test_migration_with_arrays():
    X = np.column_stack([np.arange(10), np.linspace(0, 1, 10)])
    rules = [{"name": "high", "when": [[1, ">=", 0.5]]}]
    seg = HierarchicalSegmenter(rules).fit(X)
    after = X.copy()
    after[:, 1] = after[::-1, 1]
    mig = segment_migration(seg, X, after, 0)
    assert mig.stability_rate == 0.0
    assert mig.counts.loc["high", "Other"] == 5
    with pytest.raises(ValueError, match="not a DataFrame"):
        segment_migration(seg, X, after)


# ---------------------------------------------------------------------------------
# segment_stability
# ---------------------------------------------------------------------------------
def test_stability_kfold_holds_every_row_out_once(data):
    stab = segment_stability(
        make_cart_abandoner_pipeline(min_size=100),
        data,
        n_resamples=4,
        method="kfold",
        random_state=0,
    )
    assert isinstance(stab, Stability)
    assert stab.table["n_evaluated"].sum() == len(data)
    assert (stab.table["n_changed"] <= stab.table["n_evaluated"]).all()
    assert stab.table["size"].sum() == len(data)
    assert stab.per_resample.shape == (4, len(stab.table))
    assert 0 <= stab.change_rate < 0.1  # percentile cut points barely move
    assert stab.change_rate == pytest.approx(
        stab.table["n_changed"].sum() / stab.table["n_evaluated"].sum()
    )
    flagged = stab.table.index[stab.table["change_rate"] > 0.1].tolist()
    assert stab.fragile_segments == flagged


def test_stability_bootstrap_is_reproducible_and_flags_fragile(data):
    X = data.iloc[:1200]
    challenger = _challenger(n_clusters=6)
    first = segment_stability(challenger, X, n_resamples=4, random_state=0)
    second = segment_stability(challenger, X, n_resamples=4, random_state=0)
    pd.testing.assert_frame_equal(first.table, second.table)
    assert first.summary["method"] == "bootstrap"
    # out-of-bag rows: about 37 % of the rows per resample
    assert first.table["n_evaluated"].sum() == pytest.approx(4 * 0.368 * 1200, rel=0.1)
    by_name = segment_stability(
        challenger, X, n_resamples=4, random_state=0, match="name"
    )
    # renamed clusters count as changes only when matching by name
    assert by_name.change_rate >= first.change_rate
    strict = segment_stability(
        challenger, X, n_resamples=4, random_state=0, fragile_threshold=0.0
    )
    assert strict.fragile_segments == [
        s for s, n in strict.table["n_changed"].items() if n > 0
    ]
    assert "fragile" in str(first)
    assert json.loads(first.to_json())["summary"]["n_resamples"] == 4


def test_stability_of_a_deterministic_partition_is_perfect():
    X = pd.DataFrame({"x": np.repeat([0.0, 10.0, 20.0], 50)})
    seg = ClusterSegmenter(AgglomerativeClustering(3), ["x"])
    stab = segment_stability(seg, X, n_resamples=3, random_state=0)
    assert stab.change_rate == 0.0 and stab.fragile_segments == []


def test_stability_errors(data):
    pipe = make_cart_abandoner_pipeline(min_size=0)
    with pytest.raises(ValueError, match="method"):
        segment_stability(pipe, data, method="jackknife")
    with pytest.raises(ValueError, match="n_resamples"):
        segment_stability(pipe, data, n_resamples=1, method="kfold")
    with pytest.raises(ValueError, match="match"):
        segment_stability(pipe, data, match="closest")
    # the pipeline is cloned, never fitted in place
    segment_stability(pipe, data.iloc[:300], n_resamples=2, random_state=0)
    assert not hasattr(pipe.named_steps["segments"], "segment_names_")
    assert clone(pipe).get_params().keys() == pipe.get_params().keys()


def test_champion_challenger_example_runs(tmp_path, capsys):
    from _shared import load_example

    module = load_example("champion_challenger")
    comparison = module.main(
        [
            "--n-users",
            "2000",
            "--min-size",
            "100",
            "--resamples",
            "2",
            "--output-dir",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    assert "adjusted Rand index" in out and "stability rate" in out
    assert comparison.n_rows == 2000
    assert (tmp_path / "comparison.html").exists()
    assert (tmp_path / "migration_challenger.png").exists()


def test_comparison_finds_steps_by_type_whatever_their_names(data, fitted):
    from sklearn.pipeline import Pipeline

    champion, challenger = fitted
    renamed = Pipeline(
        [(f"step{i}", step) for i, (_, step) in enumerate(champion.steps)]
    )
    cmp = compare_segmentations(renamed, challenger, data)
    same = compare_segmentations(champion, challenger, data)
    pd.testing.assert_frame_equal(cmp.champion, same.champion)
    assert "score_diff" in cmp.champion.columns
    # a pipeline whose segment step is not fitted is refused, naming the step
    unfitted = Pipeline(
        [("cut", clone(champion.steps[0][1])), ("seg", HierarchicalSegmenter())]
    )
    with pytest.raises(NotFittedError):
        compare_segmentations(unfitted, challenger, data, fit=False)


def test_compliance_uses_the_segment_steps_validity_rule(data, fitted):
    from sklearn_mece._segment_base import size_issues

    cmp = compare_segmentations(*fitted, data, min_size=300, max_size=900)
    table = cmp.champion
    expected = [not i for i in size_issues(table["size"], 300, 900)]
    assert table["compliant"].tolist() == expected
    assert not all(expected) and any(expected)
