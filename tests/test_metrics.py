"""Segmentations scored and tuned by the incremental outcome they produce."""

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.model_selection import GridSearchCV

from sklearn_mece import (
    HierarchicalSegmenter,
    PercentileThresholder,
    SegmentScorer,
    make_cart_abandoner_pipeline,
)
from sklearn_mece.datasets import make_cart_abandoners
from sklearn_mece.metrics import (
    SegmentationScorer,
    compare_policies,
    policy_value,
    policy_value_scorer,
    qini_area,
    qini_scorer,
    segment_policy,
    tune_thresholds,
)
from sklearn_mece.presets import SegmentationPipeline

pytest.importorskip("statsmodels")

RULES = {
    "levels": {"x": {"names": ["low", "high"], "percentiles": [50]}},
    "segments": [{"name": "High", "when": [["x", "==", "high"]]}],
    "else": {"name": "Rest"},
}


def one_cut_pipeline(*, min_size=None, max_size=None):
    """x -> one cut -> High (x above it) / Rest -> the lift learned at fit."""
    pipe = SegmentationPipeline(
        [
            (
                "thresholds",
                PercentileThresholder(percentiles={"x": (50,)}, select_by_name=True),
            ),
            (
                "segments",
                HierarchicalSegmenter(
                    RULES,
                    min_size=min_size,
                    max_size=max_size,
                    output="names",
                    select_by_name=True,
                ),
            ),
            (
                "scores",
                SegmentScorer(
                    aov_column=None,
                    engagement_column=None,
                    profitability_column=None,
                    recency_column=None,
                ),
            ),
        ]
    )
    return pipe.set_output(transform="pandas")


