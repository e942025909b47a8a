"""Tests for sklearn_mece.datasets: the mock population and universe selection."""

import numpy as np
import pandas as pd
import pytest

from sklearn_mece.datasets import (
    DEFAULT_REFERENCE_TIME,
    make_cart_abandoners,
    select_universe,
)

COLUMNS = [
    "user_id",
    "avg_order_value",
    "engagement_score",
    "profitability_score",
    "days_since_last_order",
    "cart_items",
    "cart_value",
    "abandoned_at",
    "country",
    "product_category",
]


@pytest.fixture(scope="module")
def df():
    return make_cart_abandoners(50_000, random_state=0)


def test_columns_and_dtypes(df):
    assert list(df.columns) == COLUMNS
    assert len(df) == 50_000
    assert isinstance(df.index, pd.RangeIndex)
    for col in ["user_id", "days_since_last_order", "cart_items"]:
        assert df[col].dtype == np.int64, col
    for col in [
        "avg_order_value",
        "engagement_score",
        "profitability_score",
        "cart_value",
    ]:
        assert df[col].dtype == np.float64, col
    assert df["abandoned_at"].dtype == np.dtype("datetime64[ns]")
    for col in ["country", "product_category"]:
        assert pd.api.types.is_string_dtype(df[col].dtype), col
        assert all(isinstance(v, str) for v in df[col].unique())
        assert 2 <= df[col].nunique() <= 10, col


def test_same_int_seed_gives_identical_frames():
    a = make_cart_abandoners(2_000, random_state=42)
    b = make_cart_abandoners(2_000, random_state=42)
    pd.testing.assert_frame_equal(a, b)


def test_different_seeds_give_different_frames():
    a = make_cart_abandoners(2_000, random_state=1)
    b = make_cart_abandoners(2_000, random_state=2)
    assert not a["avg_order_value"].equals(b["avg_order_value"])
    assert not a["abandoned_at"].equals(b["abandoned_at"])


def test_random_state_instance_is_accepted_and_consumed():
    rng = np.random.RandomState(0)
    a = make_cart_abandoners(500, random_state=rng)
    b = make_cart_abandoners(500, random_state=rng)  # the generator moved on
    pd.testing.assert_frame_equal(
        a, make_cart_abandoners(500, random_state=np.random.RandomState(0))
    )
    assert not a["engagement_score"].equals(b["engagement_score"])


def test_value_ranges(df):
    assert df["user_id"].is_unique
    aov = df["avg_order_value"]
    assert (aov > 0).all()
    np.testing.assert_allclose(aov * 100, np.round(aov * 100), atol=1e-6)
    assert aov.duplicated().any()  # cents rounding creates ties
    assert 100 <= aov.median() <= 200
    assert aov.mean() > aov.median()  # long right tail
    assert aov.quantile(0.99) > 3 * aov.median()
    for col in ["engagement_score", "profitability_score"]:
        assert df[col].between(0, 1).all(), col
        assert df[col].std() > 0.1, col
    assert (df["days_since_last_order"] >= 0).all()
    assert (df["cart_items"] >= 1).all()
    assert df["cart_items"].nunique() > 3
    assert (df["cart_value"] > 0).all()
    assert not df.isna().any().any()


def test_share_of_recent_customers(df):
    share = (df["days_since_last_order"] <= 30).mean()
    assert 0.25 <= share <= 0.35


def test_correlations_go_the_documented_way(df):
    rho = df[
        [
            "avg_order_value",
            "engagement_score",
            "profitability_score",
            "days_since_last_order",
        ]
    ].corr("spearman")
    assert 0.3 <= rho.loc["avg_order_value", "engagement_score"] <= 0.5
    assert rho.loc["avg_order_value", "profitability_score"] > 0.2
    assert rho.loc["engagement_score", "days_since_last_order"] < -0.2
    recent = df["days_since_last_order"] <= 30
    assert (
        df.loc[recent, "engagement_score"].mean()
        > df.loc[~recent, "engagement_score"].mean() + 0.05
    )


def test_abandonments_span_two_weeks_before_reference_time(df):
    ts = df["abandoned_at"]
    assert (ts < DEFAULT_REFERENCE_TIME).all()
    assert (ts > DEFAULT_REFERENCE_TIME - pd.Timedelta(days=14)).all()
    last_week = ts > DEFAULT_REFERENCE_TIME - pd.Timedelta(days=7)
    assert last_week.sum() == 40_000
    # both weeks are spread out, not bunched at one instant
    assert ts[last_week].dt.day.nunique() >= 7
    assert ts[~last_week].dt.day.nunique() >= 7


