"""Observed lift, its intervals and tests, simulated lift, and holdout assignment."""

import hashlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_mece import assign_holdout
from sklearn_mece._lift import (
    holm,
    lift_by_code,
    lift_to_unit,
    observed_lift,
    simulated_lift,
)

multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests

# -- helpers ------------------------------------------------------------------------------
BASE = {"A": 0.10, "B": 0.05, "C": 0.20, "D": 0.08, "E": 0.30, "F": 0.02}
EFFECT = {"A": 0.05, "B": 0.00, "C": 0.10, "D": -0.03, "E": 0.02, "F": 0.04}


def campaign(n=60_000, seed=0, holdout=0.3):
    """A randomized campaign with known per-segment effects on a 0/1 outcome."""
    rng = np.random.default_rng(seed)
    names = np.array(sorted(BASE))
    segment = names[rng.integers(0, len(names), n)]
    ids = np.arange(500_000, 500_000 + n)
    control = assign_holdout(ids, fraction=holdout, salt=f"test-{seed}")
    treatment = (~control).astype(np.int64)
    base = pd.Series(segment).map(BASE).to_numpy()
    effect = pd.Series(segment).map(EFFECT).to_numpy()
    converted = (rng.random(n) < base + effect * treatment).astype(np.int64)
    return pd.DataFrame(
        {"user_id": ids, "segment": segment, "treatment": treatment, "y": converted}
    )


def independent_lift(df, outcome="y"):
    """Rates per arm and their difference, with pandas only."""
    rates = df.groupby(["segment", "treatment"])[outcome].agg(["mean", "size"])
    rates = rates.unstack("treatment")
    return pd.DataFrame(
        {
            "n_treated": rates[("size", 1)],
            "n_control": rates[("size", 0)],
            "rate_treated": rates[("mean", 1)],
            "rate_control": rates[("mean", 0)],
            "lift_observed": rates[("mean", 1)] - rates[("mean", 0)],
        }
    )


# -- observed lift ------------------------------------------------------------------------
def test_observed_lift_equals_independent_rate_differences():
    df = campaign()
    got = observed_lift(df["segment"], df["treatment"], df["y"])
    expected = independent_lift(df)
    assert list(got.index) == sorted(BASE)
    for column in expected.columns:
        np.testing.assert_allclose(
            got[column].to_numpy(dtype=float),
            expected[column].to_numpy(dtype=float),
            rtol=1e-12,
            atol=1e-15,
            err_msg=column,
        )
    # the estimates recover the known effects (60,000 rows: SE about 0.01)
    true = pd.Series(EFFECT)[got.index]
    assert np.abs(got["lift_observed"] - true).max() < 0.04
    # intervals are ordered around the estimate
    assert (got["lift_ci_low"] <= got["lift_observed"]).all()
    assert (got["lift_observed"] <= got["lift_ci_high"]).all()


@pytest.mark.parametrize("ci_method", ["newcomb", "agresti-caffo"])
def test_rate_intervals_cover_the_true_effect_at_the_nominal_rate(ci_method):
    """1,000 independent segments, each a randomized test with a known effect."""
    rng = np.random.default_rng(42)
    k, n = 1_000, 200  # segments, rows per arm
    codes = np.repeat(np.arange(k), 2 * n)
    treatment = np.tile(np.r_[np.ones(n), np.zeros(n)], k)
    base = rng.uniform(0.05, 0.4, k)
    effect = rng.uniform(-0.04, 0.12, k)
    p = np.where(treatment == 1, (base + effect)[codes], base[codes])
    outcome = (rng.random(codes.size) < p).astype(float)
    res = lift_by_code(codes, k, treatment, outcome, ci_method=ci_method)
    assert res["outcome_type"] == "rate"
    covered = (res["lift_ci_low"] <= effect) & (effect <= res["lift_ci_high"])
    # nominal 0.95; the Monte Carlo standard error is 0.007
    assert 0.93 <= covered.mean() <= 0.975, covered.mean()
    # a wrong alpha would be caught: 80 % intervals cover far less
    res80 = lift_by_code(codes, k, treatment, outcome, ci_method=ci_method, alpha=0.2)
    covered80 = (res80["lift_ci_low"] <= effect) & (effect <= res80["lift_ci_high"])
    assert 0.76 <= covered80.mean() <= 0.84, covered80.mean()


