"""Command line: ``sklearn-mece demo | segment | apply`` (also ``python -m sklearn_mece``).

``demo``
    Segments mock cart abandoners end to end and writes the exports and the
    HTML report.
``segment INPUT --out DIR``
    Fits the cart-abandoner preset (or the hierarchy of ``--rules FILE``) on a
    CSV or Parquet file and writes ``assignments.csv`` (one segment per row),
    ``segments.csv`` and ``segments.json`` (the per-segment report) and
    ``report.html``; ``--model PATH`` also saves the fitted pipeline.
``apply --model PATH INPUT --out DIR``
    Labels new data with a saved pipeline and writes ``assignments.csv``.

Errors (missing column, unreadable file, bad rules file, bad model file) are
printed as one line, ``sklearn-mece: error: ...``, on stderr with exit code 2.
Progress lines with timings go to stderr (``--quiet`` silences them); the
tables go to stdout.
"""

import argparse
import contextlib
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

from .export import (
    FORMATS,
    export_assignments,
    export_report,
    segment_report,
)

__all__ = ["build_parser", "main", "read_table"]

_INPUT_SUFFIXES = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def _one_line(text):
    return " ".join(str(text).split())


# ---------------------------------------------------------------------------------
# helpers shared by the commands
# ---------------------------------------------------------------------------------
def read_table(path):
    """Read a CSV or Parquet file into a DataFrame, with one-line errors.

    Parameters
    ----------
    path : str or path-like
        ``.csv`` (optionally compressed, e.g. ``.csv.gz``), ``.tsv`` or
        ``.parquet``/``.pq``.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    CLIError
        If the file is missing, of an unknown type or unreadable.
    """
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in {".gz", ".bz2", ".zip", ".xz", ".zst"}:
        suffixes = suffixes[:-1]
    kind = _INPUT_SUFFIXES.get(suffixes[-1] if suffixes else "")
    if kind is None:
        raise CLIError(
            f"cannot read {str(path)!r}: unknown file type; use .csv or .parquet"
        )
    if not path.is_file():
        raise CLIError(f"cannot read {str(path)!r}: no such file")
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep="\t" if kind == "tsv" else ",")
    except Exception as exc:  # noqa: BLE001 - any reader failure is user-facing
        raise CLIError(
            f"cannot read {str(path)!r}: {type(exc).__name__}: {_one_line(exc)}"
        ) from None
    if frame.shape[1] == 0 or len(frame) == 0:
        raise CLIError(f"cannot read {str(path)!r}: the file holds no data rows")
    return frame


def _check_columns(frame, columns, source):
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns[:15]))
        if frame.shape[1] > 15:
            have += f", ... ({frame.shape[1]} columns)"
        raise CLIError(
            f"missing column(s) {', '.join(map(repr, missing))} in {source} "
            f"(it has: {have})"
        )


def _required_columns(rules):
    """Raw columns a RuleSet needs: thresholded features and compared columns."""
    from ._rules import _level_feature

    needed = list(rules.percentiles())
    for segment in rules.segments:
        for cond in segment.conditions:
            feature = _level_feature(cond.column, rules.levels, "_level")
            needed.append(feature if feature is not None else cond.column)
    return list(dict.fromkeys(needed))


class _Progress:
    """Step lines with timings on stderr: ``reading x.csv ... 64,000 rows (0.1 s)``."""

    def __init__(self, quiet=False, stream=None):
        self.quiet = quiet
        self.stream = sys.stderr if stream is None else stream
        self.start = time.perf_counter()

    @contextlib.contextmanager
    def step(self, message):
        result = {"detail": ""}
        if not self.quiet:
            print(f"sklearn-mece: {message} ...", end="", file=self.stream, flush=True)
        t0 = time.perf_counter()
        try:
            yield result
        except BaseException:
            if not self.quiet:
                print(" failed", file=self.stream, flush=True)
            raise
        if not self.quiet:
            detail = f" {result['detail']}" if result["detail"] else ""
            elapsed = time.perf_counter() - t0
            print(f"{detail} ({elapsed:.2f} s)", file=self.stream, flush=True)

    def note(self, message):
        if not self.quiet:
            print(f"sklearn-mece: {message}", file=self.stream, flush=True)

    def done(self):
        self.note(f"done in {time.perf_counter() - self.start:.2f} s")


def _fit(pipe, X, progress):
    """Fit and transform, collecting warnings to print after the step line."""
    steps = " -> ".join(pipe.named_steps)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with progress.step(f"fitting {steps} on {len(X):,} rows") as info:
            X_out = pipe.fit_transform(X)
            info["detail"] = (
                f"{len(pipe.named_steps['segments'].segment_names_)} segments"
            )
    return X_out, [str(w.message) for w in caught]