def test_reference_time_shifts_the_timestamps_only():
    ref = pd.Timestamp("2025-03-10 12:00")
    a = make_cart_abandoners(300, random_state=3)
    b = make_cart_abandoners(300, random_state=3, reference_time=ref)
    shift = ref - DEFAULT_REFERENCE_TIME
    pd.testing.assert_series_equal(b["abandoned_at"], a["abandoned_at"] + shift)
    pd.testing.assert_frame_equal(
        a.drop(columns="abandoned_at"), b.drop(columns="abandoned_at")
    )


def test_timezone_aware_reference_time():
    df = make_cart_abandoners(200, random_state=0, reference_time="2026-11-01 00:00Z")
    assert str(df["abandoned_at"].dt.tz) == "UTC"
    assert len(select_universe(df)) > 0


@pytest.mark.parametrize("n_users", [0, -5, 2.5, True, "10"])
def test_invalid_n_users(n_users):
    with pytest.raises(ValueError, match="n_users"):
        make_cart_abandoners(n_users)


def test_single_user():
    df = make_cart_abandoners(1, random_state=0)
    assert len(df) == 1
    assert list(df.columns) == COLUMNS


# --- select_universe --------------------------------------------------------


def test_universe_is_eighty_percent(df):
    exact = select_universe(df, reference_time=DEFAULT_REFERENCE_TIME)
    assert len(exact) == 40_000
    default = select_universe(df)  # window ends at the latest abandonment
    assert abs(len(default) - 40_000) <= 50


def test_universe_keeps_rows_index_and_columns(df):
    universe = select_universe(df, reference_time=DEFAULT_REFERENCE_TIME)
    assert list(universe.columns) == list(df.columns)
    assert universe.index.is_monotonic_increasing
    pd.testing.assert_frame_equal(universe, df.loc[universe.index])
    cutoff = DEFAULT_REFERENCE_TIME - pd.Timedelta(days=7)
    assert (universe["abandoned_at"] > cutoff).all()
    rest = df.drop(index=universe.index)
    assert (rest["abandoned_at"] <= cutoff).all()


def _frame(times, index=None):
    return pd.DataFrame(
        {"t": pd.to_datetime(times), "x": range(len(times))},
        index=index,
    )


def test_window_excludes_start_and_includes_end():
    df = _frame(
        [
            "2026-01-01 00:00",  # exactly 7 days before the end: out
            "2026-01-01 00:01",  # in
            "2026-01-08 00:00",  # the end itself: in
            "2026-01-08 00:01",  # after the end: out
            None,  # NaT: never in
        ],
        index=[10, 11, 12, 13, 14],
    )
    out = select_universe(df, timestamp_col="t", reference_time="2026-01-08")
    assert out.index.tolist() == [11, 12]
    # default end: the latest timestamp in the column
    out = select_universe(df, timestamp_col="t")
    assert out.index.tolist() == [12, 13]


def test_days_parameter_accepts_numbers_and_timedeltas():
    df = _frame(["2026-01-01", "2026-01-05", "2026-01-09", "2026-01-10"])
    assert len(select_universe(df, timestamp_col="t", days=1)) == 1
    assert len(select_universe(df, timestamp_col="t", days=1.5)) == 2
    assert len(select_universe(df, timestamp_col="t", days=pd.Timedelta("6D"))) == 3
    assert len(select_universe(df, timestamp_col="t", days=30)) == 4


@pytest.mark.parametrize("days", [0, -1, float("nan"), "7", None])
def test_invalid_days(days):
    df = _frame(["2026-01-01"])
    with pytest.raises(ValueError, match="days"):
        select_universe(df, timestamp_col="t", days=days)


def test_missing_column_error_names_the_column(df):
    with pytest.raises(ValueError, match="'created_at'"):
        select_universe(df, timestamp_col="created_at")


@pytest.mark.parametrize("col", ["country", "days_since_last_order"])
def test_non_datetime_column_error_names_the_column(df, col):
    with pytest.raises(ValueError, match=f"'{col}'.*datetime"):
        select_universe(df, timestamp_col=col)


def test_string_timestamps_are_rejected_not_parsed():
    df = pd.DataFrame({"abandoned_at": ["2026-01-01", "2026-01-02"]})
    with pytest.raises(ValueError, match="'abandoned_at'.*pd.to_datetime"):
        select_universe(df)


def test_not_a_dataframe():
    with pytest.raises(TypeError, match="DataFrame"):
        select_universe(pd.Series(pd.to_datetime(["2026-01-01"])))


def test_timezone_mismatch_is_a_clear_error():
    df = _frame(["2026-01-01", "2026-01-02"])
    with pytest.raises(ValueError, match="timezone"):
        select_universe(df, timestamp_col="t", reference_time="2026-01-02 00:00Z")


def test_empty_and_all_missing_frames_give_empty_universe():
    empty = _frame([])
    assert select_universe(empty, timestamp_col="t").empty
    nat = _frame([None, None])
    out = select_universe(nat, timestamp_col="t")
    assert out.empty
    assert list(out.columns) == ["t", "x"]