def test_welch_intervals_cover_the_true_spend_difference():
    rng = np.random.default_rng(7)
    k, n_t, n_c = 600, 150, 60  # unequal arms and unequal variances
    codes = np.r_[np.repeat(np.arange(k), n_t), np.repeat(np.arange(k), n_c)]
    treatment = np.r_[np.ones(k * n_t), np.zeros(k * n_c)]
    effect = rng.uniform(-5, 15, k)
    scale = np.where(treatment == 1, 3.0, 1.0)
    spend = rng.normal(50.0, 10.0 * scale) + np.where(treatment == 1, effect[codes], 0)
    res = lift_by_code(codes, k, treatment, spend)
    assert res["outcome_type"] == "amount"
    covered = (res["lift_ci_low"] <= effect) & (effect <= res["lift_ci_high"])
    assert 0.925 <= covered.mean() <= 0.975, covered.mean()


def test_amount_lift_equals_independent_mean_difference_and_statsmodels_welch():
    from statsmodels.stats.weightstats import ttest_ind

    df = campaign(n=5_000, seed=3)
    rng = np.random.default_rng(3)
    df["spend"] = df["y"] * rng.gamma(2.0, 40.0, len(df))
    got = observed_lift(df["segment"], df["treatment"], df["spend"])
    expected = independent_lift(df, "spend")
    np.testing.assert_allclose(got["lift_observed"], expected["lift_observed"])
    for name, part in df.groupby("segment"):
        t, p, _ = ttest_ind(
            part.loc[part.treatment == 1, "spend"],
            part.loc[part.treatment == 0, "spend"],
            usevar="unequal",
        )
        assert got.loc[name, "lift_p_value"] == pytest.approx(p, rel=1e-10)


@pytest.mark.parametrize("method", ["holm", "fdr_bh"])
def test_p_values_are_corrected_across_segments(method):
    df = campaign(n=20_000, seed=1)
    got = lift_by_code(
        pd.factorize(df["segment"], sort=True)[0],
        len(BASE),
        df["treatment"].to_numpy(float),
        df["y"].to_numpy(float),
        p_adjust=method,
    )
    reject, adjusted, _, _ = multipletests(got["lift_p_value"], method=method)
    np.testing.assert_allclose(got["lift_p_adjusted"], adjusted)
    np.testing.assert_array_equal(got["lift_significant"], reject)
    assert (got["lift_p_adjusted"] >= got["lift_p_value"] - 1e-15).all()
    if method == "holm":
        # a strong effect survives the correction, a null one does not
        names = sorted(BASE)
        assert got["lift_significant"][names.index("C")]
        assert not got["lift_significant"][names.index("B")]


def test_a_segment_without_both_arms_is_not_observed():
    segment = np.array(["A"] * 6 + ["B"] * 4 + ["C"] * 4)
    treatment = np.array([1, 1, 1, 0, 0, 0] + [1] * 4 + [1, 0, 1, np.nan])
    outcome = np.array([1, 0, 1, 0, 0, 1] + [1, 0, 1, 1] + [1, 0, np.nan, 1.0])
    res = lift_by_code(pd.factorize(segment)[0], 3, treatment, outcome)
    np.testing.assert_array_equal(res["observed"], [True, False, True])
    assert np.isnan(res["lift_observed"][1]) and np.isnan(res["lift_ci_low"][1])
    assert np.isnan(res["lift_p_adjusted"][1]) and not res["lift_significant"][1]
    # rows with a missing treatment or outcome are left out: C has 1 treated, 1 control
    assert (res["n_treated"][2], res["n_control"][2]) == (1, 1)
    assert res["lift_observed"][2] == 1.0


