"""The output contract every segmentation step honours.

:class:`HierarchicalSegmenter` and :class:`ClusterSegmenter` both assign each
row one segment code; they share, through :class:`SegmentOutputMixin`, everything
that follows from a code: size limits (``min_size`` as a count or fraction,
``max_size`` flagged or split into numbered sub-segments at quantiles learned at
fit), validity flags (defined once, by :func:`size_issues`: the scorer,
the reports and the comparisons read them, never recompute them), the
``segment`` output column (codes or names),
``predict`` returning names, and the pandas views ``segment_sizes_`` and
``segment_table_`` built on access from plain fitted arrays.

A step implements ``_segment_codes(X, dtype)`` and sets at fit
``segment_names_``, ``rule_codes_`` (its own labels to codes; ``-1`` = missing),
``min_size_``/``max_size_`` and ``splits_``, then calls ``_finish_fit``.
"""

import math
import numbers
from numbers import Real

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from . import _kernels
from ._base import (
    MECETransformerMixin,
    categorical_dtype,
    column_as_float,
    infinite_values_error,
    warn_user,
)
from ._compat import Interval, RealNotInt, StrOptions
from ._levels import MISSING, compute_cuts, level_codes, signed_dtype

#: Parameter constraints shared by every segmentation step.
SEGMENT_OUTPUT_CONSTRAINTS = {
    "min_size": [
        Interval(numbers.Integral, 0, None, closed="left"),
        Interval(RealNotInt, 0, 1, closed="neither"),
        None,
    ],
    "max_size": [
        Interval(numbers.Integral, 1, None, closed="left"),
        Interval(RealNotInt, 0, 1, closed="right"),
        None,
    ],
    "max_size_policy": [StrOptions({"flag", "split"})],
    "split_column": [str, Interval(numbers.Integral, 0, None, closed="left"), None],
    "nan_segment": [str, None],
    "output": [StrOptions({"codes", "names"})],
    "output_column": [str],
    "select_by_name": ["boolean"],
    "shift_threshold": [Interval(Real, 0, None, closed="left"), None],
}

#: ``transform`` compares shares with fit on at least this many rows.
SHIFT_MIN_ROWS = 1000
#: ... and on a uniform sample of this many rows of a larger batch: the shares'
#: sampling error (below 0.3 points) is far below what a PSI of 0.1 means
SHIFT_SAMPLE_ROWS = 1 << 17
# a share below this counts as this in the population stability index
_PSI_FLOOR = 1e-4


class SegmentSizeWarning(UserWarning):
    """A segment is outside ``[min_size, max_size]`` after merges and splits.

    Examples
    --------
    >>> import warnings
    >>> import pandas as pd
    >>> from sklearn_mece import HierarchicalSegmenter, SegmentSizeWarning
    >>> X = pd.DataFrame({"days": [1.0, 2.0, 50.0, 60.0, 70.0]})
    >>> rules = {"segments": [{"name": "Recent", "when": [["days", "<=", 30]]}]}
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = HierarchicalSegmenter(rules, max_size=2).fit(X)
    >>> [w.category is SegmentSizeWarning for w in caught]
    [True]
    """


class SegmentMergeWarning(UserWarning):
    """Segments smaller than ``min_size`` at fit were merged into their parents.

    The message lists each merge (``'A' (120 rows) -> 'B'``); ``merge_map_``
    holds them.

    Examples
    --------
    >>> import warnings
    >>> import pandas as pd
    >>> from sklearn_mece import HierarchicalSegmenter, SegmentMergeWarning
    >>> X = pd.DataFrame({"days": [1.0, 50.0, 60.0, 70.0]})
    >>> rules = {"segments": [{"name": "Recent", "when": [["days", "<=", 30]]}]}
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     seg = HierarchicalSegmenter(rules, min_size=2).fit(X)
    >>> print(caught[0].message)
    Merged at fit (min_size=2 rows): 'Recent' (1 rows) -> 'Other'.
    """


class EmptyLevelWarning(UserWarning):
    """A level of a level column holds no row at fit.

    Rules testing that level match nothing; this happens without collapsed
    cuts too (a first cut equal to the column's minimum leaves level 0
    empty).

    Examples
    --------
    >>> import warnings
    >>> import pandas as pd
    >>> from sklearn_mece import EmptyLevelWarning, HierarchicalSegmenter
    >>> rules = {"levels": {"x": ["low", "high"]},
    ...          "segments": [{"name": "High", "when": [["x", "==", "high"]]}]}
    >>> X = pd.DataFrame({"x_level": [1, 1, 1]})
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = HierarchicalSegmenter(rules).fit(X)
    >>> print(caught[0].message)  # doctest: +NORMALIZE_WHITESPACE
    Column 'x_level': level(s) ['low'] hold no row at fit (3 rows); rules
    testing them match nothing.
    """


