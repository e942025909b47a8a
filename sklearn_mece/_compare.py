"""Champion vs challenger, migration between snapshots, stability under resampling.

Three questions asked of a segmentation once it exists:

* :func:`compare_segmentations` -- how does a challenger (e.g. a
  :class:`~sklearn_mece.ClusterSegmenter`) partition the same rows as the
  champion: crosstab, adjusted Rand / mutual information, best match per
  segment, size compliance, score and observed-lift differences;
* :func:`segment_migration` -- where did each customer go between two
  snapshots: transition matrix, stability rate, entries and exits;
* :func:`segment_stability` -- how many held-out rows change segment when the
  cut points (or clusters) are learned on other bootstrap samples or folds.

Each returns a small result object that prints as a text report and exports to
CSV, JSON and HTML. The functions read what the fitted steps learned
(``segment_names_``, ``min_size_``, the scorer's ``report_``); they never
recompute it.
"""

import functools
import json
import numbers
import warnings

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score
from sklearn.model_selection import KFold
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._base import _is_dataframe, _is_polars_frame, to_plain
from ._format import (
    MISSING,
    format_count,
    format_number,
    format_score,
    format_share,
    format_value,
    is_missing,
)
from ._pipeline import find_steps, segment_step
from ._segment_base import SegmentSizeWarning, size_issues
from ._thresholder import CollapsedCutsWarning
from .export import to_records

#: Columns of the scorer's ``report_`` carried into a comparison.
SCORE_COLUMNS = ("score", "tier", "lift_observed", "lift_ci_low", "lift_ci_high")
ENTERED = "(entered)"
EXITED = "(exited)"


# ---------------------------------------------------------------------------------
# pipelines and labels
# ---------------------------------------------------------------------------------
def _as_frame(X):
    return X.to_pandas() if _is_polars_frame(X) else X


