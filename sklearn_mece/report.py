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
import re
from pathlib import Path, PurePath

import numpy as np
import pandas as pd

from . import _kernels
from ._base import optional_import
from ._format import (
    MISSING,
    format_count,
    format_money,
    format_number,
    format_p_value,
    format_score,
    format_share,
    format_value,
    is_missing,
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
from .export import (
    _cuts,
    _rules_context,
    _ruleset,
    audience_files,
    segment_labels,
    segment_report,
)

__all__ = [
    "SCORE_DIMENSIONS",
    "HTMLReport",
    "PlotDisplay",
    "display_name",
    "figure_to_data_uri",
    "html_report",
    "plot_cuts",
    "plot_lift",
    "plot_migration",
    "plot_scores",
    "plot_sizes",
    "tier_colors",
    "write_html_report",
]

#: The scorer's dimensions (and total) shown in the scores plot, in order:
#: those of its dimension table (``sklearn_mece._scorer.DIMENSION_TABLE``).
SCORE_DIMENSIONS = (*dimension_names(), "score")
_TEXT_COLUMNS = ("description", "strategy", "rule", "merged_from", "issue")
_GOOD, _BAD, _NEUTRAL = "#009E73", "#D55E00", "#8C8C8C"
# the widest axis matplotlib draws (near the float64 limit its transforms
# overflow); values and cuts beyond it count as outside the shown range
_DRAWABLE = 1e306


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
        matplotlib = optional_import(
            "matplotlib", feature="Drawing plots", extra="plot"
        )
        with matplotlib.rc_context({"text.parse_math": False}):
            return func(*args, **kwargs)

    return wrapper


def plots_unavailable():
    """``None`` when plots can be drawn, else the one-line hint that says how
    (matplotlib is the optional ``[plot]`` extra).

    Examples
    --------
    >>> plots_unavailable() is None  # matplotlib is installed here
    True
    """
    try:
        optional_import("matplotlib", feature="Drawing plots", extra="plot")
    except ImportError as exc:
        return str(exc)
    return None


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _axes(ax, width, height):
    """``ax``, or the axes of a new figure (Agg canvas, no ``pyplot``)."""
    if ax is not None:
        return ax
    return _figure(width, height).add_subplot()


class PlotDisplay:
    """The matplotlib objects a plot function of this module drew.

    scikit-learn's Display style: the figure, the axes and the artists stay
    available for restyling, and the plot shows itself in a notebook.

    Parameters
    ----------
    figure_ : matplotlib.figure.Figure
        The figure drawn on.
    ax_ : matplotlib.axes.Axes or list of Axes
        The axes drawn on (a list for :func:`plot_cuts`, one per feature).
    artists_ : dict
        Named artists: bars, lines, images, the texts placed, per plot.

    Attributes
    ----------
    figure_ : matplotlib.figure.Figure
    ax_ : matplotlib.axes.Axes or list of Axes
    artists_ : dict

    Examples
    --------
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> from sklearn_mece import make_cart_abandoner_pipeline, segment_report
    >>> X = make_cart_abandoners(2_000, random_state=0)
    >>> pipe = make_cart_abandoner_pipeline(min_size=50).fit(X)
    >>> display = plot_sizes(segment_report(pipe, X), min_size=50)
    >>> display.ax_.get_xlabel(), len(display.artists_["bars"])
    ('customers at fit', 6)
    """

    def __init__(self, figure_, ax_, artists_):
        self.figure_ = figure_
        self.ax_ = ax_
        self.artists_ = artists_

    def savefig(self, path, **kwargs):
        """Save the figure (:meth:`matplotlib.figure.Figure.savefig`).

        Parameters
        ----------
        path : str, path-like or file-like
            Destination, as ``fname`` of :meth:`matplotlib.figure.Figure.savefig`.
        **kwargs
            Passed to :meth:`matplotlib.figure.Figure.savefig` (``dpi``,
            ``format``, ...).

        Returns
        -------
        None
            What :meth:`matplotlib.figure.Figure.savefig` returns.
        """
        return self.figure_.savefig(path, **kwargs)

    def _repr_png_(self):
        buffer = io.BytesIO()
        self.figure_.savefig(buffer, format="png", dpi=110)
        return buffer.getvalue()

    def __repr__(self):
        return f"<{type(self).__name__} of {type(self.figure_).__name__}>"


@_plain_text
def figure_to_data_uri(fig, *, dpi=110):
    """PNG bytes of a figure as a ``data:image/png;base64,...`` URI.

    Parameters
    ----------
    fig : matplotlib.figure.Figure or PlotDisplay
        The figure (of a :class:`PlotDisplay`, its ``figure_``).
    dpi : int, default=110
        Resolution of the PNG, in dots per inch.

    Returns
    -------
    str
        The URI, the PNG base64-encoded.

    Examples
    --------
    >>> from sklearn_mece.report import _figure, figure_to_data_uri
    >>> fig = _figure(2, 1)
    >>> _ = fig.add_subplot().plot([0, 1], [1, 0])
    >>> figure_to_data_uri(fig)[:30]
    'data:image/png;base64,iVBORw0K'
    """
    fig = getattr(fig, "figure_", fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _natural_key(value):
    """Sort key of tiers: numbers by value, then text with a trailing number
    by that number ("Tier 10" after "Tier 9")."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return (0, "", float(value))
    text = str(value)
    head = text.rstrip("0123456789")
    return (1, head, int(text[len(head) :]) if len(text) > len(head) else -1)


def tier_colors(tiers, *, order=None):
    """One colour per tier: ordered, colour-blind safe, darker = better.

    Colours are taken along matplotlib's ``cividis`` map (designed to be read
    alike with and without colour-vision deficiency), from its dark end for
    the first (best) tier to a light one for the last, so that the order of
    the tiers reads as lightness even in greyscale.

    Parameters
    ----------
    tiers : iterable
        Tier labels (a report's ``tier`` column, say); missing values skipped.
    order : sequence, optional
        Every tier, best first (a scorer's ``tier_names_``). By default the
        labels sorted naturally ("Tier 2" before "Tier 10").

    Returns
    -------
    dict
        Tier label to a ``"#rrggbb"`` colour.

    Examples
    --------
    >>> colors = tier_colors(["Tier 2", "Tier 1", "Tier 10"])
    >>> list(colors)
    ['Tier 1', 'Tier 2', 'Tier 10']
    >>> from matplotlib.colors import to_rgb
    >>> lightness = [sum(to_rgb(c)) for c in colors.values()]
    >>> lightness == sorted(lightness)
    True
    """
    matplotlib = optional_import("matplotlib", feature="Tier colours", extra="plot")
    colors = optional_import("matplotlib.colors", feature="Tier colours", extra="plot")
    colormaps, to_hex = matplotlib.colormaps, colors.to_hex

    present = [t for t in pd.unique(pd.Series(list(tiers), dtype=object).dropna())]
    if order is None:
        order = sorted(present, key=_natural_key)
    else:
        order = [*order, *(t for t in present if t not in set(order))]
    positions = np.linspace(0.0, 0.82, max(len(order), 2))
    cmap = colormaps["cividis"]
    return {t: to_hex(cmap(p)) for t, p in zip(order, positions)}


def _legend_below(fig, items):
    fig.legend(
        handles=items,
        loc="outside lower center",
        ncol=min(len(items), 6),
        fontsize=8,
        frameon=False,
    )


@_plain_text
def plot_sizes(report, *, min_size=None, max_size=None, tier_order=None, ax=None):
    """Horizontal bars of segment sizes, in hierarchy order.

    Bars are coloured by ``tier`` when the report has one
    (:func:`tier_colors`: darker = better), else by validity; invalid
    segments are hatched. Dashed lines mark ``min_size``/``max_size``. Each
    bar's count and share are written in a column right of the plot, where
    no bar or line can run into them.

    Parameters
    ----------
    report : pandas.DataFrame
        From :func:`segment_report` (``size``, ``share``, ``valid``, optional
        ``tier``).
    min_size, max_size : int, optional
        Size limits drawn as vertical lines.
    tier_order : sequence, optional
        Every tier, best first; by default the scorer's ``tier_names_``,
        which :func:`segment_report` keeps in ``report.attrs["tier_names"]``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure otherwise.

    Returns
    -------
    PlotDisplay
        ``artists_``: ``bars``, ``lines`` (the size limits), ``labels``.

    Examples
    --------
    >>> import pandas as pd
    >>> report = pd.DataFrame({"size": [700, 300], "share": [0.7, 0.3],
    ...                        "tier": ["Tier 1", "Tier 2"]}, index=["A", "B"])
    >>> display = plot_sizes(report, min_size=100)
    >>> [t.get_text() for t in display.artists_["labels"]]
    ['700 (70.0 %)', '300 (30.0 %)']
    """
    names = [str(n) for n in report.index]
    sizes = report["size"].to_numpy(dtype=float)
    share = report["share"].to_numpy(dtype=float) if "share" in report else None
    valid = (
        report["valid"].to_numpy(dtype=bool)
        if "valid" in report
        else np.ones(len(names), dtype=bool)
    )
    ax = _axes(ax, 8.5, 0.45 * len(names) + 1.6)
    fig = ax.figure
    y = np.arange(len(names))
    if tier_order is None:
        tier_order = getattr(report, "attrs", {}).get("tier_names")
    if "tier" in report and report["tier"].notna().any():
        colors_by = tier_colors(report["tier"], order=tier_order)
        colors = [colors_by.get(t, _NEUTRAL) for t in report["tier"]]
        present = set(report["tier"].dropna())
        handles = {
            (str(t) if str(t).lower().startswith("tier") else f"tier {t}"): c
            for t, c in colors_by.items()
            if t in present
        }
    else:
        colors = [_GOOD if v else _BAD for v in valid]
        handles = {"valid": _GOOD, "invalid": _BAD} if not valid.all() else {}
    bars = ax.barh(y, sizes, color=colors, edgecolor="black", linewidth=0.5)
    for bar, ok in zip(bars, valid):
        if not ok:
            bar.set_hatch("//")
    top = sizes.max() if len(sizes) else 1.0
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
    labels = []
    for i, size in enumerate(sizes):
        label = format_count(size)
        if share is not None:
            label += f" ({format_share(share[i])})"
        labels.append(
            ax.text(
                1.02,
                i,
                label,
                transform=ax.get_yaxis_transform(),
                va="center",
                ha="left",
                fontsize=9,
                clip_on=False,
            )
        )
    ax.set_yticks(y, names, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, max([top * 1.05] + [line.get_xdata()[0] * 1.05 for line in lines]))
    ax.set_xlabel("customers at fit")
    ax.set_ylabel("segment (hierarchy order)")
    ax.set_title("Segment sizes", loc="left")
    ax.xaxis.set_major_formatter(_thousands())
    if handles or lines:
        from matplotlib.patches import Patch

        items = [Patch(color=c, label=str(k)) for k, c in handles.items()] + lines
        _legend_below(fig, items)
    ax.spines[["top", "right"]].set_visible(False)
    return PlotDisplay(fig, ax, {"bars": bars, "lines": lines, "labels": labels})


def _thousands():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"{v:,.0f}")


@_plain_text
def plot_scores(report, dimensions=None, *, ax=None):
    """Heat map of each segment's score on every dimension (and the total).

    Parameters
    ----------
    report : pandas.DataFrame
        From :func:`segment_report` with the scorer's columns.
    dimensions : sequence of str, default=None
        Columns shown, those absent skipped. ``None``: the scorer's
        dimensions and ``score`` (:data:`SCORE_DIMENSIONS`).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure otherwise.

    Returns
    -------
    PlotDisplay or None
        ``None`` when the report has none of the dimensions (no scorer).
        ``artists_``: ``image``, ``colorbar``, ``texts``.

    Examples
    --------
    >>> import pandas as pd
    >>> report = pd.DataFrame({"profitability": [0.9, 0.2], "score": [0.7, 0.4]},
    ...                       index=["A", "B"])
    >>> display = plot_scores(report)
    >>> [t.get_text() for t in display.artists_["texts"]]
    ['0.90', '0.70', '0.20', '0.40']
    """
    if dimensions is None:
        dimensions = (*dimension_names(), "score")
    dims = [d for d in dimensions if d in report]
    if not dims:
        return None
    values = report[dims].to_numpy(dtype=float)
    names = [str(n) for n in report.index]
    ax = _axes(ax, 1.25 * len(dims) + 3.8, 0.45 * len(names) + 2.0)
    fig = ax.figure
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
    texts = []
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            text = "n/a" if not np.isfinite(v) else f"{v:.2f}"
            light = np.isfinite(v) and (v - vmin) / ((vmax - vmin) or 1) > 0.6
            texts.append(
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
            )
    ax.set_xticks(range(len(dims)), [d.replace("_", "\n") for d in dims], fontsize=9)
    ax.set_yticks(range(len(names)), names, fontsize=9)
    ax.tick_params(top=True, labeltop=True, bottom=False, labelbottom=False)
    ax.xaxis.set_label_position("top")
    ax.set_xlabel("score dimension (0 = worst, 1 = best; 0.5 = average customer)")
    ax.set_ylabel("segment")
    colorbar = fig.colorbar(image, ax=ax, shrink=0.8, label="score")
    ax.set_title("Scores by dimension", loc="left")
    return PlotDisplay(fig, ax, {"image": image, "colorbar": colorbar, "texts": texts})


def _level_names(pipeline, feature, n_levels):
    seg = find_steps(pipeline).segmenter
    rules = _ruleset(seg) if seg is not None else None
    if rules is not None and feature in rules.levels:
        names = list(rules.levels[feature].names)
        if len(names) == n_levels:
            return names
    return [str(i) for i in range(n_levels)]


def _place_without_overlap(ax, items, *, top=0.97, step=0.13):
    """Write texts at data ``x`` (axes-fraction ``y``), each on the highest
    row from ``top`` down where it overlaps no text placed before and stays
    inside the panel (so it never covers a tick or an axis label).

    ``items``: ``(x, text, kwargs)``. Overlap is measured on the rendered
    extents (the figure's layout is run first, so positions are final).

    Returns
    -------
    drawn : list of matplotlib.text.Text
    unplaced : list of str
        The texts for which no row was left: not drawn.
    """
    fig = ax.figure
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
    placed, texts, unplaced = [], [], []
    frame = ax.get_window_extent()
    left, right = ax.get_xlim()
    for x, label, kwargs in items:
        row = 0
        while True:
            artist = ax.text(
                x, top - row * step, label, transform=ax.get_xaxis_transform(), **kwargs
            )
            box = artist.get_window_extent()
            # kept inside the panel: a label wider than its level's span
            # at an edge is aligned on that edge instead of sticking out
            if box.x0 < frame.x0 or box.x1 > frame.x1:
                artist.set_x(left if box.x0 < frame.x0 else right)
                artist.set_horizontalalignment("left" if box.x0 < frame.x0 else "right")
                box = artist.get_window_extent()
            box = box.padded(2)
            if box.y0 < frame.y0:  # below the panel: no row left
                artist.remove()
                unplaced.append(label.strip())
                break
            if not any(box.overlaps(other) for other in placed):
                placed.append(box)
                texts.append(artist)
                break
            artist.remove()
            row += 1
    return texts, unplaced


def _level_shares(values, feature_cuts, X, feature, thresholds):
    """Each level's real share of the rows with a value: read from the level
    column the thresholder wrote when X holds it, else from the cuts (None
    with cuts per group, which X without the level columns cannot show)."""
    suffix = getattr(thresholds, "suffix", "_level")
    n_levels = feature_cuts.size + 1
    level_column = f"{feature}{suffix}"
    if level_column in getattr(X, "columns", ()):
        codes = pd.to_numeric(X[level_column], errors="coerce").to_numpy(dtype=float)
        codes = codes[np.isfinite(codes) & (codes >= 0) & (codes < n_levels)]
    elif getattr(thresholds, "groupby", None) is not None:
        return None  # cuts per group: the global cuts would give wrong shares
    else:
        side = "right" if getattr(thresholds, "closed", "left") == "left" else "left"
        codes = np.searchsorted(feature_cuts, values, side=side)
    counts = np.bincount(codes.astype(np.int64), minlength=n_levels)[:n_levels]
    return counts / max(counts.sum(), 1)


@_plain_text
def plot_cuts(pipeline, X, *, max_features=8, ax=None):
    """Each learned cut drawn on its feature's histogram, with every level's
    real share of rows.

    A percentile cut on a coarse feature can hold many rows at the cut value:
    ``p70`` then puts more than 30% of the rows in the top level. Each level
    is labelled with the share of rows it really holds, and the panel's title
    says when that differs from the percentiles by more than 5 points.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted, with a :class:`PercentileThresholder` step.
    X : pandas.DataFrame
        Data holding the raw thresholded columns (the fit data, or the
        pipeline's output, which passes them through together with the level
        columns the shares are read from).
    max_features : int, default=8
        At most this many features are drawn.
    ax : matplotlib.axes.Axes or sequence of Axes, optional
        Where to draw: one Axes per feature drawn (a single Axes draws the
        first feature only). A new figure otherwise.

    Returns
    -------
    PlotDisplay or None
        ``None`` when there is no thresholder or none of its columns is in X.
        ``ax_`` is the list of axes, one per feature; ``artists_``:
        ``cut_lines`` and ``labels`` (one list per feature, the labels
        drawn), ``unplaced`` (feature to the labels left out for lack of
        room, also written under the panel's title) and ``shares`` (feature
        to each level's share of rows).

    Notes
    -----
    The x axis spans the 0.5th to 99.5th percentile (widened to show every
    cut); values outside are counted in the panel's title, not drawn. With
    ``groupby`` only the global cuts are drawn.

    Examples
    --------
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> from sklearn_mece import make_cart_abandoner_pipeline
    >>> X = make_cart_abandoners(2_000, random_state=0)
    >>> pipe = make_cart_abandoner_pipeline(min_size=50).fit(X)
    >>> display = plot_cuts(pipe, pipe.transform(X))
    >>> len(display.ax_), [round(float(s), 2) for s in display.artists_["shares"]["avg_order_value"]]
    (3, [0.4, 0.35, 0.25])
    """
    cuts = _cuts(pipeline) or {}
    thresholds = find_steps(pipeline).thresholder
    features = [f for f in cuts if f in getattr(X, "columns", ())][:max_features]
    if not features:
        return None
    if ax is None:
        fig = _figure(8.5, 2.5 * len(features) + 0.4)
        axes = list(fig.subplots(len(features), 1, squeeze=False)[:, 0])
    else:
        axes = list(np.ravel([ax]))
        features = features[: len(axes)]
        axes = axes[: len(features)]
        fig = axes[0].figure
    percentiles = getattr(thresholds, "percentiles_", {})
    cut_lines, labels, shares = [], [], {}
    pending = []
    for panel, feature in zip(axes, features):
        values = pd.to_numeric(X[feature], errors="coerce").to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        feature_cuts = np.asarray(cuts[feature], dtype=float)
        panel.set_xlabel(feature)
        panel.set_ylabel("customers")
        if values.size == 0:
            panel.set_title(f"{feature}: no finite values", fontsize=10, loc="left")
            cut_lines.append([])
            pending.append([])
            continue
        # values near the float64 limit: spans that overflow are infinite
        # here, and the axis is bounded to what matplotlib can draw
        with np.errstate(over="ignore", invalid="ignore"):
            vmin, vmax = values.min(), values.max()
            lo, hi = np.percentile(values, [0.5, 99.5])
            # Clip a long tail only: bounded features keep their full range.
            lo = vmin if lo - vmin < 0.25 * (vmax - vmin) else lo
            hi = vmax if vmax - hi < 0.25 * (vmax - vmin) else hi
        lo, hi = min(lo, feature_cuts.min()), max(hi, feature_cuts.max())
        lo, hi = max(lo, -_DRAWABLE), min(hi, _DRAWABLE)
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        shown = values[(values >= lo) & (values <= hi)]
        n_out = values.size - shown.size
        panel.hist(shown, bins=60, range=(lo, hi), color="#B0C4DE", edgecolor="white")
        names = _level_names(pipeline, feature, feature_cuts.size + 1)
        share = _level_shares(values, feature_cuts, X, feature, thresholds)
        shares[feature] = share
        edges = [lo, *feature_cuts.tolist(), hi]
        items = []
        for k in range(len(names)):
            left, right = max(edges[k], lo), min(edges[k + 1], hi)
            if right > left:
                items.append(
                    (
                        (left + right) / 2,
                        names[k]
                        if share is None
                        else f"{names[k]}: {format_share(share[k])}",
                        {
                            "ha": "center",
                            "va": "top",
                            "fontsize": 9,
                            "color": "#222222",
                            "fontweight": "bold",
                        },
                    )
                )
        q = np.asarray(percentiles.get(feature, [np.nan] * feature_cuts.size))
        lines = []
        for cut, p in zip(feature_cuts, q):
            if not lo <= cut <= hi:  # beyond what can be drawn: in the cuts table
                continue
            lines.append(panel.axvline(cut, color=_BAD, linewidth=1.6, linestyle="--"))
            label = f"p{p:g} = {cut:,.4g}" if np.isfinite(p) else f"fixed {cut:,.4g}"
            items.append(
                (
                    cut,
                    " " + label,
                    {
                        "color": _BAD,
                        "fontsize": 9,
                        "ha": "left",
                        "va": "top",
                        "bbox": {
                            "facecolor": "white",
                            "edgecolor": "none",
                            "alpha": 0.85,
                            "pad": 1,
                        },
                    },
                )
            )
        cut_lines.append(lines)
        pending.append(items)
        title = f"{feature}: {feature_cuts.size} cut(s), {len(names)} levels"
        planned = np.diff([0.0, *(q / 100.0), 1.0]) if np.isfinite(q).all() else None
        if share is None:
            title += "; shares of rows need the level columns (per-group cuts)"
        elif planned is not None and np.max(np.abs(planned - share)) > 0.05:
            worst = int(np.argmax(np.abs(planned - share)))
            title += (
                f"; ties at the cuts: {names[worst]} holds "
                f"{format_share(share[worst])} of rows, "
                f"{format_share(planned[worst])} planned"
            )
        if n_out:
            title += f" ({format_count(n_out)} values outside the shown range)"
        panel.set_title(title, fontsize=10, loc="left")
        panel.set_xlim(lo, hi)
        panel.set_ylim(0, panel.get_ylim()[1] * 1.45)  # room for the labels
        panel.yaxis.set_major_formatter(_thousands())
        panel.spines[["top", "right"]].set_visible(False)
    # placed once every panel is drawn: the layout is then final
    unplaced = {}
    for panel, feature, items in zip(axes, features, pending):
        drawn, missing = _place_without_overlap(panel, items)
        labels.append(drawn)
        if missing:
            unplaced[feature] = missing
            panel.set_title(
                panel.get_title(loc="left")
                + f"\n{len(missing)} label(s) left out for lack of room: "
                + "; ".join(missing[:4])
                + ("; ..." if len(missing) > 4 else ""),
                fontsize=10,
                loc="left",
            )
    return PlotDisplay(
        fig,
        axes,
        {
            "cut_lines": cut_lines,
            "labels": labels,
            "unplaced": unplaced,
            "shares": shares,
        },
    )


def _lift_scale(report):
    """How the lift reads: a rate difference in percentage points, or an
    amount in outcome units; the scorer's ``outcome_type`` (in the report's
    attrs) says which, the values in [0, 1] only when it is not known."""
    kind = getattr(report, "attrs", {}).get("outcome_type")
    if kind == "rate":
        return 100.0, "percentage points"
    if kind == "amount":
        return 1.0, "outcome units"
    rates = report[[c for c in ("rate_treated", "rate_control") if c in report]]
    finite = rates.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size and finite.min() >= 0 and finite.max() <= 1:
        return 100.0, "percentage points"
    return 1.0, "outcome units"


@_plain_text
def plot_lift(report, *, ax=None):
    """Observed lift (treated minus control rate) with its interval per segment.

    Parameters
    ----------
    report : pandas.DataFrame
        From :func:`segment_report` with ``lift_observed``, ``lift_ci_low``
        and ``lift_ci_high`` (a scorer given ``treatment`` and ``outcome``).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure otherwise.

    Returns
    -------
    PlotDisplay or None
        ``None`` without observed lift. Green: the interval is above zero;
        red: below; grey: it contains zero (or is unknown). ``artists_``:
        ``points``, ``intervals``, ``labels``.

    Examples
    --------
    >>> import pandas as pd
    >>> report = pd.DataFrame({"lift_observed": [0.05, -0.01],
    ...                        "lift_ci_low": [0.02, -0.04],
    ...                        "lift_ci_high": [0.08, 0.02],
    ...                        "rate_treated": [0.2, 0.1]}, index=["A", "B"])
    >>> display = plot_lift(report)
    >>> [t.get_text() for t in display.artists_["labels"]]
    ['+5.00 [+2.00, +8.00]', '-1.00 [-4.00, +2.00]']
    """
    if not _has_observed_lift(report):
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
    ax = _axes(ax, 8.5, 0.5 * len(names) + 1.7)
    fig = ax.figure
    ax.axvline(0, color="black", linewidth=1)
    span = np.nanmax(np.abs(np.concatenate([low, high, lift, [1e-9]])))
    points, intervals, labels = [], [], []
    for i in range(len(names)):
        if not np.isfinite(lift[i]):
            labels.append(
                ax.text(
                    0, i, "  n/a (no treated or control rows)", va="center", fontsize=8
                )
            )
            continue
        color = (
            _GOOD
            if np.isfinite(low[i]) and low[i] > 0
            else _BAD
            if np.isfinite(high[i]) and high[i] < 0
            else _NEUTRAL
        )
        if np.isfinite(low[i]) and np.isfinite(high[i]):
            intervals += ax.plot([low[i], high[i]], [i, i], color=color, linewidth=2.5)
            ax.plot([low[i], high[i]], [i, i], "|", color=color, markersize=10)
            text = f"{lift[i]:+.2f} [{low[i]:+.2f}, {high[i]:+.2f}]"
        else:
            text = f"{lift[i]:+.2f}"
        if significant is not None and significant[i]:
            text += " *"
        points += ax.plot([lift[i]], [i], "o", color=color, markersize=7)
        labels.append(
            ax.annotate(
                text,
                (lift[i], i),
                xytext=(0, 7),
                textcoords="offset points",
                ha="center",
                fontsize=8,
            )
        )
    ax.set_yticks(range(len(names)), names, fontsize=9)
    ax.set_ylim(len(names) - 0.4, -0.8)
    ax.set_xlim(-1.15 * span if np.nanmin(low) < 0 else -0.1 * span, 1.15 * span)
    what = "rate" if unit == "percentage points" else "mean"
    ax.set_xlabel(f"lift: treated {what} minus control {what} ({unit})")
    ax.set_ylabel("segment")
    title = "Observed lift per segment with its interval"
    if significant is not None:
        title += "\n* significant after correction for multiple comparisons"
    ax.set_title(title, fontsize=10, loc="left")
    ax.grid(axis="x", color="#DDDDDD")
    ax.spines[["top", "right"]].set_visible(False)
    return PlotDisplay(
        fig, ax, {"points": points, "intervals": intervals, "labels": labels}
    )


@_plain_text
def plot_migration(migration, *, normalize=True, ax=None):
    """Heat map of customers moving between segments from one snapshot to the
    next (:func:`segment_migration`'s result).

    Parameters
    ----------
    migration : Migration
        From :func:`sklearn_mece.segment_migration`.
    normalize : bool, default=True
        Colour and annotate each row's shares (where the customers of a
        segment went) instead of counts.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure otherwise.

    Returns
    -------
    PlotDisplay
        ``artists_``: ``image`` (the heat map).

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_mece import make_cart_abandoner_pipeline, segment_migration
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> before = make_cart_abandoners(2_000, random_state=0)
    >>> after = make_cart_abandoners(2_000, random_state=1)
    >>> pipe = make_cart_abandoner_pipeline(min_size=50).fit(before)
    >>> moves = segment_migration(pipe, before, after, id_col="user_id", fit=False)
    >>> display = plot_migration(moves)
    >>> display.ax_.get_xlabel(), display.ax_.get_ylabel()
    ('segment after', 'segment before')
    """
    shape = migration.counts.shape
    ax = _axes(ax, min(2.6 + 1.0 * shape[1], 16), min(1.8 + 0.5 * shape[0], 12))
    migration.plot(ax=ax, normalize=normalize, cmap="Blues")
    return PlotDisplay(ax.figure, ax, {"image": ax.images[-1]})


# ---------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------
_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;
line-height:1.45}
main{max-width:1200px;margin:0 auto;padding:0 1.2em 3em 1.2em;box-sizing:border-box}
nav{position:sticky;top:0;z-index:1;background:#1f3a5f;padding:.45em 1em;
display:flex;flex-wrap:wrap;gap:.2em 1.2em;font-size:.9em}
nav a{color:#fff;text-decoration:none}nav a:hover{text-decoration:underline}
h1{font-size:1.6em;margin:.8em 0 .2em 0}h2{border-bottom:2px solid #ddd;
padding-bottom:.2em;margin-top:1.8em;scroll-margin-top:2.5em}
.wide{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{border:1px solid #ddd;padding:.3em .6em;vertical-align:top}
th{background:#f3f5f8;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.sub{display:block}ul.plain{margin:0;padding:0;list-style:none}ul.plain li{white-space:nowrap}
details{margin:.4em 0 .8em 0}summary{cursor:pointer;color:#1f3a5f}
.pass{color:#007a55;font-weight:bold}.fail{color:#c0392b;font-weight:bold}
.banner{background:#fdecea;border-left:6px solid #c0392b;padding:.6em .9em;
font-weight:bold}
.muted{color:#666}.rule{margin:.5em 0 1em 0}.rule h3{margin:.2em 0;font-size:1.05em}
.rule ul{margin:.2em 0}.note{background:#fff8e1;border-left:4px solid #f0c36d;
padding:.4em .8em}img{max-width:100%;height:auto;display:block;margin:.8em 0}
pre{background:#f6f8fa;padding:.8em;overflow-x:auto;font-size:.85em}
"""


def _fmt(value, column, money=(), currency="$"):
    """A cell as people read it (the formats of :mod:`sklearn_mece._format`)."""
    return format_value(
        value, functools.partial(_number, column=column, money=money, currency=currency)
    )


def _number(value, *, column, money, currency):
    """A number of the report's ``column`` in the format of that column."""
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


#: Text that reads as a number or an interval ("+6.95", "[+5.31, +8.54]",
#: "< 0.001"): right-aligned and kept on one line like numbers.
_NUMERIC_TEXT = re.compile(r"^\s*[\[<]?\s*[-+−$€£]?\d")


def _table(frame, *, index_name="segment", money=(), currency="$"):
    """A DataFrame as the template's table: header, then rows of cells
    (text formatted for reading; numbers right-aligned)."""
    rows = []
    for name, row in frame.iterrows():
        cells = []
        for col, value in row.items():
            text = _fmt(value, str(col), money, currency)
            numeric = (
                isinstance(value, int | float | np.number)
                and not isinstance(value, bool | np.bool_)
            ) or _NUMERIC_TEXT.match(text) is not None
            cells.append({"text": text, "cls": "num" if numeric else ""})
        rows.append({"name": str(name).split("_"), "cells": cells})
    return {"columns": [index_name, *map(_header, frame.columns)], "rows": rows}


#: Column headers as people read them (others: underscores become spaces).
_HEADERS = {
    "n_treated": "treated",
    "n_control": "control",
    "lift_p_value": "p-value",
    "lift_p_adjusted": "p-value (adjusted)",
    "lift_significant": "significant",
    "incremental_outcome": "incremental outcome",
}


def _header(column):
    column = str(column)
    return _HEADERS.get(column, column.replace("_", " "))


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

    Parameters
    ----------
    name : object
        A segment name; its ``str`` is used.

    Returns
    -------
    str
        The name with every underscore as a space, runs of spaces as one and
        no space at either end.

    Examples
    --------
    >>> display_name("Med_AOV_High_Engagement"), display_name(3)
    ('Med AOV High Engagement', '3')
    """
    return " ".join(str(name).replace("_", " ").split())


def _audiences(report, audience_files):
    """The audience list: each segment's file, relative link and size."""
    if not audience_files:
        return None
    return [
        {
            "name": str(name),
            "href": _href(path),
            "file": PurePath(path).name,
            "size": format_count(report["size"][name]) if name in report.index else "",
        }
        for name, path in audience_files.items()
    ]


def _href(path):
    """A relative link to a local file, every character URL-quoted."""
    from urllib.parse import quote

    return quote(PurePath(path).as_posix())


def _migration(pipeline, previous, X_out, id_col):
    """The migration from ``previous`` to ``X_out`` (or ``previous`` itself
    when it is one already)."""
    if previous is None:
        return None
    if hasattr(previous, "stability_rate"):
        return previous
    from ._compare import segment_migration

    return segment_migration(pipeline, previous, X_out, id_col, fit=False)


def _summary_data(
    pipeline, report, X_out, money, currency, display_names, audience_files=None
):
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
                with np.errstate(over="ignore", invalid="ignore"):
                    average = float(X_out[column].mean())
                    if not np.isfinite(average):  # values near the float64 limit
                        down = 1.0 / _kernels.OVERFLOW_SCALE
                        average = float((X_out[column] * down).mean())
                        average *= _kernels.OVERFLOW_SCALE
                if np.isfinite(average) and average != 0:
                    inputs.append((display_name(column), f"mean_{column}", average))
    # ranked by outcome only when every segment's lift is observed
    observed = (
        "incremental_outcome" in report
        and report["incremental_outcome"].notna().all()
        and not ("lift_source" in report and simulated_segments(report["lift_source"]))
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
                if not is_missing(row[col])
            ],
            "tier": format_value(row["tier"], str) if "tier" in row else "",
            "score": format_score(row["score"]) if "score" in row else "",
            "strategy": (
                format_value(row["strategy"], str) if "strategy" in row else ""
            ),
            "outcome": None,
            "href": (
                _href(audience_files[name])
                if audience_files and name in audience_files
                else None
            ),
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


_ESSENTIAL_COLUMNS = ("size", "share", "tier", "score", "valid", "issue")
_ESSENTIAL_LIFT = (
    "n_treated",
    "n_control",
    "rate_treated",
    "rate_control",
    "lift_observed",
    "adjusted interval",
    "lift_p_adjusted",
    "lift_significant",
)


def _lift_frame(report, money, currency):
    """The observed-lift columns as people read them: lifts in points (or
    outcome units), intervals as ``[low, high]``, the incremental outcome
    with its interval."""
    lift_cols = [c for c in (*_LIFT_FIELDS, *INCREMENTAL_COLUMNS) if c in report]
    lift = report[lift_cols].copy()
    scale, unit = _lift_scale(report)
    if scale == 1.0:  # an amount: mean outcome per arm, not a rate
        lift = lift.rename(
            columns={"rate_treated": "mean_treated", "rate_control": "mean_control"}
        )
    for suffix, header in (("", "interval"), ("_adjusted", "adjusted interval")):
        low, high = f"lift_ci_low{suffix}", f"lift_ci_high{suffix}"
        if {low, high} <= set(lift):
            lift[header] = [
                MISSING if is_missing(a) or is_missing(b) else f"[{a:+.2f}, {b:+.2f}]"
                for a, b in zip(report[low] * scale, report[high] * scale)
            ]
            lift = lift.drop(columns=[low, high])
    if set(INCREMENTAL_COLUMNS) <= set(lift):
        # lift x size: extra conversions (or spend) from contacting everyone
        outcome, low, high = INCREMENTAL_COLUMNS
        lift[f"{outcome} interval"] = [
            MISSING
            if is_missing(a) or is_missing(b)
            else f"[{_fmt(a, outcome, money, currency)}, "
            f"{_fmt(b, outcome, money, currency)}]"
            for a, b in zip(report[low], report[high])
        ]
        lift = lift.drop(columns=[low, high])
    for column in ("lift_observed", "lift_shrunk"):
        if column in lift:
            lift[column] = [
                MISSING if is_missing(v) else f"{v:+.2f}"
                for v in report[column] * scale
            ]
    return lift, unit


def _split(frame, essential):
    """The essential columns of ``frame`` (in their order) and the rest."""
    first = [c for c in essential if c in frame]
    return frame[first], frame[[c for c in frame.columns if c not in first]]


def _segment_tables(report, money=(), currency="$"):
    """The template's segment tables, essentials first, the rest in
    collapsible details: the main table (size, share, tier, score, validity)
    with the score dimensions and the input means as details; the observed
    lift (counts, rates, lift, adjusted interval, corrected p-value) with
    the unadjusted figures, the shrunk lift and the incremental outcome as
    details; the text columns."""
    fmt = functools.partial(_table, money=money, currency=currency)
    main, _ = _split(report, _ESSENTIAL_COLUMNS)
    if "issue" in main and not main["issue"].astype(bool).any():
        main = main.drop(columns="issue")
    tables = {"main_table": fmt(main), "main_details": []}
    dims = [c for c in (*SCORE_DIMENSIONS, "lift_source") if c in report]
    if dims:
        tables["main_details"].append(
            {"title": "Score dimensions", "table": fmt(report[dims])}
        )
    means = [c for c in report.columns if c.startswith("mean_")]
    if means:
        tables["main_details"].append(
            {"title": "Mean of each score input", "table": fmt(report[means])}
        )
    tables["lift_table"], tables["lift_details"] = None, None
    if any(c in report for c in _LIFT_FIELDS):
        lift, unit = _lift_frame(report, money, currency)
        essential = [
            {"rate_treated": "mean_treated", "rate_control": "mean_control"}.get(c, c)
            if "mean_treated" in lift
            else c
            for c in _ESSENTIAL_LIFT
        ]
        first, rest = _split(lift, essential)
        short = "pp" if unit == "percentage points" else unit
        rename = {
            "lift_observed": f"lift ({short})",
            "lift_shrunk": f"lift shrunk ({short})",
            "interval": f"interval ({short})",
            "adjusted interval": f"adjusted interval ({short})",
        }
        tables["lift_table"] = fmt(first.rename(columns=rename))
        if len(rest.columns):
            tables["lift_details"] = fmt(rest.rename(columns=rename))
        tables["interval_each"], tables["interval_adjusted"] = _interval_labels(report)
        tables["lift_unit"] = unit
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
    previous=None,
    id_col=None,
    audience_files=None,
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
    previous : pandas.DataFrame or Migration, optional
        An earlier snapshot of the same customers (the pipeline's input),
        or its :func:`segment_migration` result: the report then shows where
        each segment's customers came from and went (a heat map and the
        stability rate). Snapshots are joined on ``id_col``.
    id_col : str, optional
        Customer id column, joining ``previous`` to ``X`` (default: the
        index).
    audience_files : dict, optional
        Segment name to the path, relative to the report, of its audience
        file (:func:`export_audiences`): each is linked from the executive
        summary and the audience list. :func:`write_html_report` with
        ``audiences=True`` writes the files and fills this in.

    Returns
    -------
    HTMLReport
        The HTML text (a ``str``; UTF-8 when saved), images embedded as
        base64 PNG; it displays in a notebook and has ``.save(path)``.

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
    labels = segment_labels(X_out[column], list(seg.segment_names_))
    if mece is None:
        mece = check_mece(labels, expected_labels=list(seg.segment_names_))
    title = title or "sklearn-mece segmentation report"

    n_valid = int(report["valid"].sum()) if "valid" in report else len(report)
    scorer = find_steps(pipeline).scorer
    migration = _migration(pipeline, previous, X_out, id_col)
    missing = plots_unavailable()
    plots = [] if missing is None else [{"note": missing}]
    plots += _plots(pipeline, seg, scorer, report, X_out, migration, draw=not missing)
    describe = getattr(seg, "describe", None)
    rules_text = None
    if describe is not None:
        thresholds = find_steps(pipeline).thresholder
        has_cuts = getattr(thresholds, "cuts_", None) is not None
        rules_text = describe(cuts=thresholds) if has_cuts else describe()
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
            **_summary_data(
                pipeline, report, X_out, money, currency, display_names, audience_files
            ),
            scores_explained=_scores_explained(pipeline),
            audiences=_audiences(report, audience_files),
            migration=(
                None
                if migration is None
                else {
                    "stability": format_share(migration.stability_rate),
                    "n_both": format_count(migration.summary["n_both"]),
                }
            ),
            plots=plots,
            thresholds_table=thresholds_table,
            method=method,
            rules=rules,
            splits=splits,
            rules_text=rules_text,
            **mece._html_context(),
        )
    )


def _has_observed_lift(report):
    """Whether the report holds an observed lift with its interval."""
    needed = ("lift_observed", "lift_ci_low", "lift_ci_high")
    return all(c in report for c in needed) and not report["lift_observed"].isna().all()


def _plots(pipeline, seg, scorer, report, X_out, migration, *, draw=True):
    """The report's plots as the template's images, and the notes that stand
    in for a plot with nothing to show (kept when ``draw`` is False: no
    matplotlib, no images)."""
    plots = []
    if draw:
        plots.append(
            _img(
                plot_sizes(
                    report,
                    min_size=getattr(seg, "min_size_", None),
                    max_size=getattr(seg, "max_size_", None),
                    tier_order=getattr(scorer, "tier_names_", None),
                ),
                "segment sizes",
            )
        )
    if any(d in report for d in SCORE_DIMENSIONS):
        if draw:
            plots.append(_img(plot_scores(report), "scores by dimension"))
    else:
        plots.append(
            {
                "note": "No scorer in this pipeline: scores by dimension are not available."
            }
        )
    if draw:
        plots.append(_img(plot_cuts(pipeline, X_out), "cuts on feature distributions"))
        if migration is not None:
            plots.append(
                _img(plot_migration(migration), "where each segment's customers went")
            )
    if _has_observed_lift(report):
        if draw:
            plots.append(_img(plot_lift(report), "observed lift per segment"))
    elif scorer is not None:
        plots.append(
            {
                "note": "No observed lift: fit the scorer with",
                "code": ("treatment", "outcome"),
                "after": "columns (a randomized control group) to measure it.",
            }
        )
    else:
        plots.append({"note": "No observed lift: the pipeline has no scorer."})
    return [p for p in plots if p is not None]


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

        Parameters
        ----------
        path : str or path-like
            Destination file (conventionally ``*.html``).

        Returns
        -------
        pathlib.Path
            The path written.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(self), encoding="utf-8")
        return path

    def _repr_html_(self):
        return render("iframe.html.j2", page=str(self))


def write_html_report(
    pipeline, X, path, *, audiences=False, id_col=None, csv_escape=True, **kwargs
):
    """Write :func:`html_report` to ``path`` (UTF-8), and the audience files
    beside it.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted.
    X : pandas.DataFrame
        Input data or the pipeline's output.
    path : str or path-like
        Destination ``.html`` file; parent folders are created.
    audiences : bool, default=False
        Also write one CSV of customer ids per segment
        (:func:`export_audiences`) into the folder ``audiences`` beside the
        report, each linked from the report; the audience files of a previous
        run there are replaced (other files are left alone).
    id_col : str, optional
        Customer id column: written to the audience files, and joining
        ``previous`` (see :func:`html_report`). Default: the index.
    csv_escape : bool, default=True
        Neutralise formula-like ids in the audience files.
    **kwargs
        Passed to :func:`html_report`.

    Returns
    -------
    pathlib.Path
        The report written (the audience files are in
        ``path.parent / "audiences"``).

    Examples
    --------
    >>> import os, tempfile, warnings
    >>> from sklearn_mece import make_cart_abandoner_pipeline
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> X = make_cart_abandoners(1_000, random_state=0)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     pipe = make_cart_abandoner_pipeline(min_size=50).fit(X)
    >>> folder = tempfile.mkdtemp()
    >>> path = write_html_report(pipe, X, os.path.join(folder, "r.html"),
    ...                          audiences=True, id_col="user_id")
    >>> text = path.read_text(encoding="utf-8")
    >>> text.startswith("<!DOCTYPE html>"), text.count("data:image/png;base64") >= 3
    (True, True)
    >>> sorted(os.listdir(os.path.join(folder, "audiences")))[0]
    '01_High_AOV_Premium.csv'
    >>> 'href="audiences/01_High_AOV_Premium.csv"' in text
    True
    """
    from .export import export_audiences

    path = Path(path)
    folder = path.parent / "audiences"
    names = None
    if audiences:
        seg = segment_step(pipeline)
        column = getattr(seg, "output_column", "segment")
        X = X if column in getattr(X, "columns", ()) else pipeline.transform(X)
        names = list(seg.segment_names_)
        kwargs["audience_files"] = {
            name: Path("audiences") / file
            for name, file in audience_files(names).items()
        }
    if id_col is not None:
        kwargs.setdefault("id_col", id_col)
    page = html_report(pipeline, X, **kwargs)  # first: a failure writes nothing
    if audiences:
        export_audiences(
            X,
            folder,
            id_col=id_col,
            segment_column=column,
            segment_names=names,
            csv_escape=csv_escape,
            overwrite=True,
        )
    return page.save(path)
