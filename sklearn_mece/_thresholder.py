"""PercentileThresholder: percentile cut points learned at fit, level codes out."""

import math
import numbers
import warnings

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from . import _kernels, _sketch
from ._base import MECETransformerMixin, infinite_values_error, warn_user
from ._compat import Interval, StrOptions, _check_sample_weight, _fit_context
from ._levels import (
    MAX_CUTS,
    MISSING,
    NUMPY_METHODS,
    collapsed_levels,
    compute_cuts,
)
from ._select import NonFiniteValues


def _raise_infinite(name, n_inf):
    raise infinite_values_error(name, n_inf)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _same(a, b):
    """Equality of parameter values that may be arrays or dicts of arrays."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (np.ndarray, list, tuple)) or isinstance(
        b, (np.ndarray, list, tuple)
    ):
        try:
            return bool(
                np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
            )
        except (TypeError, ValueError):
            return False
    return a == b


class CollapsedCutsWarning(UserWarning):
    """Ties made two cut points equal: the level between them is empty.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from sklearn_mece import CollapsedCutsWarning, PercentileThresholder
    >>> X = np.array([[0.0]] * 8 + [[1.0], [2.0]])
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     t = PercentileThresholder((40, 70)).fit(X)
    >>> [w.category is CollapsedCutsWarning for w in caught], t.collapsed_levels_
    ([True], {'x0': [1]})
    """


class PercentileThresholder(MECETransformerMixin):
    """Learn percentile cut points per column and add a level code per column.

    For every thresholded column the estimator learns, at ``fit``, the exact
    values at the requested percentiles (the cuts). ``transform`` appends one
    small-integer column per thresholded column, ``<column><suffix>``, holding
    the level of each value: ``0`` below the first cut, ``k`` at or above the
    last of ``k`` cuts. All input columns pass through unchanged, so later
    steps still see raw values.

    Parameters
    ----------
    percentiles : tuple of float or dict, default=(25, 50, 75)
        Percentiles in ``[0, 100]``, strictly ascending. A sequence applies to
        every column in ``columns``; a dict maps each column (name, or position
        for arrays) to its own percentiles, and the dict's keys are then the
        thresholded columns.
    columns : list of str or int, default=None
        Columns thresholded with a sequence ``percentiles``. ``None`` means all
        columns. Must be ``None`` when ``percentiles`` is a dict.
    method : str, default="linear"
        Percentile method of :func:`numpy.percentile`. The cuts equal
        ``np.percentile(column, q, method=method)`` on the non-missing values
        exactly (no subsampling). ``"linear"`` equals pandas'
        ``Series.quantile``, as in the seed script.
    cut_values : dict, default=None
        Business-rule overrides. Maps a column to either a sequence of fixed cut
        values (replacing all learned cuts of that column) or a dict
        ``{percentile: value}`` replacing the cut learned at that percentile.
        Overrides apply to every group. The resulting cuts must be
        non-decreasing.
    groupby : str or int, default=None
        Column whose values define groups (product category, country, ...):
        cuts are learned per group and applied per row. Global cuts are learned
        too. The group column passes through untouched.
    unseen_group : {"global", "error"}, default="global"
        What ``transform`` does with a row whose group was not seen at fit
        (missing group values included): use the global cuts, or raise.
    suffix : str, default="_level"
        Suffix of the added level columns.
    select_by_name : bool, default=False
        If False, DataFrames at ``transform`` must have exactly the columns seen
        at fit in the same order (scikit-learn's convention). If True, the
        columns seen at fit are selected by name: extra columns are ignored and
        the order may differ; a missing column is still an error.
    sketch_k : int, default=1000
        Parameter ``k`` of the KLL sketches used by :meth:`partial_fit` (8 to
        65535): larger is more accurate and larger in memory. The rank error
        of every cut is ``rank_error_`` (99 % confidence): about 1.33 % at
        ``k=200``, 0.28 % at ``1000``, 0.14 % at ``2000``. ``fit``'s cuts
        are exact; it keeps a uniform sample of ``8 * sketch_k`` values per
        column, from which :meth:`partial_fit` continues.
    closed : {"left", "right"}, default="left"
        Which level a value equal to a cut falls in. ``"left"``: the upper one
        (levels ``[cut_k, cut_k+1)``, ``value >= cut``), the seed's rule.
        ``"right"``: the lower one (``(cut_k, cut_k+1]``, ``value > cut``),
        what count data want: with most customers at one order, the 20th and
        40th percentiles of ``n_orders`` are both 1, and ``"left"`` puts the
        one-time buyers in the third level and leaves the first empty, while
        ``"right"`` puts them in the first. The cuts are the same either way.

    Attributes
    ----------
    cuts_ : dict of str -> ndarray of float64
        Ascending cut values of each thresholded column (global cuts).
    percentiles_ : dict of str -> ndarray of float64
        The percentile behind each cut (``NaN`` where a fixed value overrides).
    n_levels_ : dict of str -> int
        Number of levels of each column (number of cuts + 1).
    effective_n_levels_ : dict of str -> int
        Number of levels that can hold values: fewer than ``n_levels_`` when
        ties made cuts equal (a :class:`CollapsedCutsWarning` was issued).
    collapsed_levels_ : dict of str -> list of int
        Level codes that are empty by construction, per column.
    rank_error_ : dict of str -> ndarray of float64
        Normalized rank error of each cut: ``0`` for exact cuts (``fit``, and
        sketches that are still exact), the KLL bound (99 % confidence) after
        :meth:`partial_fit`, ``NaN`` where ``cut_values`` fixed the value.
    sketches_ : dict of str -> bytes
        Serialized KLL sketch of each thresholded column (only after
        :meth:`partial_fit`; ``fit`` removes them).
    n_samples_seen_ : int
        Rows seen by ``fit`` and :meth:`partial_fit` (not after a weighted
        ``fit``, nor after :meth:`fit_from_cuts`).
    fit_sample_ : dict of str -> ndarray of float64
        After an unweighted ``fit`` without ``groupby``: the non-missing
        values of at most ``8 * sketch_k`` rows drawn uniformly (seeded), per
        learned column; :meth:`partial_fit` continues from it.
    fit_sample_rows_ : dict of str -> int
        The number of non-missing values each sample stands for.
    fit_sample_error_ : dict of str -> float
        After :meth:`partial_fit` continued a ``fit``: the rank error the
        sample adds, in values (its 99 % bound times the values it stands
        for); ``rank_error_`` includes it.
    columns_ : list of str
        Names of the thresholded columns, in output order.
    column_positions_ : list of int
        Their positions in the data seen at fit.
    groups_ : list
        Group values seen at fit (only with ``groupby``).
    group_cuts_ : dict of str -> ndarray of shape (n_groups, n_cuts)
        Cuts per group, rows in the order of ``groups_`` (only with
        ``groupby``).
    group_collapsed_levels_ : dict of str -> dict of group -> list of int
        Levels empty by construction within a group, per column (only with
        ``groupby``; a :class:`CollapsedCutsWarning` names each).
    n_features_in_ : int
        Number of columns seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the columns seen during fit, when X had string column names.

    See Also
    --------
    HierarchicalSegmenter : Turns level codes into MECE segments.
    sklearn.preprocessing.KBinsDiscretizer : Bins features; subsamples
        200,000 rows by default and drops tied bins.

    Notes
    -----
    *Ties on a cut.* A value equal to a cut goes to the upper level (``>=``),
    or with ``closed="right"`` to the lower one (``>``).
    When many values are tied, two percentiles may give the same cut; the level
    between them is then empty: it keeps its code, the collapse is recorded in
    ``collapsed_levels_`` and ``effective_n_levels_``, and a warning is issued.

    *Missing values.* ``NaN`` is ignored when learning the cuts and gets the
    level code ``-1`` at transform; the segmenter then refuses it or routes it
    to a named segment. Infinite values are refused with a ``ValueError``.

    *Weights.* ``fit(X, sample_weight=w)`` takes frequency weights with every
    ``method``: an integer weight ``k`` counts the row ``k`` times (the cuts
    equal ``np.percentile(np.repeat(x, k), q, method=method)``), a zero
    weight drops it; see :meth:`fit` for non-integer weights.

    *Data this estimator cannot read* (Dask, Spark, SQL): an engine asks
    :meth:`learning_plan` which columns and percentiles to learn, learns them
    where the data live, and fits with :meth:`fit_from_cuts` (exact cuts) or
    :meth:`fit_from_sketches` (KLL sketches); see :mod:`sklearn_mece.dask`.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_mece import PercentileThresholder
    >>> X = pd.DataFrame({"aov": [10.0, 20.0, 30.0, 40.0, 50.0],
    ...                   "user": ["a", "b", "c", "d", "e"]})
    >>> t = PercentileThresholder(percentiles={"aov": (40, 75)}).fit(X)
    >>> t.cuts_
    {'aov': array([26., 40.])}
    >>> t.set_output(transform="pandas").transform(X)
        aov user  aov_level
    0  10.0    a          0
    1  20.0    b          0
    2  30.0    c          1
    3  40.0    d          2
    4  50.0    e          2
    """

    _parameter_constraints: dict = {
        "percentiles": ["array-like", dict],
        "columns": [list, tuple, None],
        "method": [StrOptions(set(NUMPY_METHODS))],
        "cut_values": [dict, None],
        "groupby": [str, Interval(numbers.Integral, 0, None, closed="left"), None],
        "unseen_group": [StrOptions({"global", "error"})],
        "suffix": [str],
        "select_by_name": ["boolean"],
        "sketch_k": [Interval(numbers.Integral, 8, 65535, closed="both")],
        "closed": [StrOptions({"left", "right"})],
    }

    def __init__(
        self,
        percentiles=(25, 50, 75),
        *,
        columns=None,
        method="linear",
        cut_values=None,
        groupby=None,
        unseen_group="global",
        suffix="_level",
        select_by_name=False,
        sketch_k=1000,
        closed="left",
    ):
        self.percentiles = percentiles
        self.columns = columns
        self.method = method
        self.cut_values = cut_values
        self.groupby = groupby
        self.unseen_group = unseen_group
        self.suffix = suffix
        self.select_by_name = select_by_name
        self.sketch_k = sketch_k
        self.closed = closed

    # -- configuration ------------------------------------------------------------------
    def _column_spec(self, n_features):
        """List of (position, percentiles) for the thresholded columns."""
        if isinstance(self.percentiles, dict):
            if self.columns is not None:
                raise ValueError(
                    "`columns` must be None when `percentiles` is a dict: the "
                    "dict's keys are the thresholded columns."
                )
            items = list(self.percentiles.items())
        else:
            columns = range(n_features) if self.columns is None else self.columns
            items = [(c, self.percentiles) for c in columns]
        if not items:
            raise ValueError("No column to threshold.")
        spec, seen = [], set()
        for column, q in items:
            pos = self._resolve_column(column, "thresholded column")
            if pos in seen:
                raise ValueError(f"Column {column!r} is listed twice.")
            seen.add(pos)
            spec.append((pos, self._check_percentiles(q, column)))
        for key in self.cut_values or {}:
            # a cut value for a column that is not thresholded would be ignored
            pos = self._resolve_column(key, "cut_values column")
            if pos not in seen:
                names = self._column_labels(n_features)
                raise ValueError(
                    f"cut_values names column {key!r}, which is not thresholded; "
                    f"thresholded columns: {[names[p] for p, _ in spec]}."
                )
        return spec

    @staticmethod
    def _check_percentiles(q, column):
        if isinstance(q, (str, bytes)):
            raise TypeError(
                f"Column {column!r}: percentiles must be a list of numbers, got "
                f"the text {q!r}."
            )
        try:
            q = np.asarray(q, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise TypeError(
                f"Column {column!r}: percentiles must be a list of numbers, got {q!r}."
            ) from None
        if q.size == 0 or q.size > MAX_CUTS:
            raise ValueError(
                f"Column {column!r}: give between 1 and {MAX_CUTS} percentiles, got "
                f"{q.size}."
            )
        if np.any(np.isnan(q)) or q.min() < 0 or q.max() > 100:
            raise ValueError(
                f"Column {column!r}: percentiles must be in [0, 100], got {q.tolist()}."
            )
        if np.any(np.diff(q) <= 0):
            raise ValueError(
                f"Column {column!r}: percentiles must be strictly ascending, got "
                f"{q.tolist()}."
            )
        return q

    def _overrides_for(self, name, position):
        if not self.cut_values:
            return None
        for key, value in self.cut_values.items():
            if key == name or (isinstance(key, (int, np.integer)) and key == position):
                return value
        return None

    @staticmethod
    def _apply_override(name, q, cuts, override):
        if override is None:
            return q, cuts
        if isinstance(override, dict):
            q = q.copy()
            cuts = cuts.copy()
            for pct, value in override.items():
                if not (_is_real(pct) and _is_real(value)):
                    raise TypeError(
                        f"Column {name!r}: cut_values maps percentiles to cut "
                        f"values (numbers), got {pct!r}: {value!r}."
                    )
                hits = np.flatnonzero(q == float(pct))
                if hits.size == 0:
                    raise ValueError(
                        f"Column {name!r}: cut_values names percentile {pct!r}, "
                        f"which is not among its percentiles {q.tolist()}."
                    )
                cuts[hits[0]] = float(value)
            return q, cuts
        try:
            if isinstance(override, (str, bytes)):
                raise TypeError
            fixed = np.asarray(override, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            fixed = np.array([np.nan])
        if fixed.size == 0 or not np.all(np.isfinite(fixed)):
            raise ValueError(
                f"Column {name!r}: cut_values must be finite numbers, got {override!r}."
            )
        if fixed.size > MAX_CUTS:
            raise ValueError(
                f"Column {name!r}: give at most {MAX_CUTS} cut_values, got "
                f"{fixed.size}."
            )
        return np.full(fixed.size, np.nan), fixed

    # -- fit ------------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Learn the cut values of every thresholded column.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Input data; thresholded columns must be numeric, other columns may
            hold anything.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative frequency weights, with every ``method``: a row of
            integer weight ``k`` counts as ``k`` copies of the row, so the cuts
            equal ``np.percentile(np.repeat(x, k), q, method=method)`` on the
            non-missing values; a zero weight drops the row. Non-integer
            weights follow the same definition on the weighted empirical
            distribution (for ``"linear"``: the rank ``h = (W - 1) q / 100``
            with ``W`` the total weight, the value at rank ``r`` being the
            smallest value whose cumulative weight exceeds ``r``, interpolated
            between ranks ``floor(h)`` and ``floor(h) + 1``), so they depend on
            the scale of the weights as repetition does. ``"inverted_cdf"`` and
            ``"averaged_inverted_cdf"`` use numpy's weighted definitions,
            invariant to that scale and equal to repetition for integer
            weights.

        Returns
        -------
        self : object
            Fitted thresholder.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_mece import PercentileThresholder
        >>> x = np.array([[1.0], [2.0], [3.0], [4.0]])
        >>> w = np.array([3, 0, 1, 2])
        >>> PercentileThresholder((50,)).fit(x, sample_weight=w).cuts_
        {'x0': array([2.])}
        >>> np.percentile(np.repeat(x.ravel(), w), 50)
        np.float64(2.0)
        """
        with self._all_or_nothing_fit():
            return self._fit(X, sample_weight)

    def _fit(self, X, sample_weight):
        X = self._validate_input(X, reset=True)
        names, spec = self._begin_fit(X)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, ensure_non_negative=True
            )

        group_index = None
        if self.groupby is not None:
            gpos = self._resolve_column(self.groupby, "groupby column")
            if gpos in {pos for pos, _ in spec}:
                raise ValueError("The groupby column cannot also be thresholded.")
            codes, uniques = pd.factorize(np.asarray(self._column(X, gpos)))
            group_index = codes
            self.groups_ = [u.item() if hasattr(u, "item") else u for u in uniques]
            self.group_cuts_, self.group_collapsed_levels_ = {}, {}
            self.groupby_position_ = gpos

        # unweighted, ungrouped: keep a sample for partial_fit to continue from
        keep_sample = sample_weight is None and group_index is None
        if keep_sample:
            rows = _sketch.sample_rows(X.shape[0], self.sketch_k)
            self.fit_sample_, self.fit_sample_rows_ = {}, {}
            self.n_samples_seen_ = int(X.shape[0])
        for pos, q in spec:
            name = names[pos]
            override = self._overrides_for(name, pos)
            raw = None
            n_nan = 0
            if self._learns(override) and keep_sample:
                # optimistic: the selection proves the column finite on the way
                # (no separate NaN / infinity pass); otherwise the checks below
                values = self._float_column(X, pos)
                try:
                    raw = self._compute(values, q, None, name, override, finite=True)
                except NonFiniteValues:
                    raw = None
            if raw is None:
                values, n_nan = self._checked(X, pos, name)
                raw = self._compute(
                    values, q, sample_weight, name, override, has_nan=n_nan > 0
                )
            q_eff, cuts = self._apply_override(name, q, raw, override)
            self._store_column(name, pos, q_eff, cuts, 0.0)
            if keep_sample and self._learns(override):
                self.fit_sample_[name] = _sketch.sample_values(values, rows)
                self.fit_sample_rows_[name] = int(X.shape[0] - n_nan)
            if group_index is not None:
                self.group_cuts_[name] = self._learn_groups(
                    values, q, sample_weight, name, override, group_index, cuts
                )
        return self

    def _begin_fit(self, X):
        """Checks shared by every way of fitting; resets the fitted state."""
        names = self._column_labels(X.shape[1])
        spec = self._column_spec(X.shape[1])
        new_names = {names[pos] + self.suffix for pos, _ in spec}
        clash = sorted(new_names & set(names))
        if clash:
            raise ValueError(
                f"Output column(s) {clash} already exist in X; choose another `suffix`."
            )
        for attr in (
            "sketches_",
            "n_samples_seen_",
            "fit_sample_",
            "fit_sample_rows_",
            "fit_sample_error_",
            "groups_",
            "group_cuts_",
            "group_collapsed_levels_",
        ):
            self.__dict__.pop(attr, None)
        self.__dict__.pop("groupby_position_", None)
        self.columns_, self.column_positions_ = [], []
        self.cuts_, self.percentiles_, self.rank_error_ = {}, {}, {}
        self.n_levels_, self.effective_n_levels_, self.collapsed_levels_ = {}, {}, {}
        return names, spec

    def _store_column(self, name, pos, q_eff, cuts, epsilon, warn=True):
        """Record one column's cuts and everything derived from them."""
        self._check_monotone(name, cuts)
        if name not in self.cuts_:
            self.columns_.append(name)
            self.column_positions_.append(pos)
        previous = self.collapsed_levels_.get(name)
        self.cuts_[name] = cuts
        self.percentiles_[name] = q_eff
        # rank error of each cut: 0 for exact cuts, NaN where a fixed value
        # (cut_values) replaced the learned one
        self.rank_error_[name] = np.where(np.isnan(q_eff), np.nan, float(epsilon))
        self.n_levels_[name] = cuts.size + 1
        empty = collapsed_levels(cuts)
        self.collapsed_levels_[name] = empty
        self.effective_n_levels_[name] = cuts.size + 1 - len(empty)
        if empty and warn and empty != previous:
            warn_user(
                f"Column {name!r}: ties make cuts equal {cuts.tolist()}; "
                f"level(s) {empty} are empty. Effective number of levels: "
                f"{self.effective_n_levels_[name]} of {cuts.size + 1}.",
                CollapsedCutsWarning,
            )

    def _checked(self, X, pos, name):
        """The column as float64 and its NaN count; refuses infinite values."""
        values = self._float_column(X, pos)
        n_nan, n_inf = _kernels.nonfinite_counts(values)
        if n_inf:
            _raise_infinite(name, n_inf)
        return values, n_nan

    def _checked_values(self, X, pos, name):
        return self._checked(X, pos, name)[0]

    def _learn(self, values, q, sample_weight, name, override, has_nan=None):
        raw = self._compute(values, q, sample_weight, name, override, has_nan=has_nan)
        return self._apply_override(name, q, raw, override)

    @staticmethod
    def _learns(override):
        """Whether the column's cuts are learned (not all fixed by cut_values)."""
        return override is None or isinstance(override, dict)

    def _compute(
        self, values, q, sample_weight, name, override, has_nan=None, finite=False
    ):
        """The learned cuts of one column; None when fixed values replace them."""
        if not self._learns(override):
            return None
        try:
            return compute_cuts(
                values,
                q,
                method=self.method,
                sample_weight=sample_weight,
                has_nan=has_nan,
                finite=finite,
            )
        except NonFiniteValues:
            raise
        except ValueError as exc:
            raise ValueError(f"Column {name!r}: cannot learn cuts: {exc}.") from None

    # -- state learned elsewhere (Dask, Spark, SQL, ...) --------------------------
    def learning_plan(self, X_meta):
        """The columns and percentiles an outside engine must learn.

        The first step of fitting on data this estimator cannot read itself
        (a Dask or Spark DataFrame, a SQL table): the engine computes, for
        every column of the plan, the percentiles listed (exactly, or with
        sketches), then calls :meth:`fit_from_cuts` or
        :meth:`fit_from_sketches` with the same ``X_meta``. Columns and
        percentiles are resolved exactly as :meth:`fit` resolves them;
        columns whose cuts ``cut_values`` fixes entirely are left out. The
        thresholder is not modified.

        Parameters
        ----------
        X_meta : DataFrame or array-like of shape (n_rows, n_features)
            Any data with the columns (names, order, dtypes) of the full data;
            a few rows suffice (at least one), only its columns are read.

        Returns
        -------
        plan : dict
            Maps the key of each column to learn (its label in ``X_meta``, or
            its position for an array) to its percentiles, an ascending
            float64 array in ``[0, 100]``. Learn them with ``method``.

        Raises
        ------
        ValueError
            For the parameter and column errors :meth:`fit` raises, and with
            ``groupby`` (cuts per group are learned by :meth:`fit` only).

        Examples
        --------
        >>> import pandas as pd
        >>> from sklearn_mece import PercentileThresholder
        >>> meta = pd.DataFrame({"aov": [1.0], "days": [2.0], "user": ["a"]})
        >>> t = PercentileThresholder({"aov": (40, 75), "days": (50,)},
        ...                           cut_values={"days": [30.0]})
        >>> t.learning_plan(meta)
        {'aov': array([40., 75.])}
        """
        probe = clone(self)
        probe._validate_params()
        spec = probe._outside_spec(X_meta)
        return {key: q for key, _, _, q, override in spec if probe._learns(override)}

    def _outside_spec(self, X_meta):
        """Validate ``X_meta`` as fit would; (key, name, pos, q, override) per column.

        Resets the fitted state (call it on a clone, or inside an
        all-or-nothing fit).
        """
        if self.groupby is not None:
            raise ValueError(
                "groupby is not supported when cuts are learned outside fit "
                "(Dask, Spark, SQL); use fit on the data in memory."
            )
        X = self._validate_input(X_meta, reset=True)
        names, spec = self._begin_fit(X)
        frame = hasattr(X, "columns")
        out = []
        for pos, q in spec:
            override = self._overrides_for(names[pos], pos)
            key = X.columns[pos] if frame else pos
            out.append((key, names[pos], pos, q, override))
        return out

    @staticmethod
    def _check_outside_keys(given, expected, what):
        extra = [k for k in given if k not in expected]
        if extra:
            raise ValueError(
                f"{what} given for column(s) {extra} that are not in the learning "
                f"plan {list(expected)}."
            )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_from_cuts(self, X_meta, cuts, *, rank_error=0.0):
        """Fit from percentiles learned elsewhere (e.g. over Dask partitions).

        Parameters
        ----------
        X_meta : DataFrame or array-like of shape (n_rows, n_features)
            The data's columns, as given to :meth:`learning_plan`.
        cuts : dict
            The learned values of every column of :meth:`learning_plan`, at
            its percentiles (before ``cut_values``, which are applied here).
            Each must be finite and non-decreasing.
        rank_error : float, default=0.0
            Normalized rank error of the learned cuts (``0`` for exact ones),
            recorded in ``rank_error_``.

        Returns
        -------
        self : object
            Fitted as by :meth:`fit` on the data behind ``cuts``. If the call
            raises, the thresholder is left unfitted.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from sklearn_mece import PercentileThresholder
        >>> data = pd.DataFrame({"aov": np.arange(100.0)})
        >>> t = PercentileThresholder((40, 75))
        >>> plan = t.learning_plan(data.head(2))
        >>> learned = {c: np.percentile(data[c], q) for c, q in plan.items()}
        >>> t.fit_from_cuts(data.head(2), learned).cuts_
        {'aov': array([39.6 , 74.25])}
        """
        with self._all_or_nothing_fit():
            if not isinstance(cuts, dict):
                raise TypeError(f"cuts must be a dict, got {type(cuts).__name__}.")
            if not (_is_real(rank_error) and 0 <= rank_error <= 1):
                raise ValueError(f"rank_error must be in [0, 1], got {rank_error!r}.")
            spec = self._outside_spec(X_meta)
            learned = {key for key, _, _, _, o in spec if self._learns(o)}
            self._check_outside_keys(cuts, learned, "cuts")
            for key, name, pos, q, override in spec:
                raw = None
                if self._learns(override):
                    if key not in cuts:
                        raise ValueError(f"Column {name!r}: no learned cuts given.")
                    raw = self._outside_cuts(name, q, cuts[key])
                q_eff, values = self._apply_override(name, q, raw, override)
                self._store_column(name, pos, q_eff, values, rank_error)
        return self

    def _outside_cuts(self, name, q, given):
        try:
            if isinstance(given, (str, bytes)):
                raise TypeError
            raw = np.array(given, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise TypeError(
                f"Column {name!r}: learned cuts must be numbers, got {given!r}."
            ) from None
        if raw.size != q.size:
            raise ValueError(
                f"Column {name!r}: {q.size} percentile(s) {q.tolist()} but "
                f"{raw.size} learned cut(s)."
            )
        self._check_monotone(name, raw)
        return raw

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_from_sketches(self, X_meta, sketches, n_samples):
        """Fit from KLL sketches built elsewhere, as if by :meth:`partial_fit`.

        Parameters
        ----------
        X_meta : DataFrame or array-like of shape (n_rows, n_features)
            The data's columns, as given to :meth:`learning_plan`.
        sketches : dict
            A serialized KLL sketch (parameter ``sketch_k``, non-missing
            values only) of every column of :meth:`learning_plan`, e.g. built
            per partition and merged.
        n_samples : int
            Rows of the data, recorded in ``n_samples_seen_``.

        Returns
        -------
        self : object
            With ``sketches_``, ``rank_error_`` and approximate cuts; it can
            continue with :meth:`partial_fit` and :meth:`merge`. If the call
            raises, the thresholder is left unfitted.

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from sklearn_mece import PercentileThresholder
        >>> data = pd.DataFrame({"aov": np.arange(100.0)})
        >>> t = PercentileThresholder((40, 75))
        >>> # serialized KLL sketches built elsewhere (here: by partial_fit)
        >>> sketches = PercentileThresholder((40, 75)).partial_fit(data).sketches_
        >>> t.fit_from_sketches(data.head(2), sketches, len(data)).cuts_
        {'aov': array([39., 74.])}
        """
        with self._all_or_nothing_fit():
            if not isinstance(sketches, dict):
                raise TypeError(
                    f"sketches must be a dict, got {type(sketches).__name__}."
                )
            if not isinstance(n_samples, numbers.Integral) or n_samples < 0:
                raise ValueError(
                    f"n_samples must be a non-negative integer, got {n_samples!r}."
                )
            spec = self._outside_spec(X_meta)
            learned = {key for key, _, _, _, o in spec if self._learns(o)}
            self._check_outside_keys(sketches, learned, "sketches")
            state = {}
            for key, name, _, _, override in spec:
                if not self._learns(override):
                    continue
                if key not in sketches:
                    raise ValueError(f"Column {name!r}: no sketch given.")
                try:
                    state[name] = _sketch.validate_sketch(sketches[key])
                except (TypeError, ValueError) as exc:
                    raise type(exc)(f"Column {name!r}: {exc}") from None
            self.sketches_ = state
            self.n_samples_seen_ = int(n_samples)
            self._cuts_from_sketches()
        return self

    def _check_fitted_state(self):
        super()._check_fitted_state()
        if "cuts_" not in self.__dict__:
            return
        labels = self._column_labels(self.n_features_in_)
        columns, positions = self.columns_, self.column_positions_
        if len(columns) != len(positions) or set(self.cuts_) != set(columns):
            raise ValueError("columns_, column_positions_ and cuts_ disagree")
        for name, pos in zip(columns, positions):
            if not isinstance(pos, int) or not 0 <= pos < len(labels):
                raise ValueError(f"column_positions_ holds {pos!r}, out of range")
            if labels[pos] != name:
                raise ValueError(f"column {name!r} is not at position {pos}")
            cuts = self.cuts_[name]
            if (
                not isinstance(cuts, np.ndarray)
                or cuts.dtype != np.float64
                or cuts.ndim != 1
                or not 1 <= cuts.size <= MAX_CUTS
            ):
                raise ValueError(f"cuts_[{name!r}] is not 1 to {MAX_CUTS} float64 cuts")
            self._check_monotone(name, cuts)
            if self.n_levels_.get(name) != cuts.size + 1:
                raise ValueError(f"n_levels_[{name!r}] does not match its cuts")
        sketches = self.__dict__.get("sketches_", {})
        if not isinstance(sketches, dict) or not set(sketches) <= set(columns):
            raise ValueError("sketches_ must map thresholded columns to sketches")
        for name, data in sketches.items():
            try:
                _sketch.validate_sketch(data)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"sketches_[{name!r}]: {exc}") from None
        self._check_sample_state(columns)

    def _check_sample_state(self, columns):
        samples = self.__dict__.get("fit_sample_", {})
        rows = self.__dict__.get("fit_sample_rows_", {})
        errors = self.__dict__.get("fit_sample_error_", {})
        for attr, value in (
            ("fit_sample_", samples),
            ("fit_sample_rows_", rows),
            ("fit_sample_error_", errors),
        ):
            if not isinstance(value, dict) or not set(value) <= set(columns):
                raise ValueError(f"{attr} must map thresholded columns to values")
        if set(samples) != set(rows):
            raise ValueError("fit_sample_ and fit_sample_rows_ disagree")
        seen = self.__dict__.get("n_samples_seen_", 0)
        if samples and (
            not isinstance(seen, (int, np.integer)) or seen < max(rows.values())
        ):
            raise ValueError(
                "n_samples_seen_ must count the rows fit_sample_ stands for"
            )
        largest = _sketch.SAMPLE_PER_K * 65535
        for name, sample in samples.items():
            n = rows[name]
            if (
                not isinstance(sample, np.ndarray)
                or sample.dtype != np.float64
                or sample.ndim != 1
                or not 1 <= sample.size <= largest
                or not np.isfinite(sample).all()
            ):
                raise ValueError(
                    f"fit_sample_[{name!r}] is not 1 to {largest} finite float64 values"
                )
            if not isinstance(n, (int, np.integer)) or n < sample.size:
                raise ValueError(
                    f"fit_sample_rows_[{name!r}] must be a count of at least its "
                    "sample's size"
                )
        for name, value in errors.items():
            if not isinstance(value, (float, int)) or not 0 <= value < math.inf:
                raise ValueError(f"fit_sample_error_[{name!r}] must be finite, >= 0")

    # -- partial_fit / sketches ---------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the cuts with one more chunk of rows (mergeable KLL sketches).

        Each thresholded column feeds an Apache DataSketches KLL sketch of
        parameter ``sketch_k``; after every call ``cuts_`` are the sketches'
        quantiles of **all** the rows seen so far, so the thresholder can
        transform at any time. The cuts are approximate: each has a normalized
        rank within ``rank_error_`` of its percentile, with probability 99 %,
        whatever the order of the rows and chunks (sorted, by cohort, ...).
        While a column has seen too few rows to be compacted (about
        ``sketch_k``), its sketch is exact and its cuts are
        ``np.percentile(values, q, method="inverted_cdf")``.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            A chunk, with the columns of the first chunk.
        y : None
            Ignored.
        sample_weight : None
            Not supported (KLL sketches count every value once).

        Returns
        -------
        self : object
            The thresholder, fitted on every chunk seen.

        Notes
        -----
        Each call is all-or-nothing: a chunk that raises (text in a
        thresholded column, a missing column, ...) leaves the thresholder
        exactly as it was, so the call can be retried with a fixed chunk and
        no row is counted twice.

        *After* ``fit``, ``partial_fit`` continues from what ``fit`` saw: each
        column's sketch starts from ``fit_sample_``, every sampled value
        standing for ``fit_sample_rows_ / len(sample)`` values (a one-time
        cost of about feeding those values to a sketch), then takes the
        chunk. When ``fit`` saw at most ``8 * sketch_k`` rows the sample is
        all of them and nothing is lost: the result equals two calls of
        ``partial_fit``. Otherwise the sample adds its own rank error, at
        most ``sqrt(ln(200) / (2 m))`` for a sample of ``m`` values (99 %,
        Dvoretzky-Kiefer-Wolfowitz; 1.8 % at the default ``sketch_k``),
        weighted by the share of the values ``fit`` saw; ``rank_error_``
        includes it. A thresholder fitted with ``sample_weight`` or by
        :meth:`fit_from_cuts` keeps no sample: ``partial_fit`` then raises.
        ``fit`` always starts afresh. ``groupby`` is not supported with
        ``partial_fit``. Merge thresholders fitted on separate parts of the
        data with :meth:`merge`.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_mece import PercentileThresholder
        >>> rng = np.random.default_rng(0)
        >>> t = PercentileThresholder(percentiles=(40, 75), sketch_k=200)
        >>> for chunk in np.array_split(rng.random((10_000, 1)), 10):
        ...     t = t.partial_fit(chunk)
        >>> t.n_samples_seen_, bool(np.all(abs(t.cuts_["x0"] - [0.4, 0.75]) < 0.03))
        (10000, True)
        >>> t.rank_error_["x0"].round(4)  # KLL's bound at k=200, 99 % confidence
        array([0.0133, 0.0133])
        """
        if sample_weight is not None:
            raise ValueError(
                "partial_fit does not support sample_weight: the KLL sketches "
                "count every value once. Use fit for weighted cuts."
            )
        if self.groupby is not None:
            raise ValueError("groupby is not supported with partial_fit; use fit.")
        continuing = hasattr(self, "fit_sample_") and not hasattr(self, "sketches_")
        if hasattr(self, "cuts_") and not hasattr(self, "sketches_") and not continuing:
            raise ValueError(
                "partial_fit cannot continue this thresholder: its cuts were "
                "learned with sample_weight or by fit_from_cuts, which keep no "
                "sample of the data. Call fit again with all the data, or call "
                "partial_fit on a new thresholder (sklearn.base.clone(thresholder))."
            )
        with self._all_or_nothing_update():
            first = not hasattr(self, "sketches_")
            X = self._validate_input(X, reset=first and not continuing)
            if continuing:
                self._continue_from_sample()
            elif first:
                self._begin_fit(X)
                self.sketches_ = {}
                self.n_samples_seen_ = 0
            updated = {}
            for pos, name, _ in self._sketch_spec():
                override = self._overrides_for(name, pos)
                if override is not None and not isinstance(override, dict):
                    continue  # fixed cuts: nothing to learn
                values, _ = self._checked(X, pos, name)
                current = self.sketches_.get(name) or _sketch.empty_sketch(
                    self.sketch_k
                )
                try:
                    updated[name] = _sketch.update_sketch(current, values)
                except (TypeError, ValueError) as exc:
                    raise type(exc)(f"Column {name!r}: {exc}") from exc
            self.sketches_ = {**self.sketches_, **updated}
            self.n_samples_seen_ += int(X.shape[0])
            self._cuts_from_sketches()
        return self

    def _continue_from_sample(self):
        """Turn the sample ``fit`` kept into the sketches partial_fit updates."""
        sketches, errors = {}, {}
        for name, sample in self.fit_sample_.items():
            rows = self.fit_sample_rows_[name]
            sketches[name] = _sketch.sketch_of_sample(sample, rows, self.sketch_k)
            errors[name] = rows * _sketch.sample_rank_error(sample.size, rows)
        for attr in ("fit_sample_", "fit_sample_rows_"):
            del self.__dict__[attr]
        self.sketches_, self.fit_sample_error_ = sketches, errors

    def _sketch_spec(self):
        names = self._column_labels(self.n_features_in_)
        return [
            (pos, names[pos], q) for pos, q in self._column_spec(self.n_features_in_)
        ]

    def _cuts_from_sketches(self):
        for pos, name, q in self._sketch_spec():
            override = self._overrides_for(name, pos)
            if override is not None and not isinstance(override, dict):
                q_eff, cuts = self._apply_override(name, q, None, override)
                self._store_column(name, pos, q_eff, cuts, 0.0)
                continue
            data = self.sketches_.get(name)
            try:
                if data is None:
                    raise ValueError("no non-missing values")
                raw, n, epsilon = _sketch.sketch_quantiles(data, q / 100.0)
                # the rank error a continued fit's sample adds, in values
                epsilon += self.__dict__.get("fit_sample_error_", {}).get(name, 0.0) / n
            except ValueError as exc:
                raise ValueError(
                    f"Column {name!r}: cannot learn cuts: {exc}."
                ) from None
            q_eff, cuts = self._apply_override(name, q, raw, override)
            self._store_column(name, pos, q_eff, cuts, epsilon)

    def merge(self, other):
        """Merge the sketches of another thresholder fitted with ``partial_fit``.

        Both must have been fitted with :meth:`partial_fit` on data with the
        same columns, with the same parameters. Afterwards this thresholder's
        cuts are those of the union of both data sets, with the same rank
        error guarantee (KLL sketches merge without loss of accuracy).

        Parameters
        ----------
        other : PercentileThresholder
            Fitted with ``partial_fit``; it is not modified. Merging a
            thresholder with itself is refused (its rows would count twice).

        Returns
        -------
        self : object
            If the merge raises, this thresholder is left as it was.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_mece import PercentileThresholder
        >>> a = PercentileThresholder((50,)).partial_fit(np.arange(0.0, 50)[:, None])
        >>> b = PercentileThresholder((50,)).partial_fit(np.arange(50.0, 100)[:, None])
        >>> a.merge(b).cuts_, a.n_samples_seen_
        ({'x0': array([49.])}, 100)
        """
        if other is self:
            raise ValueError(
                "Cannot merge a thresholder with itself: its rows would count twice."
            )
        for est in (self, other):
            if not hasattr(est, "sketches_"):
                raise ValueError(
                    "merge needs two thresholders fitted with partial_fit; "
                    f"{type(est).__name__} {'self' if est is self else 'other'} "
                    "has no sketches."
                )
        if not isinstance(other, PercentileThresholder):
            raise TypeError(f"Cannot merge with {type(other).__name__}.")
        mine, theirs = self.get_params(), other.get_params()
        differ = sorted(k for k in mine if not _same(mine[k], theirs[k]))
        if differ:
            raise ValueError(
                f"Cannot merge thresholders whose parameters differ: {differ}."
            )
        if self.n_features_in_ != other.n_features_in_ or not _same(
            getattr(self, "feature_names_in_", None),
            getattr(other, "feature_names_in_", None),
        ):
            raise ValueError("Cannot merge thresholders fitted on different columns.")
        with self._all_or_nothing_update():
            merged = dict(self.sketches_)
            for name, data in other.sketches_.items():
                try:
                    merged[name] = (
                        _sketch.validate_sketch(data)
                        if name not in merged
                        else _sketch.merge_sketches(merged[name], data)
                    )
                except (TypeError, ValueError) as exc:
                    raise type(exc)(f"Column {name!r}: {exc}") from exc
            errors = dict(self.__dict__.get("fit_sample_error_", {}))
            for name, rows in other.__dict__.get("fit_sample_error_", {}).items():
                errors[name] = errors.get(name, 0.0) + rows
            self.sketches_ = merged
            self.n_samples_seen_ += other.n_samples_seen_
            if errors:
                self.fit_sample_error_ = errors
            self._cuts_from_sketches()
        return self

    @staticmethod
    def _check_monotone(name, cuts):
        if not np.isfinite(cuts).all():
            raise ValueError(
                f"Column {name!r}: cut values must be finite, got {cuts.tolist()}; "
                "check cut_values, or values near the float64 limits (the "
                "interpolation between them overflows)."
            )
        if np.any(np.diff(cuts) < 0):
            raise ValueError(
                f"Column {name!r}: cut values must be non-decreasing, got "
                f"{cuts.tolist()} (check cut_values)."
            )

    def _learn_groups(self, values, q, sample_weight, name, override, index, cuts):
        table = np.empty((len(self.groups_), cuts.size))
        for g, group in enumerate(self.groups_):
            rows = index == g
            w = None if sample_weight is None else sample_weight[rows]
            sub = values[rows]
            if np.isnan(sub).all() or (
                w is not None and not np.any(w[~np.isnan(sub)] > 0)
            ):
                warnings.warn(
                    f"Column {name!r}: group {group!r} has no usable value; it "
                    "uses the global cuts.",
                    UserWarning,
                    stacklevel=4,
                )
                table[g] = cuts
                continue
            _, table[g] = self._learn(sub, q, w, name, override)
            self._check_monotone(f"{name}[{group!r}]", table[g])
            empty = collapsed_levels(table[g])
            if empty:
                self.group_collapsed_levels_.setdefault(name, {})[group] = empty
                warnings.warn(
                    f"Column {name!r}, group {group!r}: ties make cuts equal "
                    f"{table[g].tolist()}; level(s) {empty} are empty in this group.",
                    CollapsedCutsWarning,
                    stacklevel=4,
                )
        return table

    # -- transform ------------------------------------------------------------------
    def _new_feature_names(self, input_names):
        return [input_names[pos] + self.suffix for pos in self.column_positions_]

    def transform(self, X):
        """Append the level code of every thresholded column.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Data with the columns seen at fit.

        Returns
        -------
        X_out : {ndarray, DataFrame} of shape (n_samples, n_features + n_thresholded)
            The input columns followed by one ``int8`` level column per
            thresholded column (``-1`` for NaN).
        """
        check_is_fitted(self, "cuts_")
        X = self._validate_input(X, reset=False)
        names = self._column_labels(X.shape[1])
        row_groups = self._row_groups(X) if self.groupby is not None else None
        new = {}
        for name, pos in zip(self.columns_, self.column_positions_):
            if row_groups is None:
                # one pass: codes, and the NaN / infinite counts on the way
                values = self._float_column(X, pos)
                codes, _, n_inf = _kernels.level_codes(values, self._code_cuts(name))
                if n_inf:
                    _raise_infinite(name, n_inf)
            else:
                values = self._checked_values(X, pos, name)
                codes = self._grouped_codes(values, name, row_groups)
            new[names[pos] + self.suffix] = codes
        return self._assemble_output(X, new)

    def _row_groups(self, X):
        values = np.asarray(self._column(X, self.groupby_position_))
        index = pd.Index(self.groups_).get_indexer(values)
        unseen = index < 0
        if unseen.any():
            if self.unseen_group == "error":
                examples = pd.unique(values[unseen])[:5].tolist()
                raise ValueError(
                    f"groupby column {self.groupby!r}: {int(unseen.sum())} row(s) "
                    f"have a group not seen at fit, e.g. {examples}."
                )
            index[unseen] = len(self.groups_)  # the global cuts' row
        return index

    def _code_cuts(self, name, cuts=None):
        """Cuts such that ``value >= cut`` places a value as ``closed`` says.

        ``closed="right"`` puts a value equal to a cut in the lower level:
        ``value > cut``, which for float64 is exactly ``value >=
        nextafter(cut, inf)``, so every kernel keeps its one comparison.
        """
        cuts = self.cuts_[name] if cuts is None else cuts
        return cuts if self.closed == "left" else np.nextafter(cuts, np.inf)

    def _grouped_codes(self, values, name, row_groups):
        table = self._code_cuts(
            name, np.vstack([self.group_cuts_[name], self.cuts_[name][None, :]])
        )
        codes = np.zeros(values.shape[0], dtype=np.int8)
        for j in range(table.shape[1]):
            codes += values >= table[row_groups, j]
        codes[np.isnan(values)] = MISSING
        return codes

    def get_feature_names_out(self, input_features=None):
        """Get output feature names for transformation.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input features; ``feature_names_in_`` (or ``x0, x1, ...``) if None.

        Returns
        -------
        feature_names_out : ndarray of str objects
            The input names followed by ``<column><suffix>`` for each
            thresholded column.
        """
        return super().get_feature_names_out(input_features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