def test_identical_degenerate_arms_have_no_effect_and_p_value_one():
    segment = np.zeros(40, dtype=int)
    treatment = np.tile([1, 0], 20)
    res = lift_by_code(segment, 1, treatment, np.zeros(40))
    assert res["lift_observed"][0] == 0.0
    assert res["lift_p_value"][0] == 1.0
    assert res["lift_ci_low"][0] < 0 < res["lift_ci_high"][0]


def test_agresti_caffo_interval_is_clipped_to_possible_differences():
    segment = np.zeros(20, dtype=int)
    treatment = np.r_[np.ones(10), np.zeros(10)]
    outcome = np.r_[np.zeros(10), np.ones(10)]  # -1: the most negative possible
    res = lift_by_code(segment, 1, treatment, outcome, ci_method="agresti-caffo")
    assert res["lift_ci_low"][0] == -1.0
    assert res["lift_observed"][0] == -1.0


def test_treatment_and_outcome_are_validated():
    codes = np.zeros(4, dtype=int)
    with pytest.raises(ValueError, match="treatment column must hold 1"):
        lift_by_code(codes, 1, np.array([1, 0, 2, 0]), np.ones(4))
    with pytest.raises(ValueError, match="outcome_type='rate' needs a 0/1"):
        lift_by_code(
            codes,
            1,
            np.array([1, 0, 1, 0]),
            np.array([1, 0, 3.5, 0]),
            outcome_type="rate",
        )
    with pytest.raises(ValueError, match="infinite"):
        lift_by_code(codes, 1, np.array([1, 0, 1, 0]), np.array([1, 0, np.inf, 0]))
    # a 0/1 outcome can be analysed as an amount on request (Welch)
    res = lift_by_code(
        np.zeros(8, dtype=int),
        1,
        np.tile([1, 0], 4),
        np.array([1, 0, 1, 0, 0, 1, 1, 0.0]),
        outcome_type="amount",
    )
    assert res["outcome_type"] == "amount"


# -- adjusted intervals and shrinkage (issue #15) -----------------------------------------------
def test_adjusted_intervals_are_bonferroni_intervals_and_agree_with_the_tests():
    data = campaign(seed=3)
    report = observed_lift(data["segment"], data["treatment"], data["y"])
    m = len(report)
    # the adjusted interval is the segment's own interval at level 1 - alpha/m
    from statsmodels.stats.proportion import confint_proportions_2indep

    for name, row in report.iterrows():
        seg = data[data["segment"] == name]
        t = seg[seg["treatment"] == 1]["y"]
        c = seg[seg["treatment"] == 0]["y"]
        low, high = confint_proportions_2indep(
            t.sum(), len(t), c.sum(), len(c), method="newcomb", alpha=0.05 / m
        )
        assert (row["lift_ci_low_adjusted"], row["lift_ci_high_adjusted"]) == (
            pytest.approx(low, abs=1e-15),
            pytest.approx(high, abs=1e-15),
        )
    assert report.attrs["lift_ci_adjusted"] == (
        "95 % simultaneous intervals over 6 segments (Bonferroni: 99.17 % each)"
    )
    # an adjusted interval that excludes 0 is a corrected-significant segment
    # (Holm rejects whatever Bonferroni rejects)
    excludes = (report["lift_ci_low_adjusted"] > 0) | (
        report["lift_ci_high_adjusted"] < 0
    )
    assert excludes.any()
    assert report.loc[excludes, "lift_significant"].all()


