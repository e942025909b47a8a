"""Command line: ``sklearn-mece demo | segment | apply | sql`` (also ``python -m sklearn_mece``).

``demo``
    Segments mock cart abandoners end to end and writes the exports and the
    HTML report.
``segment INPUT --out DIR``
    Fits the cart-abandoner preset (or the hierarchy of ``--rules FILE``) on a
    CSV or Parquet file and writes ``assignments.csv`` (one segment per row),
    ``segments.csv`` and ``segments.json`` (the per-segment report) and
    ``report.html`` (``--no-html`` skips it), and ``audiences/`` (one CSV of
    ids per segment, linked from the report); ``--model PATH`` also saves the
    fitted pipeline.
    ``--map YOUR_COLUMN=PRESET_COLUMN`` (repeatable) reads a preset column
    under your name (``--map history=avg_order_value``).
``apply --model PATH INPUT --out DIR``
    Labels new data with a saved pipeline and writes ``assignments.csv`` and
    ``audiences/``.
``sql --model PATH --table NAME [--dialect D] [--id-col COL ...] [--levels]``
    Prints one SQL ``SELECT`` that segments every row of a table as the saved
    pipeline does (:func:`sklearn_mece.sql.to_sql`).

Errors (missing column, unreadable file, bad rules file, bad model file) are
printed as one line, ``sklearn-mece: error: ...``, on stderr with exit code 2.
Progress lines with timings go to stderr (``--quiet`` silences them), and so do
warnings (``sklearn-mece: warning: ...``, e.g. a model saved under another
version); the tables go to stdout.

Output folders are written all or nothing: every file goes into a temporary
folder beside ``--out`` that is moved into place only when everything
succeeded, so a failed run leaves no partial folder and never mixes its files
with a previous run's. A non-empty ``--out`` is refused unless ``--overwrite``
is given; its contents are then replaced (the old folder is moved aside, the
new one moved in, the old one deleted). CSV text cells that a spreadsheet would
run as formulas (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return) are prefixed with a single quote; ``--raw-csv`` writes them verbatim.
"""

import argparse
import contextlib
import os
import re
import secrets
import shutil
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

from ._base import optional_import
from ._lift import SIMULATED_LIFT_TEXT, simulated_segments
from ._pipeline import find_steps, segment_step, segment_steps
from ._scorer import LIFT_COLUMN_PARAMS, dimension_names, input_columns, input_params
from .export import (
    FORMATS,
    export_assignments,
    export_audiences,
    export_report,
    segment_labels,
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
            optional_import("pyarrow", feature="Reading parquet", extra="parquet")
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


def _check_columns(frame, columns, source, hint=None):
    """Refuse a frame without ``columns``; ``hint(missing)`` adds advice."""
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns[:15]))
        if frame.shape[1] > 15:
            have += f", ... ({frame.shape[1]} columns)"
        advice = hint(missing) if hint is not None else ""
        raise CLIError(
            f"missing column(s) {', '.join(map(repr, missing))} in {source} "
            f"(it has: {have})" + (f"; {advice}" if advice else "")
        )


def _map_hint(mapping):
    """Advice for missing columns of ``segment``: which preset column each is,
    and the ``--map`` that reads it under another name."""
    from .presets import PRESET_COLUMNS

    def meaning(preset):
        text = PRESET_COLUMNS[preset]
        return text[:1].lower() + text[1:]

    def hint(missing):
        notes, unmapped = [], []
        for column in missing:
            if column in mapping:
                preset = mapping[column]
                notes.append(
                    f"{column!r} is your name for the preset's {preset!r} "
                    f"({meaning(preset)}), given by --map {column}={preset}"
                )
            elif column in PRESET_COLUMNS:
                notes.append(f"{column!r} is the preset's column for {meaning(column)}")
                unmapped.append(column)
        if unmapped:
            one = "it" if len(unmapped) == 1 else "one"
            notes.append(
                f"if your data names {one} differently, pass --map "
                f"YOUR_COLUMN={unmapped[0]} (see 'sklearn-mece segment --help')"
            )
        return "; ".join(notes)

    return hint


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

    def warn(self, message):
        """A warning: shown even with ``--quiet``, on a line of its own."""
        print(f"sklearn-mece: warning: {_one_line(message)}", file=self.stream)

    def done(self):
        self.note(f"done in {time.perf_counter() - self.start:.2f} s")