def planted(n, percentile, seed, effect=0.15):
    """Randomized campaign whose effect is -effect below the given percentile
    of x and +effect above it, and nowhere else different."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": rng.uniform(0, 1, n)})
    t = rng.integers(0, 2, n).astype(float)
    gain = np.where(X["x"] >= percentile / 100, effect, -effect)
    y = (rng.random(n) < 0.3 + t * gain).astype(float)
    return X, t, y


# ---------------------------------------------------------------------------------
# the measures against an independent computation
# ---------------------------------------------------------------------------------
def _reference(codes, t, y):
    frame = pd.DataFrame({"s": codes, "t": t, "y": y})
    means = frame.groupby(["s", "t"])["y"].mean().unstack()
    lift = (means[1.0] - means[0.0]).fillna(0.0)
    return frame.groupby("s").size(), lift


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_policy_value_and_qini_match_a_groupby(seed):
    rng = np.random.default_rng(seed)
    n, k = 3_000, 5
    codes = rng.integers(0, k, n)
    t = rng.integers(0, 2, n).astype(float)
    y = rng.random(n) * (1 + 0.3 * t * (codes - 2))  # an amount
    sizes, lift = _reference(codes, t, y)
    contact = rng.random(k) < 0.5
    expected = float((sizes * lift)[contact].sum() / n)
    assert policy_value(codes, k, t, y, contact) == pytest.approx(expected, abs=1e-12)
    ranking = rng.normal(size=k)
    order = np.argsort(-ranking)
    x = np.concatenate([[0], np.cumsum(sizes.to_numpy()[order]) / n])
    g = np.concatenate([[0], np.cumsum((sizes * lift).to_numpy()[order]) / n])
    expected = np.trapezoid(g, x) - g[-1] / 2
    assert qini_area(codes, k, t, y, ranking) == pytest.approx(expected, abs=1e-12)


def test_the_policy_contacts_positive_segments_within_the_budget():
    lift = [0.04, 0.01, -0.02, 0.03, np.nan]
    sizes = [100, 100, 100, 600, 100]
    assert segment_policy(lift, sizes).tolist() == [True, True, False, True, False]
    # 30 % of customers: the best (10 %), the 60 % one does not fit, then 10 %
    assert segment_policy(lift, sizes, budget=0.3).tolist() == [
        True, True, False, False, False,
    ]  # fmt: skip


# ---------------------------------------------------------------------------------
# in scikit-learn's searches, with metadata routing
# ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def campaign():
    X = make_cart_abandoners(6_000, random_state=0)
    rng = np.random.default_rng(0)
    t = rng.integers(0, 2, len(X)).astype(float)
    gain = np.where(X["avg_order_value"] > X["avg_order_value"].median(), 0.1, -0.05)
    y = (rng.random(len(X)) < 0.2 + t * gain).astype(float)
    return X, t, y


@pytest.mark.parametrize(
    "scorer",
    [policy_value_scorer(), policy_value_scorer(budget=0.5), qini_scorer()],
    ids=repr,
)
@pytest.mark.parametrize("search", ["grid", "halving"])
def test_searches_run_end_to_end_with_routed_metadata(campaign, scorer, search):
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV

    X, t, y = campaign
    base = {"engagement_score": (40, 70), "profitability_score": (70,)}
    grid = {
        "thresholds__percentiles": [
            {**base, "avg_order_value": (40, q)} for q in (50, 75)
        ],
        "segments__min_size": [20, 50],
    }
    with (
        sklearn.config_context(enable_metadata_routing=True),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        pipe = make_cart_abandoner_pipeline()
        pipe.named_steps["scores"].set_fit_request(treatment=True, outcome=True)
        kind = GridSearchCV if search == "grid" else HalvingGridSearchCV
        extra = {} if search == "grid" else {"min_resources": 2_000, "factor": 2}
        found = kind(pipe, grid, cv=3, scoring=scorer, **extra)
        found.fit(X, treatment=t, outcome=y)
    assert np.isfinite(found.best_score_)
    # the score is the measure on the held-out fold, with the lift of the fit
    best = found.best_estimator_
    assert best.named_steps["scores"].lift_ is not None
    direct = scorer(best, X, treatment=t, outcome=y)
    assert np.isfinite(direct)


def test_a_candidate_breaking_the_size_limits_is_never_selected():
    # contacting hurts the lowest 5 % of x and helps everyone else: the cut at
    # p5 is best, but it puts 95 % of the rows in High, above max_size
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.uniform(0, 1, 12_000)})
    t = rng.integers(0, 2, len(X)).astype(float)
    gain = np.where(X["x"] > 0.05, 0.1, -0.3)
    y = (rng.random(len(X)) < 0.4 + t * gain).astype(float)
    grid = {"thresholds__percentiles": [{"x": (q,)} for q in (5, 30, 60)]}
    with (
        sklearn.config_context(enable_metadata_routing=True),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        free = one_cut_pipeline()
        free.named_steps["scores"].set_fit_request(treatment=True, outcome=True)
        unconstrained = GridSearchCV(free, grid, cv=3, scoring=policy_value_scorer())
        unconstrained.fit(X, treatment=t, outcome=y)
        limited = one_cut_pipeline(max_size=0.8)
        limited.named_steps["scores"].set_fit_request(treatment=True, outcome=True)
        search = GridSearchCV(limited, grid, cv=3, scoring=policy_value_scorer())
        search.fit(X, treatment=t, outcome=y)
    assert unconstrained.best_params_["thresholds__percentiles"] == {"x": (5,)}
    scores = search.cv_results_["mean_test_score"]
    assert scores[0] == -np.inf and np.isfinite(scores[1:]).all()
    assert search.best_params_["thresholds__percentiles"] != {"x": (5,)}


def test_scorers_say_what_they_need():
    X = make_cart_abandoners(1_000, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = make_cart_abandoner_pipeline(min_size=20).fit(X)
    t = np.zeros(len(X))
    with pytest.raises(ValueError, match="enable metadata routing"):
        policy_value_scorer()(pipe, X)
    with pytest.raises(ValueError, match="learned no lift at fit"):
        policy_value_scorer()(pipe, X, treatment=t, outcome=t)
    with pytest.raises(ValueError, match="kind must be one of"):
        SegmentationScorer("auc")
    with pytest.raises(ValueError, match="budget must be a share"):
        policy_value_scorer(budget=1.5)
    with pytest.raises(RuntimeError, match="needs metadata routing"):
        qini_scorer().set_score_request(treatment="t")


def test_score_requests_can_be_renamed(campaign):
    X, t, y = campaign
    grid = {"segments__min_size": [20, 50]}
    with (
        sklearn.config_context(enable_metadata_routing=True),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        pipe = make_cart_abandoner_pipeline()
        pipe.named_steps["scores"].set_fit_request(treatment="sent", outcome="bought")
        scorer = policy_value_scorer().set_score_request(
            treatment="sent", outcome="bought"
        )
        search = GridSearchCV(pipe, grid, cv=3, scoring=scorer)
        search.fit(X, sent=t, bought=y)
    assert np.isfinite(search.best_score_)


# ---------------------------------------------------------------------------------
# tune_thresholds
# ---------------------------------------------------------------------------------
@pytest.mark.parametrize("percentile", [30, 50, 70])
@pytest.mark.parametrize("seed", [0, 1])
def test_the_tuned_cut_finds_a_planted_percentile(percentile, seed):
    X, t, y = planted(40_000, percentile, seed)
    space = {"thresholds__percentiles": [{"x": (q,)} for q in range(10, 91, 2)]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = tune_thresholds(
            one_cut_pipeline(),
            X,
            treatment=t,
            outcome=y,
            search_space=space,
            cv=3,
            n_bootstrap=50,
            random_state=seed,
        )
    (cut,) = result.best_params_["thresholds__percentiles"]["x"]
    assert abs(cut - percentile) <= 3, (cut, percentile)


def test_tune_thresholds_reports_start_tuned_and_their_difference(campaign):
    X, t, y = campaign
    space = {
        "thresholds__percentiles": [{"avg_order_value": (40, q)} for q in (50, 75, 90)]
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = tune_thresholds(
            make_cart_abandoner_pipeline(min_size=20),
            X,
            treatment=t,
            outcome=y,
            search_space=space,
            cv=3,
            n_bootstrap=200,
            random_state=0,
        )
    # partial percentiles keep the pipeline's other features
    chosen = result.best_params_["thresholds__percentiles"]
    assert set(chosen) == {"avg_order_value", "engagement_score", "profitability_score"}
    table = result.policy_value_
    assert list(table.index) == ["start", "tuned", "tuned - start"]
    assert (table["ci_low"] <= table["policy_value"]).all()
    assert (table["policy_value"] <= table["ci_high"]).all()
    diff = table.loc["tuned", "policy_value"] - table.loc["start", "policy_value"]
    assert table.loc["tuned - start", "policy_value"] == pytest.approx(diff)
    assert len(result.cv_results_) == 3 and result.cv_results_["sizes_valid"].all()
    assert "tuned - start" in str(result) and "<details>" in result._repr_html_()
    # the refitted pipeline carries the chosen parameters and the learned lift
    assert result.best_pipeline_.named_steps["scores"].lift_ is not None


def test_tune_thresholds_refuses_what_it_cannot_do(campaign):
    X, t, y = campaign
    space = {"segments__min_size": [20]}
    with pytest.raises(ValueError, match="needs a SegmentScorer step"):
        tune_thresholds(
            SegmentationPipeline(make_cart_abandoner_pipeline().steps[:2]),
            X, treatment=t, outcome=y, search_space=space,
        )  # fmt: skip
    with pytest.raises(ValueError, match="leave its treatment/outcome column"):
        tune_thresholds(
            make_cart_abandoner_pipeline(scores__treatment="t", scores__outcome="y"),
            X, treatment=t, outcome=y, search_space=space,
        )  # fmt: skip
    with pytest.raises(ValueError, match="treatment has 10 values"):
        tune_thresholds(
            make_cart_abandoner_pipeline(), X, treatment=t[:10], outcome=y,
            search_space=space,
        )  # fmt: skip
    with pytest.raises(ValueError, match="outside the size limits"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tune_thresholds(
                make_cart_abandoner_pipeline(min_size=0, max_size=100),
                X, treatment=t, outcome=y, search_space=space, cv=3,
                n_bootstrap=10,
            )  # fmt: skip


def test_policies_are_compared_on_the_same_resamples():
    rng = np.random.default_rng(0)
    n = 5_000
    codes = rng.integers(0, 3, n)
    t = rng.integers(0, 2, n).astype(float)
    y = (rng.random(n) < 0.2 + 0.1 * t * (codes == 2)).astype(float)
    y[:50] = np.nan  # no outcome: left out, and the weights stay aligned
    table = compare_policies(
        {
            "all": (codes, 3, [True, True, True]),
            "same": (codes, 3, [True, True, True]),
            "best": (codes, 3, [False, False, True]),
        },
        t,
        y,
        n_bootstrap=300,
        random_state=0,
    )
    assert table.loc["same - all"].tolist() == [0.0, 0.0, 0.0]  # paired
    kept = ~np.isnan(y)
    direct = policy_value(codes[kept], 3, t[kept], y[kept], [False, False, True])
    assert table.loc["best", "policy_value"] == pytest.approx(direct)
    for name in ("all", "best", "best - all"):
        low, point, high = table.loc[name, ["ci_low", "policy_value", "ci_high"]]
        assert low < point < high
    weights = np.ones(n)
    weights[kept.nonzero()[0][:100]] = 0.0  # the first 100 kept rows left out
    out = kept.copy()
    out[kept.nonzero()[0][:100]] = False
    expected = policy_value(codes[out], 3, t[out], y[out], [True, True, True])
    got = policy_value(codes, 3, t, y, [True, True, True], weights=weights)
    assert got == pytest.approx(expected, abs=1e-12)


def test_the_hillstrom_example_compares_on_untouched_rows_with_intervals(capsys):
    from _shared import HILLSTROM, load_example

    if not HILLSTROM.is_file():
        pytest.skip(f"the Hillstrom data is not at {HILLSTROM}")
    table = load_example("tune_thresholds").main(
        [str(HILLSTROM), "--cv", "2", "--n-bootstrap", "100", "--budget", "0.3"]
    )
    printed = capsys.readouterr().out
    assert "untouched test rows" in printed and "95 % interval" in printed
    seed = "seed (40/75, 40/70, 70)"
    assert {seed, "tuned", f"tuned - {seed}"} <= set(table.index)
    assert (table["ci_low"] <= table["policy_value"]).all()
    assert (table["policy_value"] <= table["ci_high"]).all()
    # every policy contacts someone: a positive incremental outcome
    assert table.loc[seed, "ci_low"] > 0


def test_with_test_size_the_comparison_uses_rows_no_choice_has_seen(campaign):
    X, t, y = campaign
    space = {
        "thresholds__percentiles": [{"avg_order_value": (40, q)} for q in (50, 90)]
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = tune_thresholds(
            make_cart_abandoner_pipeline(min_size=20),
            X,
            treatment=t,
            outcome=y,
            search_space=space,
            cv=3,
            test_size=0.3,
            n_bootstrap=100,
            random_state=0,
        )
    assert result.summary["evaluated_on"].startswith("1,800 held-out rows")
    assert result.search_.n_splits_ == 3
    # the search saw 70 % of the rows; the comparison is on the other 30 %
    fitted_rows = result.best_pipeline_.named_steps["scores"].n_fit_rows_
    assert fitted_rows == 4_200
    assert "held-out rows" in str(result)


# ---------------------------------------------------------------------------------
# found by a review of the first version, each with the test that catches it
# ---------------------------------------------------------------------------------
def test_splitters_and_fold_lists_are_taken_and_uncounted_rows_refused(campaign):
    from sklearn.model_selection import KFold, ShuffleSplit, StratifiedKFold

    X, t, y = campaign
    space = {"segments__min_size": [20]}
    kwargs = {"treatment": t, "outcome": y, "search_space": space, "n_bootstrap": 20}
    folds = list(KFold(3, shuffle=True, random_state=0).split(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = make_cart_abandoner_pipeline(min_size=20)
        by_object = tune_thresholds(pipe, X, cv=StratifiedKFold(3), **kwargs)
        by_list = tune_thresholds(pipe, X, cv=folds, **kwargs)
    assert by_object.summary["n_folds"] == by_list.summary["n_folds"] == 3
    with pytest.raises(ValueError, match="exactly one test fold"):
        tune_thresholds(pipe, X, cv=ShuffleSplit(3, random_state=0), **kwargs)


def test_a_campaign_that_is_not_numbers_is_refused_by_name(campaign):
    X, t, y = campaign
    words = np.where(t == 1, "treated", "control")
    with pytest.raises(ValueError, match="treatment"):
        tune_thresholds(
            make_cart_abandoner_pipeline(),
            X,
            treatment=words,
            outcome=y,
            search_space={"segments__min_size": [20]},
        )
    scorer = SegmentScorer()
    segmented = make_cart_abandoner_pipeline(min_size=20)[:2].fit_transform(X)
    for bad, match in (
        (words, "treatment"),
        (np.stack([t, t], axis=1), "one value per row"),
        (pd.date_range("2024-01-01", periods=len(X)), "treatment"),
    ):
        with pytest.raises((ValueError, TypeError), match=match):
            scorer.fit(segmented, treatment=bad, outcome=y)
    with pytest.raises(ValueError, match="one value per row"):
        policy_value(np.zeros(10, int), 1, np.zeros(9), np.zeros(10), [True])


def test_a_tuned_pipeline_outside_the_limits_after_its_refit_is_flagged():
    from sklearn_mece import SegmentSizeWarning

    X, t, y = planted(3_000, 50, 0)
    space = {"thresholds__percentiles": [{"x": (q,)} for q in (45, 50, 55)]}
    # max_size in rows: each fold's fit sees 2,000 rows, the refit 3,000
    with pytest.warns(SegmentSizeWarning, match="refitted on every row"):
        result = tune_thresholds(
            one_cut_pipeline(max_size=1_100),
            X,
            treatment=t,
            outcome=y,
            search_space=space,
            cv=3,
            n_bootstrap=20,
            random_state=0,
        )
    assert result.summary["tuned_valid"] is False
    assert result.cv_results_["sizes_valid"].all()


def test_renaming_one_request_keeps_the_other(campaign):
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = policy_value_scorer().set_score_request(
            treatment="sent", outcome="bought"
        )
        scorer.set_score_request(outcome="converted")
        requests = scorer.get_metadata_routing().score.requests
    assert requests == {"treatment": "sent", "outcome": "converted"}
