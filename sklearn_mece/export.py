"""Export per-row segments and the per-segment report to CSV, JSON or Parquet.

:func:`segment_report` builds the per-segment table of a fitted pipeline by
reading what its steps learned (the segmenter's sizes and validity, the
scorer's scores, tiers and lift intervals, the rules' descriptions and
strategies); it never refits or recomputes them. :func:`export_report` and
:func:`export_assignments` write that table and the per-row labels, choosing
the format from the file suffix (``.csv``, ``.json``, ``.parquet``/``.pq``) or
``format=``. JSON is an array of records holding plain scalars (``NaN`` becomes
``null``), ready for an API. CSV text cells that a spreadsheet would run as a
formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return)
are prefixed with a single quote unless ``csv_escape=False``; numbers are
written as they are.
"""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ._base import optional_import, to_plain
from ._csv import write_csv
from ._format import SCORE_DECIMALS
from ._lift import INCREMENTAL_COLUMNS, incremental_outcome
from ._pipeline import find_steps, segment_step
from ._scorer import dimension_names, input_columns

__all__ = [
    "FORMATS",
    "export_assignments",
    "audience_files",
    "export_audiences",
    "export_report",
    "rule_text",
    "segment_labels",
    "segment_report",
    "to_records",
]

#: Output formats understood by the exporters.
FORMATS = ("csv", "json", "parquet")

_SUFFIXES = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}
_COMPRESSION = {".gz", ".bz2", ".zip", ".xz", ".zst"}
#: Per-row columns the scorer's ``transform`` adds, exported when present.
ROW_SCORE_COLUMNS = ("segment_score", "segment_tier")


# ---------------------------------------------------------------------------------
# plain data
# ---------------------------------------------------------------------------------
def to_records(frame, *, index=None):
    """JSON-ready records of a DataFrame: plain Python scalars, ``NaN`` -> ``None``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table; its column names become the fields (as text).
    index : str, optional
        When given, the index becomes the first field under this name.

    Returns
    -------
    list of dict
        One dict per row, in the frame's order.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> df = pd.DataFrame({"size": np.array([3, 4]), "lift": [0.5, np.nan]},
    ...                   index=pd.Index(["A", "B"], name="segment"))
    >>> to_records(df, index="segment")
    [{'segment': 'A', 'size': 3, 'lift': 0.5}, {'segment': 'B', 'size': 4, 'lift': None}]
    """
    if index is not None:
        frame = frame.rename_axis(index).reset_index()
    columns = [str(c) for c in frame.columns]
    return [
        {c: to_plain(v) for c, v in zip(columns, row)}
        for row in frame.itertuples(index=False, name=None)
    ]


# ---------------------------------------------------------------------------------
# the per-segment report
# ---------------------------------------------------------------------------------
def _cuts(pipeline):
    return getattr(find_steps(pipeline).thresholder, "cuts_", None)


def _ruleset(seg):
    rules = getattr(seg, "rules_", None)
    if rules is None:
        return None
    from ._rules import RuleSet

    return RuleSet.from_dict(rules)


def _rules_context(pipeline):
    """``(segment step, RuleSet or None, cuts, level suffix, closed)`` of a
    pipeline: what describing its rules needs (the exports and the HTML report)."""
    seg = segment_step(pipeline)
    rules = _ruleset(seg)
    closed = getattr(find_steps(pipeline).thresholder, "closed", "left")
    suffix = getattr(seg, "level_suffix", "_level")
    return seg, rules, _cuts(pipeline), suffix, closed


def _declared_name(seg, name):
    """The declared segment an output segment comes from (splits -> parent)."""
    for split in getattr(seg, "splits_", ()):
        prefix = split["segment"] + "_"
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            return split["segment"], split, int(name[len(prefix) :]) - 1
    return name, None, None