def _fit(pipe, X, progress):
    """Fit and transform, collecting warnings to print after the step line."""
    steps = " -> ".join(pipe.named_steps)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with progress.step(f"fitting {steps} on {len(X):,} rows") as info:
            X_out = pipe.fit_transform(X)
            info["detail"] = f"{len(segment_step(pipe).segment_names_)} segments"
    return X_out, [str(w.message) for w in caught]


def _printed_columns(aov_column=None):
    """The report's columns printed: sizes, the mean order value (of
    ``aov_column``; ``None``: the scorer's default), the scorer's dimensions
    (its dimension table), score, tier, observed lift, validity."""
    aov = input_columns(terms=("aov",)) if aov_column is None else (aov_column,)
    return (
        "size",
        "share",
        *(f"mean_{c}" for c in aov),
        *dimension_names(),
        "score",
        "tier",
        "lift_source",
        "lift_observed",
        "lift_ci_low",
        "lift_ci_high",
        "lift_significant",
        "valid",
    )


def _print_table(table, out, pipe=None):
    """The report's main columns; the exports and the HTML hold all of them."""
    scorer = None if pipe is None else find_steps(pipe).scorer
    aov = getattr(scorer, "aov_column", None)
    printed = _printed_columns(aov if isinstance(aov, str) else None)
    shown = table[[c for c in printed if c in table]]
    with pd.option_context(
        "display.width", 200, "display.max_columns", 40, "display.max_colwidth", 40
    ):
        print(shown.to_string(float_format=lambda v: f"{v:,.3f}"), file=out)
    for note in _table_notes(table):
        print(note, file=out)


def _table_notes(table):
    """Lines under the printed table: what the lift columns are."""
    notes = []
    which = simulated_segments(table["lift_source"]) if "lift_source" in table else None
    if which:
        notes.append(
            f"lift_score is SIMULATED for {which} ({SIMULATED_LIFT_TEXT}, an "
            "assumption, not a measurement); give --treatment and --outcome of a "
            "campaign with a randomized holdout to observe it."
        )
    if "lift_intervals" in table:
        notes.append(
            f"{table['lift_intervals'].iloc[0]}. The adjusted intervals and "
            "lift_shrunk (the lift lift_score reads) are in the exports and the "
            "HTML report."
        )
    return notes


def _print_strategies(table, out):
    if "strategy" not in table and "description" not in table:
        return
    print("\nStrategies:", file=out)
    for name, row in table.iterrows():
        line = f"  {name}: {row.get('strategy') or '-'}"
        if row.get("merged_from"):
            line += f"  (absorbs {row['merged_from']})"
        print(line, file=out)


def _scorer_params(pipe, args):
    """Turn ``--treatment/--outcome`` into ``scores__*`` parameters."""
    if args.treatment is None and args.outcome is None:
        return {}
    if (args.treatment is None) != (args.outcome is None):
        raise CLIError("--treatment and --outcome must be given together")
    steps = find_steps(pipe)
    if steps.scorer is None:
        raise CLIError(
            "--treatment/--outcome need the scorer step, which this installation "
            "of sklearn-mece does not have"
        )
    name = steps.names["scorer"]
    return {f"{name}__treatment": args.treatment, f"{name}__outcome": args.outcome}


def _scorer_inputs(pipe, data, progress):
    """Raw columns the scorer reads that the data has; unset those it lacks."""
    steps = find_steps(pipe)
    scorer = steps.scorer
    if scorer is None:
        return []
    present, absent = [], {}
    for param in input_params():
        column = getattr(scorer, param, None)
        if not isinstance(column, str):
            continue
        if column in data.columns:
            present.append(column)
        else:
            absent[param] = column
    if absent:
        name = steps.names["scorer"]
        pipe.set_params(**{f"{name}__{param}": None for param in absent})
        progress.note(
            f"scoring without column(s) the data lacks, each counted as neutral "
            f"(0.5): {', '.join(map(repr, absent.values()))} (if your data names "
            "one differently, pass --map YOUR_COLUMN=PRESET_COLUMN)"
        )
    return present