def _n_rows(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _take(X, rows):
    return X.iloc[rows] if _is_dataframe(X) else np.asarray(X)[rows]


def _is_labels(obj):
    return isinstance(obj, (np.ndarray, pd.Series, pd.Categorical, list, tuple))


def _segment_step(model):
    """Index of the fitted segment step in a pipeline (``None`` when bare)."""
    segment_step(model)  # raises unless there is a fitted one
    return find_steps(model).segment_index


def _segmenter(model):
    return segment_step(model)


def _fitted(model, X, fit, what):
    """``model``, fitted on ``X`` when asked (``fit=True``) or needed ("auto")."""
    if fit is True:
        return model.fit(X)
    try:
        check_is_fitted(model)
        _segment_step(model)
    except (NotFittedError, ValueError):
        if fit == "auto":
            return model.fit(X)
        raise NotFittedError(
            f"The {what} is not fitted; fit it or pass fit='auto'."
        ) from None
    return model


def _labels(model, X):
    """Segment name of every row of ``X`` (object ndarray)."""
    i = _segment_step(model)
    if i is None:
        return np.asarray(model.predict(X), dtype=object)
    Xt = X
    for _, step in model.steps[:i]:
        if step is not None and step != "passthrough":
            Xt = step.transform(Xt)
    return np.asarray(model.steps[i][1].predict(Xt), dtype=object)


def _segment_order(model, observed):
    """Declared segment names (fit order), then any other observed label."""
    names = [] if model is None else list(_segmenter(model).segment_names_)
    seen = set(names)
    extra = [v for v in pd.unique(pd.Series(observed, dtype=object)) if v not in seen]
    try:
        extra = sorted(extra)
    except TypeError:
        pass
    return names + extra


def _scores_report(model):
    scorer = find_steps(model).scorer if hasattr(model, "steps") else None
    report = getattr(scorer, "report_", None)
    if not isinstance(report, pd.DataFrame):
        return None
    report = report[[c for c in SCORE_COLUMNS if c in report.columns]]
    names = list(_segmenter(model).segment_names_)
    keys = list(report.index)
    if keys and not any(isinstance(k, str) for k in keys):
        # a scorer after a segmenter with output="codes": its segments are codes
        if all(float(k).is_integer() and 0 <= k < len(names) for k in keys):
            report = report.set_axis(
                pd.Index([names[int(k)] for k in keys], name=report.index.name)
            )
    return report


# ---------------------------------------------------------------------------------
# result objects
# ---------------------------------------------------------------------------------
#: Columns shown as percentages in the notebook view and the HTML page.
_SHARE_COLUMNS = frozenset({"share", "retention", "change_rate", "change_rate_std"})
#: Columns shown as scores (:data:`~sklearn_mece._format.SCORE_DECIMALS` decimals).
_SCORE_COLUMNS = frozenset({"jaccard", "score", "match_score", "score_diff"})
#: Columns shown as counts (float when a limit is missing, counts all the same).
_COUNT_COLUMNS = frozenset({"size", "min_size", "max_size", "overlap"})


def _fmt_table(frame):
    """A table as text for printing: numbers as :func:`format_number` writes them."""
    frame = frame.copy()
    for column in frame.columns:
        dtype = frame[column].dtype
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(
            dtype
        ):
            frame[column] = frame[column].map(format_number)
    return frame.to_string()


def _is_number(value):
    return isinstance(value, numbers.Number) and not isinstance(value, (bool, np.bool_))


def _format_cell(value, column, kind=None):
    """One cell as people read it: ``kind`` (a format of :mod:`._format`) or,
    by default, the format of its column (share, score, count) or its type."""
    return format_value(value, kind or functools.partial(_number, column=column))


def _number(value, *, column):
    if column in _SHARE_COLUMNS:
        return format_share(value)
    if column in _SCORE_COLUMNS:
        return format_score(value)
    if column in _COUNT_COLUMNS or isinstance(value, numbers.Integral):
        return format_count(value)
    return format_number(value)


def _html_table(frame, kind=None):
    """A DataFrame as the template's table: header, then rows of cells (text
    formatted for reading, ``num`` for the right-aligned numbers; a column's
    header is right-aligned when all its cells are)."""
    columns = [str(c) for c in frame.columns]
    numeric_dtype = [
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        for dtype in frame.dtypes
    ]
    rows = []
    for name, values in zip(frame.index, frame.itertuples(index=False, name=None)):
        cells = [
            {
                "text": _format_cell(v, c, kind),
                "num": _is_number(v) or (is_missing(v) and numeric),
            }
            for c, v, numeric in zip(columns, values, numeric_dtype)
        ]
        rows.append(
            {"name": MISSING if is_missing(name) else str(name), "cells": cells}
        )
    index = "" if frame.index.name is None else str(frame.index.name)
    header = [{"name": index, "num": False}]
    for j, column in enumerate(columns):
        numeric = bool(rows) and all(row["cells"][j]["num"] for row in rows)
        header.append({"name": column, "num": numeric})
    return {"columns": header, "rows": rows}


def _summary_row(label, value, fmt=None):
    """One line of the summary table: ``value`` through ``fmt`` (text as is)."""
    return {
        "label": label,
        "value": _format_cell(value, None, fmt),
        "num": fmt is not None,
    }


class _Result:
    """Shared printing and export of the result objects.

    Subclasses define ``_title``, ``summary`` (plain dict), ``_tables()``
    (name -> DataFrame, the first being the main per-segment table) and
    ``_summary_rows()`` (the summary as the HTML view shows it); optionally
    ``_open_tables``, ``_table_notes()`` and ``_table_formats()``.
    """

    _title = ""

    def _tables(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self):
        """All numbers as JSON-serialisable plain types.

        Returns
        -------
        dict
            ``{"summary": {...}, "<table>": [records...], ...}``; each table is
            a list of records whose first field is the table's index.
        """
        out = {"summary": to_plain(self.summary)}
        for name, frame in self._tables().items():
            index = frame.index.name or "segment"
            frame = frame.copy()
            frame.columns = [str(c) for c in frame.columns]
            out[name] = to_records(frame, index=index)
        return out

    def to_json(self, path=None, **kwargs):
        """JSON text of :meth:`to_dict`; written to ``path`` when given.

        Parameters
        ----------
        path : str or path-like, optional
            File to write.
        **kwargs
            Passed to :func:`json.dumps` (default ``indent=2``).

        Returns
        -------
        str
        """
        kwargs.setdefault("indent", 2)
        text = json.dumps(self.to_dict(), **kwargs)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    def to_csv(self, path=None, table=None, *, csv_escape=True):
        """One table as CSV; written to ``path`` when given.

        Parameters
        ----------
        path : str or path-like, optional
            File to write.
        table : str, optional
            Which table (see ``to_dict()`` keys); default the per-segment table.
        csv_escape : bool, default=True
            Prefix text cells, segment names in the index and the column names
            that start with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
            return with a single quote, so that a spreadsheet shows them
            instead of running them as formulas. Numbers are never changed.
            ``False`` writes every cell verbatim.

        Returns
        -------
        str
            The CSV text.
        """
        from ._csv import write_csv

        tables = self._tables()
        name = table or next(iter(tables))
        if name not in tables:
            raise ValueError(f"Unknown table {name!r}; choose one of {list(tables)}.")
        text = write_csv(tables[name], csv_escape=csv_escape, index=True)
        if path is not None:
            with open(path, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        return text

    #: How many tables, from the first, are shown open; the others fold.
    _open_tables = 1

    def _summary_rows(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _table_notes(self):
        """A sentence under a table's heading (table name -> text)."""
        return {}

    def _table_formats(self):
        """A format for every cell of a table (table name -> format)."""
        return {}

    def _html_context(self):
        """What ``result.html.j2`` reads: title, summary lines and tables."""
        notes, formats = self._table_notes(), self._table_formats()
        tables = []
        for i, (name, frame) in enumerate(self._tables().items()):
            table = _html_table(frame, formats.get(name))
            table.update(name=name, note=notes.get(name), open=i < self._open_tables)
            tables.append(table)
        return {"title": self._title, "summary": self._summary_rows(), "tables": tables}

    def to_html(self, path=None):
        """The result as HTML: headline numbers, then every table.

        The HTML fragment is the notebook view: a title, the summary as a
        key/value table, then each table under its name (the names
        :meth:`to_csv` takes), the first shown and the others folded in
        collapsible blocks. Numbers are formatted for reading (counts with
        thousands separators, shares as percentages, scores rounded); every
        segment and column name is escaped.

        Parameters
        ----------
        path : str or path-like, optional
            File to write: a complete HTML page (UTF-8) holding the fragment.

        Returns
        -------
        str
            The HTML fragment (also when ``path`` is given).

        Examples
        --------
        >>> import os, tempfile
        >>> from sklearn_mece import make_cart_abandoner_pipeline, segment_stability
        >>> from sklearn_mece.datasets import make_cart_abandoners
        >>> X = make_cart_abandoners(1_000, random_state=0)
        >>> stab = segment_stability(make_cart_abandoner_pipeline(min_size=0), X,
        ...                          n_resamples=2, random_state=0)
        >>> fragment = stab.to_html()
        >>> "<h3>segments</h3>" in fragment, "<details>" in fragment
        (True, True)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = os.path.join(folder, "stability.html")
        ...     _ = stab.to_html(path)
        ...     with open(path, encoding="utf-8") as fh:
        ...         page = fh.read()
        >>> page.startswith("<!DOCTYPE html>"), fragment in page
        (True, True)
        """
        from ._templates import render

        context = self._html_context()
        text = render("result.html.j2", **context)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(render("result_page.html.j2", **context))
        return text

    def _repr_html_(self):
        """The notebook view: :meth:`to_html`'s fragment."""
        return self.to_html()

    def __repr__(self):
        return f"<{type(self).__name__}: {self._headline()}>"


# ---------------------------------------------------------------------------------
# comparison
# ---------------------------------------------------------------------------------
class Comparison(_Result):
    """Result of :func:`compare_segmentations`.

    Parameters
    ----------
    names : sequence of str
        Labels of the two segmentations, stored as the tuple ``names``.
    crosstab : pandas.DataFrame
        The rows in each pair of segments, stored as ``crosstab``.
    champion, challenger : pandas.DataFrame
        The per-segment tables of each side, stored under the same names.
    summary : dict
        The headline numbers, stored as ``summary``; ``n_rows`` and the two
        agreement indices are read from it.

    Attributes
    ----------
    names : tuple of str
        Labels of the two segmentations (default ``("champion", "challenger")``).
    n_rows : int
        Rows compared.
    crosstab : pandas.DataFrame
        Rows in each (champion segment, challenger segment) pair; every fitted
        segment is listed, empty ones included.
    adjusted_rand : float
        :func:`sklearn.metrics.adjusted_rand_score` of the two labellings.
    adjusted_mutual_info : float
        :func:`sklearn.metrics.adjusted_mutual_info_score` of the two labellings.
    champion, challenger : pandas.DataFrame
        One row per segment: ``size``, ``share``, the size limits, ``compliant``
        (size within the limits), ``fit_valid`` (the segmenter's own verdict at
        fit), ``best_match`` (the other side's segment sharing most rows),
        ``overlap``, ``jaccard``; with scorers on both sides also ``score``,
        ``tier``, ``match_score``, ``score_diff`` and, when observed lift was
        computed, ``lift_observed``, ``match_lift_observed``, ``lift_diff``
        (own value minus best match's).
    summary : dict
        Headline numbers: agreement indices, segment counts, compliance and,
        with scorers, row-weighted mean score and lift of each side and their
        difference (challenger minus champion).

    Examples
    --------
    >>> from sklearn.cluster import KMeans
    >>> from sklearn_mece import (ClusterSegmenter, Comparison,
    ...     compare_segmentations, make_cart_abandoner_pipeline)
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> X = make_cart_abandoners(2_000, random_state=0)
    >>> features = ["avg_order_value", "engagement_score"]
    >>> challenger = make_cart_abandoner_pipeline(min_size=0).set_params(
    ...     segments=ClusterSegmenter(KMeans(4, n_init=2, random_state=0), features))
    >>> cmp = compare_segmentations(make_cart_abandoner_pipeline(min_size=0),
    ...                             challenger, X)
    >>> isinstance(cmp, Comparison), int(cmp.crosstab.to_numpy().sum())
    (True, 2000)
    """

    _title = "Segmentation comparison"

    def __init__(self, names, crosstab, champion, challenger, summary):
        self.names = tuple(names)
        self.crosstab = crosstab
        self.champion = champion
        self.challenger = challenger
        self.summary = summary
        self.n_rows = summary["n_rows"]
        self.adjusted_rand = summary["adjusted_rand"]
        self.adjusted_mutual_info = summary["adjusted_mutual_info"]

    def _tables(self):
        a, b = self.names
        return {a: self.champion, b: self.challenger, "crosstab": self.crosstab}

    def to_frame(self):
        """Both per-segment tables stacked, with a ``side`` column.

        Returns
        -------
        pandas.DataFrame
            One row per segment of either side, ``side`` first.
        """
        frames = [
            t.reset_index().assign(side=name)
            for name, t in zip(self.names, (self.champion, self.challenger))
        ]
        out = pd.concat(frames, ignore_index=True)
        return out[["side", *[c for c in out.columns if c != "side"]]]

    def _headline(self):
        return (
            f"{self.n_rows} rows, ARI={self.adjusted_rand:.3f}, "
            f"AMI={self.adjusted_mutual_info:.3f}"
        )

    #: Both per-segment tables are shown; the crosstab folds.
    _open_tables = 2

    def _summary_rows(self):
        s = self.summary
        a, b = self.names
        rows = [
            _summary_row("rows compared", s["n_rows"], format_count),
            _summary_row("adjusted Rand index", s["adjusted_rand"], format_score),
            _summary_row(
                "adjusted mutual information", s["adjusted_mutual_info"], format_score
            ),
        ]
        for side in (a, b):
            rows += [
                _summary_row(f"{side}: segments", s["n_segments"][side], format_count),
                _summary_row(
                    f"{side}: segments within size limits",
                    s["n_compliant"][side],
                    format_count,
                ),
                _summary_row(
                    f"{side}: rows in segments within size limits",
                    s["compliant_share"][side],
                    format_share,
                ),
            ]
        for key, label, fmt in (
            ("mean_score", "row-weighted mean score", format_score),
            ("mean_lift_observed", "row-weighted mean observed lift", format_number),
        ):
            if key in s:
                rows += [
                    _summary_row(f"{label}: {a}", s[key][a], fmt),
                    _summary_row(f"{label}: {b}", s[key][b], fmt),
                    _summary_row(
                        f"{label}: difference ({b} minus {a})",
                        s[key]["difference"],
                        fmt,
                    ),
                ]
        return rows

    def _table_notes(self):
        a, b = self.names
        return {"crosstab": f"Rows in each pair of segments (rows: {a}, columns: {b})."}

    def __str__(self):
        s = self.summary
        a, b = self.names
        lines = [
            f"{self._title}: {a} ({s['n_segments'][a]} segments) vs {b} "
            f"({s['n_segments'][b]} segments) on {self.n_rows:,} rows",
            f"  adjusted Rand index:     {self.adjusted_rand:.3f}",
            f"  adjusted mutual info:    {self.adjusted_mutual_info:.3f}",
        ]
        for side in (a, b):
            lines.append(
                f"  {side}: {s['n_compliant'][side]} of {s['n_segments'][side]} "
                f"segments within size limits ({100 * s['compliant_share'][side]:.1f} % "
                "of rows)"
            )
        for key, label in (("mean_score", "score"), ("mean_lift_observed", "lift")):
            if key in s:
                lines.append(
                    f"  row-weighted mean {label}: {a} {s[key][a]:.3f}, {b} "
                    f"{s[key][b]:.3f} (difference {s[key]['difference']:+.3f})"
                )
        for side, table in ((a, self.champion), (b, self.challenger)):
            lines += ["", f"{side} segments:", _fmt_table(table)]
        lines += ["", f"crosstab (rows: {a}, columns: {b}):", self.crosstab.to_string()]
        return "\n".join(lines)


def _side_table(sizes, n_rows, seg, limits, crosstab, axis):
    """Per-segment sizes, compliance and best match for one side."""
    names = list(sizes.index)
    lo, hi = limits
    lo = getattr(seg, "min_size_", None) if lo is None else lo
    hi = getattr(seg, "max_size_", None) if hi is None else hi
    size = sizes.to_numpy()
    # the segment step's validity rule, applied to the compared rows
    compliant = np.array([not issue for issue in size_issues(size, lo, hi)], bool)
    fit_valid = dict(
        zip(
            getattr(seg, "segment_names_", []),
            getattr(seg, "segment_valid_", [True] * len(names)),
        )
    )
    table = pd.DataFrame(
        {
            "size": size,
            "share": size / max(n_rows, 1),
            "min_size": np.nan if lo is None else lo,
            "max_size": np.nan if hi is None else hi,
            "compliant": compliant,
            "fit_valid": [bool(fit_valid.get(n, True)) for n in names],
        },
        index=pd.Index(names, name="segment", dtype=object),
    )
    overlap = crosstab if axis == 0 else crosstab.T
    other_sizes = overlap.sum(axis=0)
    best, shared, jaccard = [], [], []
    for name in names:
        row = overlap.loc[name]
        union = size[names.index(name)] + other_sizes - row
        jac = (row / union.where(union > 0)).fillna(0.0)
        if row.sum() == 0:
            best.append(None)
            shared.append(0)
            jaccard.append(0.0)
            continue
        # most shared rows; ties by Jaccard, then by the other side's order
        k = max(range(len(row)), key=lambda j: (row.iloc[j], jac.iloc[j], -j))
        best.append(row.index[k])
        shared.append(int(row.iloc[k]))
        jaccard.append(float(jac.iloc[k]))
    table["best_match"] = pd.Series(best, index=table.index, dtype=object)
    table["overlap"] = shared
    table["jaccard"] = jaccard
    return table


def _add_scores(table, own, other):
    """Score / lift of each segment, of its best match, and the difference."""
    for column in own.columns:
        table[column] = own[column].reindex(table.index).to_numpy()
    for column, short in (("score", "score"), ("lift_observed", "lift")):
        if column in own.columns and column in other.columns:
            match = other[column].reindex(table["best_match"]).to_numpy()
            table[f"match_{column}"] = match
            table[f"{short}_diff"] = pd.to_numeric(
                table[column], errors="coerce"
            ).to_numpy(dtype=float) - pd.to_numeric(
                pd.Series(match), errors="coerce"
            ).to_numpy(dtype=float)


def _weighted_mean(table, column):
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
    weights = table["size"].to_numpy(dtype=float)
    ok = np.isfinite(values) & (weights > 0)
    if not ok.any():
        return float("nan")
    return float(np.average(values[ok], weights=weights[ok]))


def compare_segmentations(
    champion,
    challenger,
    X,
    *,
    names=("champion", "challenger"),
    fit="auto",
    min_size=None,
    max_size=None,
):
    """Run two segmentations on the same rows and compare them.

    Parameters
    ----------
    champion, challenger : Pipeline, segmenter or array-like of labels
        Typically the preset pipeline and the same pipeline with a
        :class:`~sklearn_mece.ClusterSegmenter` as its ``segments`` step. A
        pipeline's segmentation step is its last
        :class:`~sklearn_mece.HierarchicalSegmenter` or
        :class:`~sklearn_mece.ClusterSegmenter`, whatever its name; rows are
        labelled with that step's
        ``predict`` (segment names), whatever its ``output``. A 1-D array of
        labels (one per row of ``X``) is used as is.
    X : {DataFrame, array-like} of shape (n_samples, n_features)
        The rows both segmentations label.
    names : tuple of two str, default=("champion", "challenger")
        Labels of the two sides in tables and reports.
    fit : {"auto", True, False}, default="auto"
        ``"auto"``: an unfitted pipeline is fitted on ``X`` (in place), a fitted
        one is used as it is; ``True``: both are (re)fitted on ``X``;
        ``False``: both must be fitted.
    min_size, max_size : int, optional
        Size limits for the compliance columns; by default each segmenter's own
        ``min_size_`` / ``max_size_``.

    Returns
    -------
    Comparison
        Crosstab, ``adjusted_rand``, ``adjusted_mutual_info``, per-segment best
        match with Jaccard index, size compliance and, when both pipelines
        have a fitted :class:`~sklearn_mece.SegmentScorer`, score and observed-lift
        differences. Printable; ``to_csv``, ``to_json``, ``to_html``.

    See Also
    --------
    segment_migration : Movements between two snapshots.
    segment_stability : Sensitivity of the segments to the fit sample.

    Examples
    --------
    >>> from sklearn.cluster import KMeans
    >>> from sklearn_mece import (ClusterSegmenter, compare_segmentations,
    ...                           make_cart_abandoner_pipeline)
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> X = make_cart_abandoners(2_000, random_state=0)
    >>> champion = make_cart_abandoner_pipeline(min_size=100)
    >>> challenger = make_cart_abandoner_pipeline(min_size=100).set_params(
    ...     segments=ClusterSegmenter(KMeans(4, n_init=4), random_state=0))
    >>> cmp = compare_segmentations(champion, challenger, X)
    >>> int(cmp.crosstab.to_numpy().sum()), 0 <= cmp.adjusted_mutual_info <= 1
    (2000, True)
    >>> list(cmp.challenger.columns[:3])
    ['size', 'share', 'min_size']
    """
    if len(names) != 2 or names[0] == names[1]:
        raise ValueError(f"names must be two different labels, got {names!r}.")
    if fit not in ("auto", True, False):
        raise ValueError(f"fit must be 'auto', True or False, got {fit!r}.")
    X = _as_frame(X)
    n = _n_rows(X)
    sides = []
    for model, name in zip((champion, challenger), names):
        if _is_labels(model):
            labels = np.asarray(model, dtype=object)
            if labels.ndim != 1 or labels.shape[0] != n:
                raise ValueError(
                    f"{name}: labels must be 1-D with one label per row of X "
                    f"({n}), got shape {labels.shape}."
                )
            sides.append((None, labels, None))
            continue
        model = _fitted(model, X, fit, name)
        sides.append((model, _labels(model, X), _scores_report(model)))

    (model_a, a, scores_a), (model_b, b, scores_b) = sides
    order_a = _segment_order(model_a, a)
    order_b = _segment_order(model_b, b)
    crosstab = pd.crosstab(
        pd.Categorical(a, categories=order_a),
        pd.Categorical(b, categories=order_b),
        dropna=False,
    )
    crosstab.index = pd.Index(order_a, name=names[0], dtype=object)
    crosstab.columns = pd.Index(order_b, name=names[1], dtype=object)
    crosstab = crosstab.astype(np.int64)

    tables = []
    for model, axis, limits in (
        (model_a, 0, (min_size, max_size)),
        (model_b, 1, (min_size, max_size)),
    ):
        sizes = crosstab.sum(axis=1 - axis)
        seg = None if model is None else _segmenter(model)
        tables.append(_side_table(sizes, n, seg, limits, crosstab, axis))
    table_a, table_b = tables

    summary = {
        "n_rows": int(n),
        "adjusted_rand": float(adjusted_rand_score(a, b)),
        "adjusted_mutual_info": float(adjusted_mutual_info_score(a, b)),
        "n_segments": {names[0]: len(order_a), names[1]: len(order_b)},
        "n_compliant": {},
        "compliant_share": {},
    }
    for side, table in zip(names, tables):
        summary["n_compliant"][side] = int(table["compliant"].sum())
        summary["compliant_share"][side] = float(
            table.loc[table["compliant"], "size"].sum() / max(n, 1)
        )
    if scores_a is not None and scores_b is not None:
        _add_scores(table_a, scores_a, scores_b)
        _add_scores(table_b, scores_b, scores_a)
        for column, key in (
            ("score", "mean_score"),
            ("lift_observed", "mean_lift_observed"),
        ):
            if column in table_a.columns and column in table_b.columns:
                ma, mb = (
                    _weighted_mean(table_a, column),
                    _weighted_mean(table_b, column),
                )
                summary[key] = {names[0]: ma, names[1]: mb, "difference": mb - ma}
    return Comparison(names, crosstab, table_a, table_b, summary)


# ---------------------------------------------------------------------------------
# migration
# ---------------------------------------------------------------------------------
class Migration(_Result):
    """Result of :func:`segment_migration`.

    Parameters
    ----------
    counts : pandas.DataFrame
        The transition matrix, stored as ``counts``; ``shares``, ``entries``,
        ``exits`` and ``segments`` are derived from it.
    stability_rate : float
        Share of the ids present in both snapshots that kept their segment.
    summary : dict
        The headline numbers, stored as ``summary``.

    Attributes
    ----------
    counts : pandas.DataFrame
        Transition matrix: rows are the segments before (plus ``"(entered)"``
        for ids only in the after snapshot), columns the segments after (plus
        ``"(exited)"`` for ids only in the before snapshot). Each segment's
        row sums to its size before; each column sums to its size after.
    shares : pandas.DataFrame
        ``counts`` divided by its row sums (where a row goes).
    stability_rate : float
        Share of the ids present in both snapshots that kept their segment.
    entries : pandas.Series
        New ids per segment after.
    exits : pandas.Series
        Departed ids per segment before.
    segments : pandas.DataFrame
        Per segment: ``size_before``, ``size_after``, ``stayed``,
        ``moved_out``, ``moved_in``, ``exits``, ``entries``, ``retention``
        (stayed / ids present in both) and ``net_change``.
    summary : dict
        Headline numbers.

    Examples
    --------
    >>> from sklearn_mece import Migration, make_cart_abandoner_pipeline, segment_migration
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> before = make_cart_abandoners(2_000, random_state=0)
    >>> after = before.assign(days_since_last_order=before["days_since_last_order"] + 30)
    >>> pipe = make_cart_abandoner_pipeline(min_size=0).fit(before)
    >>> mig = segment_migration(pipe, before, after, id_col="user_id")
    >>> isinstance(mig, Migration), int(mig.counts.to_numpy().sum())
    (True, 2000)
    """

    _title = "Segment migration"

    def __init__(self, counts, stability_rate, summary):
        self.counts = counts
        self.stability_rate = stability_rate
        self.summary = summary
        sums = counts.sum(axis=1)
        self.shares = counts.div(sums.where(sums > 0), axis=0).fillna(0.0)
        segments = [c for c in counts.columns if c != EXITED]
        before = [r for r in counts.index if r != ENTERED]
        self.entries = counts.loc[ENTERED, segments].rename("entries")
        self.exits = counts.loc[before, EXITED].rename("exits")
        self.before_sizes = counts.loc[before].sum(axis=1).rename("size_before")
        self.after_sizes = counts[segments].sum(axis=0).rename("size_after")
        both = counts.loc[before, segments]
        names = list(dict.fromkeys([*before, *segments]))
        stayed = pd.Series(
            [
                int(both.at[s, s]) if s in both.index and s in both.columns else 0
                for s in names
            ],
            index=names,
        )
        size_before = self.before_sizes.reindex(names, fill_value=0)
        exits = self.exits.reindex(names, fill_value=0)
        present = size_before - exits
        table = pd.DataFrame(
            {
                "size_before": size_before,
                "size_after": self.after_sizes.reindex(names, fill_value=0),
                "stayed": stayed,
                "moved_out": present - stayed,
                "moved_in": both.sum(axis=0).reindex(names, fill_value=0) - stayed,
                "exits": exits,
                "entries": self.entries.reindex(names, fill_value=0),
            }
        )
        table["retention"] = table["stayed"] / present.where(present > 0)
        table["net_change"] = table["size_after"] - table["size_before"]
        table.index.name = "segment"
        self.segments = table

    def _tables(self):
        return {"segments": self.segments, "counts": self.counts, "shares": self.shares}

    def _headline(self):
        return (
            f"{self.summary['n_both']} ids in both snapshots, stability "
            f"{self.stability_rate:.3f}"
        )

    def _summary_rows(self):
        s = self.summary
        return [
            _summary_row("ids before", s["n_before"], format_count),
            _summary_row("ids after", s["n_after"], format_count),
            _summary_row("ids in both snapshots", s["n_both"], format_count),
            _summary_row("kept their segment", s["n_stayed"], format_count),
            _summary_row("stability rate", s["stability_rate"], format_share),
            _summary_row("entries (ids only after)", s["n_entries"], format_count),
            _summary_row("exits (ids only before)", s["n_exits"], format_count),
            _summary_row("cut points refitted after", s["refit_after"]),
        ]

    def _table_notes(self):
        return {
            "counts": (
                f"Ids in each pair of segments (rows: before, {ENTERED} for ids "
                f"only after; columns: after, {EXITED} for ids only before)."
            ),
            "shares": "Where each segment's ids went: the counts divided by "
            "their row sums.",
        }

    def _table_formats(self):
        return {"shares": format_share}

    def __str__(self):
        s = self.summary
        lines = [
            f"{self._title}: {s['n_before']:,} ids before, {s['n_after']:,} after, "
            f"{s['n_both']:,} in both",
            f"  stability rate: {self.stability_rate:.3f} "
            f"({s['n_stayed']:,} kept their segment)",
            f"  entries: {s['n_entries']:,}   exits: {s['n_exits']:,}",
            "",
            "per segment:",
            _fmt_table(self.segments),
            "",
            "transition counts (rows: before, columns: after):",
            self.counts.to_string(),
        ]
        return "\n".join(lines)

    def plot(self, ax=None, *, normalize=True, annotate=True, cmap="Blues"):
        """Heatmap of the transition matrix.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure otherwise.
        normalize : bool, default=True
            Colour (and annotate) row shares instead of counts.
        annotate : bool, default=True
            Write the value in every cell.
        cmap : str, default="Blues"
            Matplotlib colour map.

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn on.
        """
        from ._base import optional_import

        plt = optional_import(
            "matplotlib.pyplot", feature="Drawing plots", extra="plot"
        )

        matrix = self.shares if normalize else self.counts
        if ax is None:
            width = 2.0 + 0.9 * matrix.shape[1]
            height = 1.5 + 0.5 * matrix.shape[0]
            _, ax = plt.subplots(figsize=(min(width, 16), min(height, 12)))
        values = matrix.to_numpy(dtype=float)
        image = ax.imshow(values, cmap=cmap, aspect="auto", vmin=0)
        ax.set_xticks(range(matrix.shape[1]), [str(c) for c in matrix.columns])
        ax.set_yticks(range(matrix.shape[0]), [str(r) for r in matrix.index])
        ax.tick_params(axis="x", labelrotation=45)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
        ax.set_xlabel("segment after")
        ax.set_ylabel("segment before")
        ax.set_title(
            f"{self._title} (stability {self.stability_rate:.1%})"
            + (", row shares" if normalize else ", counts")
        )
        if annotate:
            top = np.nanmax(values) if values.size else 0
            for i in range(values.shape[0]):
                for j in range(values.shape[1]):
                    v = values[i, j]
                    text = f"{v:.0%}" if normalize else f"{int(v):,}"
                    ax.text(
                        j,
                        i,
                        text,
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if top and v > 0.6 * top else "black",
                    )
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        return ax


def _ids(X, id_col, what):
    if id_col is None:
        if not _is_dataframe(X):
            raise ValueError(
                "id_col=None uses the DataFrame index; X is not a DataFrame."
            )
        ids = X.index.to_numpy()
    elif _is_dataframe(X):
        if isinstance(id_col, numbers.Integral) and id_col not in X.columns:
            ids = X.iloc[:, int(id_col)].to_numpy()
        else:
            ids = X[id_col].to_numpy()
    else:
        ids = np.asarray(X)[:, int(id_col)]
    dup = pd.Index(ids).duplicated()
    if dup.any():
        raise ValueError(
            f"{what}: id column {id_col!r} has {int(dup.sum())} duplicated id(s), "
            f"e.g. {ids[dup][0]!r}; each id must appear once per snapshot."
        )
    return ids


def segment_migration(
    pipeline, X_before, X_after, id_col=None, *, fit="auto", refit_after=False
):
    """Transition matrix of customers between two snapshots.

    Both snapshots are labelled by the same fitted pipeline (what changed is
    the customers' behaviour, not the cut points), and joined on ``id_col``.

    Parameters
    ----------
    pipeline : Pipeline or segmenter
        The segmentation; with ``fit="auto"`` an unfitted one is fitted on
        ``X_before`` (in place).
    X_before, X_after : DataFrame or ndarray
        The two snapshots, one row per id.
    id_col : str or int, default=None
        Column holding the customer id (name, or position for arrays);
        ``None`` uses the DataFrame index.
    fit : {"auto", True, False}, default="auto"
        As in :func:`compare_segmentations`, with ``X_before`` as fit data.
    refit_after : bool, default=False
        If True, the after snapshot is labelled by a clone of the pipeline
        refitted on ``X_after`` (cut points learned again): the migration then
        includes the drift of the cut points.

    Returns
    -------
    Migration
        ``counts`` and ``shares`` (rows: before, columns: after),
        ``stability_rate``, ``entries``, ``exits``, a per-segment table and
        ``plot()`` (heatmap).

    Examples
    --------
    >>> from sklearn_mece import make_cart_abandoner_pipeline, segment_migration
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> before = make_cart_abandoners(1_000, random_state=0)
    >>> after = before.sample(frac=0.9, random_state=1)
    >>> after["days_since_last_order"] += 20
    >>> pipe = make_cart_abandoner_pipeline(min_size=0).fit(before)
    >>> mig = segment_migration(pipe, before, after, "user_id")
    >>> int(mig.exits.sum()), int(mig.entries.sum())
    (100, 0)
    >>> bool((mig.counts.drop(index="(entered)").sum(axis=1)
    ...       == mig.before_sizes).all())
    True
    >>> 0 < mig.stability_rate < 1
    True
    """
    if fit not in ("auto", True, False):
        raise ValueError(f"fit must be 'auto', True or False, got {fit!r}.")
    X_before, X_after = _as_frame(X_before), _as_frame(X_after)
    ids_before = _ids(X_before, id_col, "X_before")
    ids_after = _ids(X_after, id_col, "X_after")
    pipeline = _fitted(pipeline, X_before, fit, "pipeline")
    before = _labels(pipeline, X_before)
    after_model = clone(pipeline).fit(X_after) if refit_after else pipeline
    after = _labels(after_model, X_after)

    order_before = _segment_order(pipeline, before)
    order_after = _segment_order(after_model, after)
    left = pd.Series(before, index=pd.Index(ids_before), dtype=object)
    right = pd.Series(after, index=pd.Index(ids_after), dtype=object)
    joined = pd.concat([left.rename("before"), right.rename("after")], axis=1)
    rows = joined["before"].fillna(ENTERED).to_numpy(dtype=object)
    cols = joined["after"].fillna(EXITED).to_numpy(dtype=object)
    index = [*order_before, ENTERED]
    columns = [*order_after, EXITED]
    counts = pd.crosstab(
        pd.Categorical(rows, categories=index),
        pd.Categorical(cols, categories=columns),
        dropna=False,
    ).astype(np.int64)
    counts.index = pd.Index(index, name="before", dtype=object)
    counts.columns = pd.Index(columns, name="after", dtype=object)

    present = joined["before"].notna().to_numpy() & joined["after"].notna().to_numpy()
    n_both = int(present.sum())
    n_stayed = int((rows[present] == cols[present]).sum())
    rate = n_stayed / n_both if n_both else float("nan")
    summary = {
        "n_before": int(len(left)),
        "n_after": int(len(right)),
        "n_both": n_both,
        "n_stayed": n_stayed,
        "stability_rate": rate,
        "n_entries": int((~joined["before"].notna()).sum()),
        "n_exits": int((~joined["after"].notna()).sum()),
        "refit_after": bool(refit_after),
    }
    return Migration(counts, rate, summary)


# ---------------------------------------------------------------------------------
# stability under resampling
# ---------------------------------------------------------------------------------
class Stability(_Result):
    """Result of :func:`segment_stability`.

    Parameters
    ----------
    table : pandas.DataFrame
        The per-segment table, stored as ``table``; ``fragile_segments`` is
        read from its ``fragile`` column.
    per_resample : pandas.DataFrame
        The change rates per resample, stored as ``per_resample``.
    summary : dict
        The headline numbers, stored as ``summary``; ``change_rate`` is read
        from it.

    Attributes
    ----------
    table : pandas.DataFrame
        Per reference segment: ``size`` (rows of ``X``), ``n_evaluated``
        (held-out evaluations summed over resamples), ``n_changed`` (those that
        got another segment), ``change_rate`` and its standard deviation across
        resamples ``change_rate_std``, and ``fragile`` (``change_rate`` above
        the threshold).
    per_resample : pandas.DataFrame
        Change rate of every segment (columns) in every resample (rows).
    change_rate : float
        Share of all held-out evaluations that changed segment.
    fragile_segments : list of str
        Segments whose change rate exceeds the threshold.
    summary : dict
        Method, resamples, threshold and the overall rate.

    Examples
    --------
    >>> from sklearn_mece import Stability, make_cart_abandoner_pipeline, segment_stability
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> X = make_cart_abandoners(2_000, random_state=0)
    >>> stab = segment_stability(make_cart_abandoner_pipeline(min_size=0), X,
    ...                          n_resamples=2, random_state=0)
    >>> isinstance(stab, Stability), bool((stab.table["change_rate"] <= 1).all())
    (True, True)
    """

    _title = "Segment stability under resampling"

    def __init__(self, table, per_resample, summary):
        self.table = table
        self.per_resample = per_resample
        self.summary = summary
        self.change_rate = summary["change_rate"]
        self.fragile_segments = [str(s) for s in table.index[table["fragile"]]]

    def _tables(self):
        return {"segments": self.table, "per_resample": self.per_resample}

    def _headline(self):
        return (
            f"change rate {self.change_rate:.3f}, fragile: "
            f"{self.fragile_segments or 'none'}"
        )

    def _summary_rows(self):
        s = self.summary
        return [
            _summary_row("resampling", s["method"]),
            _summary_row("resamples", s["n_resamples"], format_count),
            _summary_row("labels matched by", s["match"]),
            _summary_row("rows", s["n_rows"], format_count),
            _summary_row("held-out evaluations", s["n_evaluated"], format_count),
            _summary_row("changed segment", s["n_changed"], format_count),
            _summary_row("change rate", s["change_rate"], format_share),
            _summary_row(
                "fragile above the change rate", s["fragile_threshold"], format_share
            ),
            _summary_row(
                "fragile segments", ", ".join(self.fragile_segments) or "none"
            ),
        ]

    def _table_notes(self):
        return {
            "per_resample": "Change rate of each segment (columns) in each "
            "resample (rows)."
        }

    def _table_formats(self):
        return {"per_resample": format_share}

    def __str__(self):
        s = self.summary
        lines = [
            f"{self._title}: {s['n_resamples']} x {s['method']}, "
            f"labels matched by {s['match']}",
            f"  held-out rows that changed segment: {self.change_rate:.3f}",
            f"  fragile (change rate > {s['fragile_threshold']:.2f}): "
            + (", ".join(self.fragile_segments) or "none"),
            "",
            _fmt_table(self.table),
        ]
        return "\n".join(lines)


def _best_map(reference, labels):
    """Map each label to the reference segment it shares most rows with."""
    table = pd.crosstab(
        pd.Series(labels, dtype=object), pd.Series(reference, dtype=object)
    )
    return {
        k: table.columns[int(np.argmax(row))]
        for k, row in zip(table.index, table.to_numpy())
    }


def segment_stability(
    pipeline,
    X,
    n_resamples=20,
    method="bootstrap",
    *,
    random_state=None,
    match="best",
    fragile_threshold=0.1,
):
    """How many held-out rows change segment when the fit sample changes.

    A clone of ``pipeline`` fitted on all of ``X`` gives the reference segment
    of every row. Then, ``n_resamples`` times, a clone is fitted on a bootstrap
    sample (``method="bootstrap"``; the out-of-bag rows are held out) or on
    all folds but one (``method="kfold"``; the remaining fold is held out), and
    the held-out rows are labelled by it. A row *changes* when that label
    differs from its reference segment. Segments whose rows change often
    depend on where the cut points (or clusters) happen to fall: they are
    fragile.

    Parameters
    ----------
    pipeline : Pipeline or segmenter
        Unfitted or fitted; it is cloned, never modified.
    X : DataFrame or array-like
        Rows to resample.
    n_resamples : int, default=20
        Bootstrap samples, or number of folds for ``"kfold"`` (at least 2).
    method : {"bootstrap", "kfold"}, default="bootstrap"
        Resampling scheme.
    random_state : int, RandomState instance or None, default=None
        Seeds the resampling (not the pipeline: fix the pipeline's own
        ``random_state`` for a clusterer).
    match : {"best", "name"}, default="best"
        How a resample's segments are matched to the reference segments.
        ``"best"``: each resample segment to the reference segment it shares
        most rows with (over all rows of ``X``), so only membership changes
        count, not renamings (a cluster whose centroid crossed a tercile, or
        whose rank changed, keeps its identity). For a rule-based segmenter this
        is the identity unless the cut points moved a whole segment.
        ``"name"``: a row changes when its segment name changes.
    fragile_threshold : float, default=0.1
        Change rate above which a segment is flagged fragile.

    Returns
    -------
    Stability
        ``table`` (one row per reference segment), ``per_resample``,
        ``change_rate``, ``fragile_segments``.

    Examples
    --------
    >>> from sklearn_mece import make_cart_abandoner_pipeline, segment_stability
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> X = make_cart_abandoners(1_000, random_state=0)
    >>> stab = segment_stability(make_cart_abandoner_pipeline(min_size=0), X,
    ...                          n_resamples=5, method="kfold", random_state=0)
    >>> int(stab.table["n_evaluated"].sum())  # every row is held out once
    1000
    >>> 0 <= stab.change_rate < 0.2
    True
    """
    if method not in ("bootstrap", "kfold"):
        raise ValueError(f"method must be 'bootstrap' or 'kfold', got {method!r}.")
    if match not in ("name", "best"):
        raise ValueError(f"match must be 'name' or 'best', got {match!r}.")
    if not isinstance(n_resamples, numbers.Integral) or n_resamples < (
        2 if method == "kfold" else 1
    ):
        raise ValueError(
            f"n_resamples must be an integer >= {2 if method == 'kfold' else 1}, "
            f"got {n_resamples!r}."
        )
    X = _as_frame(X)
    n = _n_rows(X)
    rng = check_random_state(random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SegmentSizeWarning)
        warnings.simplefilter("ignore", CollapsedCutsWarning)
        reference_model = clone(pipeline).fit(X)
    reference = _labels(reference_model, X)
    order = _segment_order(reference_model, reference)
    ref_codes = pd.Categorical(reference, categories=order).codes

    if method == "kfold":
        splits = KFold(n_resamples, shuffle=True, random_state=rng).split(np.arange(n))
    else:
        splits = []
        for _ in range(n_resamples):
            train = rng.randint(0, n, size=n)
            held = np.flatnonzero(np.bincount(train, minlength=n) == 0)
            splits.append((train, held))

    k = len(order)
    evaluated = np.zeros(k, dtype=np.int64)
    changed = np.zeros(k, dtype=np.int64)
    per_resample = []
    for train, held in splits:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SegmentSizeWarning)
            warnings.simplefilter("ignore", CollapsedCutsWarning)
            model = clone(pipeline).fit(_take(X, train))
        if match == "best":
            labels = _labels(model, X)
            mapping = _best_map(reference, labels)
            labels = np.asarray([mapping[v] for v in labels[held]], dtype=object)
        else:
            labels = (
                _labels(model, _take(X, held)) if held.size else np.empty(0, object)
            )
        diff = labels != reference[held]
        e = np.bincount(ref_codes[held], minlength=k)
        c = np.bincount(ref_codes[held], weights=diff, minlength=k).astype(np.int64)
        evaluated += e
        changed += c
        with np.errstate(invalid="ignore", divide="ignore"):
            per_resample.append(np.where(e > 0, c / np.maximum(e, 1), np.nan))

    per_resample = pd.DataFrame(
        np.vstack(per_resample) if per_resample else np.empty((0, k)),
        columns=pd.Index(order, name="segment", dtype=object),
    )
    per_resample.index.name = "resample"
    rate = np.where(evaluated > 0, changed / np.maximum(evaluated, 1), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = (
            per_resample.std(axis=0, ddof=1).to_numpy()
            if len(per_resample) > 1
            else np.full(k, np.nan)
        )
    table = pd.DataFrame(
        {
            "size": np.bincount(ref_codes, minlength=k),
            "n_evaluated": evaluated,
            "n_changed": changed,
            "change_rate": rate,
            "change_rate_std": spread,
            "fragile": np.nan_to_num(rate, nan=0.0) > fragile_threshold,
        },
        index=pd.Index(order, name="segment", dtype=object),
    )
    total = int(evaluated.sum())
    summary = {
        "method": method,
        "n_resamples": int(len(per_resample)),
        "match": match,
        "fragile_threshold": float(fragile_threshold),
        "n_rows": int(n),
        "n_evaluated": total,
        "n_changed": int(changed.sum()),
        "change_rate": float(changed.sum() / total) if total else float("nan"),
    }
    return Stability(table, per_resample, summary)