def rule_text(pipeline, name):
    """The conditions of one output segment in words, with learned cut values.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted, with a segment step (and usually a thresholder).
    name : str
        An output segment name (``segment_names_``).

    Returns
    -------
    str
        Conditions joined by ``AND``, then, for every segment after the
        first, ``"AND not in segments 1-k"`` (the earlier segments, numbered
        as in the rule tree: a row goes to the first segment it matches);
        the ELSE segment reads ``ELSE``; merged and split segments say so.

    Examples
    --------
    >>> from sklearn_mece import make_cart_abandoner_pipeline
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> pipe = make_cart_abandoner_pipeline(min_size=0).fit(
    ...     make_cart_abandoners(1_000, random_state=0))
    >>> rule_text(pipe, "Recent_Customers")
    'days_since_last_order <= 30 AND not in segments 1-4'
    >>> rule_text(pipe, "Other_Bucket")
    'ELSE (every row not matched above)'
    """
    seg, rules, cuts, suffix, closed = _rules_context(pipeline)
    if rules is None:
        return ""
    declared, split, part = _declared_name(seg, name)
    by_name = {s.name: s for s in rules.all_segments}
    if declared == getattr(seg, "nan_segment", None):
        return "a tested value is missing (NaN)"
    if declared not in by_name:
        return ""
    segment = by_name[declared]
    if segment is rules.else_segment:
        text = "ELSE (every row not matched above)"
    elif not segment.conditions:
        text = "every remaining row"
    else:
        text = " AND ".join(
            rules.describe_condition(c, cuts, suffix, closed)
            for c in segment.conditions
        )
        # first match wins: a later segment holds only rows no earlier one took
        position = rules.segments.index(segment)
        if position == 1:
            text += " AND not in segment 1"
        elif position > 1:
            text += f" AND not in segments 1-{position}"
    merged = [
        n
        for n, target in getattr(seg, "merge_map_", {}).items()
        if target == declared and n != declared
    ]
    if merged:
        text += f" (also absorbs merged {', '.join(merged)})"
    if split is not None:
        edges = [None, *split["cuts"], None]
        lo, hi = edges[part], edges[part + 1]
        col = split["column"]
        bounds = [f"{col} >= {lo:,.6g}" if lo is not None else None]
        bounds.append(f"{col} < {hi:,.6g}" if hi is not None else None)
        text += f" [split part {part + 1}: {' AND '.join(b for b in bounds if b)}]"
    return text