# ---------------------------------------------------------------------------------
# output folders: all or nothing
# ---------------------------------------------------------------------------------
def _is_within(path, folder):
    """Whether ``path`` is ``folder`` or inside it (both resolved)."""
    return path == folder or folder in path.parents


def _check_out(out, overwrite, inputs=(), ignore=None):
    """Refuse an ``--out`` that is a file, or not empty without ``--overwrite``.

    ``inputs`` are ``(what, path)`` pairs the command reads: replacing a
    folder that holds one of them would delete it, so that is refused too.
    ``ignore`` is an entry of ``out`` not counted (our own temporary folder).
    """
    out = Path(out)
    if not out.exists():
        if out.is_symlink():
            raise CLIError(f"--out {str(out)!r} is a broken symbolic link")
        return
    if not out.is_dir():
        raise CLIError(f"--out {str(out)!r} exists and is not a folder")
    if not any(p.name != ignore for p in out.iterdir()):
        return
    if not overwrite:
        raise CLIError(
            f"output folder {str(out)!r} is not empty; pass --overwrite to replace "
            "its contents, or choose another --out"
        )
    target = Path(os.path.realpath(out))
    for what, path in inputs:
        if path is not None and _is_within(Path(os.path.realpath(path)), target):
            raise CLIError(
                f"--overwrite would delete the {what} {str(path)!r}, which is inside "
                f"--out {str(out)!r}; choose another --out"
            )


def _new_folder(parent, stem):
    """Create and return a new, uniquely named hidden folder in ``parent``."""
    while True:
        folder = parent / f".{stem}-{secrets.token_hex(6)}"
        try:
            folder.mkdir()
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
        return folder


def _in_place(target):
    """Whether an existing folder must keep its identity (not be renamed).

    A mount point cannot be renamed and another file system holds the folder
    beside it; the current folder should not be swapped from under the shell.
    """
    cwd = Path(os.path.realpath(Path.cwd()))
    return target.is_dir() and (os.path.ismount(target) or _is_within(cwd, target))


@contextlib.contextmanager
def _staged_folder(out, overwrite, progress):
    """Yield an empty temporary folder; move it to ``out`` if the block succeeds.

    The temporary folder is created beside ``out`` (same file system, so the
    final move is a rename); on any failure it is deleted and ``out`` is left
    as it was. An existing ``out`` (empty, or not with ``overwrite``) is moved
    aside, the new folder moved in and the old one deleted. When ``out`` is a
    mount point or holds the current folder, its entries are swapped instead.
    """
    target = Path(os.path.realpath(out))
    if not target.name:
        raise CLIError(f"--out {str(out)!r} cannot be a file system root")
    in_place = _in_place(target)
    parent = target if in_place else target.parent
    created = [p for p in (parent, *parent.parents) if not p.exists()]
    parent.mkdir(parents=True, exist_ok=True)
    staging = _new_folder(parent, "new" if in_place else f"{target.name}.partial")
    try:
        yield staging
        _check_out(out, overwrite, ignore=staging.name)  # nothing appeared since
        if in_place:
            _swap_entries(staging, target, progress)
        else:
            _swap_folder(staging, target, progress)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in created:  # the parents this run made, innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _remove_old(old, progress):
    try:
        shutil.rmtree(old)
    except OSError as exc:  # pragma: no cover - depends on permissions
        progress.warn(f"could not delete the previous output {str(old)!r}: {exc}")


def _swap_folder(staging, target, progress):
    if not target.exists():
        os.rename(staging, target)
        return
    old = target.parent / f".{target.name}.old-{secrets.token_hex(4)}"
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    _remove_old(old, progress)


