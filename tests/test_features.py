"""Customer features and the cart-abandoner universe from raw logs."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_mece._base import NonNumericColumnError
from sklearn_mece.features import (
    ExcludedCustomersWarning,
    cart_abandoners,
    customer_features,
)

ROOT = Path(__file__).resolve().parents[1]
ONLINE_RETAIL = ROOT.parent / "shared" / "data" / "online_retail_ii_2009_2010.parquet"

COLUMNS = [
    "n_orders",
    "total_value",
    "avg_order_value",
    "first_order",
    "last_order",
    "days_since_last_order",
    "tenure_days",
    "engagement_score",
    "profitability_score",
]
T = pd.Timestamp


def log(rows, columns=("customer", "order", "time", "amount")):
    frame = pd.DataFrame(rows, columns=list(columns))
    frame["time"] = pd.to_datetime(frame["time"], format="ISO8601")
    return frame


def features(frame, **kwargs):
    kwargs = {"customer": "customer", "time": "time", "amount": "amount", **kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # clean logs never warn
        return customer_features(frame, **kwargs)


@pytest.fixture
def shop():
    return log(
        [
            ("ann", "1", "2024-01-01 10:00", 30.0),
            ("ann", "1", "2024-01-01 10:05", 10.0),
            ("ann", "2", "2024-01-20 09:00", 60.0),
            ("bob", "3", "2024-01-05 12:00", 50.0),
            ("bob", "C3", "2024-01-06 08:00", -20.0),
            ("cy", "4", "2024-01-30 18:00", 25.0),
        ]
    )


# --------------------------------------------------------------------------
# customer_features: known answers
# --------------------------------------------------------------------------
def test_known_answers(shop):
    out = features(shop, order="order")
    assert list(out.columns) == COLUMNS
    assert out.index.name == "customer"
    assert list(out.index) == ["ann", "bob", "cy"]  # first line's order
    assert out["n_orders"].tolist() == [2, 1, 1]
    assert out["total_value"].tolist() == [100.0, 30.0, 25.0]
    assert out["avg_order_value"].tolist() == [50.0, 30.0, 25.0]
    # an order's time is its earliest line
    assert out["first_order"].tolist() == [
        T("2024-01-01 10:00"),
        T("2024-01-05 12:00"),
        T("2024-01-30 18:00"),
    ]
    assert out["last_order"].tolist() == [
        T("2024-01-20 09:00"),
        T("2024-01-05 12:00"),
        T("2024-01-30 18:00"),
    ]
    # default snapshot: 2024-01-31 00:00, floor of whole days
    assert out["days_since_last_order"].tolist() == [10, 25, 0]
    assert out["tenure_days"].tolist() == [29, 25, 0]
    assert out.dtypes.to_dict() == {
        "n_orders": np.int64,
        "total_value": np.float64,
        "avg_order_value": np.float64,
        "first_order": np.dtype("datetime64[ns]"),
        "last_order": np.dtype("datetime64[ns]"),
        "days_since_last_order": np.int64,
        "tenure_days": np.int64,
        "engagement_score": np.float64,
        "profitability_score": np.float64,
    }
    # (rank - 0.5) / n: frequency 2, 1, 1 per 30 days -> 5/6, 1/3, 1/3;
    # recency -> 1/2, 1/6, 5/6
    assert out["engagement_score"].tolist() == pytest.approx([2 / 3, 1 / 4, 7 / 12])
    assert out["profitability_score"].tolist() == pytest.approx([5 / 6, 1 / 2, 1 / 6])


def test_scores_ties_get_average_ranks():
    frame = log(
        [
            ("a", 1, "2024-01-10", 10.0),
            ("b", 2, "2024-01-10", 10.0),
            ("c", 3, "2024-01-10", 10.0),
            ("d", 4, "2024-01-20", 40.0),
        ]
    )
    out = features(frame, order="order")
    # three-way tie on value: ranks 1, 2, 3 -> 2 -> (2 - 0.5) / 4
    assert out["profitability_score"].tolist() == [0.375, 0.375, 0.375, 0.875]
    # frequency all 1 per 30 days (tie of everyone: 0.5); recency a-c tied
    assert out["engagement_score"].tolist() == [0.4375] * 3 + [0.6875]
    # the order of the rows does not matter
    shuffled = features(frame.iloc[[3, 1, 0, 2]], order="order")
    pd.testing.assert_frame_equal(shuffled.loc[out.index], out)
    single = features(frame.iloc[:1], order="order")
    assert single["engagement_score"].tolist() == [0.5]
    assert single["profitability_score"].tolist() == [0.5]


def test_engagement_is_monotone_in_frequency_and_recency():
    frame = log(
        [
            ("often", 1, "2024-01-01", 10.0),
            ("often", 2, "2024-02-01", 10.0),
            ("often", 3, "2024-03-01", 10.0),
            ("rare", 4, "2024-01-01", 10.0),
            ("rare", 5, "2024-03-01", 10.0),
            ("lapsed", 6, "2024-01-01", 10.0),
            ("lapsed", 7, "2024-01-15", 10.0),
            ("lapsed", 8, "2024-02-01", 10.0),
        ]
    )
    out = features(frame, order="order")
    score = out["engagement_score"]
    assert score["often"] > score["rare"]  # same recency, more orders
    assert score["often"] > score["lapsed"]  # same orders, more recent
    assert out["engagement_score"].between(0, 1).all()


def test_one_time_buyers_average_all_orders():
    frame = log(
        [
            ("once", 1, "2024-01-03 08:00", 80.0),
            ("twice", 2, "2024-01-01 08:00", 10.0),
            ("twice", 3, "2024-01-02 08:00", 30.0),
        ]
    )
    out = features(frame, order="order")
    # not lifetimes' monetary_value (0 for one-time buyers, repeat orders only)
    assert out.loc["once", "avg_order_value"] == 80.0
    assert out.loc["twice", "avg_order_value"] == 20.0
    assert out.loc["once", "tenure_days"] == out.loc["once", "days_since_last_order"]
    assert out.loc["once", "first_order"] == out.loc["once", "last_order"]


def test_several_lines_per_order_count_once():
    frame = log(
        [("a", "x", "2024-01-01 10:00:00", 1.0)] * 5
        + [("a", "y", "2024-01-01 10:00:00", 2.0)]
    )
    out = features(frame, order="order")
    assert out["n_orders"].tolist() == [2]
    assert out["total_value"].tolist() == [7.0]
    by_day = features(frame)  # one calendar day: one order
    assert by_day["n_orders"].tolist() == [1]
    assert by_day["avg_order_value"].tolist() == [7.0]


def test_orders_around_midnight():
    frame = log(
        [
            ("a", "inv1", "2024-01-01 23:59", 10.0),
            ("a", "inv1", "2024-01-02 00:01", 5.0),
        ]
    )
    by_day = features(frame)
    assert by_day["n_orders"].tolist() == [2]
    assert by_day["first_order"].tolist() == [T("2024-01-01 23:59")]
    assert by_day["last_order"].tolist() == [T("2024-01-02 00:01")]
    by_id = features(frame, order="order")
    assert by_id["n_orders"].tolist() == [1]
    assert by_id["last_order"].tolist() == [T("2024-01-01 23:59")]
    # snapshot 2024-01-03 00:00: 1 day since 00:01, 1 day since 23:59 (floor)
    assert by_day["days_since_last_order"].tolist() == [0]
    assert by_id["days_since_last_order"].tolist() == [1]
    assert by_day["tenure_days"].tolist() == by_id["tenure_days"].tolist() == [1]


def test_default_snapshot_is_midnight_after_last_line():
    frame = log(
        [("a", 1, "2024-05-10 00:00", 1.0), ("b", 2, "2024-05-20 23:59:59", 1.0)]
    )
    out = features(frame, order="order")
    explicit = features(frame, order="order", snapshot="2024-05-21")
    pd.testing.assert_frame_equal(out, explicit)
    assert out["days_since_last_order"].tolist() == [11, 0]
    shifted = features(frame, order="order", snapshot="2024-05-21 00:00:01")
    assert shifted["days_since_last_order"].tolist() == [11, 0]


def test_snapshot_in_the_middle_of_the_log(shop):
    later = log(
        [
            ("dan", "9", "2024-02-15", 99.0),  # no line before the snapshot
            ("ann", "8", "2024-01-25 00:00", 5.0),  # at the snapshot: ignored
            ("ann", "7", "2024-01-26", 1000.0),
        ]
    )
    frame = pd.concat([shop, later], ignore_index=True)
    out = features(frame, order="order", snapshot="2024-01-25")  # no warning
    assert list(out.index) == ["ann", "bob"]  # cy's only order is on Jan 30
    assert out["n_orders"].tolist() == [2, 1]
    assert out["total_value"].tolist() == [100.0, 30.0]
    assert out["days_since_last_order"].tolist() == [4, 19]
    assert out["tenure_days"].tolist() == [23, 19]
    # percentile ranks among the customers of the result only
    assert out["profitability_score"].tolist() == [0.75, 0.25]
    after = features(frame, order="order", snapshot="2024-01-25 00:00:01")
    assert after.loc["ann", "n_orders"] == 3
    assert after.loc["ann", "total_value"] == 105.0
    assert after.loc["ann", "days_since_last_order"] == 0


def test_returns_and_cancellations():
    frame = log(
        [
            # a cancelled order: separate invoice, negative amount
            ("a", "1", "2024-01-01", 100.0),
            ("a", "C1", "2024-01-02", -40.0),
            ("a", "2", "2024-01-05", 20.0),
            # an order whose lines net to zero (bought and returned in it)
            ("b", "3", "2024-01-03", 50.0),
            ("b", "3", "2024-01-03", -50.0),
            ("b", "4", "2024-01-04", 10.0),
            # returns exceed the purchases of the log
            ("c", "5", "2024-01-02", 10.0),
            ("c", "C6", "2024-01-06", -30.0),
        ]
    )
    out = features(frame, order="order")
    assert out["n_orders"].tolist() == [2, 1, 1]
    assert out["total_value"].tolist() == [80.0, 10.0, -20.0]
    assert out["avg_order_value"].tolist() == [40.0, 10.0, -20.0]
    assert out.loc["a", "last_order"] == T("2024-01-05")  # C1 is not an order
    assert out.loc["b", "first_order"] == T("2024-01-04")  # 3 nets to zero
    # order=None: a customer's lines of a day net together
    by_day = features(frame)
    assert by_day["n_orders"].tolist() == [2, 1, 1]
    assert by_day["total_value"].tolist() == [80.0, 10.0, -20.0]


def test_rounding_never_makes_a_returned_order():
    frame = log(
        [
            ("a", 1, "2024-01-01 10:00", 0.1),
            ("a", 1, "2024-01-01 10:00", 0.2),
            ("a", 1, "2024-01-01 11:00", -0.3),  # 0.1 + 0.2 - 0.3 > 0 in floats
            ("a", 2, "2024-01-02 10:00", 5.0),
        ]
    )
    for order in ("order", None):
        out = features(frame, order=order)
        assert out["n_orders"].tolist() == [1]
        assert out["first_order"].tolist() == [T("2024-01-02 10:00")]


def test_negative_quantities_are_returns():
    frame = log(
        [
            ("a", 1, "2024-01-01", 30.0, 3, 9.0),
            ("a", 2, "2024-01-02", 10.0, -1, 3.0),  # return recorded positive
            ("a", 3, "2024-01-03", -10.0, -1, -3.0),  # return recorded negative
            ("b", 4, "2024-01-03", 20.0, -2, 4.0),  # only a return
            ("c", 5, "2024-01-03", -5.0, 1, 0.0),  # a discount line, kept as is
            ("c", 5, "2024-01-03", 25.0, 1, 10.0),
        ],
        columns=("customer", "order", "time", "amount", "qty", "margin"),
    )
    with pytest.warns(ExcludedCustomersWarning, match="left out 1 customer"):
        out = customer_features(
            frame,
            customer="customer",
            time="time",
            amount="amount",
            order="order",
            quantity="qty",
            margin="margin",
        )
    assert list(out.index) == ["a", "c"]
    assert out["n_orders"].tolist() == [1, 1]
    assert out["total_value"].tolist() == [10.0, 20.0]
    # margin rates: a (9 - 3 - 3) / 10 = 0.3, c 10 / 20 = 0.5
    assert out["profitability_score"].tolist() == [0.25, 0.75]
    # without quantity, the positive return line is a second order
    plain = features(frame.drop(index=3), order="order")
    assert plain.loc["a", "n_orders"] == 2


def test_margin_drives_profitability():
    frame = log(
        [
            ("big", 1, "2024-01-01", 1000.0, 50.0),  # rate 0.05
            ("small", 2, "2024-01-01", 10.0, 5.0),  # rate 0.5
            ("mid", 3, "2024-01-01", 100.0, 20.0),  # rate 0.2
            ("gone", 4, "2024-01-01", 100.0, 20.0),
            ("gone", 5, "2024-01-02", -150.0, -30.0),  # total value < 0: lowest
        ],
        columns=("customer", "order", "time", "amount", "margin"),
    )
    out = features(frame, order="order", margin="margin")
    assert out["profitability_score"].to_dict() == {
        "big": 0.375,
        "small": 0.875,
        "mid": 0.625,
        "gone": 0.125,
    }
    proxy = features(frame, order="order")
    assert proxy["profitability_score"].to_dict() == {
        "big": 0.875,
        "small": 0.375,
        "mid": 0.625,
        "gone": 0.125,
    }


def test_customers_with_only_returns_are_excluded_with_a_warning(shop):
    frame = pd.concat(
        [
            shop,
            log([("eve", "C7", "2024-01-10", -5.0), ("fay", "8", "2024-01-11", 0.0)]),
        ],
        ignore_index=True,
    )
    with pytest.warns(ExcludedCustomersWarning) as record:
        out = customer_features(
            frame, customer="customer", time="time", amount="amount", order="order"
        )
    assert list(out.index) == ["ann", "bob", "cy"]
    assert len(record) == 1
    message = str(record[0].message)
    assert "left out 2 customer(s)" in message and "positive net amount" in message
    assert record[0].filename == __file__  # points at the caller's line
    assert issubclass(ExcludedCustomersWarning, UserWarning)


def test_missing_customer_ids_are_dropped_and_counted(shop):
    frame = shop.astype({"customer": object})
    frame.loc[[1, 3], "customer"] = [None, np.nan]
    with pytest.warns(ExcludedCustomersWarning) as record:
        out = customer_features(
            frame, customer="customer", time="time", amount="amount", order="order"
        )
    assert len(record) == 1
    # bob is left with his cancellation only: both reasons in one message
    assert str(record[0].message) == (
        "customer_features left out 1 customer(s) with no order of positive net "
        "amount before the snapshot (only returns, cancellations or zero-value "
        "orders) and dropped 2 line(s) with a missing customer id in column "
        "'customer'."
    )
    assert list(out.index) == ["ann", "cy"]
    assert out["total_value"].tolist() == [90.0, 25.0]
    assert out["n_orders"].tolist() == [2, 1]
    only_missing = frame.assign(customer=[None, None, "ann", "bob", "bob", "cy"])
    with pytest.warns(ExcludedCustomersWarning, match="^customer_features dropped 2"):
        customer_features(
            only_missing, customer="customer", time="time", amount="amount"
        )


def test_clean_log_is_silent(shop):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        customer_features(
            shop, customer="customer", time="time", amount="amount", order="order"
        )
        customer_features(shop, customer="customer", time="time", amount="amount")


def test_order_ids_shared_by_customers_count_for_each():
    frame = log(
        [
            ("a", 1, "2024-01-01", 10.0),
            ("b", 1, "2024-01-02", 20.0),
            ("a", 2, "2024-01-03", 30.0),
        ]
    )
    out = features(frame, order="order")
    assert out["n_orders"].tolist() == [2, 1]
    assert out["first_order"].tolist() == [T("2024-01-01"), T("2024-01-02")]


def test_empty_log_and_all_filtered(shop):
    out = features(shop.iloc[:0], order="order")
    assert list(out.columns) == COLUMNS and len(out) == 0
    out = features(shop, order="order", snapshot="2023-01-01")
    assert len(out) == 0 and out.index.name == "customer"


def test_text_times_and_time_zones(shop):
    text = shop.assign(time=shop["time"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    pd.testing.assert_frame_equal(
        features(text, order="order"), features(shop, order="order")
    )
    # calendar days and the default snapshot follow the column's time zone
    local = log(
        [
            ("a", 1, "2024-03-01 23:30", 1.0),  # 22:30 UTC
            ("a", 2, "2024-03-02 00:30", 1.0),  # 23:30 UTC the day before
        ]
    )
    local["time"] = local["time"].dt.tz_localize("Europe/Paris")
    out = features(local)
    assert out["n_orders"].tolist() == [2]
    assert out["last_order"].tolist() == [T("2024-03-02 00:30", tz="Europe/Paris")]
    assert str(out["first_order"].dtype) == "datetime64[ns, Europe/Paris]"
    assert out["days_since_last_order"].tolist() == [0]  # snapshot Mar 3 local
    with pytest.raises(ValueError, match="both be timezone-aware or both naive"):
        customer_features(
            local,
            customer="customer",
            time="time",
            amount="amount",
            snapshot="2024-04-01",
        )


def test_polars_input_gives_identical_output(shop):
    pl = pytest.importorskip("polars")
    frame = shop.assign(qty=1, margin=shop["amount"] / 4)
    for kwargs in (
        {"order": "order"},
        {},
        {"order": "order", "margin": "margin", "quantity": "qty"},
    ):
        expected = features(frame, **kwargs)
        got = features(pl.from_pandas(frame), **kwargs)
        pd.testing.assert_frame_equal(got, expected)
    got = features(pl.from_pandas(frame).with_columns(pl.col("time").dt.date()))
    expected = features(frame.assign(time=frame["time"].dt.normalize()))
    pd.testing.assert_frame_equal(got, expected)
    with pytest.raises(TypeError, match="LazyFrame"):
        customer_features(
            pl.from_pandas(frame).lazy(),
            customer="customer",
            time="time",
            amount="amount",
        )


# --------------------------------------------------------------------------
# customer_features: errors name the column
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "role", ["customer", "time", "amount", "order", "margin", "quantity"]
)
def test_missing_column_is_named(shop, role):
    kwargs = {"customer": "customer", "time": "time", "amount": "amount", role: "nope"}
    with pytest.raises(ValueError, match=rf"Column 'nope' \({role}='nope'\) not found"):
        customer_features(shop, **kwargs)


def test_non_numeric_amount_is_a_type_error_naming_the_column(shop):
    for bad in (
        shop["amount"].astype(str),
        shop["time"],
        shop["amount"].astype("category"),
    ):
        with pytest.raises(TypeError, match="Column 'amount' must be numeric") as info:
            customer_features(
                shop.assign(amount=bad),
                customer="customer",
                time="time",
                amount="amount",
            )
        assert isinstance(info.value, NonNumericColumnError)
    with pytest.raises(TypeError, match="Column 'm' must be numeric"):
        customer_features(
            shop.assign(m="x"),
            customer="customer",
            time="time",
            amount="amount",
            margin="m",
        )


def test_bad_values_are_errors_naming_the_column(shop):
    kwargs = {"customer": "customer", "time": "time", "amount": "amount"}
    with pytest.raises(ValueError, match="Column 'amount' has 1 missing value"):
        customer_features(shop.assign(amount=[1.0, np.nan, 1, 1, 1, 1]), **kwargs)
    with pytest.raises(ValueError, match="Column 'amount' contains 1 infinite"):
        customer_features(shop.assign(amount=[1.0, np.inf, 1, 1, 1, 1]), **kwargs)
    with pytest.raises(ValueError, match="Column 'order' has 1 missing order id"):
        customer_features(
            shop.assign(order=["1", None, "2", "3", "4", "5"]), order="order", **kwargs
        )
    with pytest.raises(
        TypeError, match="Column 'time' must hold timestamps, got int64"
    ):
        customer_features(shop.assign(time=np.arange(6)), **kwargs)
    with pytest.raises(ValueError, match="Column 'time' must hold timestamps"):
        customer_features(shop.assign(time=["2024-01-01"] * 5 + ["soon"]), **kwargs)
    with pytest.raises(ValueError, match="Column 'time' has 1 missing timestamp"):
        customer_features(
            shop.assign(time=shop["time"].where(shop.index != 2)), **kwargs
        )
    with pytest.raises(ValueError, match="snapshot must be a timestamp"):
        customer_features(shop, snapshot="whenever", **kwargs)
    with pytest.raises(TypeError, match="pandas or polars DataFrame, got ndarray"):
        customer_features(shop.to_numpy(), **kwargs)
    with pytest.raises(ValueError, match="'amount'.*duplicated"):
        customer_features(pd.concat([shop, shop[["amount"]]], axis=1), **kwargs)


# --------------------------------------------------------------------------
# customer_features: invariants (hypothesis) and real data
# --------------------------------------------------------------------------
@st.composite
def logs(draw):
    n = draw(st.integers(0, 40))
    customers = draw(
        st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=n, max_size=n)
    )
    orders = draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
    hours = draw(st.lists(st.integers(0, 24 * 6), min_size=n, max_size=n))
    cents = draw(st.lists(st.integers(-3000, 5000), min_size=n, max_size=n))
    return pd.DataFrame(
        {
            "customer": pd.Series(customers, dtype=object),
            "order": [f"{c}{o}" for c, o in zip(customers, orders)],
            "time": T("2024-01-01") + pd.to_timedelta(hours, unit="h"),
            "amount": np.asarray(cents, dtype=float) / 100,
        }
    )


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(logs(), st.booleans())
def test_invariants_against_plain_pandas(frame, by_day):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExcludedCustomersWarning)
        out = customer_features(
            frame,
            customer="customer",
            time="time",
            amount="amount",
            order=None if by_day else "order",
        )
    key = frame["time"].dt.normalize() if by_day else frame["order"]
    orders = frame.groupby([frame["customer"], key.rename("key")])["amount"].agg(
        net="sum", gross=lambda a: a.abs().sum()
    )
    positive = orders[orders["net"] > 1e-9 * orders["gross"]]
    buyers = set(positive.index.get_level_values(0))
    assert set(out.index) == buyers and out.index.is_unique
    counts = positive.groupby(level=0).size()
    assert out["n_orders"].to_dict() == counts.to_dict()
    totals = frame.groupby("customer")["amount"].sum()
    np.testing.assert_allclose(out["total_value"], totals.loc[out.index], atol=1e-9)
    for score in ("engagement_score", "profitability_score"):
        assert out[score].between(0, 1).all()
    assert (out["days_since_last_order"] >= 0).all()
    assert (out["tenure_days"] >= out["days_since_last_order"]).all()


@pytest.mark.skipif(
    not ONLINE_RETAIL.is_file(), reason="Online Retail II not available"
)
def test_online_retail_matches_plain_pandas():
    raw = pd.read_parquet(ONLINE_RETAIL)
    raw["amount"] = raw["Quantity"] * raw["Price"]
    with pytest.warns(ExcludedCustomersWarning) as record:
        out = customer_features(
            raw,
            customer="Customer ID",
            time="InvoiceDate",
            order="Invoice",
            amount="amount",
        )
    # independent computation: plain pandas group-bys, sorted by id
    data = raw.assign(t=pd.to_datetime(raw["InvoiceDate"])).dropna(
        subset=["Customer ID"]
    )
    invoices = data.groupby(["Customer ID", "Invoice"]).agg(
        net=("amount", "sum"), t=("t", "min")
    )
    orders = invoices[invoices["net"] > 0]
    expected = orders.groupby(level="Customer ID").agg(
        n_orders=("net", "size"), first_order=("t", "min"), last_order=("t", "max")
    )
    expected["total_value"] = data.groupby("Customer ID")["amount"].sum()
    expected["avg_order_value"] = expected["total_value"] / expected["n_orders"]
    snapshot = data["t"].max().normalize() + pd.Timedelta(days=1)
    assert snapshot == T("2010-12-10")
    expected["days_since_last_order"] = (snapshot - expected["last_order"]).dt.days
    expected["tenure_days"] = (snapshot - expected["first_order"]).dt.days

    got = out.sort_index()
    assert got.index.equals(expected.index) and got.index.name == "Customer ID"
    n_left_out = data["Customer ID"].nunique() - len(expected)
    assert n_left_out == 71
    message = str(record[0].message)
    assert f"left out {n_left_out} customer(s)" in message
    assert f"dropped {raw['Customer ID'].isna().sum()} line(s)" in message
    for column in ("n_orders", "days_since_last_order", "tenure_days"):
        np.testing.assert_array_equal(got[column], expected[column].astype(np.int64))
    for column in ("first_order", "last_order"):
        np.testing.assert_array_equal(
            got[column].to_numpy(), expected[column].to_numpy().astype("datetime64[ns]")
        )
    # sums of the same floats in another order (pandas adds with Kahan
    # compensation): equal to the last few bits
    for column in ("total_value", "avg_order_value"):
        np.testing.assert_allclose(got[column], expected[column], rtol=1e-12, atol=1e-9)
    assert got["engagement_score"].between(0, 1).all()
    assert got["profitability_score"].between(0, 1).all()


@pytest.mark.skipif(
    not ONLINE_RETAIL.is_file(), reason="Online Retail II not available"
)
def test_online_retail_features_feed_the_preset():
    from sklearn_mece import DomainWarning, check_mece, make_cart_abandoner_pipeline

    raw = pd.read_parquet(ONLINE_RETAIL)
    raw["amount"] = raw["Quantity"] * raw["Price"]
    with pytest.warns(ExcludedCustomersWarning):
        users = customer_features(
            raw,
            customer="Customer ID",
            time="InvoiceDate",
            order="Invoice",
            amount="amount",
        )
    # customers whose returns exceed their purchases of the log: net value < 0
    assert (users["avg_order_value"] < 0).sum() == 23
    with pytest.warns(DomainWarning, match="23 value"):
        out = make_cart_abandoner_pipeline(min_size=100).fit_transform(users)
    assert out.index.equals(users.index)
    assert check_mece(out["segment"]).is_mece


# --------------------------------------------------------------------------
# cart_abandoners
# --------------------------------------------------------------------------
@pytest.fixture
def events():
    rows = [
        ("ann", "2024-03-01 09:00", "add_to_cart", 20.0),
        ("ann", "2024-03-09 08:30", "add_to_cart", 15.0),
        ("bob", "2024-03-08 09:00", "add_to_cart", 40.0),
        ("bob", "2024-03-08 10:00", "purchase", np.nan),
        ("cy", "2024-03-02 09:00", "purchase", np.nan),
        ("cy", "2024-03-09 12:00", "add_to_cart", 9.5),
        ("cy", "2024-03-01 12:00", "add_to_cart", 100.0),  # before the purchase
        ("dee", "2024-02-01 09:00", "add_to_cart", 70.0),  # out of the window
        ("eve", "2024-03-05 10:00", "add_to_cart", 5.0),
        ("eve", "2024-03-05 10:00", "purchase", np.nan),  # same time: bought
        ("fay", "2024-03-04 10:00", "page_view", np.nan),
    ]
    frame = pd.DataFrame(rows, columns=["user", "time", "event", "price"])
    frame["time"] = pd.to_datetime(frame["time"])
    return frame


def abandoners(frame, **kwargs):
    kwargs = {"customer": "user", "time": "time", "event": "event", **kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return cart_abandoners(frame, **kwargs)


def test_cart_abandoners_known_answers(events):
    out = abandoners(events, value="price")
    assert list(out.columns) == ["abandoned_at", "cart_value"]
    assert out.index.name == "user"
    assert list(out.index) == ["ann", "cy"]
    assert out["abandoned_at"].tolist() == [
        T("2024-03-09 08:30"),
        T("2024-03-09 12:00"),
    ]
    # cart events after the last purchase (cy's 100 came before it)
    assert out["cart_value"].tolist() == [35.0, 9.5]
    assert list(abandoners(events).columns) == ["abandoned_at"]
    assert out["abandoned_at"].dtype == np.dtype("datetime64[ns]")


def test_cart_abandoners_window_and_snapshot(events):
    # window is half-open: snapshot - window <= abandoned_at < snapshot
    out = abandoners(events, window="9D", snapshot="2024-03-10 09:00")
    assert "ann" in out.index
    edge = abandoners(
        events, window=pd.Timedelta(hours=24), snapshot="2024-03-10 08:30"
    )
    assert list(edge.index) == ["ann", "cy"]
    just_out = abandoners(events, window=1, snapshot="2024-03-10 08:30:01")
    assert list(just_out.index) == ["cy"]
    # a snapshot before bob's purchase: he is an abandoner then
    early = abandoners(events, snapshot="2024-03-08 09:30", value="price")
    assert list(early.index) == ["bob"]
    early = abandoners(events, snapshot="2024-03-08 09:30", window="8D", value="price")
    assert list(early.index) == ["ann", "bob"]  # not cy: bought on Mar 2
    assert early["cart_value"].tolist() == [20.0, 40.0]
    assert early.loc["ann", "abandoned_at"] == T("2024-03-01 09:00")
    wide = abandoners(events, window="60D")
    assert "dee" in wide.index
    for bad in (0, -1, "nope", None, float("nan")):
        with pytest.raises(ValueError, match="window must be a positive duration"):
            abandoners(events, window=bad)


def test_cart_abandoners_event_values(events):
    renamed = events.replace({"event": {"add_to_cart": "cart", "purchase": "order"}})
    out = abandoners(renamed, cart="cart", purchase="order")
    pd.testing.assert_frame_equal(out, abandoners(events))
    both = abandoners(
        renamed.assign(event=renamed["event"].replace("page_view", "cart")),
        cart=["cart"],
        purchase="order",
    )
    assert "fay" in both.index
    with pytest.raises(ValueError, match="must not share an event value"):
        abandoners(events, cart=["add_to_cart", "purchase"])
    with pytest.raises(ValueError, match="purchase must be an event value"):
        abandoners(events, purchase=None)  # would match missing event types
    cats = events.assign(event=events["event"].astype("category"))
    pd.testing.assert_frame_equal(abandoners(cats), abandoners(events))


def test_cart_abandoners_missing_ids_and_errors(events):
    frame = events.astype({"user": object})
    frame.loc[[0, 10], "user"] = None  # a cart event, a page view (not counted)
    with pytest.warns(
        ExcludedCustomersWarning, match=r"dropped 1 cart or purchase event"
    ) as record:
        out = cart_abandoners(frame, customer="user", time="time", event="event")
    assert record[0].filename == __file__
    assert list(out.index) == ["ann", "cy"]
    with pytest.raises(ValueError, match=r"Column 'kind' \(event='kind'\) not found"):
        cart_abandoners(events, customer="user", time="time", event="kind")
    with pytest.raises(ValueError, match="Column 'price' has 1 missing value"):
        cart_abandoners(
            events.assign(price=events["price"].where(events.index != 1)),
            customer="user",
            time="time",
            event="event",
            value="price",
        )
    with pytest.raises(TypeError, match="Column 'price' must be numeric"):
        cart_abandoners(
            events.assign(price="9"),
            customer="user",
            time="time",
            event="event",
            value="price",
        )
    with pytest.raises(TypeError, match="Column 'time' must hold timestamps"):
        cart_abandoners(
            events.assign(time=1.5), customer="user", time="time", event="event"
        )


def test_cart_abandoners_polars_input(events):
    pl = pytest.importorskip("polars")
    for kwargs in ({"value": "price"}, {"snapshot": "2024-03-08 09:30"}):
        pd.testing.assert_frame_equal(
            abandoners(pl.from_pandas(events), **kwargs), abandoners(events, **kwargs)
        )


def test_cart_abandoners_empty(events):
    out = abandoners(events.iloc[:0], value="price")
    assert list(out.columns) == ["abandoned_at", "cart_value"] and len(out) == 0


def test_cart_value_counts_only_cart_events_after_the_last_purchase(events):
    later = pd.DataFrame(
        {
            "user": ["eve"],
            "time": [T("2024-03-09 10:00")],
            "event": ["add_to_cart"],
            "price": [7.0],
        }
    )
    out = abandoners(pd.concat([events, later], ignore_index=True), value="price")
    # eve's 5.0 was put in the cart at the time of her purchase: bought
    assert out.loc["eve", "cart_value"] == 7.0
    assert out.loc["eve", "abandoned_at"] == T("2024-03-09 10:00")


@pytest.mark.skipif(
    not ONLINE_RETAIL.is_file(), reason="Online Retail II not available"
)
def test_from_transactions_example(capsys, tmp_path):
    from _shared import load_example

    module = load_example("from_transactions")
    module.main([str(ONLINE_RETAIL), "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert (
        "525,461 lines -> 4,278 customers (34 with a net value <= 0 set aside)" in out
    )
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    rfm = [r.split(" | ")[0].lstrip("| ") for r in rows[1:13]]
    assert rfm[:2] == ["Champions", "Loyal Customers"] and rfm[-1] == "Others"
    # every RFM segment holds customers on this log (right-closed frequency)
    counts = [int(r.split(" | ")[1].replace(",", "")) for r in rows[1:13]]
    assert len(counts) == 12 and min(counts) > 0 and sum(counts) == 4_278
    assert (tmp_path / "rfm_report.html").is_file()
    assert (tmp_path / "cart_report.html").is_file()


# -- found in review: each with the test that would have caught it ----------------
def test_window_as_numpy_or_python_timedelta_and_text_without_unit(events):
    import datetime

    base = cart_abandoners(events, customer="user", time="time", event="event")
    for window in (np.timedelta64(7, "D"), datetime.timedelta(days=7), 7, "7D"):
        got = cart_abandoners(
            events, customer="user", time="time", event="event", window=window
        )
        pd.testing.assert_frame_equal(got, base)
    with pytest.raises(ValueError, match="needs its unit"):
        cart_abandoners(events, customer="user", time="time", event="event", window="7")


def test_cart_and_purchase_values_overlap_whatever_their_type():
    log = pd.DataFrame(
        {
            "u": ["a", "a"],
            "e": [1.0, 1.0],
            "t": pd.to_datetime(["2024-01-03", "2024-01-04"]),
        }
    )
    for cart, purchase in ((1.0, 1), (True, 1), (np.int64(1), 1.0)):
        with pytest.raises(ValueError, match="share an event value"):
            cart_abandoners(
                log, customer="u", time="t", event="e", cart=cart, purchase=purchase
            )


def test_dates_without_times_are_one_day_old_on_the_last_day():
    # the documented floor of 24-hour days to the default snapshot (midnight
    # after the last line): a midnight stamp on the last day is a full day
    log = pd.DataFrame(
        {
            "c": [1, 2, 3],
            "t": pd.to_datetime(
                ["2024-01-05 00:00", "2024-01-03 00:00", "2024-01-05 18:30"]
            ),
            "v": [10.0, 5.0, 7.0],
        }
    )
    out = customer_features(log, customer="c", time="t", amount="v")
    assert out["days_since_last_order"].tolist() == [1, 3, 0]