_PRINTED = (
    "size",
    "share",
    "mean_avg_order_value",
    "conversion_potential",
    "profitability",
    "lift",
    "strategic_fit",
    "size_score",
    "score",
    "tier",
    "lift_observed",
    "lift_ci_low",
    "lift_ci_high",
    "valid",
)


def _print_table(table, out):
    """The report's main columns; the exports and the HTML hold all of them."""
    shown = table[[c for c in _PRINTED if c in table]]
    with pd.option_context(
        "display.width", 200, "display.max_columns", 40, "display.max_colwidth", 40
    ):
        print(shown.to_string(float_format=lambda v: f"{v:,.3f}"), file=out)


def _print_strategies(table, out):
    if "strategy" not in table and "description" not in table:
        return
    print("\nStrategies:", file=out)
    for name, row in table.iterrows():
        line = f"  {name}: {row.get('strategy') or '-'}"
        if row.get("merged_from"):
            line += f"  (absorbs {row['merged_from']})"
        print(line, file=out)


def _write_outputs(folder, pipe, X_out, table, *, id_col, fmt, html, progress):
    from .report import write_html_report

    folder = Path(folder)
    written = []
    with progress.step(f"writing {folder}") as info:
        written.append(
            export_assignments(
                X_out, folder / f"assignments.{fmt}", id_col=id_col, format=fmt
            )
        )
        written.append(export_report(table, folder / "segments.csv"))
        written.append(export_report(table, folder / "segments.json"))
        if html:
            written.append(
                write_html_report(pipe, X_out, folder / "report.html", report=table)
            )
        info["detail"] = f"{len(written)} files"
    return written


def _scorer_params(pipe, args):
    """Turn ``--treatment/--outcome`` into ``scores__*`` parameters."""
    if args.treatment is None and args.outcome is None:
        return {}
    if (args.treatment is None) != (args.outcome is None):
        raise CLIError("--treatment and --outcome must be given together")
    if "scores" not in pipe.named_steps:
        raise CLIError(
            "--treatment/--outcome need the scorer step, which this installation "
            "of sklearn-mece does not have"
        )
    return {"scores__treatment": args.treatment, "scores__outcome": args.outcome}


_SCORER_INPUTS = (
    "aov_column",
    "engagement_column",
    "profitability_column",
    "recency_column",
)


def _scorer_inputs(pipe, data, progress):
    """Raw columns the scorer reads that the data has; unset those it lacks."""
    scorer = pipe.named_steps.get("scores")
    if scorer is None:
        return []
    present, absent = [], {}
    for param in _SCORER_INPUTS:
        column = getattr(scorer, param, None)
        if not isinstance(column, str):
            continue
        if column in data.columns:
            present.append(column)
        else:
            absent[param] = column
    if absent:
        pipe.set_params(**{f"scores__{param}": None for param in absent})
        progress.note(
            f"scoring without column(s) the data lacks, each counted as neutral "
            f"(0.5): {', '.join(map(repr, absent.values()))}"
        )
    return present


# ---------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------
def _cmd_demo(args, out=None):
    out = sys.stdout if out is None else out
    from . import check_mece, describe_pipeline, make_cart_abandoner_pipeline
    from .datasets import DEFAULT_REFERENCE_TIME, make_cart_abandoners, select_universe

    progress = _Progress(args.quiet)
    with progress.step(f"generating {args.n_users:,} mock users") as info:
        data = make_cart_abandoners(args.n_users, random_state=args.seed)
        # the window ends at the time the mock data was generated for, as in
        # MECESegmentationEngine, so both select the same universe
        universe = select_universe(data, reference_time=DEFAULT_REFERENCE_TIME)
        info["detail"] = f"{len(universe):,} in the universe"
    print(
        f"sklearn-mece demo: {len(data):,} mock users, {len(universe):,} abandoned a "
        "cart in the last 7 days (the universe).",
        file=out,
    )
    pipe = make_cart_abandoner_pipeline(min_size=args.min_size, max_size=args.max_size)
    X_out, caught = _fit(pipe, universe, progress)
    thresholds = pipe.named_steps["thresholds"]
    print(
        "\nLearned thresholds (a value equal to a cut goes to the upper level):",
        file=out,
    )
    for name, cuts in thresholds.cuts_.items():
        q = thresholds.percentiles_[name]
        pairs = ", ".join(f"p{p:g} = {c:,.4g}" for p, c in zip(q, cuts))
        print(f"  {name}: {pairs}", file=out)
    print("\nRules:", file=out)
    print(describe_pipeline(pipe), file=out)
    table = segment_report(pipe, X_out)
    print("\nSegments:", file=out)
    _print_table(table, out)
    _print_strategies(table, out)
    for message in caught:
        print(f"warning: {message}", file=out)
    report = check_mece(X_out["segment"], expected_labels=list(table.index))
    print("\nMECE validation:", file=out)
    print(report, file=out)

    written = _write_outputs(
        args.out,
        pipe,
        X_out,
        table,
        id_col="user_id",
        fmt="csv",
        html=not args.no_html,
        progress=progress,
    )
    print(f"\nWrote {', '.join(str(p) for p in written)}.", file=out)
    progress.done()
    return 0 if report.is_mece else 1