def _swap_entries(staging, target, progress):
    old = _new_folder(target, "old")
    moved_in = []
    try:
        for path in [p for p in target.iterdir() if p not in (staging, old)]:
            os.rename(path, old / path.name)
        for path in list(staging.iterdir()):
            os.rename(path, target / path.name)
            moved_in.append(path.name)
    except BaseException:  # put the previous entries back
        for name in moved_in:
            os.rename(target / name, staging / name)
        for path in list(old.iterdir()):
            os.rename(path, target / path.name)
        old.rmdir()
        raise
    staging.rmdir()
    _remove_old(old, progress)


def _final_path(path, staging, out):
    """Where a file written into ``staging`` ends up once moved to ``out``."""
    return Path(out) / Path(path).relative_to(staging)


def _warn_without_plots(args, progress):
    """One line when report.html will have no plots (matplotlib missing)."""
    if not getattr(args, "no_html", False):
        from .report import plots_unavailable

        hint = plots_unavailable()
        if hint is not None:
            progress.warn(f"report.html without plots: {hint}")


def _write_outputs(folder, pipe, X_out, table, *, id_col, fmt, html, csv_escape):
    """Write the exports (and report.html) into ``folder``; the paths written."""
    from .report import write_html_report

    folder = Path(folder)
    written = [
        export_assignments(
            X_out,
            folder / f"assignments.{fmt}",
            id_col=id_col,
            segment_column=segment_step(pipe).output_column,
            format=fmt,
            csv_escape=csv_escape,
        ),
        export_report(table, folder / "segments.csv", csv_escape=csv_escape),
        export_report(table, folder / "segments.json"),
    ]
    if html:  # the report links the audience files it writes beside it
        written.append(
            write_html_report(
                pipe,
                X_out,
                folder / "report.html",
                report=table,
                audiences=True,
                id_col=id_col,
                csv_escape=csv_escape,
            )
        )
        written.append(folder / "audiences")
    else:
        written.append(_write_audiences(folder, pipe, X_out, id_col, csv_escape))
    return written


def _write_audiences(folder, pipe, X_out, id_col, csv_escape):
    """One CSV of ids per segment of ``pipe`` in ``folder / "audiences"``."""
    seg = segment_step(pipe)
    export_audiences(
        X_out,
        Path(folder) / "audiences",
        id_col=id_col,
        segment_column=seg.output_column,
        segment_names=list(seg.segment_names_),
        csv_escape=csv_escape,
    )
    return Path(folder) / "audiences"


def _write_folder(args, progress, write, *, model=None):
    """Run ``write(folder)`` into a staged folder, then move it to ``--out``.

    ``model`` is a fitted pipeline saved to ``args.model`` as part of the same
    all-or-nothing step: inside ``--out`` it is written into the staged folder,
    elsewhere to a temporary file beside it, renamed once the folder is in
    place. Returns the final paths written.
    """
    out = Path(args.out)
    target = Path(os.path.realpath(out))
    pending = None
    try:
        with _staged_folder(out, args.overwrite, progress) as staging:
            with progress.step(f"writing {out}") as info:
                written = [_final_path(p, staging, out) for p in write(staging)]
                info["detail"] = (
                    f"{len(written)} file{'s' if len(written) != 1 else ''}"
                )
            if model is not None:
                from . import save

                path = Path(args.model)
                with progress.step(f"saving the fitted pipeline to {path}"):
                    real = Path(os.path.realpath(path))
                    if _is_within(real, target):
                        inner = staging / real.relative_to(target)
                        inner.parent.mkdir(parents=True, exist_ok=True)
                        save(model, inner)
                    else:
                        path.parent.mkdir(parents=True, exist_ok=True)
                        pending = path.with_name(
                            f".{path.name}.partial-{secrets.token_hex(4)}"
                        )
                        save(model, pending)
                written.append(path)
        if pending is not None:
            os.replace(pending, path)
            pending = None
    finally:
        if pending is not None:
            pending.unlink(missing_ok=True)
    return written


