"""HierarchicalSegmenter: an ordered rule list compiled to a lookup table.

Text tests (``["country", "==", "US"]``, see :mod:`sklearn_mece._rules`) read
a text column through :func:`text_codes`: each row becomes the code of the
listed value it holds, one code for any other value, ``-1`` when missing, and
is looked up like a level column. A value not seen at fit follows
``unknown_category``; a missing value follows ``nan_segment``, like every
tested column.
"""

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from . import _kernels
from ._base import column_as_float, infinite_values_error, warn_user
from ._compat import StrOptions, _fit_context
from ._levels import MISSING, signed_dtype
from ._operators import get_operator
from ._rules import (
    CompiledVariable,
    RuleSet,
    _domain_bounds,
    build_table,
    compile_rules,
    first_match,
    load_rules,
)
from ._segment_base import (
    SEGMENT_OUTPUT_CONSTRAINTS,
    DomainWarning,
    EmptyLevelWarning,
    SegmentOutputMixin,
)

#: Slot-matrix cells per block when rules are evaluated row by row.
_ROW_BY_ROW_CELLS = 1 << 22


def _float_level_codes(values, n_levels, name):
    """Integer codes of a float level column, or None if any value is invalid.

    The values are read by :func:`column_as_float`, like every numeric column:
    text such as ``"0"`` is never taken for a level code.
    """
    try:
        values = column_as_float(values, name)
    except (TypeError, ValueError):
        return None
    if values.ndim != 1:
        return None
    missing = np.isnan(values) | (values == MISSING)
    bad = ~missing & ((values < 0) | (values >= n_levels) | (values % 1 != 0))
    if bad.any():
        return None
    return np.where(missing, MISSING, values).astype(signed_dtype(n_levels))


def _is_text_dtype(dtype):
    """Whether a column of ``dtype`` may hold text (its values decide)."""
    return (
        pd.api.types.is_object_dtype(dtype)
        or getattr(dtype, "kind", None) in ("U", "S")
        or isinstance(dtype, (pd.StringDtype, pd.CategoricalDtype))
        or (isinstance(dtype, pd.ArrowDtype) and dtype.kind in "OUS")
    )