def segment_report(pipeline, X_out=None, *, mean_columns=None):
    """Per-segment report of a fitted pipeline, read from what its steps learned.

    Sizes, shares and validity come from the segment step (``segment_table_``);
    scores, tiers and observed-lift intervals from the scorer's ``report_``
    when the pipeline has a :class:`SegmentScorer`; descriptions and
    strategies from the rules. Nothing is refitted or recomputed.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted, with a segment step (a thresholder and a scorer are read when
        present; steps are found by type, whatever their names).
    X_out : pandas.DataFrame, optional
        ``pipeline.transform(X)``; only used for the ``mean_<column>``
        summaries of ``mean_columns`` that no step learned.
    mean_columns : sequence of str, default=None
        Raw columns averaged per segment when ``X_out`` holds them and the
        scorer's report has no ``mean_<column>`` already. ``None``: the
        scorer's order-value input (``avg_order_value``).

    Returns
    -------
    pandas.DataFrame
        Indexed by segment name in hierarchy order: ``size``, ``share``,
        any ``mean_<column>``, the scorer's columns (``conversion_potential``
        .. ``score``, ``tier``, ``lift_source`` (``"observed"`` or
        ``"simulated"``: what ``lift_score`` read), ``n_treated`` ..
        ``lift_shrunk``, then ``lift_intervals``, which says which interval
        is which) when present, ``valid``, ``issue``, ``description``,
        ``strategy``, ``rule`` and ``merged_from``.

    Examples
    --------
    >>> from sklearn_mece import make_cart_abandoner_pipeline
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> X = make_cart_abandoners(2_000, random_state=0)
    >>> pipe = make_cart_abandoner_pipeline(min_size=50)
    >>> report = segment_report(pipe.fit(X))
    >>> int(report["size"].sum())
    2000
    >>> report.loc["Recent_Customers", "rule"]
    'days_since_last_order <= 30 AND not in segments 1-4'
    """
    seg = segment_step(pipeline)
    names = list(seg.segment_names_)
    table = seg.segment_table_.copy()
    table.index.name = "segment"

    scorer = find_steps(pipeline).scorer
    scores = getattr(scorer, "report_", None) if scorer is not None else None
    if scores is not None:
        # size, share and validity are the segment step's: it owns the size limits
        scores = scores.reindex(names)
        extra = [c for c in scores.columns if c not in table.columns]
        at = list(table.columns).index("valid")
        for i, col in enumerate(extra):
            table.insert(at + i, col, scores[col].to_numpy())
        if "lift_observed" in scores:
            # what contacting the whole segment brings: lift x size
            values = incremental_outcome(
                table["size"],
                scores["lift_observed"],
                scores["lift_ci_low"],
                scores["lift_ci_high"],
            )
            at = list(table.columns).index("valid")
            for i, name in enumerate(INCREMENTAL_COLUMNS):
                table.insert(at + i, name, values[i])
        if "lift_ci" in scores.attrs:
            # which interval is which, in every export format (a CSV has no
            # other place for it)
            table.insert(
                list(table.columns).index("valid"),
                "lift_intervals",
                f"lift_ci_low/high: {scores.attrs['lift_ci']}; "
                f"lift_ci_low/high_adjusted: {scores.attrs['lift_ci_adjusted']}",
            )
        table.attrs.update(scores.attrs)

    if mean_columns is None:
        mean_columns = input_columns(terms=("aov",))
    column = getattr(seg, "output_column", "segment")
    if X_out is not None and column in getattr(X_out, "columns", ()):
        wanted = [c for c in mean_columns if c in X_out and f"mean_{c}" not in table]
        for i, col in enumerate(wanted):
            labels = X_out[column]
            if not isinstance(labels.dtype, pd.CategoricalDtype):
                labels = np.asarray(names, dtype=object)[labels.to_numpy()]
            means = X_out[col].groupby(labels, observed=False).mean()
            table.insert(2 + i, f"mean_{col}", means.reindex(names).to_numpy())

    rules = _ruleset(seg)
    by_name = {} if rules is None else {s.name: s for s in rules.all_segments}
    declared = [_declared_name(seg, n)[0] for n in names]
    table["description"] = [
        getattr(by_name.get(d), "description", None) or "" for d in declared
    ]
    table["strategy"] = [
        getattr(by_name.get(d), "strategy", None) or "" for d in declared
    ]
    table["rule"] = [rule_text(pipeline, n) for n in names]
    table["merged_from"] = [_merged_from(seg, d, rules is not None) for d in declared]
    return table


def _merged_from(seg, name, declared):
    """What was merged into ``name``: declared segments, or several clusters."""
    merge_map = getattr(seg, "merge_map_", None) or {}
    if declared:
        return ", ".join(
            str(m) for m, t in merge_map.items() if t == name and m != name
        )
    sources = [m for m, t in merge_map.items() if t == name]
    return ", ".join(f"cluster {m}" for m in sources) if len(sources) > 1 else ""


# ---------------------------------------------------------------------------------
# writers
# ---------------------------------------------------------------------------------
def _format_of(path, format):
    if format is not None:
        if format not in FORMATS:
            raise ValueError(f"Unknown format {format!r}; use one of {list(FORMATS)}.")
        return format
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in _COMPRESSION:
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    raise ValueError(
        f"Cannot tell the format of {str(path)!r} from its suffix; use .csv, .json "
        f"or .parquet, or pass format= one of {list(FORMATS)}."
    )


#: Columns written with :data:`~sklearn_mece._format.SCORE_DECIMALS`
#: decimals: a score's later digits are noise to whoever reads the file.
_ROUNDED = frozenset((*dimension_names(), "score", "segment_score"))


def _rounded(frame):
    """The frame with its score columns rounded (a copy when any is)."""
    cols = [c for c in frame.columns if c in _ROUNDED and frame[c].dtype.kind == "f"]
    if not cols:
        return frame
    return frame.assign(**{c: frame[c].round(SCORE_DECIMALS) for c in cols})