# ---------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------
def _cmd_demo(args, out=None):
    out = sys.stdout if out is None else out
    from . import check_mece, describe_pipeline, make_cart_abandoner_pipeline
    from .datasets import DEFAULT_REFERENCE_TIME, make_cart_abandoners, select_universe

    progress = _Progress(args.quiet)
    _check_out(args.out, args.overwrite)
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
    thresholds = find_steps(pipe).thresholder
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

    _warn_without_plots(args, progress)
    written = _write_folder(
        args,
        progress,
        lambda folder: _write_outputs(
            folder,
            pipe,
            X_out,
            table,
            id_col="user_id",
            fmt="csv",
            html=not args.no_html,
            csv_escape=not args.raw_csv,
        ),
    )
    print(f"\nWrote {', '.join(str(p) for p in written)}.", file=out)
    progress.done()
    return 0 if report.is_mece else 1


def _cmd_segment(args, out=None):
    out = sys.stdout if out is None else out
    from . import check_mece, load_rules, make_cart_abandoner_pipeline
    from ._rules import RuleSet
    from .presets import CART_ABANDONER_RULES, _column_mapping

    progress = _Progress(args.quiet)
    _check_out(
        args.out,
        args.overwrite,
        inputs=[("input file", args.input), ("rules file", args.rules)],
    )
    mapping = args.map or {}  # user column -> preset column
    columns = {preset: user for user, preset in mapping.items()}
    try:
        _column_mapping(columns)
    except (ValueError, TypeError) as exc:
        raise CLIError(f"--map: {_one_line(exc)}") from None
    rules = CART_ABANDONER_RULES
    if args.rules is not None:
        try:
            rules = load_rules(args.rules)
        except (ValueError, TypeError, OSError) as exc:
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
    if columns:
        try:
            pipe = make_cart_abandoner_pipeline(
                min_size=args.min_size,
                max_size=args.max_size,
                rules=rules,
                columns=columns,
            )
        except (ValueError, TypeError) as exc:
            raise CLIError(f"--map: {_one_line(exc)}") from None
        rules = RuleSet.from_dict(segment_step(pipe, fitted=False).rules)  # your names
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
        hint=_map_hint(mapping),
    )
    scorer_inputs = _scorer_inputs(pipe, data, progress)
    # Fit on the columns the steps use only: the saved model then asks for
    # nothing else when it labels new data.
    X = data[list(dict.fromkeys(features + scorer_inputs + lift_columns))]
    X_out, caught = _fit(pipe, X, progress)
    for message in caught:
        progress.warn(message)
    if args.id_col:
        X_out.insert(0, args.id_col, data[args.id_col].to_numpy())

    table = segment_report(pipe, X_out)
    print(f"Segments of {args.input} ({len(X_out):,} rows):", file=out)
    _print_table(table, out, pipe)
    _print_strategies(table, out)
    mece = check_mece(X_out["segment"], expected_labels=list(table.index))
    print(
        f"\nMECE: {'PASS' if mece.is_mece else 'FAIL'} "
        f"({len(table)} segments, {mece.n_assigned:,} of {mece.n_rows:,} rows assigned)",
        file=out,
    )
    _warn_without_plots(args, progress)
    written = _write_folder(
        args,
        progress,
        lambda folder: _write_outputs(
            folder,
            pipe,
            X_out,
            table,
            id_col=args.id_col,
            fmt=args.format,
            html=not args.no_html,
            csv_escape=not args.raw_csv,
        ),
        model=pipe if args.model else None,
    )
    print(f"Wrote {', '.join(str(p) for p in written)}.", file=out)
    progress.done()
    return 0 if mece.is_mece else 1