def _cmd_segment(args, out=None):
    out = sys.stdout if out is None else out
    from . import check_mece, make_cart_abandoner_pipeline
    from ._rules import load_rules
    from .io import save
    from .presets import CART_ABANDONER_RULES

    progress = _Progress(args.quiet)
    rules = CART_ABANDONER_RULES
    if args.rules is not None:
        try:
            rules = load_rules(args.rules)
        except (ValueError, TypeError) as exc:
            raise CLIError(f"bad rules file {args.rules!r}: {_one_line(exc)}") from None
        if not rules.percentiles():
            raise CLIError(
                f"bad rules file {args.rules!r}: no feature under 'levels' declares "
                "'percentiles', so there is nothing to learn cut points for"
            )
    with progress.step(f"reading {args.input}") as info:
        data = read_table(args.input)
        info["detail"] = f"{len(data):,} rows x {data.shape[1]} columns"

    try:
        pipe = make_cart_abandoner_pipeline(
            min_size=args.min_size, max_size=args.max_size, rules=rules
        )
    except (ValueError, TypeError) as exc:
        raise CLIError(f"bad rules file {args.rules!r}: {_one_line(exc)}") from None
    params = _scorer_params(pipe, args)
    if args.nan_segment:
        params["segments__nan_segment"] = args.nan_segment
    if params:
        pipe.set_params(**params)
    features = _required_columns(rules)
    lift_columns = [c for c in (args.treatment, args.outcome) if c is not None]
    _check_columns(
        data,
        features + lift_columns + ([args.id_col] if args.id_col else []),
        args.input,
    )
    scorer_inputs = _scorer_inputs(pipe, data, progress)
    # Fit on the columns the steps use only: the saved model then asks for
    # nothing else when it labels new data.
    X = data[list(dict.fromkeys(features + scorer_inputs + lift_columns))]
    X_out, caught = _fit(pipe, X, progress)
    for message in caught:
        print(f"sklearn-mece: warning: {_one_line(message)}", file=sys.stderr)
    if args.id_col:
        X_out.insert(0, args.id_col, data[args.id_col].to_numpy())

    table = segment_report(pipe, X_out)
    print(f"Segments of {args.input} ({len(X_out):,} rows):", file=out)
    _print_table(table, out)
    _print_strategies(table, out)
    mece = check_mece(X_out["segment"], expected_labels=list(table.index))
    print(
        f"\nMECE: {'PASS' if mece.is_mece else 'FAIL'} "
        f"({len(table)} segments, {mece.n_assigned:,} of {mece.n_rows:,} rows assigned)",
        file=out,
    )
    written = _write_outputs(
        args.out,
        pipe,
        X_out,
        table,
        id_col=args.id_col,
        fmt=args.format,
        html=not args.no_html,
        progress=progress,
    )
    if args.model:
        with progress.step(f"saving the fitted pipeline to {args.model}"):
            Path(args.model).parent.mkdir(parents=True, exist_ok=True)
            written.append(Path(save(pipe, args.model)))
    print(f"Wrote {', '.join(str(p) for p in written)}.", file=out)
    progress.done()
    return 0 if mece.is_mece else 1