def test_shrink_lift_moves_imprecise_estimates_most():
    from sklearn_mece import shrink_lift

    lift = np.array([0.03, 0.15, 0.0, 0.01])
    se = np.array([0.0025, 0.1, 0.005, 0.005])
    shrunk, mu, tau2 = shrink_lift(lift, se)
    assert tau2 > 0 and min(lift) < mu < max(lift)
    moved = np.abs(shrunk - lift)
    assert moved.argmax() == 1  # the least precise moves most
    assert np.all(np.sign(shrunk - lift) == np.sign(mu - lift))  # toward mu
    # the segments differ no more than their noise: all shrunk to the pooled lift
    same, mu, tau2 = shrink_lift([0.02, 0.021, 0.019], [0.01, 0.005, 0.03])
    assert tau2 == 0 and np.allclose(same, mu)
    # a lift without a usable standard error carries no evidence: the pooled
    # lift; a missing lift stays missing; one segment alone is not shrunk
    odd, mu, _ = shrink_lift(
        [0.03, 0.01, 1.0, 0.5, np.nan], [0.01, 0.01, np.nan, 0.0, 0.1]
    )
    assert odd[2] == odd[3] == mu and np.isnan(odd[4])
    one, mu, _ = shrink_lift([0.05, np.nan], [0.01, np.nan])
    assert one[0] == 0.05 and np.isnan(one[1]) and np.isnan(mu)


def test_a_tiny_segment_without_variation_does_not_take_the_top_lift_score():
    """Found in review: an amount outcome with constant arms (n=2 each) has
    no Welch interval; it was left unshrunk and scored 1, squashing every
    other segment's lift score."""
    from sklearn_mece import SegmentScorer

    rng = np.random.default_rng(0)
    n = 20_000
    segment = rng.choice(["A", "B", "C"], n)
    t = (rng.random(n) < 0.5).astype(int)
    orders = rng.poisson(1.0 + 0.3 * t * (segment == "A")).astype(float)
    data = pd.DataFrame({"segment": segment, "t": t, "orders": orders})
    tiny = pd.DataFrame(
        {"segment": "Tiny", "t": [1, 1, 0, 0], "orders": [1.0, 1, 0, 0]}
    )
    data = pd.concat([data, tiny], ignore_index=True)
    none = dict.fromkeys(
        ("aov_column", "engagement_column", "profitability_column", "recency_column")
    )
    report = SegmentScorer(**none, treatment="t", outcome="orders").fit(data).report_
    assert report.loc["Tiny", "lift_observed"] == 1.0
    assert report.loc["Tiny", "lift_score"] < report.loc["A", "lift_score"]
    assert report["lift_score"].idxmax() == "A"


def test_no_effect_anywhere_scores_about_one_half():
    """Found in review: with no real effect every shrunk lift is the pooled
    one, and dividing by the largest shrunk lift sent all segments to 0 or 1
    by the sign of noise."""
    from sklearn_mece import SegmentScorer

    none = dict.fromkeys(
        ("aov_column", "engagement_column", "profitability_column", "recency_column")
    )
    checked = 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        n = 30_000
        data = pd.DataFrame(
            {
                "segment": rng.choice(list("ABCDEF"), n),
                "t": (rng.random(n) < 0.5).astype(int),
                "y": (rng.random(n) < 0.1).astype(int),
            }
        )
        scorer = SegmentScorer(**none, treatment="t", outcome="y").fit(data)
        report = scorer.report_
        if report["lift_significant"].any():
            continue  # a false positive: not the situation tested
        checked += 1
        assert report["lift_score"].between(0.25, 0.75).all(), seed
    assert checked >= 4


def _tiny_versus_large(seed):
    """Five segments: a large one with a moderate real lift (+2 points), a
    tiny one with a larger real lift (+8 points) measured on 60 customers,
    three with little or none."""
    rng = np.random.default_rng(seed)
    sizes = {
        "large": 40_000,
        "tiny": 60,
        "flat_1": 8_000,
        "flat_2": 8_000,
        "weak": 8_000,
    }
    effect = {"large": 0.02, "tiny": 0.08, "flat_1": 0.0, "flat_2": 0.0, "weak": 0.005}
    segment = np.repeat(list(sizes), list(sizes.values()))
    treatment = (rng.random(len(segment)) < 0.5).astype(int)
    p = 0.05 + np.vectorize(effect.get)(segment) * treatment
    converted = (rng.random(len(segment)) < p).astype(int)
    return pd.DataFrame({"segment": segment, "t": treatment, "y": converted})