@contextlib.contextmanager
def _warnings_to(progress):
    """Show the warnings issued in the block as one line each on stderr.

    Each distinct message is shown once (a pipeline's steps repeat the same
    version warning), even with ``--quiet``; deprecation warnings, meant for
    developers, are not shown.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            shown = [
                str(w.message)
                for w in caught
                if not issubclass(
                    w.category, DeprecationWarning | PendingDeprecationWarning
                )
            ]
            for message in dict.fromkeys(shown):
                progress.warn(message)


def _load_model(path):
    """Load a pipeline saved by ``segment --model``, with one-line errors."""
    from . import load

    if not Path(path).is_file():
        raise CLIError(f"cannot load model {str(path)!r}: no such file")
    try:
        model = load(path)
    except Exception as exc:  # noqa: BLE001 - any loader failure is user-facing
        raise CLIError(
            f"cannot load model {str(path)!r}: {type(exc).__name__}: {_one_line(exc)}"
        ) from None
    if not hasattr(model, "steps") or find_steps(model).segmenter is None:
        raise CLIError(
            f"cannot load model {str(path)!r}: not a segmentation pipeline "
            "(saved by 'sklearn-mece segment --model')"
        )
    return model


def _model_columns(model):
    """Columns the model saw at fit, and those only its scorer needed."""
    first = model.steps[0][1]
    columns = [str(c) for c in getattr(first, "feature_names_in_", [])]
    scorer = find_steps(model).scorer
    optional = []
    if scorer is not None:
        optional = [
            getattr(scorer, p, None)
            for p in LIFT_COLUMN_PARAMS
            if isinstance(getattr(scorer, p, None), str)
        ]
    return columns, optional


def _refit_hint(args, name="NAME"):
    return (
        f"refit it with 'sklearn-mece segment INPUT --nan-segment {name} --model "
        f"{args.model}' and apply that model"
    )


def _check_nan_segment(model, args):
    """``apply --nan-segment NAME``: the model must route missing values there.

    A segmenter learns its segments, their codes and the scorer's scores at
    fit, the missing-value segment included: it cannot be added or renamed
    afterwards, so the flag checks the model instead of changing it.
    """
    name = args.nan_segment
    for step_name, step in segment_steps(model):
        fitted = getattr(step, "nan_segment", None)
        if fitted is None:
            raise CLIError(
                f"--nan-segment {name!r}: the model {str(args.model)!r} was fitted "
                f"without a missing-value segment (step {step_name!r}), and one "
                "cannot be added after fit; " + _refit_hint(args, name)
            )
        if fitted != name:
            raise CLIError(
                f"--nan-segment {name!r}: the model {str(args.model)!r} routes "
                f"missing values to {fitted!r} (step {step_name!r}), set at fit; "
                f"pass --nan-segment {fitted!r} or leave the flag out"
            )


def _missing_values_error(exc, model, args):
    """The segmenter's missing-value error, with advice that works for apply."""
    message = _one_line(exc)
    if "nan_segment" not in message or any(
        getattr(step, "nan_segment", None) is not None
        for _, step in segment_steps(model)
    ):
        return None
    # keep what is missing where; drop the advice to set nan_segment
    head = re.split(r"[.;]\s(?=[^.;]*nan_segment)", message, maxsplit=1)[0]
    head = head.rstrip(".")
    return CLIError(
        f"{head}. The model {str(args.model)!r} was fitted without a missing-value "
        "segment, so it cannot label these rows: clean the data, or "
        + _refit_hint(args)
    )


def _cmd_apply(args, out=None):
    out = sys.stdout if out is None else out
    progress = _Progress(args.quiet)
    _check_out(
        args.out,
        args.overwrite,
        inputs=[("input file", args.input), ("model file", args.model)],
    )
    # warnings (e.g. saved under another version) show after the step's line
    with _warnings_to(progress), progress.step(f"loading {args.model}"):
        model = _load_model(args.model)
    if args.nan_segment is not None:
        _check_nan_segment(model, args)
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
    try:
        with _warnings_to(progress), progress.step(f"labelling {len(X):,} rows"):
            X_out = model.transform(X)
    except ValueError as exc:
        error = _missing_values_error(exc, model, args)
        if error is None:
            raise
        raise error from None
    if args.id_col:
        X_out.insert(0, args.id_col, data[args.id_col].to_numpy())
    seg = segment_step(model)
    labels = segment_labels(X_out[seg.output_column], seg.segment_names_)
    counts = labels.value_counts(sort=False)
    print(f"Segments of {args.input} ({len(X_out):,} rows):", file=out)
    for name, n in counts.items():
        print(f"  {name}: {n:,} ({100 * n / max(len(X_out), 1):.1f} %)", file=out)
    written = _write_folder(
        args,
        progress,
        lambda folder: [
            export_assignments(
                X_out,
                folder / f"assignments.{args.format}",
                id_col=args.id_col,
                segment_column=seg.output_column,
                format=args.format,
                csv_escape=not args.raw_csv,
            ),
            _write_audiences(folder, model, X_out, args.id_col, not args.raw_csv),
        ],
    )
    print(f"Wrote {', '.join(map(str, written))}.", file=out)
    progress.done()
    return 0


