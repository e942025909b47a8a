"""``customer_features`` on 10^7 transactions vs polars doing the same group-by.

    python benchmarks/bench_features.py [--rows N] [--customers C] [--repeat R]

A synthetic log (one row per order line, orders of 1 to 5 lines, in time
order over one year, 2% of the orders cancellations with negative amounts;
customer ids are random 9-digit integers) is aggregated per customer twice:
orders given by an order id, and orders as calendar days (``order=None``).
Two polars baselines run in the same process, timed round-robin (medians of
``--repeat`` runs after one warm-up):

* "polars, same job": the same rules in two group-bys (orders: net amount and
  earliest time; customers: orders of positive net amount, net total, first
  and last order), checked equal to ours (counts and times exactly, totals
  to 1e-9 relative);
* "polars, one group-by": ``n_unique`` of the order (or day), sum, min and
  max per customer, without the netting of returns (the plain RFM query).

Ours also computes the average order value, the days and both scores, and
starts from a pandas DataFrame; polars from its own DataFrame (conversion not
timed).
"""

import argparse
import warnings

import numpy as np
import pandas as pd
from _common import machine, medians_interleaved

from sklearn_mece.features import customer_features


def make_log(n_rows, n_customers, seed=0):
    """A transaction log of ``n_rows`` order lines (pandas DataFrame)."""
    rng = np.random.default_rng(seed)
    ids = rng.choice(900_000_000, n_customers, replace=False) + 100_000_000
    lines = rng.integers(1, 6, n_rows // 2)
    n_orders = int(np.searchsorted(np.cumsum(lines), n_rows)) + 1
    lines = lines[:n_orders]
    order = np.repeat(np.arange(n_orders), lines)[:n_rows]
    start = pd.Timestamp("2025-01-01").value
    order_time = start + np.sort(rng.integers(0, 365 * 86_400, n_orders)) * 10**9
    sign = np.where(rng.random(n_orders) < 0.02, -1.0, 1.0)
    amount = np.round(rng.lognormal(2.0, 1.0, n_rows), 2) * sign[order]
    return pd.DataFrame(
        {
            "customer": ids[rng.integers(0, n_customers, n_orders)][order],
            "order": order + 1_000_000,
            "time": order_time[order].astype("datetime64[ns]"),
            "amount": amount,
        }
    )


def polars_same_job(df, by_day):
    import polars as pl

    key = pl.col("time").dt.date().alias("day") if by_day else pl.col("order")
    positive = pl.col("net") > 0
    return (
        df.group_by("customer", key)
        .agg(net=pl.col("amount").sum(), t=pl.col("time").min())
        .group_by("customer")
        .agg(
            n_orders=positive.sum(),
            total_value=pl.col("net").sum(),
            first_order=pl.col("t").filter(positive).min(),
            last_order=pl.col("t").filter(positive).max(),
        )
        .filter(pl.col("n_orders") > 0)
    )


def polars_one_group_by(df, by_day):
    import polars as pl

    key = pl.col("time").dt.date() if by_day else pl.col("order")
    return df.group_by("customer").agg(
        n_orders=key.n_unique(),
        total_value=pl.col("amount").sum(),
        first_order=pl.col("time").min(),
        last_order=pl.col("time").max(),
    )


def ours(df, by_day):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # customers with only cancellations
        return customer_features(
            df,
            customer="customer",
            time="time",
            amount="amount",
            order=None if by_day else "order",
        )


def same_values(result, reference):
    """Whether polars' same-job result equals ours (per customer)."""
    ref = reference.to_pandas().set_index("customer").loc[result.index]
    return (
        np.array_equal(result["n_orders"], ref["n_orders"])
        and np.array_equal(result["first_order"], ref["first_order"])
        and np.array_equal(result["last_order"], ref["last_order"])
        and np.allclose(result["total_value"], ref["total_value"], rtol=1e-9)
    )


def run(n_rows=10_000_000, n_customers=1_000_000, repeat=5):
    import polars as pl

    df = make_log(n_rows, n_customers)
    pdf = pl.from_pandas(df)
    columns = {}
    for by_day, label in ((False, "orders by id"), (True, "orders by day")):
        identical = same_values(ours(df, by_day), polars_same_job(pdf, by_day))
        times = medians_interleaved(
            {
                "ours": lambda b=by_day: ours(df, b),
                "same": lambda b=by_day: polars_same_job(pdf, b),
                "one": lambda b=by_day: polars_one_group_by(pdf, b),
            },
            repeat,
        )
        columns[label] = (times, identical)
    n_in_log = df["customer"].nunique()
    return df, n_in_log, columns


def to_markdown(columns):
    labels = list(columns)
    lines = [
        "| | " + " | ".join(labels) + " |",
        "|---" * (len(labels) + 1) + "|",
    ]

    def cells(func):
        return " | ".join(func(*columns[label]) for label in labels)

    lines.append("| ours (`customer_features`) | " + cells(_ms("ours")) + " |")
    lines.append("| polars, same job | " + cells(_ms("same")) + " |")
    lines.append(
        "| time ratio ours / polars same job | "
        + cells(lambda t, _: f"{t['ours'] / t['same']:.2f}x")
        + " |"
    )
    lines.append("| polars, one group-by (no netting) | " + cells(_ms("one")) + " |")
    lines.append(
        "| time ratio ours / polars one group-by | "
        + cells(lambda t, _: f"{t['ours'] / t['one']:.2f}x")
        + " |"
    )
    lines.append(
        "| same values as polars same job | "
        + cells(lambda _, same: "yes" if same else "**no**")
        + " |"
    )
    return "\n".join(lines)


def _ms(key):
    return lambda times, _: f"{times[key] * 1e3:,.0f} ms"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    header = machine()
    df, n_in_log, columns = run(args.rows, args.customers, args.repeat)
    n_orders = df["order"].nunique()
    print(f"machine: {header}")
    print(
        f"log: {len(df):,} lines, {n_orders:,} order ids, {n_in_log:,} customers; "
        f"medians of {args.repeat} runs; time ratios below 1: ours is faster"
    )
    print()
    print(to_markdown(columns))


if __name__ == "__main__":
    main()
