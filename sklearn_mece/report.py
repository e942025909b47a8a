"""A self-contained HTML report of a fitted segmentation, with matplotlib plots.

:func:`html_report` returns one HTML document (no external file: the plots are
PNG images embedded as base64 ``data:`` URIs) holding the learned thresholds,
the rule tree with each segment's description and strategy, the MECE checks,
the segment table with scores, tiers and observed-lift intervals, and four
plots: segment sizes, scores by dimension, each cut on its feature's
distribution, and the observed lift with its interval per segment.
:func:`write_html_report` writes it to a file.

The page is rendered from the Jinja2 template ``templates/report.html.j2``
shipped in the package (no HTML is assembled in Python); numbers are
formatted by :mod:`sklearn_mece._format` (thousands separators, ``"< 0.001"``,
percentages, money with a configurable currency).

Everything is read from the fitted pipeline (see :func:`segment_report`);
nothing is refitted. Plots are drawn on :class:`matplotlib.figure.Figure`
objects with the Agg canvas, never through ``pyplot``, so building a report
does not touch the global matplotlib state and works without a display. Every
text taken from the data or the rules is escaped by the template's autoescape, and
every figure is built and rendered with matplotlib's mathtext off
(``text.parse_math``): a segment or column name such as ``"$x^$"`` is drawn as
it is, never parsed as a formula.
"""

import base64
import datetime
import functools
import io
import math
import numbers
from pathlib import Path

import numpy as np
import pandas as pd

from ._format import (
    MISSING,
    format_count,
    format_money,
    format_number,
    format_p_value,
    format_score,
    format_share,
)
from ._lift import (
    _LIFT_FIELDS,
    INCREMENTAL_COLUMNS,
    SIMULATED_LIFT_TEXT,
    simulated_segments,
)
from ._pipeline import find_steps, segment_step
from ._scorer import DIMENSION_TABLE, SCORE_INPUTS, dimension_names, input_columns
from ._templates import render
from .export import _cuts, _rules_context, _ruleset, segment_report

__all__ = [
    "SCORE_DIMENSIONS",
    "HTMLReport",
    "display_name",
    "figure_to_data_uri",
    "html_report",
    "plot_cuts",
    "plot_lift",
    "plot_scores",
    "plot_sizes",
    "write_html_report",
]

#: The scorer's dimensions (and total) shown in the scores plot, in order:
#: those of its dimension table (``sklearn_mece._scorer.DIMENSION_TABLE``).
SCORE_DIMENSIONS = (*dimension_names(), "score")
_TEXT_COLUMNS = ("description", "strategy", "rule", "merged_from", "issue")
_PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
_GOOD, _BAD, _NEUTRAL = "#009E73", "#D55E00", "#8C8C8C"


# ---------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------
def _plain_text(func):
    """Run ``func`` with matplotlib's mathtext off: text is drawn as it is.

    Names come from users' rules and data; with mathtext on, ``"$x^$"`` would
    crash the drawing and ``"a$b$c"`` would be typeset. Text artists read
    ``text.parse_math`` when they are created, so every function that builds
    or renders a figure of this module is wrapped (only for its duration;
    matplotlib's settings are restored afterwards).
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):
            return func(*args, **kwargs)

    return wrapper


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


@_plain_text
def figure_to_data_uri(fig, *, dpi=110):
    """PNG bytes of a figure as a ``data:image/png;base64,...`` URI.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    dpi : int, default=110

    Returns
    -------
    str

    Examples
    --------
    >>> from sklearn_mece.report import _figure, figure_to_data_uri
    >>> fig = _figure(2, 1)
    >>> _ = fig.add_subplot().plot([0, 1], [1, 0])
    >>> figure_to_data_uri(fig)[:30]
    'data:image/png;base64,iVBORw0K'
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _tier_colors(tiers):
    values = [t for t in pd.unique(pd.Series(tiers).dropna())]
    try:
        values = sorted(values)
    except TypeError:
        pass
    return {t: _PALETTE[i % len(_PALETTE)] for i, t in enumerate(values)}