def _cmd_sql(args, out=None):
    from .sql import to_sql

    out = sys.stdout if out is None else out
    progress = _Progress(quiet=True)  # stdout is the query; warnings on stderr
    with _warnings_to(progress):
        model = _load_model(args.model)
    query = to_sql(
        model,
        args.table,
        dialect=args.dialect,
        id_columns=args.id_col or None,
        levels=args.levels,
    )
    print(query, file=out)
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


_OUT_HELP = "output folder: new or empty, or replaced with --overwrite"


def _map_item(text):
    """``--map YOUR_COLUMN=PRESET_COLUMN`` as ``(your column, preset column)``."""
    from .presets import PRESET_COLUMNS

    user, sep, preset = text.partition("=")
    user, preset = user.strip(), preset.strip()
    if not sep or not user or not preset:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not YOUR_COLUMN=PRESET_COLUMN "
            "(e.g. --map history=avg_order_value)"
        )
    if preset not in PRESET_COLUMNS:
        hint = (
            f"; did you mean --map {preset}={user}?" if user in PRESET_COLUMNS else ""
        )
        raise argparse.ArgumentTypeError(
            f"{text!r}: {preset!r} is not a preset column; the preset's columns "
            f"are {', '.join(PRESET_COLUMNS)}{hint}"
        )
    return user, preset


class _MapAction(argparse.Action):
    """Collect repeated ``--map`` items into ``{your column: preset column}``,
    refusing a column of yours or of the preset's given twice."""

    def __call__(self, parser, namespace, values, option_string=None):
        user, preset = values
        mapping = dict(getattr(namespace, self.dest, None) or {})
        if user in mapping:
            raise argparse.ArgumentError(
                self,
                f"your column {user!r} is mapped twice "
                f"(to {mapping[user]!r} and to {preset!r})",
            )
        twice = [u for u, p in mapping.items() if p == preset]
        if twice:
            raise argparse.ArgumentError(
                self,
                f"the preset column {preset!r} is mapped twice "
                f"(from {twice[0]!r} and from {user!r})",
            )
        mapping[user] = preset
        setattr(namespace, self.dest, mapping)


def _segment_epilog():
    """``segment --help``: the columns the preset reads, and ``--map``."""
    from .presets import PRESET_COLUMNS

    width = max(map(len, PRESET_COLUMNS))
    lines = [
        "columns the preset reads (a --rules file may read others):",
        *(f"  {name:<{width}}  {meaning}" for name, meaning in PRESET_COLUMNS.items()),
        "",
        "If your data names one differently, map it with --map YOUR_COLUMN=PRESET_COLUMN",
        "(repeatable): the rules, the learned levels (<YOUR_COLUMN>_level) and the",
        "scores then read your column; segment names do not change. For example:",
        "",
        "  sklearn-mece segment data.csv --out out \\",
        "      --map history=avg_order_value --map recency=days_since_last_order",
    ]
    return "\n".join(lines)


