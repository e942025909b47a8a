"""From a transaction log to segments: UCI Online Retail II.
=========================================================

Usage::

    python examples/from_transactions.py PATH/TO/online_retail_ii.parquet
                                         [--out DIR] [--min-size N]

The data (UCI Machine Learning Repository, "Online Retail II", dataset 502,
donated by Daqing Chen) holds the invoice lines of a UK online giftware
retailer, many of whose customers are wholesalers; the "Year 2009-2010" sheet
has about 525,000 lines (Invoice, StockCode, Description, Quantity,
InvoiceDate, Price, Customer ID, Country). Invoices starting with "C" are
cancellations, with negative quantities. It is not part of this project: pass
the path of your copy (parquet or CSV with those columns).

What the script does:

1. ``customer_features``: one row per customer from the lines (line value =
   Quantity x Price; orders are invoices; cancellations net against the
   customer's value and are not orders; lines without a customer id and
   customers with no positive order are counted in a warning).
2. Customers whose net value is not positive (returns of purchases made before
   the log starts) are set aside and counted: their average order value would
   be outside the preset's domain.
3. The RFM preset (``make_rfm_pipeline``: quintile scores, the eleven classic
   segments) on those features, without renaming.
4. The cart-abandoner preset on the same features. The log has no cart events,
   so every customer is in the universe; the point is that the preset reads
   ``customer_features``' columns as they are.
5. Both segment tables are printed as markdown, and with ``--out`` each
   pipeline's HTML report is written.
"""

import argparse
import sys
import warnings
from pathlib import Path

import pandas as pd

try:
    import sklearn_mece  # noqa: F401
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn_mece import (  # noqa: E402
    check_mece,
    make_cart_abandoner_pipeline,
    make_rfm_pipeline,
)
from sklearn_mece.features import customer_features  # noqa: E402

_COLUMNS = ("Invoice", "Quantity", "InvoiceDate", "Price", "Customer ID")


def read_lines(path):
    """The invoice lines, with ``line_value = Quantity * Price``."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        lines = pd.read_parquet(path, columns=list(_COLUMNS))
    else:
        lines = pd.read_csv(path, usecols=list(_COLUMNS), parse_dates=["InvoiceDate"])
    missing = [c for c in _COLUMNS if c not in lines]
    if missing:
        raise ValueError(f"Not the Online Retail II data: missing column(s) {missing}.")
    lines["line_value"] = lines["Quantity"] * lines["Price"]
    return lines


def features_from(lines):
    """Customer features, and the number of customers set aside (value <= 0)."""
    features = customer_features(
        lines,
        customer="Customer ID",
        time="InvoiceDate",
        order="Invoice",
        amount="line_value",
    )
    positive = features["total_value"] > 0
    return features[positive], int((~positive).sum())


def segment_table(out, pipeline, columns):
    """Rows, share and the mean of ``columns`` per segment, in rule order."""
    names = pipeline.named_steps["segments"].segment_names_
    grouped = out.groupby("segment", observed=False)
    table = grouped[list(columns)].mean().reindex(names)
    table.insert(0, "share", grouped.size().reindex(names) / len(out))
    table.insert(0, "customers", grouped.size().reindex(names).astype(int))
    return table


def markdown(table):
    """A markdown table (segment, then the table's columns)."""
    header = ["segment", *table.columns]
    rows = []
    for name, row in table.iterrows():
        cells = [str(name)]
        for column, value in row.items():
            if column == "customers":
                cells.append(f"{int(value):,}")
            elif column == "share":
                cells.append(f"{value:.1%}")
            elif pd.isna(value):
                cells.append("")
            else:
                cells.append(f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}")
        rows.append(cells)
    lines = [
        "| " + " | ".join(header) + " |",
        "|---" + "|---:" * (len(header) - 1) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="Online Retail II, parquet or CSV")
    parser.add_argument("--out", help="folder for the two HTML reports")
    parser.add_argument("--min-size", type=int, default=0)
    args = parser.parse_args(argv)

    lines = read_lines(args.path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        features, set_aside = features_from(lines)
    for w in caught:
        print(f"note: {w.message}")
    print(
        f"{len(lines):,} lines -> {len(features):,} customers "
        f"({set_aside} with a net value <= 0 set aside)\n"
    )

    rfm = make_rfm_pipeline(min_size=args.min_size)
    rfm_out = rfm.fit_transform(features)
    cart = make_cart_abandoner_pipeline(min_size=args.min_size, max_size=None)
    cart_out = cart.fit_transform(features)
    for out in (rfm_out, cart_out):
        check_mece(out["segment"]).raise_if_invalid()

    print("RFM preset (cuts:", end=" ")
    cuts = rfm.named_steps["thresholds"].cuts_
    print("; ".join(f"{c} {v.round(1).tolist()}" for c, v in cuts.items()) + ")\n")
    rfm_columns = ("days_since_last_order", "n_orders", "total_value")
    print(markdown(segment_table(rfm_out, rfm, rfm_columns)))
    print("\nCart-abandoner preset on the same customers\n")
    cart_columns = (
        "avg_order_value",
        "engagement_score",
        "profitability_score",
        "days_since_last_order",
    )
    print(markdown(segment_table(cart_out, cart, cart_columns)))

    if args.out:
        from sklearn_mece import write_html_report

        out = Path(args.out)
        write_html_report(rfm, rfm_out, out / "rfm_report.html", title="RFM")
        write_html_report(
            cart, cart_out, out / "cart_report.html", title="Cart abandoners"
        )
        print(f"\nWrote {out / 'rfm_report.html'} and {out / 'cart_report.html'}.")


if __name__ == "__main__":
    main()
