"""ClusterSegmenter: any scikit-learn clusterer behind the segmenter's contract.

The clustering variant of the segmentation step. It honours the output contract
of :class:`~sklearn_mece.HierarchicalSegmenter` (an added ``segment`` column of
codes or names, ``segment_names_``, ``segment_sizes_``, ``predict`` returning
names, ``min_size`` merges and ``max_size`` flag/split learned at fit), so it can
replace the rule-based step of a pipeline and everything after it runs
unchanged.

Three things make a clustering usable as a business segmentation:

* **Canonical labels.** Raw cluster labels are arbitrary: they permute between
  runs, row orders and library versions. Segments are ordered by a named
  column's centroid value and named after the centroid's levels (terciles of
  the fit data), e.g. ``C1_aov-high_es-medium_ps-high``.
* **An inductive predictor.** Clusterers without ``predict`` (agglomerative,
  DBSCAN, HDBSCAN, ...) label new rows through a classifier fit on the training
  labels.
* **Explicit noise.** The noise label ``-1`` of density-based clusterers is a
  segment of its own, never silently merged into a cluster.
"""

import numbers
import re

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler
from sklearn.utils.validation import check_is_fitted

from ._base import _is_dataframe, infinite_values_error
from ._compat import HasMethods, Interval, StrOptions, _fit_context
from ._levels import compute_cuts, default_level_names, level_codes
from ._segment_base import SEGMENT_OUTPUT_CONSTRAINTS, SegmentOutputMixin

_SCALERS = {"standard": StandardScaler, "robust": RobustScaler, "minmax": MinMaxScaler}
_ID_LIKE = re.compile(r"(^|[_\W])id($|[_\W])", re.IGNORECASE)
_NAME_LEVEL_PERCENTILES = (100.0 / 3.0, 200.0 / 3.0)


def _abbreviate(name):
    """Short form of a column name: initials of a multi-word name, else the name.

    Examples
    --------
    >>> _abbreviate("avg_order_value"), _abbreviate("engagement_score")
    ('aov', 'es')
    >>> _abbreviate("recency")
    'recency'
    """
    words = [w for w in re.split(r"[^0-9A-Za-z]+", str(name)) if w]
    if len(words) >= 2:
        return "".join(w[0] for w in words).lower()
    return words[0].lower() if words else str(name)


def _stable_sum(values):
    """Column sums that do not depend on the row order (sorted before summing)."""
    if values.shape[0] == 0:
        return np.zeros(values.shape[1])
    return np.sort(values, axis=0).sum(axis=0)