def build_parser():
    """The argument parser of ``sklearn-mece``."""
    from ._version import __version__

    parser = argparse.ArgumentParser(
        prog="sklearn-mece", description="MECE customer segmentation."
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument(
            "--overwrite",
            action="store_true",
            help="replace the contents of a non-empty --out (refused without it); "
            "the folder is replaced only once every file was written",
        )
        p.add_argument(
            "--raw-csv",
            action="store_true",
            help="write CSV text cells verbatim; by default a cell starting with "
            "=, +, -, @, tab or carriage return gets a leading ' so that a "
            "spreadsheet does not run it as a formula",
        )
        p.add_argument(
            "-q", "--quiet", action="store_true", help="no progress lines on stderr"
        )

    demo = sub.add_parser("demo", help="segment mock cart abandoners end to end")
    demo.add_argument("--out", default="demo-output", help=_OUT_HELP)
    demo.add_argument("--n-users", type=int, default=50_000)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--min-size", type=_size, default=500)
    demo.add_argument("--max-size", type=_size, default=20_000)
    demo.add_argument(
        "--no-html",
        action="store_true",
        help="skip report.html (audiences/ is still written)",
    )
    common(demo)
    demo.set_defaults(func=_cmd_demo)

    seg = sub.add_parser(
        "segment",
        help="fit the preset (or --rules) on a CSV/Parquet file and write the results",
        # laid out as written (the epilog's table): lines of at most 80 characters
        description="Fit the cart-abandoner preset (or the hierarchy of --rules) and "
        "write\nassignments, segments.csv/.json, report.html and audiences/ (one "
        "CSV of ids per segment) into --out.",
        epilog=_segment_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    seg.add_argument("input", help="input .csv or .parquet file")
    seg.add_argument("--out", required=True, help=_OUT_HELP)
    seg.add_argument(
        "--rules", help="rules file (.json or .toml) replacing the preset's hierarchy"
    )
    seg.add_argument(
        "--map",
        metavar="YOUR_COLUMN=PRESET_COLUMN",
        type=_map_item,
        action=_MapAction,
        help="read a preset column under your name, e.g. "
        "--map history=avg_order_value; repeatable (see below)",
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
        metavar="NAME",
        help="route rows with a missing value in a tested column to this segment "
        "(default: such rows are an error)",
    )
    seg.add_argument(
        "--format", choices=FORMATS, default="csv", help="format of assignments"
    )
    seg.add_argument(
        "--no-html",
        action="store_true",
        help="skip report.html (audiences/ is still written)",
    )
    common(seg)
    seg.set_defaults(func=_cmd_segment)

    app = sub.add_parser(
        "apply",
        help="label new data with a saved model",
        description="Label new data with a pipeline saved by 'segment --model' "
        "and write assignments and audiences/ (one CSV of ids per segment) into "
        "--out.",
    )
    app.add_argument("input", help="input .csv or .parquet file")
    app.add_argument("--model", required=True, help="a .skops file from segment")
    app.add_argument("--out", required=True, help=_OUT_HELP)
    app.add_argument("--id-col", help="identifier column written with each row")
    app.add_argument(
        "--nan-segment",
        metavar="NAME",
        help="the segment the model routes rows with a missing value to; it is set "
        "at fit ('segment --nan-segment NAME --model ...'), so a model fitted "
        "without it or with another name is refused",
    )
    app.add_argument(
        "--format", choices=FORMATS, default="csv", help="format of assignments"
    )
    common(app)
    app.set_defaults(func=_cmd_apply)

    from .sql import DIALECTS

    sql = sub.add_parser(
        "sql",
        help="print the SQL SELECT that segments a table as a saved model does",
        description="Print one SQL SELECT returning, for every row of --table, the "
        "--id-col columns, the segment and (with a scorer) its score and tier, "
        "exactly as the model saved by 'segment --model' labels them.",
    )
    sql.add_argument("--model", required=True, help="a .skops file from segment")
    sql.add_argument(
        "--table", required=True, help="table or view to read: NAME or SCHEMA.NAME"
    )
    sql.add_argument(
        "--dialect", choices=DIALECTS, default="duckdb", help="SQL dialect"
    )
    sql.add_argument(
        "--id-col",
        action="append",
        metavar="COL",
        help="column returned with each row (repeatable)",
    )
    sql.add_argument(
        "--levels", action="store_true", help="also return the level columns"
    )
    sql.set_defaults(func=_cmd_sql)
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