class PopulationShiftWarning(UserWarning):
    """The rows given to ``transform`` are distributed unlike those seen at fit.

    Issued once per call, naming every column (the segment column, level
    columns) whose population stability index exceeds ``shift_threshold``;
    the shares at fit are in ``segment_counts_`` and ``level_counts_``.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np, pandas as pd
    >>> from sklearn_mece import HierarchicalSegmenter, PopulationShiftWarning
    >>> rules = {"segments": [{"name": "Recent", "when": [["days", "<=", 30]]}]}
    >>> seg = HierarchicalSegmenter(rules).fit(pd.DataFrame({"days": np.arange(2000.0)}))
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = seg.transform(pd.DataFrame({"days": np.zeros(2000)}))
    >>> [w.category.__name__ for w in caught]
    ['PopulationShiftWarning']
    """


class DomainWarning(UserWarning):
    """Values outside the domain the rules declare for their column.

    A rules file (or preset) may declare ``domains``: the range a column's
    values should lie in (days since the last order are never negative; a
    score lies in [0, 1]). Values outside it are segmented as they are, and
    this warning, at fit and at every ``transform``, names the column, the
    count and an example.

    Examples
    --------
    >>> import warnings
    >>> import pandas as pd
    >>> from sklearn_mece import DomainWarning, HierarchicalSegmenter
    >>> rules = {"domains": {"days": {"min": 0}},
    ...          "segments": [{"name": "Recent", "when": [["days", "<=", 30]]}]}
    >>> X = pd.DataFrame({"days": [-3.0, 10.0, 50.0]})
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = HierarchicalSegmenter(rules).fit(X)
    >>> print(caught[0].message)  # doctest: +NORMALIZE_WHITESPACE
    Column 'days': 1 value(s) outside its declared domain [0.0, inf) at fit,
    e.g. -3.0; they are segmented as they are (check the data or the domain).
    """