class ClusterSegmenter(SegmentOutputMixin):
    """Segment rows with any scikit-learn clusterer, with canonical segment labels.

    ``fit`` scales the selected columns, fits the clusterer, and turns its
    arbitrary labels into canonical segments: clusters are ordered by the
    centroid value of ``order_by`` (ties broken by the other columns' centroid
    values), named ``C<rank>`` followed by the centroid's level (``low``,
    ``medium``, ``high``: terciles of the fit data) in each of
    ``name_columns``, and clusters smaller than ``min_size`` are merged into
    their nearest cluster. ``transform`` appends the segment of every row, as
    :class:`HierarchicalSegmenter` does.

    Parameters
    ----------
    estimator : clusterer, default=None
        Any scikit-learn clusterer (``fit`` and ``labels_`` or ``fit_predict``):
        KMeans, MiniBatchKMeans, GaussianMixture, Birch, AgglomerativeClustering,
        DBSCAN, HDBSCAN, ... It is cloned at fit. ``None`` means
        ``KMeans(n_clusters=6, n_init=10)``.
    columns : list of str or int, default=None
        Columns to cluster on. ``None`` with an ndarray: every column. ``None``
        with a DataFrame: every numeric (not boolean) column except level
        columns (names ending in ``level_suffix``, added by
        :class:`PercentileThresholder`) and identifier-like columns (a name that
        is ``id`` or has ``id`` as an ``_``-separated word, e.g. ``user_id``).
        The columns used are listed in ``columns_``; pass them explicitly for a
        segmentation that does not depend on the schema.
    scaler : {"standard", "robust", "minmax"}, estimator or None, default="standard"
        Feature scaling applied before clustering (and before prediction):
        ``StandardScaler``, ``RobustScaler``, ``MinMaxScaler``, any transformer
        (cloned), or ``None`` for raw values.
    inductive_estimator : classifier, default=None
        Labels new rows when the clusterer has no ``predict``: fit on the
        scaled training rows and their cluster labels. ``None`` means
        ``KNeighborsClassifier(n_neighbors=1)``, which gives every training row
        its own cluster label back. Unused when the clusterer has ``predict``.
    order_by : str or int, default=None
        Column whose centroid value orders the segments (``C1`` first). ``None``
        means the first column of ``columns_``. Must be one of the columns
        used.
    ascending : bool, default=False
        If False, ``C1`` is the cluster with the highest ``order_by`` centroid.
    name_columns : list of str or int, default=None
        Columns whose centroid level appears in the segment names. ``None``
        means the first three columns of ``columns_``; ``[]`` gives bare names
        ``C1``, ``C2``, ...
    abbreviations : dict, default=None
        Short forms of column names used in segment names, e.g.
        ``{"engagement_score": "eng"}``. Columns not listed are abbreviated to
        the initials of their words (``avg_order_value`` -> ``aov``).
    name_prefix : str, default="C"
        Prefix of the segment names; the rank after it makes every name unique.
    noise_segment : str, default="Noise"
        Segment of the rows labelled ``-1`` (noise) by the clusterer. It exists
        only when the clusterer labelled noise at fit; it is never merged.
    min_size : int or float, default=None
        Clusters with fewer rows at fit (an int count, or a float fraction of
        the fit rows) are merged into their nearest cluster (Euclidean distance
        of the scaled centroids), smallest first, until every cluster is large
        enough or one cluster is left. ``None`` or ``0``: no merge.
    max_size : int or float, default=None
        Largest acceptable segment (count or fraction of the fit rows).
    max_size_policy : {"flag", "split"}, default="flag"
        As in :class:`HierarchicalSegmenter`: flag an oversized segment (and
        warn), or split it into ``ceil(size / max_size)`` numbered sub-segments
        at quantiles of ``split_column`` learned at fit.
    split_column : str or int, default=None
        Numeric column used by ``max_size_policy="split"``.
    nan_segment : str, default=None
        Rows with a missing value in a clustered column: ``None`` raises a
        ``ValueError``; a name routes them to that segment (they are excluded
        from the clustering).
    output : {"codes", "names"}, default="codes"
        Type of the added column: integer segment codes (index into
        ``segment_names_``), or the names (a categorical with pandas output).
    output_column : str, default="segment"
        Name of the added column.
    level_suffix : str, default="_level"
        Level columns excluded by ``columns=None``.
    select_by_name : bool, default=False
        If True, DataFrames at ``transform`` may hold extra columns and another
        column order; the columns seen at fit are selected by name.
    random_state : int, RandomState instance or None, default=None
        If not None, sets the ``random_state`` of the clusterer and of the
        inductive estimator (when they have one) for reproducible segments.
    shift_threshold : float or None, default=0.25
        At ``transform`` and ``predict`` on at least 1,000 rows, the shares of
        rows per segment are compared with those at fit by the population
        stability index ``PSI = sum((a - e) * ln(a / e))`` (shares below
        ``1e-4`` count as ``1e-4``); above this threshold a
        :class:`PopulationShiftWarning` is issued (a batch above 131,072 rows
        is compared on a seeded uniform sample of that many). ``None``: no
        check.

    Attributes
    ----------
    segment_names_ : list of str
        Output segments in canonical order; the index is the segment code.
    segment_sizes_ : pandas.Series
        Rows per segment at fit, after merges and splits (built on access).
    segment_table_ : pandas.DataFrame
        Size, share, validity and issue per segment (built on access).
    segment_centroids_ : ndarray of shape (n_segments, n_columns)
        Mean of each clustered column per segment at fit, in the original
        units (``NaN`` where a segment holds no complete row).
    centroid_table_ : pandas.DataFrame
        ``segment_centroids_`` with names (built on access).
    segment_valid_ : list of bool
        Whether each segment is within ``[min_size, max_size]``.
    segment_issues_ : list of str
        Why a segment is invalid (empty string when valid).
    merge_map_ : dict of int -> str
        Final segment (before splits) of each raw cluster label.
    cluster_labels_ : ndarray of int
        Raw labels the predictor gave the fit rows, ascending.
    cluster_centers_scaled_ : ndarray of shape (n_labels, n_columns)
        Scaled centroid of each entry of ``cluster_labels_`` (used to place a
        label never seen at fit).
    rule_codes_ : ndarray of int32
        Segment code of each entry of ``cluster_labels_``, plus a last entry for
        rows with missing values (``-1`` without ``nan_segment``); the same
        role as :attr:`HierarchicalSegmenter.rule_codes_`.
    splits_ : list of dict
        Split segments: name, split column, learned cuts, first code.
    columns_ : list of str
        Clustered columns, in order.
    order_column_ : str
        The column whose centroid value orders the segments.
    column_positions_ : list of int
        Their positions in the data seen at fit.
    name_cuts_ : dict of str -> ndarray
        Tercile cut values of each clustered column (fit data), which name the
        centroid levels.
    scaler_ : transformer or None
        Fitted scaler.
    estimator_ : clusterer
        Fitted clone of ``estimator``. It was fitted on the complete rows sorted
        by the clustered columns (a canonical order, so that the input's row
        order cannot change the clusters); its ``labels_`` follow that order.
    inductive_estimator_ : classifier or None
        Fitted classifier labelling new rows (None when the clusterer has
        ``predict``).
    min_size_, max_size_ : int or None
        Size limits in rows.
    n_features_in_ : int
        Number of columns seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the columns seen during fit, when X had string column names.

    See Also
    --------
    HierarchicalSegmenter : The rule-based segmenter with the same output.
    compare_segmentations : Champion vs challenger comparison.

    Notes
    -----
    *Canonical labels.* The segments depend only on the partition the
    clusterer finds, never on its label numbering, so a clusterer that finds the
    same partition gives the same names and codes whatever the row order, run
    or library version. Whether it finds the same partition is the clusterer's
    affair: AgglomerativeClustering and DBSCAN (core points) are deterministic;
    KMeans and GaussianMixture need a fixed ``random_state`` and, for shuffled
    rows, clusters well separated enough that every initialisation converges
    to the same partition (``n_init`` helps).

    *Ties.* Clusters are ordered by their ``order_by`` centroid, then by the
    other columns' centroids (in ``columns_`` order), then by size (larger
    first); centroids are summed in sorted order, so they are bit-identical
    whatever the row order. Only clusters identical in every centroid value and
    in size fall back to the clusterer's numbering.

    *Noise and max_size.* The noise segment is flagged like any segment; with
    ``max_size_policy="split"`` it is split like any segment, while the
    ``nan_segment`` is never split (as in :class:`HierarchicalSegmenter`).

    *Fit sizes.* The segments of the fit rows are those the predictor
    (``estimator.predict`` or the inductive classifier) gives them, so
    ``segment_sizes_`` always equals the counts of ``transform`` on the fit
    data.

    *Unknown labels.* A label the predictor never gave a fit row (e.g. an
    empty Gaussian component) goes to the nearest non-noise cluster.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sklearn.cluster import KMeans
    >>> from sklearn_mece import ClusterSegmenter
    >>> rng = np.random.RandomState(0)
    >>> X = pd.DataFrame({
    ...     "user_id": np.arange(300),
    ...     "avg_order_value": np.r_[rng.normal(50, 5, 150), rng.normal(300, 20, 150)],
    ...     "engagement_score": np.r_[rng.normal(0.8, 0.05, 150),
    ...                               rng.normal(0.2, 0.05, 150)]})
    >>> seg = ClusterSegmenter(KMeans(2, n_init=10), random_state=0).fit(X)
    >>> seg.columns_
    ['avg_order_value', 'engagement_score']
    >>> seg.segment_names_
    ['C1_aov-high_es-low', 'C2_aov-low_es-high']
    >>> seg.segment_sizes_.tolist()
    [150, 150]
    >>> seg.predict(X.head(2)).tolist()
    ['C2_aov-low_es-high', 'C2_aov-low_es-high']
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit"]), None],
        "columns": [list, tuple, None],
        "scaler": [
            StrOptions(set(_SCALERS)),
            HasMethods(["fit", "transform"]),
            None,
        ],
        "inductive_estimator": [HasMethods(["fit", "predict"]), None],
        "order_by": [str, Interval(numbers.Integral, 0, None, closed="left"), None],
        "ascending": ["boolean"],
        "name_columns": [list, tuple, None],
        "abbreviations": [dict, None],
        "name_prefix": [str],
        "noise_segment": [str],
        **SEGMENT_OUTPUT_CONSTRAINTS,
        "level_suffix": [str],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator=None,
        columns=None,
        *,
        scaler="standard",
        inductive_estimator=None,
        order_by=None,
        ascending=False,
        name_columns=None,
        abbreviations=None,
        name_prefix="C",
        noise_segment="Noise",
        min_size=None,
        max_size=None,
        max_size_policy="flag",
        split_column=None,
        nan_segment=None,
        output="codes",
        output_column="segment",
        level_suffix="_level",
        select_by_name=False,
        random_state=None,
        shift_threshold=0.25,
    ):
        self.estimator = estimator
        self.columns = columns
        self.scaler = scaler
        self.inductive_estimator = inductive_estimator
        self.order_by = order_by
        self.ascending = ascending
        self.name_columns = name_columns
        self.abbreviations = abbreviations
        self.name_prefix = name_prefix
        self.noise_segment = noise_segment
        self.min_size = min_size
        self.max_size = max_size
        self.max_size_policy = max_size_policy
        self.split_column = split_column
        self.nan_segment = nan_segment
        self.output = output
        self.output_column = output_column
        self.level_suffix = level_suffix
        self.select_by_name = select_by_name
        self.random_state = random_state
        self.shift_threshold = shift_threshold

    # -- configuration ------------------------------------------------------------------
    def _default_columns(self, X):
        n = X.shape[1]
        if not _is_dataframe(X):
            return list(range(n))
        names = self._column_labels(n)
        has_names = hasattr(self, "feature_names_in_")
        chosen = []
        for pos in range(n):
            dtype = X.dtypes.iloc[pos]
            if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(
                dtype
            ):
                continue
            if has_names and (
                names[pos].endswith(self.level_suffix) or _ID_LIKE.search(names[pos])
            ):
                continue
            chosen.append(pos)
        if not chosen:
            raise ValueError(
                "columns=None found no numeric feature column in X (level columns "
                f"ending in {self.level_suffix!r} and id-like columns are skipped); "
                "pass `columns`."
            )
        return chosen

    def _resolve_columns(self, X):
        if self.columns is None:
            positions = self._default_columns(X)
        else:
            if len(self.columns) == 0:
                raise ValueError("`columns` is empty: give at least one column.")
            positions = [
                self._resolve_column(c, "clustered column") for c in self.columns
            ]
            if len(set(positions)) < len(positions):
                raise ValueError(
                    f"A column is listed twice in columns={self.columns!r}."
                )
        return positions

    def _position_in_columns(self, column, what):
        pos = self._resolve_column(column, what)
        if pos not in self.column_positions_:
            raise ValueError(
                f"{what} {column!r} is not among the clustered columns {self.columns_}."
            )
        return self.column_positions_.index(pos)

    def _make_scaler(self):
        if self.scaler is None:
            return None
        if isinstance(self.scaler, str):
            return _SCALERS[self.scaler]()
        return clone(self.scaler)

    def _seeded(self, estimator):
        if self.random_state is not None and "random_state" in estimator.get_params():
            estimator.set_params(random_state=self.random_state)
        return estimator

    # -- data -------------------------------------------------------------------------
    def _matrix(self, X):
        """Clustered columns as float64 (n, k) and the mask of complete rows."""
        columns = [self._float_column(X, pos) for pos in self.column_positions_]
        values = np.column_stack(columns) if columns else np.empty((X.shape[0], 0))
        inf = np.isinf(values)
        if inf.any():
            col = self.columns_[int(np.flatnonzero(inf.any(axis=0))[0])]
            raise infinite_values_error(
                col, int(inf[:, self.columns_.index(col)].sum())
            )
        complete = ~np.isnan(values).any(axis=1)
        if not complete.all() and self.nan_segment is None:
            counts = np.isnan(values).sum(axis=0)
            detail = ", ".join(
                f"{c!r}: {int(n)} row(s)" for c, n in zip(self.columns_, counts) if n
            )
            raise ValueError(
                f"Missing values (NaN) in clustered column(s) ({detail}). Clean the "
                "data or set nan_segment='<name>' to route these rows to their own "
                "segment."
            )
        return values, complete

    def _scale(self, values):
        if self.scaler_ is None:
            return values
        return np.asarray(self.scaler_.transform(values), dtype=np.float64)

    def _predict_labels(self, scaled):
        predictor = self.inductive_estimator_
        if predictor is None:
            predictor = self.estimator_
        return np.asarray(predictor.predict(scaled)).astype(np.int64, copy=False)

    # -- fit --------------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Cluster ``X``, learn canonical segments, merges and splits.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Data holding the clustered columns; other columns pass through.
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted segmenter.
        """
        with self._all_or_nothing_fit():
            return self._fit(X)

    def _fit(self, X):
        X = self._validate_input(X, reset=True)
        names_in = self._column_labels(X.shape[1])
        if self.output_column in names_in:
            raise ValueError(
                f"Output column {self.output_column!r} already exists in X; choose "
                "another `output_column`."
            )
        if self.nan_segment is not None and self.nan_segment == self.noise_segment:
            raise ValueError(
                f"nan_segment and noise_segment are both {self.nan_segment!r}; "
                "give them different names."
            )
        self.column_positions_ = self._resolve_columns(X)
        self.columns_ = [names_in[p] for p in self.column_positions_]
        values, complete = self._matrix(X)
        if not complete.any():
            raise ValueError("No row without missing values to cluster.")
        n_rows = X.shape[0]
        self.min_size_ = self._rows(self.min_size, n_rows)
        self.max_size_ = self._rows(self.max_size, n_rows)

        self.scaler_ = self._make_scaler()
        # Fit on the rows in a canonical order (sorted by every column), so that
        # neither the clusterer nor the scaler's sums see the input's row order.
        order = np.lexsort(values[complete].T[::-1])
        fit_values = values[complete][order]
        if self.scaler_ is not None:
            scaled = np.asarray(
                self.scaler_.fit_transform(fit_values), dtype=np.float64
            )
        else:
            scaled = fit_values
        self.estimator_ = self._seeded(
            clone(self.estimator)
            if self.estimator is not None
            else KMeans(n_clusters=6, n_init=10)
        )
        if hasattr(self.estimator_, "fit_predict"):
            raw = self.estimator_.fit_predict(scaled)
        else:
            raw = self.estimator_.fit(scaled).labels_
        raw = np.asarray(raw).astype(np.int64, copy=False)
        if hasattr(self.estimator_, "predict"):
            self.inductive_estimator_ = None
        else:
            inductive = (
                clone(self.inductive_estimator)
                if self.inductive_estimator is not None
                else KNeighborsClassifier(n_neighbors=1)
            )
            self.inductive_estimator_ = self._seeded(inductive).fit(scaled, raw)
        labels = self._predict_labels(scaled)

        self.cluster_labels_, index = np.unique(labels, return_inverse=True)
        sizes = np.bincount(index, minlength=self.cluster_labels_.size)
        sums = np.vstack(
            [_stable_sum(fit_values[index == i]) for i in range(sizes.size)]
        )
        scaled_sums = np.vstack(
            [_stable_sum(scaled[index == i]) for i in range(sizes.size)]
        )
        self.cluster_centers_scaled_ = scaled_sums / sizes[:, None]
        noise = self.cluster_labels_ == -1
        groups = self._learn_merges(sizes, scaled_sums, noise)
        self._name_segments(fit_values, groups, sizes, sums, noise)

        inverse = np.empty_like(order)
        inverse[order] = np.arange(order.size)
        rows = np.full(n_rows, -1, dtype=np.int64)
        rows[complete] = index[inverse]
        codes = self.rule_codes_[rows]
        self.splits_ = []
        if self.max_size_policy == "split":
            codes = self._learn_splits(X, codes)
        self._finish_fit(codes, n_rows)
        self.segment_centroids_ = self._centroids(values, complete, codes)
        return self

    def _learn_merges(self, sizes, scaled_sums, noise):
        """Groups of raw-label indices: small clusters merged into the nearest."""
        groups = {i: [i] for i in range(sizes.size) if not noise[i]}
        size = {i: int(sizes[i]) for i in groups}
        total = {i: scaled_sums[i].copy() for i in groups}
        limit = self.min_size_ or 0
        while len(groups) > 1:
            small = [g for g in groups if size[g] < limit]
            if not small:
                break
            # Smallest first; ties by centroid, so the raw numbering never matters.
            g = min(small, key=lambda g: (size[g], tuple(total[g] / size[g])))
            centre = total[g] / size[g]
            target = min(
                (h for h in groups if h != g),
                key=lambda h: (
                    float(np.sum((total[h] / size[h] - centre) ** 2)),
                    tuple(total[h] / size[h]),
                ),
            )
            groups[target].extend(groups.pop(g))
            size[target] += size.pop(g)
            total[target] += total.pop(g)
        return list(groups.values())

    def _name_segments(self, fit_values, groups, sizes, sums, noise):
        order_pos = (
            0
            if self.order_by is None
            else self._position_in_columns(self.order_by, "order_by")
        )
        self.order_column_ = self.columns_[order_pos]
        if self.name_columns is None:
            name_pos = list(range(min(3, len(self.columns_))))
        else:
            name_pos = [
                self._position_in_columns(c, "name column") for c in self.name_columns
            ]
        self.name_cuts_ = {
            self.columns_[j]: compute_cuts(fit_values[:, j], _NAME_LEVEL_PERCENTILES)
            for j in name_pos
        }
        abbrev = self._abbreviations()

        centroids = [sums[g].sum(axis=0) / sizes[g].sum() for g in groups]
        sign = 1.0 if self.ascending else -1.0
        key_order = [order_pos] + [
            j for j in range(len(self.columns_)) if j != order_pos
        ]

        def key(k):
            return (
                *(sign * centroids[k][j] for j in key_order),
                -int(sizes[groups[k]].sum()),
            )

        ranked = sorted(range(len(groups)), key=key)
        names, code_of = [], np.full(sizes.size, -1, dtype=np.int32)
        for rank, k in enumerate(ranked):
            parts = [f"{self.name_prefix}{rank + 1}"]
            for j in name_pos:
                column = self.columns_[j]
                cuts = self.name_cuts_[column]
                level = int(level_codes(np.array([centroids[k][j]]), cuts)[0])
                parts.append(
                    f"{abbrev[column]}-{default_level_names(cuts.size + 1)[level]}"
                )
            names.append("_".join(parts))
            code_of[groups[k]] = rank
        if noise.any():
            names.append(self.noise_segment)
            code_of[noise] = len(names) - 1
        nan_code = -1
        if self.nan_segment is not None:
            names.append(self.nan_segment)
            nan_code = len(names) - 1
        if len(set(names)) < len(names):
            raise ValueError(
                f"Segment names are not unique: {names}; noise_segment and "
                "nan_segment must differ from each other and from the cluster names."
            )
        self.segment_names_ = names
        self.rule_codes_ = np.append(code_of, nan_code).astype(np.int32)
        self.merge_map_ = {
            int(label): names[code]
            for label, code in zip(self.cluster_labels_.tolist(), code_of.tolist())
        }

    def _abbreviations(self):
        given = {str(k): str(v) for k, v in (self.abbreviations or {}).items()}
        abbrev = {c: given.get(c, _abbreviate(c)) for c in self.columns_}
        auto = [c for c in self.columns_ if c not in given]
        for c in auto:
            if sum(abbrev[d] == abbrev[c] for d in self.columns_) > 1:
                abbrev[c] = c  # an ambiguous short form: keep the full name
        return abbrev

    def _centroids(self, values, complete, codes):
        n_seg = len(self.segment_names_)
        out = np.full((n_seg, values.shape[1]), np.nan)
        for code in range(n_seg):
            rows = values[complete & (codes == code)]
            if rows.shape[0]:
                out[code] = _stable_sum(rows) / rows.shape[0]
        return out

    # -- transform ------------------------------------------------------------------
    def _segment_codes(self, X, dtype=np.int32):
        """Segment code of every row, as ``dtype`` (the SegmentOutputMixin hook)."""
        values, complete = self._matrix(X)
        rows = np.full(X.shape[0], -1, dtype=np.int64)
        if complete.any():
            labels = self._predict_labels(self._scale(values[complete]))
            index = np.searchsorted(self.cluster_labels_, labels)
            index = np.minimum(index, self.cluster_labels_.size - 1)
            unknown = self.cluster_labels_[index] != labels
            if unknown.any():
                index[unknown] = self._nearest(
                    values[complete][unknown], index[unknown]
                )
            rows[complete] = index
        codes = self.rule_codes_[rows]
        if self.splits_:
            codes = self._apply_splits(X, codes)
        return codes.astype(dtype, copy=False)

    def _nearest(self, values, fallback):
        candidates = np.flatnonzero(self.cluster_labels_ != -1)
        if candidates.size == 0:
            return fallback
        scaled = self._scale(values)
        centres = self.cluster_centers_scaled_[candidates]
        dist = ((scaled[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        return candidates[np.argmin(dist, axis=1)]

    @property
    def centroid_table_(self):
        """Mean of each clustered column per segment at fit (pandas DataFrame)."""
        check_is_fitted(self, "segment_centroids_")
        table = pd.DataFrame(
            self.segment_centroids_,
            index=pd.Index(self.segment_names_, name="segment"),
            columns=self.columns_,
        )
        table.insert(0, "size", self.segment_counts_)
        return table

    def describe(self):
        """The segments in words: size and centroid of every segment.

        Returns
        -------
        str
            Printable description.

        Examples
        --------
        >>> import numpy as np
        >>> seg = ClusterSegmenter(columns=[0], random_state=0,
        ...                        estimator=KMeans(2, n_init=10))
        >>> print(seg.fit(np.array([[1.0], [1.2], [9.0], [9.4]])).describe())
        ClusterSegmenter: KMeans on x0, ordered by x0 (descending)
          C1_x0-high: 2 rows; x0=9.2
          C2_x0-low: 2 rows; x0=1.1
        """
        check_is_fitted(self, "segment_names_")
        order = self.order_column_
        head = (
            f"{type(self).__name__}: {type(self.estimator_).__name__} on "
            f"{', '.join(self.columns_)}, ordered by {order} "
            f"({'ascending' if self.ascending else 'descending'})"
        )
        lines = [head]
        for name, size, centre, issue in zip(
            self.segment_names_,
            self.segment_counts_.tolist(),
            self.segment_centroids_,
            self.segment_issues_,
        ):
            where = "; ".join(
                f"{c}={v:.4g}" for c, v in zip(self.columns_, centre) if np.isfinite(v)
            )
            line = f"  {name}: {size} rows" + (f"; {where}" if where else "")
            if issue:
                line += f" [invalid: {issue}]"
            lines.append(line)
        return "\n".join(lines)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # NaN in a clustered column is refused unless ``nan_segment`` routes it.
        tags.input_tags.allow_nan = self.nan_segment is not None
        return tags