def _write(frame, path, format, *, json_indent=None, csv_escape=True):
    frame = _rounded(frame)
    path = Path(path)
    fmt = _format_of(path, format)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        write_csv(frame, path, csv_escape=csv_escape, index=False)
    elif fmt == "parquet":
        optional_import("pyarrow", feature="Parquet export", extra="parquet")
        frame.to_parquet(path, index=False)
    elif json_indent is not None:
        text = json.dumps(to_records(frame), indent=json_indent, ensure_ascii=False)
        path.write_text(text + "\n", encoding="utf-8")
    else:
        # pandas' writer: fast on millions of rows, NaN -> null, plain scalars.
        frame.to_json(
            path, orient="records", date_format="iso", force_ascii=False, indent=None
        )
    return path


def export_report(report, path, *, format=None, csv_escape=True):
    """Write a per-segment report (from :func:`segment_report`) to a file.

    Parameters
    ----------
    report : pandas.DataFrame
        Indexed by segment name; the index becomes the first column,
        ``segment``.
    path : str or path-like
        Destination; the format follows its suffix unless ``format`` is given.
    format : {"csv", "json", "parquet"}, optional
        Overrides the suffix. JSON is an indented array of records with plain
        scalars.
    csv_escape : bool, default=True
        CSV only: prefix text cells and column names that start with ``=``,
        ``+``, ``-``, ``@``, a tab or a carriage return with a single quote, so
        that a spreadsheet shows them instead of running them as formulas
        (segment names, descriptions and strategies come from the rules).
        Numbers are never changed. ``False`` writes every cell verbatim.

    Returns
    -------
    pathlib.Path
        The file written.

    Examples
    --------
    >>> import json, os, tempfile
    >>> from sklearn_mece import make_cart_abandoner_pipeline
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> pipe = make_cart_abandoner_pipeline(min_size=0).fit(
    ...     make_cart_abandoners(1_000, random_state=0))
    >>> path = export_report(segment_report(pipe),
    ...                      os.path.join(tempfile.mkdtemp(), "segments.json"))
    >>> records = json.loads(path.read_text())
    >>> records[0]["segment"], records[0]["size"], "strategy" in records[0]
    ('High_AOV_Premium', 250, True)
    """
    frame = report.rename_axis(report.index.name or "segment").reset_index()
    return _write(frame, path, format, json_indent=2, csv_escape=csv_escape)


def export_assignments(
    X_out,
    path,
    *,
    id_col=None,
    columns=None,
    segment_column="segment",
    format=None,
    csv_escape=True,
):
    """Write the segment of every row to a file.

    Parameters
    ----------
    X_out : pandas.DataFrame
        ``pipeline.transform(X)``: holds ``segment_column`` (and, with a
        scorer, ``segment_score``/``segment_tier``).
    path : str or path-like
        Destination; the format follows its suffix unless ``format`` is given.
    id_col : str, optional
        Identifier column written first. Without it the index is written
        first (named ``row`` unless it has a name).
    columns : list of str, optional
        Extra columns of ``X_out`` to write after the segment columns.
    segment_column : str, default="segment"
        The segment column of ``X_out``.
    format : {"csv", "json", "parquet"}, optional
        Overrides the suffix. JSON is an array of records.
    csv_escape : bool, default=True
        CSV only: prefix text cells (identifiers, segment names, tiers) and
        column names that start with ``=``, ``+``, ``-``, ``@``, a tab or a
        carriage return with a single quote, so that a spreadsheet shows them
        instead of running them as formulas. Numbers are never changed.
        ``False`` writes every cell verbatim.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        If a requested column is not in ``X_out``.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> out = pd.DataFrame({"user_id": [7, 8], "segment": ["A", "B"]})
    >>> path = export_assignments(out, os.path.join(tempfile.mkdtemp(), "a.csv"),
    ...                           id_col="user_id")
    >>> print(path.read_text().strip())
    user_id,segment
    7,A
    8,B

    Text a spreadsheet would run as a formula is neutralised:

    >>> out = pd.DataFrame({"user_id": ["=1+1", "u2"], "segment": ["A", "-B"]})
    >>> path = export_assignments(out, os.path.join(tempfile.mkdtemp(), "a.csv"),
    ...                           id_col="user_id")
    >>> print(path.read_text().strip())
    user_id,segment
    '=1+1,A
    u2,'-B
    """
    wanted = [c for c in (id_col, segment_column) if c is not None]
    wanted += [c for c in ROW_SCORE_COLUMNS if c in X_out and c not in wanted]
    wanted += [c for c in (columns or ()) if c not in wanted]
    missing = [c for c in wanted if c not in X_out]
    if missing:
        raise ValueError(
            f"Missing column(s) {missing} in the data to export "
            f"(has {_short_list(X_out.columns)})."
        )
    frame = X_out[wanted]
    if id_col is None:
        frame = frame.reset_index(names=X_out.index.name or "row")
    return _write(frame, path, format, csv_escape=csv_escape)


