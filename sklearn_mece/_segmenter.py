"""HierarchicalSegmenter: an ordered rule list compiled to a lookup table."""

import functools

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from . import _kernels
from ._base import column_as_float
from ._compat import _fit_context
from ._levels import MISSING, signed_dtype
from ._rules import (
    _OPS,
    RuleSet,
    build_table,
    compile_rules,
    domain_size,
    first_match,
    load_rules,
)
from ._segment_base import (
    SEGMENT_OUTPUT_CONSTRAINTS,
    SegmentOutputMixin,
    SegmentSizeWarning,
)

__all__ = ["HierarchicalSegmenter", "SegmentSizeWarning"]


@functools.lru_cache(maxsize=64)
def _roll_permutation(doms):
    """Positions that move slot ``d - 1`` (missing) of every axis to slot 0."""
    if not doms:
        return np.zeros(1, dtype=np.intp)
    grid = np.arange(int(np.prod(doms)), dtype=np.intp).reshape(doms)
    perm = np.roll(grid, 1, axis=tuple(range(len(doms)))).ravel()
    perm.flags.writeable = False
    return perm


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
    min_size_, max_size_ : int or None
        Size limits in rows.
    n_features_in_ : int
        Number of columns seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the columns seen during fit, when X had string column names.

    See Also
    --------
    PercentileThresholder : Produces the level columns the rules test.
    RuleSet : The declaration of a segment hierarchy.

    Notes
    -----
    A merged segment's rows go to the segment it merged into; the merge map is
    learned at fit, so ``transform`` never depends on the batch it sees.

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
    """

    _parameter_constraints: dict = {
        "rules": [dict, list, tuple, RuleSet, str, None],
        **SEGMENT_OUTPUT_CONSTRAINTS,
        "level_suffix": [str],
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
        self.rules_ = rules.to_dict()
        self.variables_ = variables
        self.conditions_ = [[(v, list(a)) for v, a in conds] for conds in conditions]
        self.rule_table_ = build_table(variables, conditions)
        n_rows = X.shape[0]
        self.min_size_ = self._rows(self.min_size, n_rows)
        self.max_size_ = self._rows(self.max_size, n_rows)

        rule_index = self._rule_index(X)
        if self.nan_segment is None and rule_index.min(initial=0) < 0:
            self._raise_missing(X)
        rule_sizes = _kernels.bincount(rule_index, len(rules.names))
        self.merge_map_ = self._learn_merges(rules, rule_sizes)

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
        """Small-integer slot of every row for one variable; last slot = missing."""
        n_miss = domain_size(var) - 1
        raw = self._column(X, var["position"])
        if var["kind"] == "level":
            arr = raw.to_numpy() if isinstance(raw, pd.Series) else np.asarray(raw)
            if arr.dtype.kind in "iu":
                codes = arr
                bad = (codes < MISSING) | (codes >= var["n_levels"])
                missing = codes == MISSING
            else:
                values = column_as_float(raw, var["column"])
                missing = np.isnan(values) | (values == MISSING)
                bad = ~missing & (
                    (values < 0) | (values >= var["n_levels"]) | (values % 1 != 0)
                )
                codes = np.where(missing | bad, 0, values)
            if bad.any():
                example = arr[bad][0]
                raise ValueError(
                    f"Level column {var['column']!r} holds {int(bad.sum())} value(s) "
                    f"that are not level codes 0..{var['n_levels'] - 1}, e.g. "
                    f"{example!r}; do the rules declare the right number of levels?"
                )
            slots = codes.astype(np.int32)
            if missing.any():
                slots[missing] = n_miss
            return slots
        values = column_as_float(raw, str(var["column"]))
        n_inf = np.count_nonzero(np.isinf(values))
        if n_inf:
            raise ValueError(
                f"Column {var['column']!r} contains {n_inf} infinite value(s)."
            )
        if var["op"] in ("in", "not in"):
            hit = np.isin(values, np.asarray(var["value"], dtype=np.float64))
            if var["op"] == "not in":
                hit = ~hit
        else:
            hit = _OPS[var["op"]](values, var["value"])
        slots = hit.astype(np.int32)
        nan = np.isnan(values)
        if nan.any():
            slots[nan] = n_miss
        return slots

    def _rule_index(self, X):
        """Declared-rule index of every row (ELSE = n rules); -1 if missing."""
        if self.rule_table_ is not None:
            n_rules = len(self.conditions_) + 1
            table = self._rolled_table(self.rule_table_, signed_dtype(n_rules))
            found = self._lookup(X, table)
            if found is not None:
                return found[0]
        return self._rule_index_reference(X)

    def _rule_index_reference(self, X):
        """Reference evaluation, one variable at a time; raises on bad input."""
        n = X.shape[0]
        variables = self.variables_
        if self.rule_table_ is not None:
            index = np.zeros(n, dtype=np.int32)
            stride = 1
            for var in reversed(variables):
                index += self._slots(X, var) * stride
                stride *= domain_size(var)
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
            for j, var in enumerate(variables):
                index[slots[:, j] == domain_size(var) - 1] = -1
            result[lo : lo + step] = index
        return result

    # -- state read from a file -----------------------------------------------------
    def _check_fitted_state(self):
        """The compiled state must be what the rules compile to (the kernels
        index the lookup table and the segment codes without bounds checks)."""
        super()._check_fitted_state()
        if "rules_" not in self.__dict__:
            return
        rules = RuleSet.from_dict(self.rules_)
        variables, conditions = compile_rules(
            rules, lambda c: self._resolve_column(c, "rule column"), self.level_suffix
        )
        plain = [[(v, list(a)) for v, a in conds] for conds in conditions]
        if variables != self.variables_ or plain != [
            [(v, list(a)) for v, a in conds] for conds in self.conditions_
        ]:
            raise ValueError("variables_ / conditions_ are not the compiled rules_")
        table = build_table(variables, conditions)
        if (table is None) != (self.rule_table_ is None) or (
            table is not None
            and (
                not isinstance(self.rule_table_, np.ndarray)
                or self.rule_table_.dtype != table.dtype
                or not np.array_equal(self.rule_table_, table)
            )
        ):
            raise ValueError("rule_table_ is not the table of rules_")
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

    # -- fast path ----------------------------------------------------------------
    def _rolled_table(self, table, dtype):
        """``table`` with slot 0 of every axis meaning missing (the kernels' layout).

        The compiled table puts "missing" in the last slot of each variable;
        the kernels compute ``slot = code + 1`` so that a missing ``-1`` code
        lands in slot 0 without a branch.
        """
        doms = tuple(domain_size(v) for v in self.variables_)
        return np.asarray(table)[_roll_permutation(doms)].astype(dtype, copy=False)

    def _kernel_inputs(self, X):
        """Per variable, the arrays the kernels read; None when a column needs
        the reference path (which then raises the exact error, or converts)."""
        inputs = []
        for var in self.variables_:
            raw = self._column_array(X, var["position"])
            if var["kind"] == "level":
                arr = raw if isinstance(raw, np.ndarray) else np.asarray(raw)
                if arr.dtype.kind not in "iu":
                    arr = _float_level_codes(raw, var["n_levels"], str(var["column"]))
                    if arr is None:
                        return None
                inputs.append(("level", arr, var["n_levels"]))
                continue
            try:
                if isinstance(raw, np.ndarray) and raw.dtype == np.float64:
                    values = raw
                else:
                    values = column_as_float(
                        self._column(X, var["position"]), str(var["column"])
                    )
                if var["op"] in ("in", "not in"):
                    operands = np.asarray(var["value"], dtype=np.float64).ravel()
                else:
                    operands = np.array([float(var["value"])], dtype=np.float64)
            except (TypeError, ValueError, OverflowError):
                return None
            if values.ndim != 1:
                return None
            inputs.append(("compare", values, var["op"], operands))
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
        for var in self.variables_:
            n = int(np.count_nonzero(self._slots(X, var) == domain_size(var) - 1))
            column = str(var["column"])
            label = repr(column)
            if var["kind"] == "level" and suffix and column.endswith(suffix):
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
            found = self._lookup(X, self._rolled_table(composed, dtype))
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
        if cuts is not None and hasattr(cuts, "cuts_"):
            cuts = cuts.cuts_
        rules = RuleSet.from_dict(self.rules_)
        sizes = dict(zip(self.segment_names_, self.segment_counts_.tolist()))
        text = rules.describe(
            cuts=cuts, suffix=self.level_suffix, merge_map=self.merge_map_, sizes=sizes
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
