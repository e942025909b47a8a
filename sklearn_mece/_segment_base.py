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
import warnings

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from . import _kernels
from ._base import (
    MECETransformerMixin,
    categorical_dtype,
    column_as_float,
    infinite_values_error,
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
}


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
                warnings.warn(
                    f"Segment {name!r} is invalid: {issue}.",
                    SegmentSizeWarning,
                    stacklevel=4,
                )

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
        return self._output_frame(X, self._segment_codes)

    def _output_frame(self, X, segment_codes):
        """``X`` with the segment column; ``segment_codes(X, dtype)`` gives codes."""
        n_seg = len(self.segment_names_)
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
        return np.asarray(self.segment_names_, dtype=object)[self._segment_codes(X)]

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
