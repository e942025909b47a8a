"""Command line: ``sklearn-mece demo`` (also ``python -m sklearn_mece demo``)."""

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["main", "segment_table"]


def segment_table(pipeline, X_out, *, aov_column="avg_order_value"):
    """Per-segment summary of a fitted pipeline's output.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted, with a ``segments`` step.
    X_out : pandas.DataFrame
        ``pipeline.transform(X)`` (holds ``segment`` and the raw columns).
    aov_column : str, default="avg_order_value"
        Column averaged per segment (skipped when absent).

    Returns
    -------
    pandas.DataFrame
        Indexed by segment name in hierarchy order: ``size``, ``share``,
        ``mean_<aov_column>``, ``valid``, ``issue``, ``description``,
        ``strategy``.
    """
    from ._rules import RuleSet

    seg = pipeline.named_steps["segments"]
    table = seg.segment_table_.copy()
    if aov_column in X_out:
        means = X_out.groupby("segment", observed=False)[aov_column].mean()
        table.insert(2, f"mean_{aov_column}", means.reindex(table.index))
    rules = getattr(seg, "rules_", None)
    if rules is not None:
        by_name = {s.name: s for s in RuleSet.from_dict(rules).all_segments}
        table["description"] = [
            getattr(by_name.get(n), "description", None) or "" for n in table.index
        ]
        table["strategy"] = [
            getattr(by_name.get(n), "strategy", None) or "" for n in table.index
        ]
    return table


def _print_table(table, out):
    shown = table.drop(columns=["description", "strategy"], errors="ignore")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(shown.to_string(float_format=lambda v: f"{v:,.3f}"), file=out)


def _cmd_demo(args, out=sys.stdout):
    from . import check_mece, describe_pipeline, make_cart_abandoner_pipeline
    from .datasets import make_cart_abandoners, select_universe

    data = make_cart_abandoners(args.n_users, random_state=args.seed)
    universe = select_universe(data)
    print(
        f"sklearn-mece demo: {len(data):,} mock users, {len(universe):,} abandoned a "
        "cart in the last 7 days (the universe).",
        file=out,
    )
    pipe = make_cart_abandoner_pipeline(min_size=args.min_size, max_size=args.max_size)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X_out = pipe.fit_transform(universe)
    thresholds = pipe.named_steps["thresholds"]
    print("\nLearned thresholds (a value equal to a cut goes to the upper level):", file=out)
    for name, cuts in thresholds.cuts_.items():
        q = thresholds.percentiles_[name]
        pairs = ", ".join(f"p{p:g} = {c:,.4g}" for p, c in zip(q, cuts))
        print(f"  {name}: {pairs}", file=out)
    print("\nRules:", file=out)
    print(describe_pipeline(pipe), file=out)
    table = segment_table(pipe, X_out)
    print("\nSegments:", file=out)
    _print_table(table, out)
    for w in caught:
        print(f"warning: {w.message}", file=out)
    report = check_mece(X_out["segment"], expected_labels=list(table.index))
    print("\nMECE validation:", file=out)
    print(report, file=out)

    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    export = table.reset_index()
    export.to_csv(folder / "segments.csv", index=False)
    (folder / "segments.json").write_text(
        json.dumps(_records(export), indent=2), encoding="utf-8"
    )
    X_out[["user_id", "segment"]].to_csv(folder / "assignments.csv", index=False)
    print(
        f"\nWrote {folder / 'segments.csv'}, {folder / 'segments.json'} and "
        f"{folder / 'assignments.csv'}.",
        file=out,
    )
    return 0 if report.is_mece else 1


def _records(frame):
    """JSON-ready records with plain Python scalars (NaN -> None)."""
    records = []
    for row in frame.to_dict(orient="records"):
        clean = {}
        for key, value in row.items():
            if isinstance(value, np.generic):
                value = value.item()
            if isinstance(value, float) and not np.isfinite(value):
                value = None
            clean[str(key)] = value
        records.append(clean)
    return records


def build_parser():
    """The argument parser of ``sklearn-mece``."""
    parser = argparse.ArgumentParser(
        prog="sklearn-mece", description="MECE customer segmentation."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="segment mock cart abandoners end to end")
    demo.add_argument("--out", default="demo-output", help="output folder")
    demo.add_argument("--n-users", type=int, default=50_000)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--min-size", type=int, default=500)
    demo.add_argument("--max-size", type=int, default=20_000)
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv=None):
    """Entry point of the ``sklearn-mece`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError, KeyError) as exc:
        print(f"sklearn-mece: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