def population_stability_index(expected, actual):
    """Population stability index of two count (or share) vectors.

    ``sum((a - e) * ln(a / e))`` over the shares ``e`` (expected, at fit) and
    ``a`` (actual); shares below ``1e-4`` count as ``1e-4`` so that an empty
    bin gives a large finite value.

    Examples
    --------
    >>> population_stability_index([50, 50], [50, 50])
    0.0
    >>> round(population_stability_index([50, 50], [90, 10]), 3)
    0.879
    """
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    e = np.maximum(e / e.sum(), _PSI_FLOOR)
    a = np.maximum(a / a.sum(), _PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def size_in_rows(size, n_rows):
    """A size given as a count (int) or a fraction of ``n_rows`` (float), in rows.

    Examples
    --------
    >>> size_in_rows(500, 40_000), size_in_rows(0.25, 40_001), size_in_rows(None, 9)
    (500, 10001, None)
    """
    if size is None:
        return None
    if isinstance(size, numbers.Integral):
        return int(size)
    return max(int(math.ceil(size * n_rows)), 1)


def size_issues(sizes, min_rows=None, max_rows=None, *, names=None, nan_segment=None):
    """Why each segment size is invalid: ``""`` when within the limits.

    The one definition of segment size validity: a segment is invalid with
    fewer than ``min_rows`` rows (``None`` or ``0``: no lower limit) or more
    than ``max_rows`` (``None``: no upper limit). The missing-value segment
    ``nan_segment`` left empty is not too small: no row needed it.

    Parameters
    ----------
    sizes : sequence of int
        Rows per segment.
    min_rows, max_rows : int or None, default=None
        Limits in rows (see :func:`size_in_rows`).
    names : sequence of str, optional
        Segment names, needed to recognise ``nan_segment``.
    nan_segment : str, optional
        Name of the missing-value segment.

    Returns
    -------
    list of str
        One entry per segment; a segment is valid when its entry is empty.

    Examples
    --------
    >>> size_issues([50, 500, 5_000], 100, 1_000)
    ['50 rows < min_size 100', '', '5000 rows > max_size 1000']
    >>> size_issues([0, 0], 10, names=["A", "missing"], nan_segment="missing")
    ['0 rows < min_size 10', '']
    """
    sizes = [int(n) for n in sizes]
    names = [None] * len(sizes) if names is None else list(names)
    issues = []
    for name, size in zip(names, sizes):
        issue = ""
        unused_nan = nan_segment is not None and name == nan_segment and size == 0
        if min_rows and size < min_rows and not unused_nan:
            issue = f"{size} rows < min_size {min_rows}"
        elif max_rows is not None and size > max_rows:
            issue = f"{size} rows > max_size {max_rows}"
        issues.append(issue)
    return issues


class SegmentOutputMixin(MECETransformerMixin):
    """Size limits, validity, output column, ``predict`` and size views."""

    _rows = staticmethod(size_in_rows)

    def _learn_splits(self, X, codes):
        if self.max_size_ is None:
            return codes
        counts = np.bincount(codes[codes >= 0], minlength=len(self.segment_names_))
        big = [
            c
            for c, n in enumerate(counts)
            if n > self.max_size_ and self.segment_names_[c] != self.nan_segment
        ]
        if not big:
            return codes
        if self.split_column is None:
            raise ValueError("max_size_policy='split' needs `split_column`.")
        pos = self._resolve_column(self.split_column, "split_column")
        column = self._column_labels(X.shape[1])[pos]
        values = column_as_float(self._column(X, pos), column)
        names, remap, splits = [], [], []
        for code, name in enumerate(self.segment_names_):
            if code not in big:
                remap.append(len(names))
                names.append(name)
                continue
            k = int(math.ceil(counts[code] / self.max_size_))
            rows = values[codes == code]
            if np.isnan(rows).any() and self.nan_segment is None:
                raise ValueError(
                    f"split_column {column!r} has {int(np.isnan(rows).sum())} missing "
                    f"value(s) in segment {name!r}; set nan_segment to route them."
                )
            n_inf = int(np.isinf(rows).sum())
            if n_inf:
                raise infinite_values_error(
                    column, n_inf, where=f" in segment {name!r} (split_column)"
                )
            cuts = compute_cuts(rows, 100.0 * np.arange(1, k) / k)
            splits.append(
                {
                    "segment": name,
                    "column": column,
                    "position": pos,
                    "cuts": cuts.tolist(),
                    "first_code": len(names),
                }
            )
            remap.append(len(names))
            names.extend(f"{name}_{i + 1}" for i in range(k))
        remap = np.asarray(remap, dtype=np.int32)
        self.rule_codes_ = np.where(self.rule_codes_ >= 0, remap[self.rule_codes_], -1)
        self.rule_codes_ = self.rule_codes_.astype(np.int32)
        self.segment_names_ = names
        self.splits_ = splits
        return self._apply_splits(X, np.where(codes >= 0, remap[codes], codes))

    def _warn_merges(self, merge_map, sizes):
        merged = [(n, t) for n, t in merge_map.items() if n != t]
        if merged:
            listed = "; ".join(f"{n!r} ({sizes[n]} rows) -> {t!r}" for n, t in merged)
            warn_user(
                f"Merged at fit (min_size={self.min_size_} rows): {listed}.",
                SegmentMergeWarning,
            )

    def _shift_columns(self, X, codes):
        """``{column: PSI}`` of the columns whose shares moved beyond the threshold."""
        found = {}
        n_seg = len(self.segment_names_)
        rows = None
        if codes.shape[0] > SHIFT_SAMPLE_ROWS:  # seeded: the same rows every call
            rng = np.random.default_rng(0)
            rows = rng.integers(0, codes.shape[0], SHIFT_SAMPLE_ROWS)
            codes = codes[rows]
        now = _kernels.bincount(codes, n_seg)
        psi = population_stability_index(self.segment_counts_, now)
        if psi > self.shift_threshold:
            found[self.output_column] = psi
        fitted = self.__dict__.get("level_counts_", {})  # absent in older files
        for column, counts in self._level_counts_now(X, rows).items():
            if column not in fitted:
                continue
            psi = population_stability_index(fitted[column], counts)
            if psi > self.shift_threshold:
                found[column] = psi
        return found

    def _level_counts_now(self, X, rows=None):
        """Rows per level of each level column (none for a clustering step)."""
        return {}

    def _check_domains(self, X, when):
        """Warn about values outside declared domains (none for a clustering step)."""

    def _check_batch(self, X, codes):
        """Checks of the rows given to ``transform`` or ``predict``."""
        self._check_domains(X, "transform")
        self._check_shift(X, codes)

    def _check_shift(self, X, codes):
        if self.shift_threshold is None or codes.shape[0] < SHIFT_MIN_ROWS:
            return
        found = self._shift_columns(X, codes)
        if found:
            listed = ", ".join(f"{c!r} (PSI {v:.2f})" for c, v in found.items())
            warn_user(
                f"Population shift against fit in {listed} over {codes.shape[0]} "
                f"rows (threshold {self.shift_threshold}): the segments were "
                "learned on differently distributed data; consider refitting.",
                PopulationShiftWarning,
            )

    def _finish_fit(self, codes, n_rows, counts=None):
        n_seg = len(self.segment_names_)
        if counts is None:
            if codes.shape[0] != n_rows or codes.min() < 0 or codes.max() >= n_seg:
                raise RuntimeError("Segmentation is not MECE; please report this bug.")
            counts = _kernels.bincount(codes, n_seg)
        if counts.sum() != n_rows or counts.min() < 0:  # pragma: no cover
            raise RuntimeError("Segment sizes do not sum to the row count.")
        self.segment_counts_ = counts.astype(np.int64)
        self.n_fit_rows_ = int(n_rows)
        self.segment_issues_ = size_issues(
            counts.tolist(),
            self.min_size_,
            self.max_size_,
            names=self.segment_names_,
            nan_segment=self.nan_segment,
        )
        self.segment_valid_ = [not issue for issue in self.segment_issues_]
        for name, issue in zip(self.segment_names_, self.segment_issues_):
            if issue:
                warn_user(f"Segment {name!r} is invalid: {issue}.", SegmentSizeWarning)

    def _apply_splits(self, X, codes):
        for split in self.splits_:
            k = len(split["cuts"]) + 1
            first = split["first_code"]
            rows = np.flatnonzero(codes == first)
            if rows.size == 0:
                continue
            values = column_as_float(
                self._column(X, split["position"]), split["column"]
            )
            sub = level_codes(values[rows], np.asarray(split["cuts"]))
            nan = sub == MISSING
            if nan.any():
                if self.nan_segment is None:
                    raise ValueError(
                        f"split_column {split['column']!r} has {int(nan.sum())} "
                        f"missing value(s) in segment {split['segment']!r}; set "
                        "nan_segment to route them."
                    )
                codes[rows[nan]] = self.segment_names_.index(self.nan_segment)
            # int64 arithmetic: the int8 sub-codes plus a first code > 127
            codes[rows[~nan]] = first + np.minimum(sub[~nan].astype(np.int64), k - 1)
        return codes

    def _new_feature_names(self, input_names):
        return [self.output_column]

    def transform(self, X):
        """Append the segment of every row.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Data with the columns seen at fit.

        Returns
        -------
        X_out : {ndarray, DataFrame} of shape (n_samples, n_features + 1)
            The input columns followed by ``output_column``: segment codes, or
            names with ``output="names"``.
        """
        check_is_fitted(self, "segment_names_")
        X = self._validate_input(X, reset=False)
        return self._output_frame(X, self._segment_codes, check_shift=True)

    def _output_frame(self, X, segment_codes, check_shift=False):
        """``X`` with the segment column; ``segment_codes(X, dtype)`` gives codes."""
        n_seg = len(self.segment_names_)
        if check_shift:
            inner = segment_codes

            def segment_codes(X, dtype):
                codes = inner(X, dtype)
                self._check_batch(X, codes)
                return codes

        if self.output == "names":
            codes = segment_codes(X, signed_dtype(n_seg))
            column = pd.Categorical.from_codes(
                codes, dtype=categorical_dtype(self.segment_names_), validate=False
            )
            if self._output_dense() == "default":
                column = np.asarray(column, dtype=object)
        else:
            column = segment_codes(X, np.min_scalar_type(max(n_seg, 1)))
        return self._assemble_output(X, {self.output_column: column})

    def predict(self, X):
        """Segment name of every row.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Data with the columns seen at fit.

        Returns
        -------
        names : ndarray of str objects, shape (n_samples,)
        """
        check_is_fitted(self, "segment_names_")
        X = self._validate_input(X, reset=False)
        codes = self._segment_codes(X)
        self._check_batch(X, codes)
        return np.asarray(self.segment_names_, dtype=object)[codes]

    @property
    def segment_sizes_(self):
        """Rows per segment at fit, after merges and splits (pandas Series)."""
        check_is_fitted(self, "segment_counts_")
        return pd.Series(
            self.segment_counts_,
            index=pd.Index(self.segment_names_, name="segment"),
            name="size",
        )

    @property
    def segment_table_(self):
        """Size, share, validity and issue per segment (pandas DataFrame)."""
        sizes = self.segment_sizes_
        return pd.DataFrame(
            {
                "size": sizes,
                "share": sizes / max(self.n_fit_rows_, 1),
                "valid": self.segment_valid_,
                "issue": self.segment_issues_,
            }
        )