def test_lift_score_ranks_a_large_significant_lift_above_a_tiny_noisy_one():
    from sklearn_mece import SegmentScorer

    checked = 0
    for seed in range(40):
        data = _tiny_versus_large(seed)
        scorer = SegmentScorer(
            aov_column=None,
            engagement_column=None,
            profitability_column=None,
            recency_column=None,
            treatment="t",
            outcome="y",
        ).fit(data)
        report = scorer.report_
        large, tiny = report.loc["large"], report.loc["tiny"]
        if not (
            tiny["lift_observed"] > large["lift_observed"]
            and large["lift_significant"]
            and not tiny["lift_significant"]
            and tiny["lift_ci_low"] <= 0 <= tiny["lift_ci_high"]
        ):
            # the situation of the issue did not arise with this seed. (When
            # the tiny segment's own interval excludes 0, its evidence is
            # real and the shrunk estimate may keep it first: 3 of 40 seeds.)
            continue
        checked += 1
        assert large["lift_score"] > tiny["lift_score"], seed
        assert large["lift_shrunk"] > tiny["lift_shrunk"], seed
    assert checked >= 10


# -- simulated lift and the normalisation ---------------------------------------------------
def test_simulated_lift_is_the_seed_formula_without_noise():
    e, a = np.array([0.2, 0.9]), np.array([0.5, 1.0])
    np.testing.assert_allclose(simulated_lift(e, a), 0.1 + 0.4 * e + 0.3 * a)
    np.testing.assert_array_equal(simulated_lift(e, a), simulated_lift(e, a))


def test_lift_to_unit_keeps_zero_sign_and_ratio():
    out = lift_to_unit([0.04, 0.02, 0.0, -0.04], scale=0.04)
    np.testing.assert_allclose(out, [1.0, 0.75, 0.5, 0.0])
    np.testing.assert_array_equal(lift_to_unit([0.0, 0.0], 0.0), [0.5, 0.5])


# -- holdout assignment -------------------------------------------------------------------
# Golden flags: the hash is part of the contract, a change here re-randomizes every
# running campaign's holdout.
def test_assign_holdout_is_pinned_and_is_the_documented_hash():
    ids = list(range(1_000, 1_020))
    control = assign_holdout(ids, fraction=0.3, salt="golden")
    assert np.flatnonzero(control).tolist() == [1, 6, 19]
    names = ["alice", "bob", "carol", "dave", "erin", "frank"]
    assert np.flatnonzero(assign_holdout(names, 0.5, "golden")).tolist() == [1]

    def by_hand(key, salt, fraction):
        digest = hashlib.blake2b(
            f"{salt}\x1f{key}".encode(), digest_size=8, person=b"sklearn-mece"
        ).digest()
        return (int.from_bytes(digest, "big") >> 11) / 2**53 < fraction

    assert control.tolist() == [by_hand(i, "golden", 0.3) for i in ids]


def test_assign_holdout_is_stable_across_row_order_and_other_rows():
    # (stable across processes: the pinned test above holds in every process,
    # the hash never involves Python's randomized hash())
    ids = np.arange(10_000, 12_000)
    control = assign_holdout(ids, fraction=0.25, salt="s1")
    perm = np.random.default_rng(0).permutation(ids.size)
    np.testing.assert_array_equal(assign_holdout(ids[perm], 0.25, "s1"), control[perm])
    # the other rows do not matter
    np.testing.assert_array_equal(assign_holdout(ids[:10], 0.25, "s1"), control[:10])