def _load_model(path):
    from .io import load

    if not Path(path).is_file():
        raise CLIError(f"cannot load model {str(path)!r}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = load(path)
    except Exception as exc:  # noqa: BLE001 - any loader failure is user-facing
        raise CLIError(
            f"cannot load model {str(path)!r}: {type(exc).__name__}: {_one_line(exc)}"
        ) from None
    if not hasattr(model, "named_steps") or "segments" not in model.named_steps:
        raise CLIError(
            f"cannot load model {str(path)!r}: not a segmentation pipeline "
            "(saved by 'sklearn-mece segment --model')"
        )
    return model


def _model_columns(model):
    """Columns the model saw at fit, and those only its scorer needed."""
    first = model.steps[0][1]
    columns = [str(c) for c in getattr(first, "feature_names_in_", [])]
    scorer = model.named_steps.get("scores")
    optional = []
    if scorer is not None:
        optional = [
            getattr(scorer, p, None)
            for p in ("treatment", "outcome", "amount")
            if isinstance(getattr(scorer, p, None), str)
        ]
    return columns, optional


def _cmd_apply(args, out=None):
    out = sys.stdout if out is None else out
    progress = _Progress(args.quiet)
    with progress.step(f"loading {args.model}"):
        model = _load_model(args.model)
    with progress.step(f"reading {args.input}") as info:
        data = read_table(args.input)
        info["detail"] = f"{len(data):,} rows x {data.shape[1]} columns"
    columns, optional = _model_columns(model)
    _check_columns(
        data,
        [c for c in columns if c not in optional]
        + ([args.id_col] if args.id_col else []),
        args.input,
    )
    X = data[[c for c in columns if c in data.columns]].copy()
    for column in columns:
        if column not in X:  # outcome columns are not needed to label rows
            X[column] = float("nan")
    X = X[columns]
    with progress.step(f"labelling {len(X):,} rows"):
        X_out = model.transform(X)
    if args.id_col:
        X_out.insert(0, args.id_col, data[args.id_col].to_numpy())
    counts = X_out["segment"].value_counts(sort=False)
    print(f"Segments of {args.input} ({len(X_out):,} rows):", file=out)
    for name, n in counts.items():
        print(f"  {name}: {n:,} ({100 * n / max(len(X_out), 1):.1f} %)", file=out)
    with progress.step(f"writing {args.out}"):
        path = export_assignments(
            X_out,
            Path(args.out) / f"assignments.{args.format}",
            id_col=args.id_col,
            format=args.format,
        )
    print(f"Wrote {path}.", file=out)
    progress.done()
    return 0


# ---------------------------------------------------------------------------------
# parser
# ---------------------------------------------------------------------------------
def _size(text):
    """A segment size: an int count, or a float fraction in (0, 1)."""
    try:
        value = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a count or a fraction"
            ) from None
        if not 0 < value < 1:
            raise argparse.ArgumentTypeError(
                f"{text!r}: a fraction must be between 0 and 1"
            ) from None
        return value
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a size must be >= 0")
    return value


def build_parser():
    """The argument parser of ``sklearn-mece``."""
    parser = argparse.ArgumentParser(
        prog="sklearn-mece", description="MECE customer segmentation."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument(
            "-q", "--quiet", action="store_true", help="no progress lines on stderr"
        )

    demo = sub.add_parser("demo", help="segment mock cart abandoners end to end")
    demo.add_argument("--out", default="demo-output", help="output folder")
    demo.add_argument("--n-users", type=int, default=50_000)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--min-size", type=_size, default=500)
    demo.add_argument("--max-size", type=_size, default=20_000)
    demo.add_argument("--no-html", action="store_true", help="skip report.html")
    common(demo)
    demo.set_defaults(func=_cmd_demo)

    seg = sub.add_parser(
        "segment",
        help="fit the preset (or --rules) on a CSV/Parquet file and write the results",
        description="Fit the cart-abandoner preset (or the hierarchy of --rules) and "
        "write assignments, segments.csv/.json and report.html into --out.",
    )
    seg.add_argument("input", help="input .csv or .parquet file")
    seg.add_argument("--out", required=True, help="output folder")
    seg.add_argument(
        "--rules", help="rules file (.json or .toml) replacing the preset's hierarchy"
    )
    seg.add_argument(
        "--min-size", type=_size, default=500, help="merge smaller segments (0: never)"
    )
    seg.add_argument(
        "--max-size", type=_size, default=20_000, help="flag larger segments"
    )
    seg.add_argument("--treatment", help="0/1 column: 1 = received the campaign")
    seg.add_argument("--outcome", help="0/1 outcome column (e.g. converted)")
    seg.add_argument("--id-col", help="identifier column written with each row")
    seg.add_argument("--model", help="save the fitted pipeline here (.skops)")
    seg.add_argument(
        "--nan-segment",
        help="route rows with a missing value in a tested column to this segment "
        "(default: such rows are an error)",
    )
    seg.add_argument(
        "--format", choices=FORMATS, default="csv", help="format of assignments"
    )
    seg.add_argument("--no-html", action="store_true", help="skip report.html")
    common(seg)
    seg.set_defaults(func=_cmd_segment)

    app = sub.add_parser(
        "apply",
        help="label new data with a saved model",
        description="Label new data with a pipeline saved by 'segment --model'.",
    )
    app.add_argument("input", help="input .csv or .parquet file")
    app.add_argument("--model", required=True, help="a .skops file from segment")
    app.add_argument("--out", required=True, help="output folder")
    app.add_argument("--id-col", help="identifier column written with each row")
    app.add_argument(
        "--format", choices=FORMATS, default="csv", help="format of assignments"
    )
    common(app)
    app.set_defaults(func=_cmd_apply)
    return parser


def main(argv=None):
    """Entry point of the ``sklearn-mece`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CLIError as exc:
        print(f"sklearn-mece: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError, KeyError, ImportError) as exc:
        print(f"sklearn-mece: error: {_one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