@_plain_text
def plot_sizes(report, *, min_size=None, max_size=None):
    """Horizontal bars of segment sizes, in hierarchy order.

    Bars are coloured by ``tier`` when the report has one, else by validity;
    invalid segments are hatched. Dashed lines mark ``min_size``/``max_size``.

    Parameters
    ----------
    report : pandas.DataFrame
        From :func:`segment_report` (``size``, ``share``, ``valid``, optional
        ``tier``).
    min_size, max_size : int, optional
        Size limits drawn as vertical lines.

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = [str(n) for n in report.index]
    sizes = report["size"].to_numpy(dtype=float)
    share = report["share"].to_numpy(dtype=float) if "share" in report else None
    valid = (
        report["valid"].to_numpy(dtype=bool)
        if "valid" in report
        else np.ones(len(names), dtype=bool)
    )
    fig = _figure(8.5, 0.45 * len(names) + 1.5)
    ax = fig.add_subplot()
    y = np.arange(len(names))
    handles = {}
    if "tier" in report and report["tier"].notna().any():
        colors_by = _tier_colors(report["tier"])
        colors = [colors_by.get(t, _NEUTRAL) for t in report["tier"]]
        handles = {
            (str(t) if str(t).lower().startswith("tier") else f"tier {t}"): c
            for t, c in colors_by.items()
        }
    else:
        colors = [_GOOD if v else _BAD for v in valid]
        handles = {"valid": _GOOD, "invalid": _BAD} if not valid.all() else {}
    bars = ax.barh(y, sizes, color=colors, edgecolor="black", linewidth=0.5)
    for bar, ok in zip(bars, valid):
        if not ok:
            bar.set_hatch("//")
    top = sizes.max() if len(sizes) else 1.0
    for i, size in enumerate(sizes):
        label = f"{size:,.0f}"
        if share is not None:
            label += f" ({100 * share[i]:.1f} %)"
        ax.text(size + 0.01 * top, i, label, va="center", fontsize=9)
    lines = []
    for value, name, style in (
        (min_size, "min_size", "--"),
        (max_size, "max_size", ":"),
    ):
        if value and value <= 1.25 * top:
            lines.append(
                ax.axvline(
                    value,
                    color="black",
                    linestyle=style,
                    linewidth=1.2,
                    label=f"{name} = {value:,}",
                )
            )
    ax.set_yticks(y, names, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, max([top * 1.3] + [line.get_xdata()[0] * 1.05 for line in lines]))
    ax.set_xlabel("rows at fit")
    ax.set_title("Segment sizes (hierarchy order)")
    ax.xaxis.set_major_formatter(_thousands())
    if handles or lines:
        from matplotlib.patches import Patch

        items = [Patch(color=c, label=str(k)) for k, c in handles.items()] + lines
        fig.legend(
            handles=items, loc="outside lower center", ncol=len(items), fontsize=8
        )
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def _thousands():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{v:,.0f}")


@_plain_text
def plot_scores(report, dimensions=None):
    """Heat map of each segment's score on every dimension (and the total).

    Parameters
    ----------
    report : pandas.DataFrame
        From :func:`segment_report` with the scorer's columns.
    dimensions : sequence of str, default=None
        Columns shown, those absent skipped. ``None``: the scorer's
        dimensions and ``score`` (:data:`SCORE_DIMENSIONS`).

    Returns
    -------
    matplotlib.figure.Figure or None
        ``None`` when the report has none of the dimensions (no scorer).
    """
    if dimensions is None:
        dimensions = (*dimension_names(), "score")
    dims = [d for d in dimensions if d in report]
    if not dims:
        return None
    values = report[dims].to_numpy(dtype=float)
    names = [str(n) for n in report.index]
    fig = _figure(1.25 * len(dims) + 3.5, 0.45 * len(names) + 1.8)
    ax = fig.add_subplot()
    finite = values[np.isfinite(values)]
    in_unit = finite.size == 0 or (finite.min() >= 0 and finite.max() <= 1)
    vmin, vmax = (0.0, 1.0) if in_unit else (finite.min(), finite.max())
    image = ax.imshow(
        np.ma.masked_invalid(values),
        cmap="viridis",
        vmin=vmin,
        vmax=vmax,
        aspect="auto",
    )
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            text = "n/a" if not np.isfinite(v) else f"{v:.2f}"
            light = np.isfinite(v) and (v - vmin) / ((vmax - vmin) or 1) > 0.6
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=9,
                color="black" if light else "white",
                fontweight="bold" if dims[j] == "score" else "normal",
            )
    ax.set_xticks(range(len(dims)), [d.replace("_", "\n") for d in dims], fontsize=9)
    ax.set_yticks(range(len(names)), names, fontsize=9)
    ax.tick_params(top=True, labeltop=True, bottom=False, labelbottom=False)
    fig.colorbar(image, ax=ax, shrink=0.8, label="score")
    ax.set_title("Scores by dimension", pad=12)
    return fig


def _level_names(pipeline, feature, n_levels):
    seg = find_steps(pipeline).segmenter
    rules = _ruleset(seg) if seg is not None else None
    if rules is not None and feature in rules.levels:
        names = list(rules.levels[feature].names)
        if len(names) == n_levels:
            return names
    return [str(i) for i in range(n_levels)]


@_plain_text
def plot_cuts(pipeline, X, *, max_features=8):
    """Each learned cut drawn on its feature's histogram.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted, with a :class:`PercentileThresholder` step.
    X : pandas.DataFrame
        Data holding the raw thresholded columns (the fit data, or the
        pipeline's output, which passes them through).
    max_features : int, default=8
        At most this many features are drawn.

    Returns
    -------
    matplotlib.figure.Figure or None
        ``None`` when there is no thresholder or none of its columns is in X.

    Notes
    -----
    The x axis spans the 0.5th to 99.5th percentile (widened to show every
    cut); values outside are counted in the panel's note, not drawn. With
    ``groupby`` only the global cuts are drawn.
    """
    cuts = _cuts(pipeline) or {}
    thresholds = find_steps(pipeline).thresholder
    features = [f for f in cuts if f in getattr(X, "columns", ())][:max_features]
    if not features:
        return None
    percentiles = getattr(thresholds, "percentiles_", {})
    fig = _figure(8.5, 2.3 * len(features) + 0.4)
    axes = fig.subplots(len(features), 1, squeeze=False)[:, 0]
    for ax, feature in zip(axes, features):
        values = pd.to_numeric(X[feature], errors="coerce").to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        feature_cuts = np.asarray(cuts[feature], dtype=float)
        if values.size == 0:
            ax.set_title(f"{feature}: no finite values")
            continue
        vmin, vmax = values.min(), values.max()
        lo, hi = np.percentile(values, [0.5, 99.5])
        # Clip a long tail only: bounded features keep their full range.
        lo = vmin if lo - vmin < 0.25 * (vmax - vmin) else lo
        hi = vmax if vmax - hi < 0.25 * (vmax - vmin) else hi
        lo, hi = min(lo, feature_cuts.min()), max(hi, feature_cuts.max())
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        shown = values[(values >= lo) & (values <= hi)]
        n_out = values.size - shown.size
        ax.hist(shown, bins=60, range=(lo, hi), color="#B0C4DE", edgecolor="white")
        names = _level_names(pipeline, feature, feature_cuts.size + 1)
        edges = [lo, *feature_cuts.tolist(), hi]
        for k in range(len(names)):
            left, right = max(edges[k], lo), min(edges[k + 1], hi)
            if right > left:
                ax.text(
                    (left + right) / 2,
                    1.0,
                    names[k],
                    transform=ax.get_xaxis_transform(),
                    ha="center",
                    va="top",
                    fontsize=9,
                    color="#333333",
                    fontweight="bold",
                )
        q = np.asarray(percentiles.get(feature, [np.nan] * feature_cuts.size))
        for cut, p in zip(feature_cuts, q):
            ax.axvline(cut, color=_BAD, linewidth=1.6, linestyle="--")
            label = f"p{p:g} = {cut:,.4g}" if np.isfinite(p) else f"fixed {cut:,.4g}"
            ax.text(
                cut,
                0.82,
                " " + label,
                transform=ax.get_xaxis_transform(),
                color=_BAD,
                fontsize=9,
                ha="left",
                va="top",
                bbox={
                    "facecolor": "white",
                    "edgecolor": "none",
                    "alpha": 0.85,
                    "pad": 1,
                },
            )
        title = f"{feature}: {feature_cuts.size} cut(s), {len(names)} levels"
        if n_out:
            title += f"  ({n_out:,} values outside the shown range)"
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_ylabel("rows")
        ax.set_xlim(lo, hi)
        ax.yaxis.set_major_formatter(_thousands())
        ax.spines[["top", "right"]].set_visible(False)
    return fig


def _lift_scale(report):
    rates = report[[c for c in ("rate_treated", "rate_control") if c in report]]
    finite = rates.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size and finite.min() >= 0 and finite.max() <= 1:
        return 100.0, "percentage points"
    return 1.0, "outcome units"


@_plain_text
def plot_lift(report):
    """Observed lift (treated minus control rate) with its interval per segment.

    Parameters
    ----------
    report : pandas.DataFrame
        From :func:`segment_report` with ``lift_observed``, ``lift_ci_low``
        and ``lift_ci_high`` (a scorer given ``treatment`` and ``outcome``).

    Returns
    -------
    matplotlib.figure.Figure or None
        ``None`` without observed lift. Green: the interval is above zero;
        red: below; grey: it contains zero (or is unknown).
    """
    needed = ("lift_observed", "lift_ci_low", "lift_ci_high")
    if not all(c in report for c in needed) or report["lift_observed"].isna().all():
        return None
    scale, unit = _lift_scale(report)
    lift = report["lift_observed"].to_numpy(dtype=float) * scale
    low = report["lift_ci_low"].to_numpy(dtype=float) * scale
    high = report["lift_ci_high"].to_numpy(dtype=float) * scale
    significant = (
        report["lift_significant"].fillna(False).to_numpy(dtype=bool)
        if "lift_significant" in report
        else None
    )
    names = [str(n) for n in report.index]
    fig = _figure(8.5, 0.5 * len(names) + 1.6)
    ax = fig.add_subplot()
    ax.axvline(0, color="black", linewidth=1)
    span = np.nanmax(np.abs(np.concatenate([low, high, lift, [1e-9]])))
    for i in range(len(names)):
        if not np.isfinite(lift[i]):
            ax.text(0, i, "  n/a (no treated or control rows)", va="center", fontsize=8)
            continue
        color = (
            _GOOD
            if np.isfinite(low[i]) and low[i] > 0
            else _BAD
            if np.isfinite(high[i]) and high[i] < 0
            else _NEUTRAL
        )
        if np.isfinite(low[i]) and np.isfinite(high[i]):
            ax.plot([low[i], high[i]], [i, i], color=color, linewidth=2.5)
            ax.plot([low[i], high[i]], [i, i], "|", color=color, markersize=10)
            text = f"{lift[i]:+.2f} [{low[i]:+.2f}, {high[i]:+.2f}]"
        else:
            text = f"{lift[i]:+.2f}"
        if significant is not None and significant[i]:
            text += " *"
        ax.plot([lift[i]], [i], "o", color=color, markersize=7)
        ax.annotate(
            text,
            (lift[i], i),
            xytext=(0, 7),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    ax.set_yticks(range(len(names)), names, fontsize=9)
    ax.set_ylim(len(names) - 0.4, -0.8)
    ax.set_xlim(-1.15 * span if np.nanmin(low) < 0 else -0.1 * span, 1.15 * span)
    ax.set_xlabel(f"lift: treated rate minus control rate ({unit})")
    title = "Observed lift per segment with its interval"
    if significant is not None:
        title += "\n* significant after correction for multiple comparisons"
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", color="#DDDDDD")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


# ---------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------
_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1200px;color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;
margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{border:1px solid #ddd;padding:.3em .6em;vertical-align:top}
th{background:#f3f5f8;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#007a55;font-weight:bold}.fail{color:#c0392b;font-weight:bold}
.muted{color:#666}.rule{margin:.5em 0 1em 0}.rule h3{margin:.2em 0;font-size:1.05em}
.rule ul{margin:.2em 0}.note{background:#fff8e1;border-left:4px solid #f0c36d;
padding:.4em .8em}img{max-width:100%;height:auto;display:block;margin:.6em 0}
pre{background:#f6f8fa;padding:.8em;overflow-x:auto;font-size:.85em}
"""


def _is_missing(value):
    try:
        return value is None or value is pd.NA or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _fmt(value, column, money=(), currency="$"):
    """A cell as people read it (the formats of :mod:`sklearn_mece._format`)."""
    if _is_missing(value):
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if not isinstance(value, numbers.Number):
        return str(value)
    if column in money:
        return format_money(value, currency)
    if column == "share" or column.startswith("rate_"):
        return format_share(value, decimals=2)
    if "p_value" in column or "p_adjusted" in column:
        return format_p_value(value)
    if column in SCORE_DIMENSIONS or column == "lift_score":
        return format_score(value)
    if column in INCREMENTAL_COLUMNS:  # extra conversions or visits
        return format_count(value)
    if isinstance(value, int | np.integer):
        return format_count(value)
    return format_number(value)


def _table(frame, *, index_name="segment", money=(), currency="$"):
    """A DataFrame as the template's table: header, then rows of cells
    (text formatted for reading; numbers right-aligned)."""
    rows = []
    for name, row in frame.iterrows():
        cells = []
        for col, value in row.items():
            numeric = isinstance(value, int | float | np.number) and not isinstance(
                value, bool | np.bool_
            )
            text = _fmt(value, str(col), money, currency)
            cells.append({"text": text, "cls": "num" if numeric else ""})
        rows.append({"name": str(name), "cells": cells})
    return {"columns": [index_name, *map(str, frame.columns)], "rows": rows}


def _img(fig, alt):
    return None if fig is None else {"uri": figure_to_data_uri(fig), "alt": alt}


def _thresholds_data(pipeline):
    """The learned cuts as a table, and the percentile method."""
    thresholds = find_steps(pipeline).thresholder
    cuts = getattr(thresholds, "cuts_", None)
    if not cuts:
        return None, None
    percentiles = getattr(thresholds, "percentiles_", {})
    collapsed = getattr(thresholds, "collapsed_levels_", {})
    rows = []
    for feature, feature_cuts in cuts.items():
        names = _level_names(pipeline, feature, len(feature_cuts) + 1)
        q = percentiles.get(feature, [math.nan] * len(feature_cuts))
        for k, (p, c) in enumerate(zip(q, feature_cuts)):
            rows.append(
                {
                    "feature": feature,
                    "cut": f"{names[k]} | {names[k + 1]}",
                    "percentile": "fixed" if not np.isfinite(p) else f"p{p:g}",
                    "value": f"{float(c):,.6g}",
                    "collapsed levels": ", ".join(
                        names[i] for i in collapsed.get(feature, [])
                    ),
                }
            )
    frame = pd.DataFrame(rows).set_index("feature")
    return _table(frame, index_name="feature"), getattr(thresholds, "method", None)


def _rules_data(pipeline, report):
    """The rule tree as data: one entry per declared segment, and the splits."""
    seg, rules, cuts, suffix, closed = _rules_context(pipeline)
    if rules is None:
        return None, []
    merge_map = getattr(seg, "merge_map_", {})
    sizes = report["size"].to_dict() if "size" in report else {}
    entries = []
    n = len(rules.segments)
    for i, segment in enumerate(rules.all_segments):
        target = merge_map.get(segment.name, segment.name)
        if i == n:
            conditions = ["ELSE: every row not matched above"]
        elif not segment.conditions:
            conditions = ["every remaining row"]
        else:
            conditions = [
                rules.describe_condition(c, cuts, suffix, closed)
                for c in segment.conditions
            ]
        entries.append(
            {
                "number": i + 1,
                "name": segment.name,
                "size": int(sizes[segment.name]) if segment.name in sizes else None,
                "merged_into": target if target != segment.name else None,
                "conditions": conditions,
                "description": segment.description,
                "strategy": segment.strategy,
            }
        )
    splits = [
        {
            "segment": split["segment"],
            "column": split["column"],
            "cuts": ", ".join(f"{c:,.6g}" for c in split["cuts"]),
        }
        for split in getattr(seg, "splits_", ())
    ]
    return entries, splits


def _interval_labels(report):
    """What the unadjusted and the adjusted intervals are, in words."""
    attrs = getattr(report, "attrs", {})
    if "lift_ci" in attrs:
        return attrs["lift_ci"], attrs["lift_ci_adjusted"]
    return "each segment's own interval", "simultaneous intervals (Bonferroni)"


def _money_columns(pipeline, report):
    """Report columns that hold money: the mean order value, and the
    incremental outcome of a spend."""
    scorer = find_steps(pipeline).scorer
    aov = getattr(scorer, "aov_column", None)
    aov = aov if isinstance(aov, str) else input_columns(terms=("aov",))[0]
    money = {f"mean_{aov}"}
    if _lift_scale(report)[0] == 1.0:  # an amount: the lift is money too
        money |= set(INCREMENTAL_COLUMNS)
    return money


def display_name(name):
    """A segment name as a marketer reads it: ``"High_AOV_Premium"`` becomes
    ``"High AOV Premium"``.

    Examples
    --------
    >>> display_name("Med_AOV_High_Engagement"), display_name(3)
    ('Med AOV High Engagement', '3')
    """
    return " ".join(str(name).replace("_", " ").split())


def _summary_data(pipeline, report, X_out, money, currency, display_names):
    """The executive summary: segments ranked by incremental outcome when the
    lift is observed, else by score; per segment its name, size, share,
    index of each input against the average, tier, strategy, outcome."""
    scorer = find_steps(pipeline).scorer
    names = {**{n: display_name(n) for n in report.index}, **(display_names or {})}
    inputs = []
    if scorer is not None:
        for spec in SCORE_INPUTS:
            column = getattr(scorer, spec.param, None)
            if (
                isinstance(column, str)
                and f"mean_{column}" in report
                and column in X_out
            ):
                average = float(X_out[column].mean())
                if np.isfinite(average) and average != 0:
                    inputs.append((display_name(column), f"mean_{column}", average))
    # ranked by outcome only when every segment's lift is observed
    observed = "incremental_outcome" in report and not simulated_segments(
        report["lift_source"]
    )
    order = report.index
    if observed:
        order = report["incremental_outcome"].sort_values(ascending=False).index
    elif "score" in report:
        order = report["score"].sort_values(ascending=False, kind="stable").index
    rows = []
    for name in order:
        row = report.loc[name]
        entry = {
            "name": names.get(name, display_name(name)),
            "size": format_count(row["size"]),
            "share": format_share(row["share"]) if "share" in row else MISSING,
            "indexes": [
                f"{label} {float(row[col]) / average:.1f}x average"
                for label, col, average in inputs
                if not _is_missing(row[col])
            ],
            "tier": str(row["tier"]) if "tier" in row else "",
            "score": format_score(row["score"]) if "score" in row else "",
            "strategy": row.get("strategy", "") or "",
            "outcome": None,
        }
        if observed:
            fmt = "incremental_outcome"
            entry["outcome"] = (
                f"{_fmt(row[fmt], fmt, money, currency)} "
                f"[{_fmt(row['incremental_ci_low'], fmt, money, currency)}, "
                f"{_fmt(row['incremental_ci_high'], fmt, money, currency)}]"
            )
        rows.append(entry)
    return {"summary": rows, "summary_by_outcome": bool(observed)}


def _scores_explained(pipeline):
    """The "How scores work" section: each dimension in one line with its
    weight, and the tier cut-offs (None without a fitted scorer)."""
    scorer = find_steps(pipeline).scorer
    if scorer is None or "weights_" not in getattr(scorer, "__dict__", {}):
        return None
    weights = scorer.weights_
    dimensions = [
        {
            "name": d.name,
            "weight": f"{weights.get(d.weight_key, 0.0):.2f}",
            "formula": d.formula_text,
            "description": d.description.replace("``", ""),
        }
        for d in DIMENSION_TABLE
    ]
    cuts = list(scorer.tier_thresholds_)
    tiers = [
        f"{scorer.tier_names_[i]}: score >= {cut:.2f}" for i, cut in enumerate(cuts)
    ]
    tiers.append(f"{scorer.tier_names_[len(cuts)]}: score below {cuts[-1]:.2f}")
    return {"dimensions": dimensions, "tiers": tiers}


def _segment_tables(report, money=(), currency="$"):
    """The template's segment tables: main, observed lift (or None), text."""
    numeric_known = [
        c for c in report.columns if c not in (*_TEXT_COLUMNS, "lift_intervals")
    ]
    lift_cols = [c for c in (*_LIFT_FIELDS, *INCREMENTAL_COLUMNS) if c in report]
    main = [c for c in numeric_known if c not in lift_cols and c != "valid"]
    main += [c for c in ("valid", "issue") if c in report]
    tables = {"main_table": _table(report[main], money=money, currency=currency)}
    tables["lift_table"] = None
    if lift_cols:
        lift = report[lift_cols].copy()
        scale, unit = _lift_scale(report)
        if scale == 1.0:  # an amount: mean outcome per arm, not a rate
            lift = lift.rename(
                columns={"rate_treated": "mean_treated", "rate_control": "mean_control"}
            )
        each, adjusted = _interval_labels(report)
        for suffix, header in (("", "interval"), ("_adjusted", "adjusted interval")):
            low, high = f"lift_ci_low{suffix}", f"lift_ci_high{suffix}"
            if {low, high} <= set(lift):
                lift[header] = [
                    "–" if _is_missing(a) or _is_missing(b) else f"[{a:+.2f}, {b:+.2f}]"
                    for a, b in zip(report[low] * scale, report[high] * scale)
                ]
                lift = lift.drop(columns=[low, high])
        if set(INCREMENTAL_COLUMNS) <= set(lift):
            # lift x size: extra conversions (or spend) from contacting everyone
            outcome, low, high = INCREMENTAL_COLUMNS
            lift[f"{outcome} interval"] = [
                MISSING
                if _is_missing(a) or _is_missing(b)
                else f"[{_fmt(a, outcome, money, currency)}, "
                f"{_fmt(b, outcome, money, currency)}]"
                for a, b in zip(report[low], report[high])
            ]
            lift = lift.drop(columns=[low, high])
        for column in ("lift_observed", "lift_shrunk"):
            if column in lift:
                lift[column] = [
                    "–" if _is_missing(v) else f"{v:+.2f}"
                    for v in report[column] * scale
                ]
        lift = lift.rename(
            columns={
                "lift_observed": f"lift_observed ({unit})",
                "lift_shrunk": f"lift_shrunk ({unit})",
            }
        )
        tables["lift_table"] = _table(lift, money=money, currency=currency)
        tables["interval_each"], tables["interval_adjusted"] = each, adjusted
    text = [
        c for c in ("description", "strategy", "rule", "merged_from") if c in report
    ]
    tables["text_table"] = None
    if text:
        shown = report[text]
        if "merged_from" in shown and not shown["merged_from"].astype(bool).any():
            shown = shown.drop(columns="merged_from")
        tables["text_table"] = _table(shown)
    return tables


def html_report(
    pipeline,
    X,
    *,
    report=None,
    mece=None,
    title=None,
    currency="$",
    display_names=None,
):
    """One self-contained HTML document describing a fitted segmentation.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted, with a segment step (a thresholder and a scorer are
        shown when present).
    X : pandas.DataFrame
        The data segmented: either the pipeline's input (it is then
        transformed, not refitted) or its output ``pipeline.transform(X)``.
    report : pandas.DataFrame, optional
        Precomputed :func:`segment_report`; built when omitted.
    mece : MECEReport, optional
        Precomputed :func:`check_mece` of the segment column; built when
        omitted.
    title : str, optional
        Page title.
    currency : str, default="$"
        Currency of money columns (the mean order value; the incremental
        outcome of a spend): one character before the amount, a longer code
        after it (``"EUR"``), ``""`` for none.
    display_names : dict, optional
        Name shown in the executive summary per segment; by default the
        segment's name with spaces (:func:`display_name`).

    Returns
    -------
    str
        The HTML text (UTF-8), images embedded as base64 PNG.

    Examples
    --------
    >>> from sklearn_mece import make_cart_abandoner_pipeline
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> X = make_cart_abandoners(2_000, random_state=0)
    >>> pipe = make_cart_abandoner_pipeline(min_size=50).fit(X)
    >>> page = html_report(pipe, X)
    >>> page.startswith("<!DOCTYPE html>"), page.count("data:image/png;base64,") >= 2
    (True, True)
    """
    from . import __version__
    from ._mece import check_mece

    seg = segment_step(pipeline)
    column = getattr(seg, "output_column", "segment")
    X_out = X if column in getattr(X, "columns", ()) else pipeline.transform(X)
    if not isinstance(X_out, pd.DataFrame):
        raise TypeError(
            "html_report needs pandas output: call pipeline.set_output("
            "transform='pandas') or pass a DataFrame."
        )
    if report is None:
        report = segment_report(pipeline, X_out)
    labels = X_out[column]
    if not isinstance(labels.dtype, pd.CategoricalDtype) and labels.dtype.kind in "iu":
        labels = pd.Series(
            np.asarray(seg.segment_names_, dtype=object)[labels.to_numpy()]
        )
    if mece is None:
        mece = check_mece(labels, expected_labels=list(seg.segment_names_))
    title = title or "sklearn-mece segmentation report"

    n_valid = int(report["valid"].sum()) if "valid" in report else len(report)
    has_scorer = find_steps(pipeline).scorer is not None
    plots = [
        _img(
            plot_sizes(
                report,
                min_size=getattr(seg, "min_size_", None),
                max_size=getattr(seg, "max_size_", None),
            ),
            "segment sizes",
        )
    ]
    score_fig = plot_scores(report)
    plots.append(
        _img(score_fig, "scores by dimension")
        if score_fig is not None
        else {
            "note": "No scorer in this pipeline: scores by dimension are not available."
        }
    )
    plots.append(_img(plot_cuts(pipeline, X_out), "cuts on feature distributions"))
    lift_fig = plot_lift(report)
    if lift_fig is not None:
        plots.append(_img(lift_fig, "observed lift per segment"))
    elif has_scorer:
        plots.append(
            {
                "note": "No observed lift: fit the scorer with",
                "code": ("treatment", "outcome"),
                "after": "columns (a randomized control group) to measure it.",
            }
        )
    else:
        plots.append({"note": "No observed lift: the pipeline has no scorer."})
    describe = getattr(seg, "describe", None)
    rules_text = None
    if describe is not None:
        thresholds = find_steps(pipeline).thresholder
        has_cuts = getattr(thresholds, "cuts_", None) is not None
        rules_text = describe(cuts=thresholds) if has_cuts else describe()
    plots = [p for p in plots if p is not None]
    thresholds_table, method = _thresholds_data(pipeline)
    rules, splits = _rules_data(pipeline, report)
    money = _money_columns(pipeline, report)
    return HTMLReport(
        render(
            "report.html.j2",
            title=title,
            css=_CSS,
            n_rows=len(X_out),
            n_segments=len(report),
            n_valid=n_valid,
            version=__version__,
            generated=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            simulated=(
                simulated_segments(report["lift_source"])
                if "lift_source" in report
                else None
            ),
            simulated_formula=SIMULATED_LIFT_TEXT,
            **_segment_tables(report, money, currency),
            **_summary_data(pipeline, report, X_out, money, currency, display_names),
            scores_explained=_scores_explained(pipeline),
            plots=plots,
            thresholds_table=thresholds_table,
            method=method,
            rules=rules,
            splits=splits,
            rules_text=rules_text,
            **mece._html_context(),
        )
    )


class HTMLReport(str):
    """The report's HTML text, which displays itself in a notebook.

    A ``str`` (everything a string does, it does), with :meth:`save` and a
    notebook view: the page in an ``<iframe>``, so that its styles stay inside
    it.

    Examples
    --------
    >>> page = HTMLReport("<!DOCTYPE html><html><body><p>x &amp; y</p></body></html>")
    >>> page.startswith("<!DOCTYPE html>"), "srcdoc=" in page._repr_html_()
    (True, True)
    """

    def save(self, path):
        """Write the page to ``path`` (UTF-8); parent folders are created.

        Returns
        -------
        pathlib.Path
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(self), encoding="utf-8")
        return path

    def _repr_html_(self):
        return render("iframe.html.j2", page=str(self))


def write_html_report(pipeline, X, path, **kwargs):
    """Write :func:`html_report` to ``path`` (UTF-8).

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted.
    X : pandas.DataFrame
        Input data or the pipeline's output.
    path : str or path-like
        Destination ``.html`` file; parent folders are created.
    **kwargs
        Passed to :func:`html_report`.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import os, tempfile, warnings
    >>> from sklearn_mece import make_cart_abandoner_pipeline
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> X = make_cart_abandoners(1_000, random_state=0)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     pipe = make_cart_abandoner_pipeline(min_size=50).fit(X)
    >>> path = write_html_report(pipe, X, os.path.join(tempfile.mkdtemp(), "r.html"))
    >>> text = path.read_text(encoding="utf-8")
    >>> text.startswith("<!DOCTYPE html>"), text.count("data:image/png;base64") >= 3
    (True, True)
    """
    return html_report(pipeline, X, **kwargs).save(path)