def test_assign_holdout_fraction_per_segment_and_monotone():
    rng = np.random.default_rng(0)
    n = 40_000
    ids = rng.permutation(10 * n)[:n]
    segments = rng.choice(["Premium", "Recent", "Other"], n)
    fractions = {"Premium": 0.5, "Recent": 0.05}
    control = assign_holdout(
        ids, 0.1, "campaign-7", segments=segments, fractions=fractions
    )
    for name, expected in {"Premium": 0.5, "Recent": 0.05, "Other": 0.1}.items():
        share = control[segments == name].mean()
        sd = np.sqrt(expected * (1 - expected) / (segments == name).sum())
        assert abs(share - expected) < 4 * sd, (name, share)
    # raising a fraction only adds customers to the holdout
    small = assign_holdout(ids, 0.1, "campaign-7")
    large = assign_holdout(ids, 0.2, "campaign-7")
    assert (large | ~small).all() and large.sum() > small.sum()
    # another salt draws an independent split
    other = assign_holdout(ids, 0.1, "campaign-8")
    both = (small & other).mean()
    assert abs(both - 0.01) < 0.004


def test_assign_holdout_id_types():
    as_int = assign_holdout(np.array([5, 17, 12345]), 0.5, "x")
    as_float = assign_holdout(np.array([5.0, 17.0, 12345.0]), 0.5, "x")
    as_str = assign_holdout(["5", "17", "12345"], 0.5, "x")
    as_series = assign_holdout(pd.Series([5, 17, 12345], dtype="Int64"), 0.5, "x")
    np.testing.assert_array_equal(as_int, as_float)
    np.testing.assert_array_equal(as_int, as_str)
    np.testing.assert_array_equal(as_int, as_series)
    assert assign_holdout([1, 2, 3], 0.0, "x").sum() == 0
    assert assign_holdout([1, 2, 3], 1.0, "x").all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"ids": [1, 2], "fraction": 1.5}, "fraction must be a number in"),
        ({"ids": [1, None]}, "missing"),
        ({"ids": [1.0, np.nan]}, "missing"),
        ({"ids": [1, 2], "fractions": {"A": 0.2}}, "fractions needs segments"),
        (
            {"ids": [1, 2], "segments": ["A"], "fractions": {"A": 0.2}},
            "one value per id",
        ),
        (
            {"ids": [1, 2], "segments": ["A", "B"], "fractions": {"A": -0.1}},
            r"fractions\['A'\]",
        ),
    ],
)
def test_assign_holdout_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        assign_holdout(**kwargs)


@settings(max_examples=100, deadline=None)
@given(
    p=st.lists(
        st.one_of(
            st.floats(0, 1),
            st.sampled_from([0.0, 0.01, 0.0125, 0.025, 0.05, 1.0]),  # ties, edges
        ),
        min_size=1,
        max_size=12,
    ),
    alpha=st.sampled_from([0.01, 0.05, 0.1, 0.2]),
)
def test_holm_is_statsmodels_holm(p, alpha):
    reject, adjusted = holm(np.array(p), alpha)
    expected_reject, expected, _, _ = multipletests(p, alpha=alpha, method="holm")
    np.testing.assert_array_equal(reject, expected_reject)
    np.testing.assert_array_equal(adjusted, expected)


def test_a_fit_with_holm_runs_no_full_garbage_collection(monkeypatch):
    """statsmodels' Holm runs gc.collect() (90 ms of each scorer fit, with
    pandas and scikit-learn loaded); the package's Holm does not, and leaves
    the collector alone (no freeze: nothing is kept from being collected)."""
    import gc

    from sklearn_mece._lift import lift_by_code

    rng = np.random.default_rng(0)
    codes = rng.integers(0, 3, 600)
    t = rng.integers(0, 2, 600).astype(float)
    y = (rng.random(600) < 0.3).astype(float)
    calls = []
    for name in ("collect", "freeze", "unfreeze"):
        monkeypatch.setattr(gc, name, lambda *a, _n=name: calls.append(_n))
    result = lift_by_code(codes, 3, t, y)
    assert calls == []
    assert np.isfinite(result["lift_p_adjusted"]).all()
    lift_by_code(codes, 3, t, y, p_adjust="bonferroni")  # statsmodels' own