#: An audience file's name: the segment's position, then its name made safe.
_AUDIENCE_FILE = re.compile(r"^[0-9]{2,}_[A-Za-z0-9_-]*\.csv$")


def audience_files(segment_names):
    """The file name of each segment's audience, in hierarchy order.

    ``03_High_AOV_Premium.csv``: the segment's place in the hierarchy, then
    its name with every character outside ``[A-Za-z0-9_-]`` replaced, so that
    no name can leave the folder or clash with another segment's file.

    Parameters
    ----------
    segment_names : iterable of str
        The segment names, in hierarchy order.

    Returns
    -------
    dict of str -> str
        Segment name -> file name.

    Raises
    ------
    ValueError
        If a segment name appears more than once.

    Examples
    --------
    >>> audience_files(["High AOV", "../x"])
    {'High AOV': '01_High_AOV.csv', '../x': '02_x.csv'}
    """
    names = list(segment_names)
    repeated = sorted({str(n) for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"Segment name(s) {repeated} appear more than once.")
    width = max(2, len(str(len(names))))
    return {
        name: f"{position:0{width}d}_"
        + (re.sub(r"[^A-Za-z0-9_-]+", "_", str(name)).strip("_")[:60] or "segment")
        + ".csv"
        for position, name in enumerate(names, start=1)
    }


def segment_labels(labels, segment_names):
    """A segment column as names: integer codes (``output="codes"``) are
    turned into the names they stand for; names pass through.

    Parameters
    ----------
    labels : array-like or pandas.Series
        The segment column: integer codes, names or a categorical.
    segment_names : sequence of str
        The segment names in code order (code ``i`` is ``segment_names[i]``).

    Returns
    -------
    pandas.Series
        The names, with the index and name of ``labels``.

    Raises
    ------
    ValueError
        If a code is not a position of ``segment_names``.

    Examples
    --------
    >>> import pandas as pd
    >>> segment_labels(pd.Series([1, 0]), ["A", "B"]).tolist()
    ['B', 'A']
    """
    labels = pd.Series(labels)
    if isinstance(labels.dtype, pd.CategoricalDtype) or labels.dtype.kind not in "iu":
        return labels
    codes = labels.to_numpy()
    bad = (codes < 0) | (codes >= len(segment_names))
    if bad.any():
        raise ValueError(
            f"Segment code(s) {sorted(set(codes[bad].tolist()))[:5]} are not "
            f"positions of the {len(segment_names)} segments."
        )
    names = np.asarray(list(segment_names), dtype=object)[codes]
    return pd.Series(names, index=labels.index, name=labels.name)


def export_audiences(
    X_out,
    folder,
    *,
    id_col=None,
    segment_column="segment",
    segment_names=None,
    csv_escape=True,
    overwrite=False,
):
    """Write one CSV of customer ids per segment: the audiences to hand over.

    Every row of ``X_out`` is written to exactly one file (the segment it is
    in); a segment with no rows gets a file with the header only.

    Parameters
    ----------
    X_out : pandas.DataFrame
        ``pipeline.transform(X)``: holds ``segment_column`` (names, or the
        integer codes of ``output="codes"`` with ``segment_names``).
    folder : str or path-like
        Destination folder, created when missing.
    id_col : str, optional
        Identifier column written. Without it the index is written (named
        ``row`` unless it has a name; one column per level of a MultiIndex).
    segment_column : str, default="segment"
        The segment column of ``X_out``.
    segment_names : sequence of str, optional
        Every segment, in hierarchy order (a segmenter's ``segment_names_``);
        by default the column's categories, else its sorted values.
    csv_escape : bool, default=True
        Prefix identifiers that start with ``=``, ``+``, ``-``, ``@``, a tab
        or a carriage return with a single quote (see
        :func:`export_assignments`).
    overwrite : bool, default=False
        Replace the audience files (``NN_name.csv``) a previous run left in
        ``folder``; other files are never touched. Without it, a folder
        holding audience files is refused: a customer would otherwise be in
        an old file and a new one.

    Returns
    -------
    dict
        Segment name to the :class:`pathlib.Path` written, in hierarchy
        order; the file names are :func:`audience_files`'.

    Raises
    ------
    ValueError
        If a column is missing, a segment name repeats, ``folder`` holds
        audience files and ``overwrite`` is False, or a row's segment is not
        one of ``segment_names`` (or is missing): no row is dropped silently.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> out = pd.DataFrame({"user_id": [7, 8, 9], "segment": ["B", "A", "B"]})
    >>> files = export_audiences(out, tempfile.mkdtemp(), id_col="user_id",
    ...                          segment_names=["A", "B", "C"])
    >>> {name: path.name for name, path in files.items()}
    {'A': '01_A.csv', 'B': '02_B.csv', 'C': '03_C.csv'}
    >>> print(files["B"].read_text().strip())
    user_id
    7
    9
    """
    missing = [c for c in (id_col, segment_column) if c is not None and c not in X_out]
    if missing:
        raise ValueError(
            f"Missing column(s) {missing} in the data to export "
            f"(has {_short_list(X_out.columns)})."
        )
    labels = X_out[segment_column]
    if segment_names is None:
        if isinstance(labels.dtype, pd.CategoricalDtype):
            segment_names = list(labels.cat.categories)
        else:
            segment_names = sorted(pd.unique(labels.dropna()), key=str)
    segment_names = list(segment_names)
    names = audience_files(segment_names)
    labels = segment_labels(labels, segment_names)
    known = labels.isin(segment_names).to_numpy()
    if not known.all():
        odd = pd.unique(labels[~known].astype(object))[:5]
        raise ValueError(
            f"Column {segment_column!r} holds {int((~known).sum()):,} row(s) in no "
            f"known segment (e.g. {list(odd)}); expected one of {segment_names}."
        )
    if id_col is None:
        index = X_out.index
        ids = index.to_frame(
            index=False,
            name=[n if n is not None else f"row_{i}" for i, n in enumerate(index.names)]
            if index.nlevels > 1
            else index.name or "row",
        )
    else:
        ids = X_out[[id_col]].reset_index(drop=True)
    folder = Path(folder)
    stale = (
        [p for p in folder.iterdir() if _AUDIENCE_FILE.match(p.name)]
        if folder.is_dir()
        else []
    )
    if stale and not overwrite:
        raise ValueError(
            f"{str(folder)!r} already holds {len(stale)} audience file(s) "
            f"(e.g. {stale[0].name!r}); pass overwrite=True to replace them."
        )
    for path in stale:
        path.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    values = labels.astype(object).to_numpy()
    written = {}
    for name, file in names.items():
        path = folder / file
        write_csv(ids[values == name], path, csv_escape=csv_escape)
        written[name] = path
    return written


def _short_list(columns, limit=12):
    columns = [str(c) for c in columns]
    text = ", ".join(columns[:limit])
    if len(columns) > limit:
        text += f", ... ({len(columns)} columns)"
    return text