def _holds_text(values):
    """Whether a column holds text: a text dtype whose values are strings."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.dtype.categories
    if not _is_text_dtype(values.dtype):
        return False
    if values.dtype == object:
        return pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")
    return True


def text_codes(values, categories, column, seen=None):
    """Codes of a text column for a text test: ``i`` for ``categories[i]``,
    ``len(categories)`` for any other value, ``-1`` for a missing one.

    Parameters
    ----------
    values : array-like or pandas.Series
        The column (object, ``str``/``string``, categorical or Arrow strings).
    categories : sequence of str
        The values the rules list for the column.
    column : str
        Its name, for messages.
    seen : sequence of str, optional
        Categories seen at fit: a value in neither ``seen`` nor
        ``categories`` raises (``unknown_category="error"``).

    Returns
    -------
    ndarray of int8/int16/int32

    Raises
    ------
    ValueError
        A non-text value, or a value unseen at fit when ``seen`` is given.

    Examples
    --------
    >>> text_codes(["US", "FR", None, "DE"], ["US", "DE"], "country").tolist()
    [0, 2, -1, 1]
    """
    values = pd.Series(values) if not isinstance(values, pd.Series) else values
    missing = values.isna().to_numpy()
    listed = pd.Index(list(categories), dtype=object)
    if isinstance(values.dtype, pd.CategoricalDtype):  # map the categories once
        cat = values.array
        # a trailing -1: code -1 (missing) stays -1
        mapped = np.append(listed.get_indexer(cat.categories.astype(object)), -1)
        codes = mapped[cat.codes]
    else:
        codes = listed.get_indexer(values.to_numpy(dtype=object))
    other = (codes < 0) & ~missing
    if other.any():
        rest = pd.unique(values[other].to_numpy(dtype=object))
        bad = [v for v in rest if not isinstance(v, str)]
        if bad:
            raise ValueError(
                f"Column {column!r} is tested as text but holds "
                f"{len(bad)} distinct non-text value(s), e.g. {bad[0]!r}; convert "
                "the column to text, or compare it with numbers."
            )
        if seen is not None:
            unseen = sorted(set(rest) - set(seen) - set(categories))
            if unseen:
                n = int(values[other].isin(unseen).sum())
                raise ValueError(
                    f"Column {column!r} holds {n} row(s) with {len(unseen)} "
                    f"value(s) not seen at fit, e.g. {unseen[0]!r} "
                    "(unknown_category='error'); refit, or set "
                    "unknown_category='other' to treat them as any other value."
                )
    dtype = signed_dtype(len(categories) + 1)
    out = codes.astype(dtype)
    out[other] = len(categories)
    return out


def _as_ruleset(rules):
    if rules is None:
        return RuleSet()
    if isinstance(rules, str):
        return load_rules(rules)
    return RuleSet.from_dict(rules)


class HierarchicalSegmenter(SegmentOutputMixin):
    """Assign every row to exactly one segment of an ordered rule hierarchy.

    The rules are plain data (see :class:`RuleSet`): an ordered list of segments,
    each a conjunction of conditions on level columns (made by
    :class:`PercentileThresholder`) or raw columns, followed by an ELSE segment.
    A row belongs to the first segment whose conditions all hold, else to the
    ELSE segment, so the result is mutually exclusive and collectively
    exhaustive by construction; ``fit`` verifies it anyway.

    At ``fit`` the rules are compiled to a lookup table over every combination of
    level codes and comparison outcomes, segments smaller than ``min_size`` are
    merged into their parent, and segments larger than ``max_size`` are flagged
    or split. ``transform`` applies exactly what ``fit`` learned, row by row.

    Parameters
    ----------
    rules : dict, list, RuleSet or str, default=None
        The declaration: a :class:`RuleSet`, its plain-data form
        (``{"levels": ..., "segments": [...], "else": "Other"}``), a list of
        segment dicts, or the path of a JSON/TOML rules file. ``None`` means no
        rule: every row is in the ELSE segment ``"Other"``.
    min_size : int or float, default=None
        Segments with fewer rows at fit (an int count, or a float fraction of
        the fit rows) merge into their parent (the rule's ``parent``, default the
        ELSE segment), smallest first and transitively. ``None`` or ``0``: no
        merge.
    max_size : int or float, default=None
        Largest acceptable segment (count or fraction of the fit rows).
    max_size_policy : {"flag", "split"}, default="flag"
        ``"flag"``: an oversized segment is reported invalid and a
        :class:`SegmentSizeWarning` is issued. ``"split"``: it is split into
        ``ceil(size / max_size)`` numbered sub-segments (``Name_1`` ..) at
        quantiles of ``split_column`` learned at fit.
    split_column : str or int, default=None
        Numeric column used by ``max_size_policy="split"``.
    nan_segment : str, default=None
        Missing values (``NaN`` in a tested raw column, level ``-1`` in a level
        column) never silently satisfy or fail a rule: with ``None`` a row with a
        missing value in any tested column raises a ``ValueError`` naming the
        column and the count; with a name, such rows go to that segment.
    output : {"codes", "names"}, default="codes"
        Type of the added column: integer segment codes (index into
        ``segment_names_``), or the names (a categorical with pandas output).
    output_column : str, default="segment"
        Name of the added column.
    level_suffix : str, default="_level"
        Suffix that maps a feature declared in ``levels`` to its level column.
    select_by_name : bool, default=False
        If True, DataFrames at ``transform`` may hold extra columns and another
        column order; the columns seen at fit are selected by name.
    unknown_category : {"other", "error"}, default="other"
        A value of a text-tested column (``["country", "==", "US"]``) that was
        not seen at fit: ``"other"`` treats it like any value the rules do not
        list (it satisfies ``!=`` and ``not in``, never ``==`` or ``in``);
        ``"error"`` raises a ``ValueError`` naming the column.
    shift_threshold : float or None, default=0.25
        At ``transform`` and ``predict`` on at least 1,000 rows, the shares of
        rows per segment (and per level of each level column) are compared
        with those at fit by the population stability index
        ``PSI = sum((a - e) * ln(a / e))`` (shares below ``1e-4`` count as
        ``1e-4``); above this threshold one :class:`PopulationShiftWarning`
        names the columns. ``0.25`` is the usual mark of a significant shift
        (``0.1`` to ``0.25``: moderate). A batch above 131,072 rows is
        compared on a seeded uniform sample of that many rows. ``None``: no
        check.

    Attributes
    ----------
    segment_names_ : list of str
        Output segments; the index is the segment code.
    segment_sizes_ : pandas.Series
        Rows per segment at fit, after merges and splits (built on access).
    segment_table_ : pandas.DataFrame
        Size, share, validity and issue per segment (built on access).
    merge_map_ : dict of str -> str
        Each declared segment's final segment (itself unless merged).
    segment_valid_ : list of bool
        Whether each output segment is within ``[min_size, max_size]``.
    segment_issues_ : list of str
        Why a segment is invalid (empty string when valid).
    splits_ : list of dict
        Split segments: name, split column, learned cuts, first code.
    rules_ : dict
        Plain-data form of the rules used.
    variables_ : list of dict
        The compiled tests, as plain data
        (:meth:`sklearn_mece._rules.CompiledVariable.to_dict`).
    text_categories_ : dict of str -> list of str
        For each text-tested column, the values seen at fit (sorted).
    level_counts_ : dict of str -> list of int
        Rows per level code of each level column at fit (missing values left
        out): the reference of the population-shift check; a level with no
        row gives an :class:`EmptyLevelWarning`.
    segment_counts_ : ndarray of int64
        Rows per output segment at fit.
    min_size_, max_size_ : int or None
        Size limits in rows.
    n_features_in_ : int
        Number of columns seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the columns seen during fit, when X had string column names.

    See Also
    --------
    PercentileThresholder : Produces the level columns the rules test.
    RuleSet : The declaration of a segment hierarchy.

    Notes
    -----
    A merged segment's rows go to the segment it merged into; the merge map is
    learned at fit, so ``transform`` never depends on the batch it sees. Each
    merge is announced by a :class:`SegmentMergeWarning`.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_mece import HierarchicalSegmenter
    >>> X = pd.DataFrame({"aov_level": [2, 1, 0, 0], "days": [90, 10, 5, 60]})
    >>> rules = {"levels": {"aov": ["low", "medium", "high"]},
    ...          "segments": [{"name": "Premium", "when": [["aov", "==", "high"]]},
    ...                       {"name": "Recent", "when": [["days", "<=", 30]]}],
    ...          "else": "Other"}
    >>> seg = HierarchicalSegmenter(rules).fit(X)
    >>> seg.predict(X).tolist()
    ['Premium', 'Recent', 'Recent', 'Other']
    >>> seg.segment_sizes_.to_dict()
    {'Premium': 1, 'Recent': 2, 'Other': 1}

    Text columns are tested with text values:

    >>> X = pd.DataFrame({"country": ["US", "FR", "US"], "days": [5, 50, 90]})
    >>> rules = [{"name": "US recent",
    ...           "when": [["country", "==", "US"], ["days", "<=", 30]]},
    ...          {"name": "Abroad", "when": [["country", "not in", ["US"]]]}]
    >>> HierarchicalSegmenter(rules).fit(X).predict(X).tolist()
    ['US recent', 'Abroad', 'Other']
    """

    _parameter_constraints: dict = {
        "rules": [dict, list, tuple, RuleSet, str, None],
        **SEGMENT_OUTPUT_CONSTRAINTS,
        "level_suffix": [str],
        "unknown_category": [StrOptions({"other", "error"})],
    }

    def __init__(
        self,
        rules=None,
        *,
        min_size=None,
        max_size=None,
        max_size_policy="flag",
        split_column=None,
        nan_segment=None,
        output="codes",
        output_column="segment",
        level_suffix="_level",
        select_by_name=False,
        unknown_category="other",
        shift_threshold=0.25,
    ):
        self.rules = rules
        self.min_size = min_size
        self.max_size = max_size
        self.max_size_policy = max_size_policy
        self.split_column = split_column
        self.nan_segment = nan_segment
        self.output = output
        self.output_column = output_column
        self.level_suffix = level_suffix
        self.select_by_name = select_by_name
        self.unknown_category = unknown_category
        self.shift_threshold = shift_threshold

    # -- fit ------------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Compile the rules, learn merges and splits on ``X``.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Data holding every column the rules test (level columns and raw
            columns); other columns pass through.
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted segmenter.
        """
        with self._all_or_nothing_fit():
            self._fit(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit to ``X``, then append the segment of every row.

        The result equals ``fit(X).transform(X)``; the rules are evaluated
        once instead of twice.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Data holding every column the rules test.
        y : None
            Ignored.

        Returns
        -------
        X_out : {ndarray, DataFrame} of shape (n_samples, n_features + 1)
            The input columns followed by ``output_column``.
        """
        with self._all_or_nothing_fit():
            X, rule_index = self._fit(X)
        return self._output_frame(
            X, lambda X, dtype: self._codes_from_rule_index(X, rule_index, dtype)
        )

    def _fit(self, X):
        """Fit; returns the validated ``X`` and the rule index of its rows."""
        X = self._validate_input(X, reset=True)
        rules = _as_ruleset(self.rules)
        names_in = self._column_labels(X.shape[1])
        if self.output_column in names_in:
            raise ValueError(
                f"Output column {self.output_column!r} already exists in X; choose "
                "another `output_column`."
            )
        if self.nan_segment is not None and self.nan_segment in rules.names:
            raise ValueError(
                f"nan_segment {self.nan_segment!r} is also a declared segment name."
            )
        variables, conditions = compile_rules(
            rules, lambda c: self._resolve_column(c, "rule column"), self.level_suffix
        )
        self._check_column_kinds(X, rules, variables)
        self.rules_ = rules.to_dict()
        self._check_domains(X, "fit")
        self._set_compiled(variables, conditions)
        self.text_categories_ = {}
        for var in variables:
            if var.kind == "text":
                values = pd.Series(self._column_array(X, var.position))
                seen = pd.unique(values[values.notna()].to_numpy(dtype=object))
                text = sorted(v for v in seen if isinstance(v, str))
                self.text_categories_[str(var.column)] = text
        n_rows = X.shape[0]
        self.min_size_ = self._rows(self.min_size, n_rows)
        self.max_size_ = self._rows(self.max_size, n_rows)

        rule_index = self._rule_index(X)
        if self.nan_segment is None and rule_index.min(initial=0) < 0:
            self._raise_missing(X)
        rule_sizes = _kernels.bincount(rule_index, len(rules.names))
        self.merge_map_ = self._learn_merges(rules, rule_sizes)
        self._warn_merges(self.merge_map_, dict(zip(rules.names, rule_sizes.tolist())))
        self.level_counts_ = {
            column: counts.tolist()
            for column, counts in self._level_counts_now(X).items()
        }
        self._warn_empty_levels(rules, n_rows)

        survivors = [n for n in rules.names if self.merge_map_[n] == n]
        self.segment_names_ = list(survivors)
        rule_codes = np.array(
            [survivors.index(self.merge_map_[n]) for n in rules.names] + [-1],
            dtype=np.int32,
        )
        if self.nan_segment is not None:
            self.segment_names_.append(self.nan_segment)
            rule_codes[-1] = len(self.segment_names_) - 1
        self.rule_codes_ = rule_codes
        self.splits_ = []
        if self.max_size_policy == "split":
            # small codes (int8 for < 128 segments): cheaper to count and check
            codes = _kernels.take(
                rule_codes.astype(signed_dtype(len(self.segment_names_))), rule_index
            )
            codes = self._learn_splits(X, codes)
            self._finish_fit(codes, n_rows)
        else:
            # without splits, the segment sizes follow from the rule sizes: no
            # per-row codes needed (the rows of missing values, if any, are in
            # no rule and go to nan_segment)
            counts = np.zeros(len(self.segment_names_), dtype=np.int64)
            np.add.at(counts, rule_codes[:-1], rule_sizes)
            if rule_codes[-1] >= 0:
                counts[rule_codes[-1]] += n_rows - int(rule_sizes.sum())
            self._finish_fit(None, n_rows, counts=counts)
        return X, rule_index

    def _level_counts_now(self, X, rows=None):
        """Rows per level code of every level column (missing rows left out),
        over ``rows`` only when given."""
        counts = {}
        for var in self._variables:
            if var.kind != "level" or str(var.column) in counts:
                continue
            arr = self._column(X, var.position)
            arr = arr.to_numpy() if isinstance(arr, pd.Series) else np.asarray(arr)
            if arr.dtype.kind not in "iu":  # float or object codes: checked slots
                arr = self._slots(X, var) - 1
            if rows is not None:
                arr = arr[rows]
            counts[str(var.column)] = _kernels.bincount(arr, var.n_levels)
        return counts

    def _check_domains(self, X, when):
        declared = (self.rules_ or {}).get("domains", {})
        names = getattr(self, "feature_names_in_", None)
        for column, bounds in declared.items():
            if names is None or column not in names:
                continue  # e.g. only level columns reach this step
            lo, hi = _domain_bounds(bounds)
            values = column_as_float(
                self._column(X, self._resolve_column(column, "domain column")), column
            )
            lo_ = -np.inf if lo is None else lo
            hi_ = np.inf if hi is None else hi
            n_out = _kernels.outside_count(values, lo_, hi_)
            if n_out:
                example = float(values[(values < lo_) | (values > hi_)][0])
                left = "(-inf" if lo is None else f"[{lo}"
                right = "inf)" if hi is None else f"{hi}]"
                warn_user(
                    f"Column {column!r}: {n_out} value(s) outside its declared "
                    f"domain {left}, {right} at {when}, e.g. {example!r}; they are "
                    "segmented as they are (check the data or the domain).",
                    DomainWarning,
                )

    def _warn_empty_levels(self, rules, n_rows):
        for column, counts in self.level_counts_.items():
            feature = column[: -len(self.level_suffix)] if self.level_suffix else column
            spec = rules.levels.get(feature)
            names = list(spec.names) if spec is not None else list(range(len(counts)))
            empty = [names[i] for i, c in enumerate(counts) if c == 0]
            if empty:
                warn_user(
                    f"Column {column!r}: level(s) {empty} hold no row at fit "
                    f"({n_rows} rows); rules testing them match nothing.",
                    EmptyLevelWarning,
                )

    def _check_column_kinds(self, X, rules, variables):
        """A text test needs a text column, a comparison a numeric one."""
        for var in variables:
            if var.kind == "level":
                continue
            values = self._column_array(X, var.position)
            values = values if hasattr(values, "dtype") else np.asarray(values)
            if (var.kind == "text") == _holds_text(values):
                continue
            where = next(
                f"segments[{i}]: Segment {seg.name!r}, when[{j}]"
                for i, seg in enumerate(rules.segments)
                for j, cond in enumerate(seg.conditions)
                if cond.column == var.column
            )
            if var.kind == "text":
                raise ValueError(
                    f"{where}: condition on {var.column!r} compares with text "
                    f"{list(var.categories)!r}, but column {var.column!r} does not "
                    f"hold text (dtype {values.dtype}); compare it with numbers, or "
                    f"declare {var.column!r} under 'levels' if these are level names."
                )
            raise ValueError(
                f"{where}: condition on {var.column!r} compares with a number, but "
                f"column {var.column!r} holds text (dtype {values.dtype}); compare "
                "it with text values (e.g. [column, '==', 'value'])."
            )

    def _set_compiled(self, variables, conditions):
        """Store the compiled rules as plain data (skops-safe fitted state)."""
        self.variables_ = [v.to_dict() for v in variables]
        self.conditions_ = [[(v, list(a)) for v, a in conds] for conds in conditions]
        self.rule_table_ = build_table(variables, conditions)

    def __setstate__(self, state):
        super().__setstate__(state)
        # parameters added since an older version: their defaults
        self.__dict__.setdefault("unknown_category", "other")
        if "rules_" in self.__dict__:
            # the compiled rules are derived from rules_ and the columns seen
            # at fit: rebuilt on load (pickle, joblib or skops), never read
            # from the file, so a file of another version's table layout, or a
            # crafted table, never reaches the kernels
            self.__dict__.setdefault("text_categories_", {})
            rules = RuleSet.from_dict(self.rules_)
            self._set_compiled(
                *compile_rules(
                    rules,
                    lambda c: self._resolve_column(c, "rule column"),
                    self.level_suffix,
                )
            )

    @property
    def _variables(self):
        """The compiled tests (built from the plain ``variables_``)."""
        return [CompiledVariable.from_dict(v) for v in self.variables_]

    def _text_codes(self, X, var):
        """Codes of a text-tested column (see :func:`text_codes`)."""
        seen = None
        if self.unknown_category == "error":
            seen = self.text_categories_.get(str(var.column), ())
        return text_codes(
            self._column_array(X, var.position),
            var.categories,
            str(var.column),
            seen=seen,
        )

    def _learn_merges(self, rules, rule_sizes):
        sizes = dict(zip(rules.names, rule_sizes.tolist()))
        parents = rules.parents()
        order = {n: i for i, n in enumerate(rules.names)}
        merge_map = {n: n for n in rules.names}
        alive = set(rules.names)
        limit = self.min_size_ or 0
        else_name = rules.else_segment.name
        while True:
            small = [n for n in alive if n != else_name and sizes[n] < limit]
            if not small:
                break
            name = min(small, key=lambda n: (sizes[n], -order[n]))
            target = parents[name]
            while target not in alive:
                target = parents[target]
            sizes[target] += sizes[name]
            alive.discard(name)
            merge_map[name] = target
        for name in merge_map:
            target = merge_map[name]
            while merge_map[target] != target:
                target = merge_map[target]
            merge_map[name] = target
        return merge_map

    def _slots(self, X, var):
        """Slot of every row for one variable (int32); slot 0 = missing."""
        if var.kind == "text":
            return self._text_codes(X, var).astype(np.int32) + 1
        raw = self._column(X, var.position)
        if var.kind == "level":
            arr = raw.to_numpy() if isinstance(raw, pd.Series) else np.asarray(raw)
            if arr.dtype.kind in "iu":
                codes = arr
                bad = (codes < MISSING) | (codes >= var.n_levels)
                missing = codes == MISSING
            else:
                values = column_as_float(raw, var.column)
                missing = np.isnan(values) | (values == MISSING)
                bad = ~missing & (
                    (values < 0) | (values >= var.n_levels) | (values % 1 != 0)
                )
                codes = np.where(missing | bad, 0, values)
            if bad.any():
                example = arr[bad][0]
                raise ValueError(
                    f"Level column {var.column!r} holds {int(bad.sum())} value(s) "
                    f"that are not level codes 0..{var.n_levels - 1}, e.g. "
                    f"{example!r}; do the rules declare the right number of levels?"
                )
            slots = codes.astype(np.int32) + 1
            slots[missing] = 0
            return slots
        values = column_as_float(raw, str(var.column))
        n_inf = np.count_nonzero(np.isinf(values))
        if n_inf:
            raise infinite_values_error(str(var.column), int(n_inf))
        # compared as float64, like the kernels
        operands = np.asarray(var.operands, dtype=np.float64)
        slots = get_operator(var.op).holds(values, operands).astype(np.int32) + 1
        slots[np.isnan(values)] = 0
        return slots

    def _rule_index(self, X):
        """Declared-rule index of every row (ELSE = n rules); -1 if missing."""
        if self.rule_table_ is not None:
            n_rules = len(self.conditions_) + 1
            table = self.rule_table_.astype(signed_dtype(n_rules), copy=False)
            found = self._lookup(X, table)
            if found is not None:
                return found[0]
        return self._rule_index_reference(X)

    def _rule_index_reference(self, X):
        """Reference evaluation, one variable at a time; raises on bad input."""
        n = X.shape[0]
        variables = self._variables
        if self.rule_table_ is not None:
            index = np.zeros(n, dtype=np.int32)
            stride = 1
            for var in reversed(variables):
                index += self._slots(X, var) * stride
                stride *= var.domain
            return self.rule_table_[index]
        # no table (too many combinations): rules row by row, in blocks of
        # rows so the slot matrix stays small however many tests there are;
        # the whole column is validated first, so errors count every row
        for var in variables:
            self._slots(X, var)
        result = np.empty(n, dtype=np.int32)
        step = max(1, _ROW_BY_ROW_CELLS // max(1, len(variables)))
        for lo in range(0, n, step):
            block = X.iloc[lo : lo + step] if hasattr(X, "iloc") else X[lo : lo + step]
            slots = np.column_stack([self._slots(block, v) for v in variables])
            index = first_match(slots, self.conditions_)
            index[(slots == 0).any(axis=1)] = -1
            result[lo : lo + step] = index
        return result

    # -- state read from a file -----------------------------------------------------
    def _check_fitted_state(self):
        """The compiled state must be what the rules compile to (the kernels
        index the lookup table and the segment codes without bounds checks)."""
        super()._check_fitted_state()
        if "rules_" not in self.__dict__:
            return
        # variables_, conditions_ and rule_table_ were rebuilt from rules_ by
        # __setstate__; what fit learned from the data is checked here
        rules = RuleSet.from_dict(self.rules_)
        texts = [str(v.column) for v in self._variables if v.kind == "text"]
        categories = self.__dict__.get("text_categories_", {})
        if (
            not isinstance(categories, dict)
            or sorted(categories) != sorted(set(texts))
            or not all(
                isinstance(seen, list) and all(isinstance(c, str) for c in seen)
                for seen in categories.values()
            )
        ):
            raise ValueError("text_categories_ are not lists of text per text column")
        names = self.segment_names_
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("segment_names_ must be a list of names")
        codes = self.rule_codes_
        if (
            not isinstance(codes, np.ndarray)
            or codes.dtype.kind != "i"
            or codes.shape != (len(rules.names) + 1,)
            or codes.min() < -1
            or codes.max() >= len(names)
        ):
            raise ValueError("rule_codes_ are not codes of segment_names_")
        for split in self.splits_:
            cuts = np.asarray(split["cuts"], dtype=np.float64)
            first, pos = split["first_code"], split["position"]
            if (
                not isinstance(first, int)
                or not isinstance(pos, int)
                or not 0 <= pos < self.n_features_in_
                or not 0 <= first
                or first + cuts.size >= len(names)
                or not np.isfinite(cuts).all()
                or np.any(np.diff(cuts) < 0)
            ):
                raise ValueError(f"splits_ entry {split.get('segment')!r} is invalid")
        if np.shape(self.segment_counts_) != (len(names),):
            raise ValueError("segment_counts_ do not match segment_names_")
        levels = {
            str(v.column): v.n_levels for v in self._variables if v.kind == "level"
        }
        counts = self.__dict__.get("level_counts_", {})  # absent in older files
        if not isinstance(counts, dict) or not all(
            column in levels
            and isinstance(c, list)
            and len(c) == levels[column]
            and all(isinstance(i, int) and i >= 0 for i in c)
            for column, c in counts.items()
        ):
            raise ValueError(
                "level_counts_ are not row counts per level of level columns"
            )

    # -- fast path ----------------------------------------------------------------
    def _kernel_inputs(self, X):
        """Per variable, the arrays the kernels read; None when a column needs
        the reference path (which then raises the exact error, or converts)."""
        inputs = []
        for var in self._variables:
            if var.kind == "text":
                # text values become codes like a level column's
                inputs.append(("level", self._text_codes(X, var), var.n_levels))
                continue
            raw = self._column_array(X, var.position)
            if var.kind == "level":
                arr = raw if isinstance(raw, np.ndarray) else np.asarray(raw)
                if arr.dtype.kind not in "iu":
                    arr = _float_level_codes(raw, var.n_levels, str(var.column))
                    if arr is None:
                        return None
                inputs.append(("level", arr, var.n_levels))
                continue
            try:
                if isinstance(raw, np.ndarray) and raw.dtype == np.float64:
                    values = raw
                else:
                    values = column_as_float(
                        self._column(X, var.position), str(var.column)
                    )
                operands = np.asarray(var.operands, dtype=np.float64).ravel()
            except (TypeError, ValueError, OverflowError):
                return None
            if values.ndim != 1:
                return None
            inputs.append(("compare", values, var.op, operands))
        return inputs

    def _lookup(self, X, table):
        """``(values, counts)`` of the kernels, or None on invalid input."""
        inputs = self._kernel_inputs(X)
        if inputs is None:
            return None
        out = np.empty(X.shape[0], dtype=table.dtype)
        out, counts = _kernels.rule_lookup(inputs, table, out)
        if counts[:, 0].any() or counts[:, 2].any():
            return None  # invalid level codes or infinite values
        return out, counts

    def _raise_missing(self, X):
        suffix = self.level_suffix
        counts = {}
        for var in self._variables:
            n = int(np.count_nonzero(self._slots(X, var) == 0))
            column = str(var.column)
            label = repr(column)
            if var.kind == "level" and suffix and column.endswith(suffix):
                label = f"{column[: -len(suffix)]!r} (level column {column!r})"
            if n:
                counts.setdefault(label, n)
        detail = ", ".join(f"{label}: {n} row(s)" for label, n in counts.items())
        raise ValueError(
            f"Missing values (NaN) in tested column(s) ({detail}). A missing value "
            "never satisfies or fails a rule silently: clean the data or set "
            "nan_segment='<name>' (CLI: segment --nan-segment NAME) to route these rows to "
            "their own segment."
        )

    def _segment_codes(self, X, dtype=np.int32):
        """Segment code of every row, as ``dtype``."""
        if not self.splits_ and self.rule_table_ is not None:
            # one lookup straight to the segment codes: rules -> merges composed
            composed = self.rule_codes_[self.rule_table_]
            composed[composed < 0] = 0  # only missing rows; they raise below
            found = self._lookup(X, composed.astype(dtype, copy=False))
            if found is not None:
                codes, counts = found
                if self.nan_segment is None and counts[:, 1].any():
                    self._raise_missing(X)
                return codes
        return self._codes_from_rule_index(X, self._rule_index(X), dtype)

    def _codes_from_rule_index(self, X, rule_index, dtype):
        if self.nan_segment is None and rule_index.min(initial=0) < 0:
            self._raise_missing(X)
        if not self.splits_:
            return _kernels.take(self.rule_codes_.astype(dtype), rule_index)
        codes = self._apply_splits(X, _kernels.take(self.rule_codes_, rule_index))
        return codes.astype(dtype, copy=False)

    # -- public -----------------------------------------------------------------------
    def describe(self, cuts=None):
        """The rule tree in words, with learned cut values and fit sizes.

        Parameters
        ----------
        cuts : dict or PercentileThresholder, optional
            ``cuts_`` of the thresholder that made the level columns (or the
            fitted thresholder itself) to print the learned cut values.

        Returns
        -------
        str
            Printable description.

        Examples
        --------
        >>> import pandas as pd
        >>> from sklearn_mece import PercentileThresholder
        >>> X = pd.DataFrame({"aov": [10.0, 20.0, 30.0, 40.0], "days": [5, 50, 9, 90]})
        >>> t = PercentileThresholder({"aov": (50,)}).set_output(transform="pandas")
        >>> rules = {"levels": {"aov": ["low", "high"]},
        ...          "segments": [{"name": "Big", "when": [["aov", "==", "high"]]}]}
        >>> seg = HierarchicalSegmenter(rules).fit(t.fit_transform(X))
        >>> print(seg.describe(cuts=t))
        1. Big  [n=2]
           - aov is high (aov >= 25)
        2. Other  [n=2]
           ELSE: every row not matched above
        """
        check_is_fitted(self, "segment_names_")
        closed = "left"
        if cuts is not None and hasattr(cuts, "cuts_"):
            closed = getattr(cuts, "closed", "left")
            cuts = cuts.cuts_
        rules = RuleSet.from_dict(self.rules_)
        sizes = dict(zip(self.segment_names_, self.segment_counts_.tolist()))
        text = rules.describe(
            cuts=cuts,
            suffix=self.level_suffix,
            merge_map=self.merge_map_,
            sizes=sizes,
            closed=closed,
        )
        for split in self.splits_:
            text += (
                f"\nsplit {split['segment']!r} by {split['column']} at "
                f"{[round(c, 6) for c in split['cuts']]}"
            )
        if self.nan_segment is not None:
            text += f"\nmissing values -> {self.nan_segment}"
        return text

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # NaN in a column no rule tests passes through; in a tested column it is
        # refused or routed to ``nan_segment`` (see the class docstring).
        tags.input_tags.allow_nan = True
        return tags
