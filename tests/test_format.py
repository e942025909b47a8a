"""Number formats of the report and the command line, and the incremental
outcome (lift x size) against an independent computation."""

import numpy as np
import pandas as pd
import pytest
from _shared import HILLSTROM, load_example

from sklearn_mece._format import (
    format_count,
    format_money,
    format_number,
    format_p_value,
    format_points,
    format_score,
    format_share,
)
from sklearn_mece._lift import incremental_outcome


@pytest.mark.parametrize(
    "func, value, expected",
    [
        (format_count, 1234567, "1,234,567"),
        (format_count, 0, "0"),
        (format_count, 12.0, "12"),
        (format_count, np.nan, "–"),
        (format_share, 0.25, "25.0 %"),
        (format_share, 1.0, "100.0 %"),
        (format_share, 0.00049, "0.0 %"),
        (format_p_value, 9.4e-27, "< 0.001"),
        (format_p_value, 0.000999, "< 0.001"),
        (format_p_value, 0.001, "0.001"),
        (format_p_value, 0.0013, "0.0013"),
        (format_p_value, 0.36, "0.36"),
        (format_p_value, 1.0, "1"),
        (format_p_value, None, "–"),
        (format_money, 590.662, "$590.66"),
        (format_money, 1234567.891, "$1,234,567.89"),
        (format_money, -12.3, "-$12.30"),
        (format_money, -0.001, "$0.00"),  # no negative zero
        (format_points, 0.0695, "+6.95 pp"),
        (format_points, -0.0003, "-0.03 pp"),
        (format_points, 0.0, "+0.00 pp"),
        (format_score, 0.44742250028579683, "0.4474"),
        (format_score, 1.0, "1.0000"),
        (format_number, 1783.0, "1,783"),
        (format_number, 12345.678, "12,346"),
        (format_number, 0.12345, "0.123"),
        (format_number, -0.5, "-0.500"),
        (format_number, np.inf, "∞"),
        (format_number, True, "yes"),
    ],
)
def test_number_formats(func, value, expected):
    assert func(value) == expected


@pytest.mark.parametrize(
    "currency, expected",
    [("$", "$1,783.50"), ("€", "€1,783.50"), ("EUR", "1,783.50 EUR"), ("", "1,783.50")],
)
def test_money_takes_a_configurable_currency(currency, expected):
    assert format_money(1783.5, currency) == expected
    assert format_money(-1783.5, currency) == "-" + expected


def test_incremental_outcome_is_lift_times_size():
    size = np.array([100, 2_000, 0])
    lift = np.array([0.05, -0.01, np.nan])
    outcome, low, high = incremental_outcome(size, lift, lift - 0.02, lift + 0.03)
    np.testing.assert_allclose(outcome[:2], [5.0, -20.0])
    np.testing.assert_allclose(low[:2], [3.0, -60.0])
    np.testing.assert_allclose(high[:2], [8.0, 40.0])
    assert np.isnan(outcome[2])


@pytest.mark.skipif(not HILLSTROM.is_file(), reason="Hillstrom data not available")
def test_incremental_visits_on_hillstrom_match_an_independent_computation():
    """The issue's figures: the broad Tier 4 Other_Bucket brings about 1,782
    extra visits, the Tier 1 premium segment about 1,112."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    from sklearn_mece import make_cart_abandoner_pipeline, segment_report

    example = load_example("real_lift")
    X = example.hillstrom_features(pd.read_csv(HILLSTROM))
    pipe = make_cart_abandoner_pipeline(
        min_size=500,
        max_size=0.5,
        scores__treatment="treatment",
        scores__outcome="visit",
    )
    out = pipe.fit_transform(X)
    report = segment_report(pipe, out)

    # independently: pandas for the arms, statsmodels for the interval
    frame = pd.DataFrame(
        {"segment": out["segment"].astype(str), "t": X["treatment"], "y": X["visit"]}
    )
    for name, rows in frame.groupby("segment"):
        t, c = rows[rows["t"] == 1]["y"], rows[rows["t"] == 0]["y"]
        lift = t.mean() - c.mean()
        low, high = confint_proportions_2indep(
            t.sum(), len(t), c.sum(), len(c), method="newcomb", compare="diff"
        )
        got = report.loc[name]
        assert got["incremental_outcome"] == pytest.approx(len(rows) * lift, rel=1e-12)
        assert got["incremental_ci_low"] == pytest.approx(len(rows) * low, rel=1e-9)
        assert got["incremental_ci_high"] == pytest.approx(len(rows) * high, rel=1e-9)
    # the issue read them off the rounded table (31,272 x 5.70 points): 1,783
    other = report.loc["Other_Bucket", "incremental_outcome"]
    premium = report.loc["High_AOV_Premium", "incremental_outcome"]
    assert (round(other), round(premium)) == (1_782, 1_112)


def test_exports_round_the_scores(tmp_path):
    from sklearn_mece import (
        export_assignments,
        export_report,
        make_cart_abandoner_pipeline,
        segment_report,
    )
    from sklearn_mece.datasets import make_cart_abandoners

    X = make_cart_abandoners(3_000, random_state=0)
    pipe = make_cart_abandoner_pipeline(min_size=50)
    out = pipe.fit_transform(X)
    assignments = pd.read_csv(
        export_assignments(out, tmp_path / "a.csv", id_col="user_id")
    )
    np.testing.assert_array_equal(
        assignments["segment_score"], out["segment_score"].round(4).to_numpy()
    )
    report = segment_report(pipe, out)
    written = pd.read_csv(export_report(report, tmp_path / "s.csv"))
    for column in ("score", "conversion_potential", "lift_score"):
        np.testing.assert_array_equal(
            written[column], report[column].round(4).to_numpy()
        )
    assert (written["size"] == report["size"].to_numpy()).all()  # counts untouched
    # the DataFrame the caller holds is not changed
    assert not np.array_equal(report["score"], report["score"].round(4))


@pytest.mark.parametrize(
    "value, number, money, count",
    [
        (999_999_999_999_999.0, "999,999,999,999,999", "$999,999,999,999,999.00",
         "999,999,999,999,999"),
        (1e15, "1e+15", "$1e+15", "1e+15"),
        (-8.16e306, "-8.16e+306", "-$8.16e+306", "-8.16e+306"),
        (2**70, "1.18e+21", "$1.18e+21", "1.18e+21"),
    ],
)  # fmt: skip
def test_numbers_beyond_a_quadrillion_are_written_in_scientific_notation(
    value, number, money, count
):
    """No count or amount is that large; written out such a number is hundreds
    of digits wide (a report cell ran 408 characters)."""
    from sklearn_mece._format import format_count, format_money, format_number

    assert format_number(value) == number
    assert format_money(value) == money
    assert format_count(value) == count


def test_extreme_integers_and_negative_zero_read_as_floats_do():
    """numpy's most negative int64 overflowed abs() (a RuntimeWarning and all
    19 digits); ints beyond any float raised OverflowError; -0.0 read "-0"."""
    import warnings

    from sklearn_mece._format import format_count, format_number

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert format_count(np.int64(-(2**63))) == "-9.22e+18"
        assert format_number(np.int64(-(2**63))) == "-9.22e+18"
    assert format_number(2**1024) == format_number(1.797e308) == "1.8e+308"
    assert format_count(10**400) == "1e+400"
    assert format_number(-0.0) == "0"
