"""The original script's interface, as a thin facade over the preset pipeline.

``MECESegmentationEngine`` keeps the one-file script's calls working
(``run_segmentation``, ``export_results``, ``engine.segments``) while everything
is done by :func:`make_cart_abandoner_pipeline`, :func:`segment_report`,
:func:`check_mece` and the exporters: nothing is implemented twice. The fitted
pipeline is ``engine.pipeline_``, so a job can save it and apply it later.
"""

import json
from pathlib import Path

import pandas as pd

from ._csv import write_csv
from ._mece import check_mece
from ._scorer import DIMENSION_TABLE, SCORE_INPUTS
from .datasets import DEFAULT_REFERENCE_TIME, make_cart_abandoners, select_universe
from .export import export_assignments, segment_report, to_records
from .presets import PRESET_COLUMNS, make_cart_abandoner_pipeline

__all__ = ["MECESegmentationEngine"]

#: The scorer's inputs whose means the script reported (``mean_<term>``).
_SCRIPT_MEANS = ("aov", "engagement", "profitability")


def _script_means(columns=None):
    """Columns of the script's means, from the scorer's input table, under the
    names ``columns`` (preset column -> user column) gives them."""
    columns = columns or {}
    return [
        columns.get(i.column, i.column) for i in SCORE_INPUTS if i.term in _SCRIPT_MEANS
    ]


def _script_names(columns=None):
    """Report columns renamed to the script's vocabulary in ``segments``: a
    dimension is named by its weight key (``lift_vs_control``), a mean by its
    input's term (``mean_aov``) or, for the other inputs, by the preset's
    column name (``mean_days_since_last_order``), whatever ``columns`` names
    the column: the records' keys never depend on the data's names."""
    columns = columns or {}
    return {
        **{d.name: d.weight_key for d in DIMENSION_TABLE if d.name != d.weight_key},
        "score": "overall_score",
        "issue": "invalid_reason",
        **{
            f"mean_{columns.get(i.column, i.column)}": f"mean_{i.term}"
            if i.term in _SCRIPT_MEANS
            else f"mean_{i.column}"
            for i in SCORE_INPUTS
        },
    }


def _renamed(data, columns):
    """Mock data with the preset's columns under the names ``columns`` gives
    them (a mock column already holding such a name is replaced)."""
    if not columns:
        return data
    taken = [c for c in columns.values() if c in data.columns and c not in columns]
    return data.drop(columns=taken).rename(columns=columns)


def _check_preset_columns(data, columns):
    """A ValueError naming every preset column ``data`` lacks, and how to map it."""
    names = getattr(data, "columns", None)
    if names is None:
        return  # not a DataFrame: the pipeline's own checks apply
    missing = [
        (preset, columns.get(preset, preset))
        for preset in PRESET_COLUMNS
        if columns.get(preset, preset) not in names
    ]
    if not missing:
        return
    what = ", ".join(
        f"{user!r} ({PRESET_COLUMNS[preset]}"
        + (f"; columns maps the preset's {preset!r} to it)" if user != preset else ")")
        for preset, user in missing
    )
    hint = ""
    unmapped = [preset for preset, user in missing if user == preset]
    if unmapped:
        hint = (
            " If your data names it differently, map the preset's name to yours: "
            f"MECESegmentationEngine(columns={{{unmapped[0]!r}: 'your_column'}})."
        )
    raise ValueError(f"The data has no column {what}.{hint}")


class MECESegmentationEngine:
    """Cart-abandoner segmentation with the original script's interface.

    Parameters
    ----------
    min_segment_size : int, default=500
        Segments smaller at fit merge into the ELSE bucket.
    max_segment_size : int, default=20000
        Larger segments are reported invalid.
    scoring_weights : dict, default=None
        The script's weights, keyed like
        :data:`sklearn_mece._scorer.DEFAULT_WEIGHTS` (one per score
        dimension); ``None``: those defaults. Passed to the scorer.
    random_state : int, default=None
        Seed of the mock data generated when ``run_segmentation`` gets no data.
    n_users : int, default=50000
        Size of that mock data set.
    universe_days : int, default=7
        Abandonment window that defines the universe.
    timestamp_column : str, default="abandoned_at"
        Abandonment timestamp. When the data has it, only rows within the last
        ``universe_days`` days (of its latest timestamp) are the universe;
        otherwise every row is.
    columns : dict of str to str, default=None
        Your names for the preset's columns (:data:`PRESET_COLUMNS`), keyed by
        the preset's name, e.g. ``{"avg_order_value": "history",
        "days_since_last_order": "recency"}``: passed to
        :func:`make_cart_abandoner_pipeline` (checked there, when the pipeline
        is built). The mock data is renamed to match; the keys of ``segments``
        do not change (``mean_aov``, ``mean_days_since_last_order``, ...), the
        ``rule`` texts name your columns.
    **pipeline_params
        Any ``step__param`` of the preset pipeline, e.g.
        ``scores__treatment="treated"``.

    Attributes
    ----------
    segments : list of dict
        After :meth:`run_segmentation`: one dict per segment in hierarchy order.
    pipeline_ : sklearn.pipeline.Pipeline
        The fitted preset pipeline.
    validation_ : MECEReport
        The MECE report of the universe's labelling.
    universe_ : pandas.DataFrame
        The last universe with its segments (what ``run_segmentation`` returned).

    Examples
    --------
    >>> from sklearn_mece import MECESegmentationEngine
    >>> engine = MECESegmentationEngine(n_users=5_000, min_segment_size=100,
    ...                                 random_state=0)
    >>> segments, universe_df = engine.run_segmentation()
    >>> len(universe_df), sum(s["size"] for s in segments)
    (4000, 4000)
    >>> segments[0]["name"], bool(engine.validation_)
    ('High_AOV_Premium', True)

    Data with its own column names:

    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> mine = make_cart_abandoners(5_000, random_state=0).rename(
    ...     columns={"avg_order_value": "history"})
    >>> engine = MECESegmentationEngine(min_segment_size=100,
    ...                                 columns={"avg_order_value": "history"})
    >>> segments, universe_df = engine.run_segmentation(mine)
    >>> segments[0]["name"], segments[0]["rule"].split(" (")[0]
    ('High_AOV_Premium', 'history is high')
    >>> MECESegmentationEngine().run_segmentation(mine)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: The data has no column 'avg_order_value' (Average order value). ...
    """

    def __init__(
        self,
        min_segment_size=500,
        max_segment_size=20000,
        scoring_weights=None,
        random_state=None,
        *,
        n_users=50_000,
        universe_days=7,
        timestamp_column="abandoned_at",
        columns=None,
        **pipeline_params,
    ):
        self.min_segment_size = min_segment_size
        self.max_segment_size = max_segment_size
        self.scoring_weights = scoring_weights
        self.random_state = random_state
        self.n_users = n_users
        self.universe_days = universe_days
        self.timestamp_column = timestamp_column
        self.columns = columns
        self.pipeline_params = pipeline_params
        self.segments = []

    def build_pipeline(self):
        """The unfitted preset pipeline this engine runs.

        Returns
        -------
        pipeline : sklearn.pipeline.Pipeline
            A new :func:`make_cart_abandoner_pipeline` built from the engine's
            size limits, scoring weights, columns and ``pipeline_params``.
        """
        return make_cart_abandoner_pipeline(
            min_size=self.min_segment_size,
            max_size=self.max_segment_size,
            scoring_weights=self.scoring_weights,
            columns=self.columns,
            **self.pipeline_params,
        )

    def select_universe(self, data, reference_time=None):
        """The rows segmented: last ``universe_days`` days when timestamped.

        The window ends at ``reference_time`` (default: the latest timestamp in
        the data; the generation time for the mock data). A text timestamp
        column (as read from CSV) is parsed with :func:`pandas.to_datetime`.

        Parameters
        ----------
        data : pandas.DataFrame
            One row per user; timestamped when it holds the engine's
            ``timestamp_column``.
        reference_time : str, datetime or pandas.Timestamp, optional
            End of the window (inclusive); ``None``: the latest timestamp in
            ``data``.

        Returns
        -------
        universe : pandas.DataFrame
            The rows of ``data`` in the window (timestamps parsed), or ``data``
            itself when it has no ``timestamp_column``.

        Raises
        ------
        ValueError
            If the timestamp column holds values :func:`pandas.to_datetime`
            cannot parse, or as :func:`sklearn_mece.datasets.select_universe`
            raises.
        """
        column = self.timestamp_column
        if column in data.columns:
            if not pd.api.types.is_datetime64_any_dtype(data[column]):
                # e.g. read from CSV as text, as in the script's custom-data example
                try:
                    stamps = pd.to_datetime(data[column])
                except (TypeError, ValueError) as exc:
                    raise ValueError(
                        f"Column {column!r} must hold timestamps: {exc}"
                    ) from None
                data = data.assign(**{column: stamps})
            return select_universe(
                data,
                days=self.universe_days,
                timestamp_col=self.timestamp_column,
                reference_time=reference_time,
            )
        return data

    def run_segmentation(self, data=None):
        """Fit the preset on the universe and describe every segment.

        Parameters
        ----------
        data : pandas.DataFrame, optional
            One row per user with the preset's columns
            (:data:`PRESET_COLUMNS`: ``avg_order_value``, ``engagement_score``,
            ``profitability_score``, ``days_since_last_order``), or the names
            ``columns`` gives them. ``None`` generates the script's mock data
            (``n_users`` users, renamed to ``columns``).

        Returns
        -------
        segments : list of dict
            Per segment, in hierarchy order: ``name``, ``size``, ``share``,
            ``rule`` (in words, with the learned thresholds), ``mean_aov``,
            ``mean_engagement``, ``mean_profitability``, the dimension scores
            (the scorer's ``lift_score`` as ``lift_vs_control``),
            ``overall_score``, ``tier``, ``lift_source`` (``"simulated"``
            without campaign data), ``valid``, ``invalid_reason``,
            ``description`` and ``strategy``.
        universe_df : pandas.DataFrame
            The universe rows (same index) with ``segment``, ``segment_score``
            and ``segment_tier`` added.
        """
        pipeline = self.build_pipeline()  # checks ``columns`` first
        columns = self.columns or {}
        reference_time = None
        if data is None:
            data = _renamed(
                make_cart_abandoners(self.n_users, random_state=self.random_state),
                columns,
            )
            reference_time = DEFAULT_REFERENCE_TIME
        _check_preset_columns(data, columns)
        universe = self.select_universe(data, reference_time)
        out = pipeline.fit_transform(universe)
        report = segment_report(pipeline, out, mean_columns=_script_means(columns))
        self.pipeline_ = pipeline
        self.validation_ = check_mece(
            out["segment"], expected_labels=list(report.index)
        )
        added = ["segment", "segment_score", "segment_tier"]
        universe_df = universe.assign(**{c: out[c] for c in added if c in out})
        report = report.rename(columns=_script_names(columns))
        report.insert(0, "name", report.index.astype(str))
        self.segments = to_records(report)
        self.universe_ = universe_df
        return self.segments, universe_df

    def export_results(
        self, segments, filename_prefix="cart_abandoner_segments", *, csv_escape=True
    ):
        """Write ``<prefix>.csv``, ``<prefix>.json`` and the per-user assignment.

        Parameters
        ----------
        segments : list of dict
            What :meth:`run_segmentation` returned.
        filename_prefix : str, default="cart_abandoner_segments"
            Path prefix of the files.
        csv_escape : bool, default=True
            In the CSV files, prefix text cells and column names that start
            with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return with a
            single quote, so that a spreadsheet shows them instead of running
            them as formulas. Numbers are never changed. ``False`` writes every
            cell verbatim.

        Returns
        -------
        list of str
            The files written: ``<prefix>.csv``, ``<prefix>.json`` (records, for
            an API) and, after :meth:`run_segmentation`,
            ``<prefix>_assignments.csv`` (one row per universe user).
        """
        prefix = Path(filename_prefix)
        prefix.parent.mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame(segments)
        paths = [f"{prefix}.csv", f"{prefix}.json"]
        write_csv(frame, paths[0], csv_escape=csv_escape, index=False)
        Path(paths[1]).write_text(
            json.dumps(to_records(frame), indent=2), encoding="utf-8"
        )
        universe = getattr(self, "universe_", None)
        if universe is not None:
            id_col = "user_id" if "user_id" in universe.columns else None
            path = f"{prefix}_assignments.csv"
            export_assignments(universe, path, id_col=id_col, csv_escape=csv_escape)
            paths.append(path)
        return paths

    def __repr__(self):
        return (
            f"MECESegmentationEngine(min_segment_size={self.min_segment_size}, "
            f"max_segment_size={self.max_segment_size})"
        )
