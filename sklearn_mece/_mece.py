"""Check that a segmentation is MECE: mutually exclusive, collectively exhaustive.

:func:`check_mece` audits either a labelling (one segment label per row) or a
set of boolean audience masks built elsewhere, against a universe, and returns
a :class:`MECEReport` holding only plain Python types.
"""

import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._base import to_plain

# Rows per block when the overlap (Gram) matrix of the masks is accumulated.
# Counts within a block stay below 2**24, so the float32 matrix product is
# exact; the totals are accumulated in int64.
_MAX_BLOCK_ROWS = 1 << 16
_BLOCK_ELEMENTS = 1 << 22
_MAX_LISTED_OVERLAPS = 20


@dataclass(frozen=True)
class MECEReport:
    """Result of :func:`check_mece`: segment sizes, overlaps, gaps and verdicts.

    All attributes are plain Python ints, dicts, tuples and bools (no numpy or
    pandas objects), so a report can be stored, compared and serialised as is.
    The verdicts (``count_check``, ``mutually_exclusive``, ...) are derived
    from the counts, so they can never disagree with them. Each parameter is
    stored as the attribute of the same name.

    Parameters
    ----------
    n_rows : int
        Number of rows in the universe.
    sizes : dict
        Segment name -> number of rows in it.
    overlaps : dict
        ``(a, b)`` -> number of rows in both segments.
    n_overlapping_rows : int
        Rows that belong to more than one segment.
    n_uncovered : int
        Rows of the universe that belong to no segment.
    n_outside_universe : int, default=0
        Rows that belong to a segment but not to the universe.
    unexpected_labels : tuple, default=()
        Segment names not in ``expected_labels``.
    expected_labels : tuple or None, default=None
        The expected labels, if any.

    Attributes
    ----------
    n_rows : int
        Number of rows in the universe.

    sizes : dict
        Segment name (label or mask name) -> number of rows in it, including
        rows outside the universe. Expected labels that no row carries are
        listed with size 0.

    overlaps : dict
        ``(a, b)`` -> number of rows in both segment ``a`` and segment ``b``,
        for the pairs that share at least one row; ``a`` comes before ``b``
        in ``sizes``. Always empty for a labelling.

    n_overlapping_rows : int
        Rows that belong to more than one segment.

    n_uncovered : int
        Rows of the universe that belong to no segment (gaps).

    n_outside_universe : int
        Rows that belong to a segment but not to the universe.

    unexpected_labels : tuple
        Segment names not in ``expected_labels`` (empty when it was not
        given).

    expected_labels : tuple or None
        The ``expected_labels`` passed to :func:`check_mece`, if any.

    See Also
    --------
    check_mece : Build a report.

    Examples
    --------
    >>> from sklearn_mece import check_mece
    >>> report = check_mece(["a", "b", "a", "b"])
    >>> bool(report), report.sizes
    (True, {'a': 2, 'b': 2})
    >>> report.to_dict()["is_mece"]
    True
    """

    n_rows: int
    sizes: dict
    overlaps: dict
    n_overlapping_rows: int
    n_uncovered: int
    n_outside_universe: int = 0
    unexpected_labels: tuple = ()
    expected_labels: tuple | None = None

    @property
    def n_assigned(self):
        """Sum of the segment sizes (a row in two segments counts twice)."""
        return sum(self.sizes.values())

    @property
    def count_check(self):
        """Whether the segment sizes add up to the universe size."""
        return self.n_assigned == self.n_rows

    @property
    def mutually_exclusive(self):
        """Whether no row belongs to two segments."""
        return self.n_overlapping_rows == 0

    @property
    def collectively_exhaustive(self):
        """Whether every row of the universe belongs to a segment."""
        return self.n_uncovered == 0

    @property
    def within_universe(self):
        """Whether every segment member belongs to the universe."""
        return self.n_outside_universe == 0

    @property
    def labels_expected(self):
        """Whether every segment name is among the expected labels."""
        return not self.unexpected_labels

    @property
    def is_mece(self):
        """Whether every check passes."""
        return (
            self.count_check
            and self.mutually_exclusive
            and self.collectively_exhaustive
            and self.within_universe
            and self.labels_expected
        )

    def __bool__(self):
        return self.is_mece

    def raise_if_invalid(self):
        """Raise ``ValueError`` with the report text unless the segmentation is MECE.

        Returns
        -------
        self : MECEReport
            The report itself, when every check passes.

        Raises
        ------
        ValueError
            If any check fails; the message is ``str(self)``.

        Examples
        --------
        >>> from sklearn_mece import check_mece
        >>> check_mece(["a", None]).raise_if_invalid()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: MECE check: FAIL (2 of 4 checks failed)
        ...
        """
        if not self.is_mece:
            raise ValueError(str(self))
        return self

    def to_dict(self):
        """Return the report as JSON-serialisable plain types.

        Segment names become strings (``str(name)``, or ``repr(name)`` if two
        names would share a string). Overlaps become a list of
        ``{"a": ..., "b": ..., "count": ...}`` records.

        Returns
        -------
        report : dict
            Counts, sizes, overlaps and every verdict.

        Examples
        --------
        >>> import json
        >>> from sklearn_mece import check_mece
        >>> d = check_mece(masks={"x": [True, False], "y": [True, True]}).to_dict()
        >>> d["overlaps"]
        [{'a': 'x', 'b': 'y', 'count': 1}]
        >>> json.loads(json.dumps(d)) == d
        True
        """
        # ``sizes`` lists every name: expected ones (size 0 if absent) and
        # unexpected ones alike.
        names = list(self.sizes)
        keys = [str(name) for name in names]
        if len(set(keys)) < len(keys):
            keys = [repr(name) for name in names]
        key = dict(zip(names, keys, strict=True))

        def _key(name):
            return key.get(name, str(name))

        return {
            "n_rows": self.n_rows,
            "n_assigned": self.n_assigned,
            "sizes": {_key(name): int(count) for name, count in self.sizes.items()},
            "overlaps": [
                {"a": _key(a), "b": _key(b), "count": int(count)}
                for (a, b), count in self.overlaps.items()
            ],
            "n_overlapping_rows": self.n_overlapping_rows,
            "n_uncovered": self.n_uncovered,
            "n_outside_universe": self.n_outside_universe,
            "unexpected_labels": [_key(name) for name in self.unexpected_labels],
            "expected_labels": (
                None
                if self.expected_labels is None
                else [_key(name) for name in self.expected_labels]
            ),
            "count_check": self.count_check,
            "mutually_exclusive": self.mutually_exclusive,
            "collectively_exhaustive": self.collectively_exhaustive,
            "within_universe": self.within_universe,
            "labels_expected": self.labels_expected,
            "is_mece": self.is_mece,
        }

    def _checks(self):
        """Each check: name, whether it holds, detail."""
        checks = [
            (
                "count check",
                self.count_check,
                f"sum of segment sizes {self.n_assigned:,} vs universe {self.n_rows:,}",
            ),
            (
                "mutually exclusive",
                self.mutually_exclusive,
                f"{self.n_overlapping_rows:,} rows in more than one segment",
            ),
            (
                "collectively exhaustive",
                self.collectively_exhaustive,
                f"{self.n_uncovered:,} rows in no segment",
            ),
            (
                "within universe",
                self.within_universe,
                f"{self.n_outside_universe:,} segment rows outside the universe",
            ),
        ]
        if self.expected_labels is not None:
            checks.append(
                (
                    "expected labels",
                    self.labels_expected,
                    f"{len(self.unexpected_labels)} unexpected segment names",
                )
            )
        return [{"name": n, "ok": bool(ok), "detail": d} for n, ok, d in checks]

    def _html_context(self):
        """What the MECE templates read."""
        return {
            "mece_pass": bool(self.is_mece),
            "mece_checks": self._checks(),
            "mece_text": str(self),
        }

    def _repr_html_(self):
        from ._templates import render

        return render("mece.html.j2", **self._html_context())

    def __str__(self):
        def pct(count, always=False):
            if not self.n_rows or not (count or always):
                return ""
            return f" ({100.0 * count / self.n_rows:.2f} %)"

        def flag(ok):
            return "[PASS]" if ok else "[FAIL]"

        checks = [
            self.count_check,
            self.mutually_exclusive,
            self.collectively_exhaustive,
            self.within_universe,
        ]
        if self.expected_labels is not None:
            checks.append(self.labels_expected)
        n_failed = checks.count(False)
        verdict = "PASS" if n_failed == 0 else "FAIL"
        head = f"MECE check: {verdict}"
        if n_failed:
            head += f" ({n_failed} of {len(checks)} checks failed)"
        relation = "==" if self.count_check else "!="
        lines = [
            head,
            f"  universe: {self.n_rows:,} rows, {len(self.sizes)} segments",
            f"  {flag(self.count_check)} count check: sum of segment sizes "
            f"{self.n_assigned:,} {relation} universe size {self.n_rows:,}",
            f"  {flag(self.mutually_exclusive)} mutually exclusive: "
            f"{self.n_overlapping_rows:,} rows in more than one segment"
            f"{pct(self.n_overlapping_rows)}",
        ]
        for i, ((a, b), count) in enumerate(self.overlaps.items()):
            if i == _MAX_LISTED_OVERLAPS:
                lines.append(
                    f"      ... and {len(self.overlaps) - i} more overlapping pairs"
                )
                break
            lines.append(f"      {a} & {b}: {count:,} rows")
        lines += [
            f"  {flag(self.collectively_exhaustive)} collectively exhaustive: "
            f"{self.n_uncovered:,} universe rows in no segment{pct(self.n_uncovered)}",
            f"  {flag(self.within_universe)} within universe: "
            f"{self.n_outside_universe:,} segment rows outside the universe",
        ]
        if self.expected_labels is not None:
            unexpected = ", ".join(map(str, self.unexpected_labels))
            lines.append(
                f"  {flag(self.labels_expected)} expected labels: "
                f"{len(self.unexpected_labels)} unexpected segment names"
                + (f": {unexpected}" if unexpected else "")
            )
        lines.append("  segment sizes:")
        width = max((len(str(name)) for name in self.sizes), default=0)
        count_width = max((len(f"{c:,}") for c in self.sizes.values()), default=0)
        lines += [
            f"    {str(name):<{width}}  {count:>{count_width},}{pct(count, True)}"
            for name, count in self.sizes.items()
        ]
        return "\n".join(lines)


def check_mece(labels=None, *, masks=None, universe=None, expected_labels=None):
    """Check that a segmentation is mutually exclusive and collectively exhaustive.

    Give either ``labels`` (one segment label per row; a missing label means
    the row was left unassigned) or ``masks`` (one boolean membership mask per
    audience, e.g. audiences built by separate queries). The checks are:

    - **count check**: the segment sizes add up to the universe size;
    - **mutually exclusive**: no row is in two segments (for masks, every
      pairwise intersection is counted; a labelling is exclusive by
      construction);
    - **collectively exhaustive**: every universe row is in some segment;
    - **within universe**: no segment holds a row outside the universe
      (only possible when ``universe`` is given);
    - **expected labels** (only when ``expected_labels`` is given): every
      segment name is an expected one.

    The count check alone is not enough: an overlap and a gap of the same
    size cancel out in it, which is why the other checks are row-level.

    Parameters
    ----------
    labels : array-like of shape (n_rows,), default=None
        Segment label of every row: list, ndarray, pandas Series, Index or
        Categorical. ``None``, ``NaN``, ``NaT`` and ``pd.NA`` mean
        "unassigned" and count as gaps. Every other value, including
        sentinels such as ``-1``, is a segment: pass ``expected_labels`` to
        catch those. The categories of a categorical are all listed in
        ``sizes``, used or not.

    masks : dict or pandas.DataFrame, default=None
        Segment name -> boolean array-like of shape (n_rows,), or a DataFrame
        with one boolean column per segment. All masks must have the same
        length; pandas masks must share the same index. Nullable booleans
        must not hold missing values.

    universe : int or bool array-like of shape (n_rows,), default=None
        The rows that must be partitioned. A boolean mask selects them among
        the rows of ``labels``/``masks`` (a row outside it that belongs to a
        segment fails the "within universe" check). An int is the universe
        size when row identity is not available: gaps and out-of-universe
        rows are then inferred from counts. Defaults to all rows.

    expected_labels : iterable, default=None
        The allowed segment names. Those that no row carries are listed in
        ``sizes`` with size 0 (not a failure).

    Returns
    -------
    report : MECEReport
        Truthy iff every check passes; see :class:`MECEReport`.

    Raises
    ------
    ValueError
        If both or neither of ``labels`` and ``masks`` are given, if inputs
        are not 1-D, not boolean where required, of different lengths, or
        on different pandas indexes.

    Notes
    -----
    For masks, the pairwise overlap counts are the off-diagonal entries of
    the Gram matrix ``M.T @ M`` of the (n_rows, n_segments) 0/1 membership
    matrix, computed block by block with a float32 matrix product (exact,
    since a block has fewer than 2**24 rows) and accumulated in int64, so
    the cost is one pass over the masks whatever the number of pairs.

    Examples
    --------
    A labelling with one unassigned row:

    >>> from sklearn_mece import check_mece
    >>> report = check_mece(["vip", "other", None, "other"])
    >>> report.sizes
    {'other': 2, 'vip': 1}
    >>> report.n_uncovered, report.collectively_exhaustive, report.is_mece
    (1, False, False)

    Audiences built separately, two of which share a row:

    >>> import numpy as np
    >>> aov = np.array([900.0, 120.0, 80.0, 60.0])
    >>> engagement = np.array([0.9, 0.8, 0.2, 0.9])
    >>> masks = {
    ...     "high_aov": aov >= 500,
    ...     "engaged": engagement >= 0.7,
    ...     "rest": (aov < 500) & (engagement < 0.7),
    ... }
    >>> report = check_mece(masks=masks)
    >>> report.overlaps
    {('high_aov', 'engaged'): 1}
    >>> print(report)
    MECE check: FAIL (2 of 4 checks failed)
      universe: 4 rows, 3 segments
      [FAIL] count check: sum of segment sizes 5 != universe size 4
      [FAIL] mutually exclusive: 1 rows in more than one segment (25.00 %)
          high_aov & engaged: 1 rows
      [PASS] collectively exhaustive: 0 universe rows in no segment
      [PASS] within universe: 0 segment rows outside the universe
      segment sizes:
        high_aov  1 (25.00 %)
        engaged   3 (75.00 %)
        rest      1 (25.00 %)
    """
    if (labels is None) == (masks is None):
        raise ValueError("Pass exactly one of `labels` or `masks`.")
    if expected_labels is not None:
        if isinstance(expected_labels, (str, bytes)):
            raise TypeError(
                "expected_labels must be a collection of labels, not a string."
            )
        expected_labels = tuple(dict.fromkeys(_py(x) for x in expected_labels))

    if labels is not None:
        names, sizes, covered, index = _labels_counts(labels)
        n = covered.shape[0]
        overlaps = {}
        n_overlapping = 0
        universe_size, universe_mask = _check_universe(universe, n, index)
        n_covered = int(np.count_nonzero(covered))
        if universe_mask is not None:
            covered_in_universe = int(np.count_nonzero(covered & universe_mask))
    else:
        names, arrays, index = _mask_arrays(masks)
        n = arrays[0].shape[0]
        universe_size, universe_mask = _check_universe(universe, n, index)
        gram, n_overlapping, n_covered, covered_in_universe = _mask_counts(
            arrays, universe_mask
        )
        sizes = np.diagonal(gram)
        overlaps = {
            (names[i], names[j]): int(gram[i, j])
            for i, j in zip(*np.nonzero(np.triu(gram, k=1)), strict=True)
        }

    if universe_mask is not None:
        n_uncovered = universe_size - covered_in_universe
        n_outside = n_covered - covered_in_universe
    else:
        n_uncovered = max(universe_size - n_covered, 0)
        n_outside = max(n_covered - universe_size, 0)

    size_dict = {name: int(count) for name, count in zip(names, sizes, strict=True)}
    unexpected = ()
    if expected_labels is not None:
        expected = set(expected_labels)
        unexpected = tuple(name for name in size_dict if name not in expected)
        ordered = {name: size_dict.get(name, 0) for name in expected_labels}
        ordered.update((name, size_dict[name]) for name in unexpected)
        size_dict = ordered

    return MECEReport(
        n_rows=int(universe_size),
        sizes=size_dict,
        overlaps=overlaps,
        n_overlapping_rows=int(n_overlapping),
        n_uncovered=int(n_uncovered),
        n_outside_universe=int(n_outside),
        unexpected_labels=unexpected,
        expected_labels=expected_labels,
    )


def _py(value):
    """Turn a numpy scalar into the equivalent Python scalar."""
    return to_plain(value)


def _check_index(obj, index, what):
    """Return the pandas index to align on; raise if ``obj`` is misaligned."""
    obj_index = getattr(obj, "index", None)
    if not isinstance(obj, (pd.Series, pd.DataFrame)) or obj_index is None:
        return index
    if index is not None and not obj_index.equals(index):
        raise ValueError(
            f"{what} has a different pandas index from the other inputs; "
            "align them first (e.g. with .reindex) so rows match."
        )
    return obj_index


def _labels_counts(labels):
    """Factorize labels: names, per-name counts, assigned-row mask, index."""
    index = _check_index(labels, None, "labels")
    if isinstance(labels, (pd.Series, pd.Index)):
        values = labels.array
    elif isinstance(labels, pd.api.extensions.ExtensionArray):
        values = labels
    elif isinstance(labels, pd.DataFrame):
        raise ValueError("labels must be 1-D; got a DataFrame. Pass one column.")
    else:
        values = np.asarray(labels)
        if values.ndim != 1:
            raise ValueError(
                f"labels must be 1-D, got an array of shape {values.shape}."
            )

    if isinstance(values, pd.Categorical):
        codes = np.asarray(values.codes, dtype=np.intp)
        uniques = values.categories
    else:
        try:
            codes, uniques = pd.factorize(values, sort=True)
        except TypeError:  # labels of mixed types cannot be sorted
            codes, uniques = pd.factorize(values, sort=False)
    names = [_py(x) for x in uniques]
    counts = np.bincount(codes + 1, minlength=len(names) + 1)[1:]
    return names, counts, codes >= 0, index


def _as_bool_1d(values, what, index):
    """Validate one boolean mask; return (ndarray of bool, index)."""
    index = _check_index(values, index, what)
    if isinstance(values, pd.Series):
        if not pd.api.types.is_bool_dtype(values.dtype):
            raise ValueError(
                f"{what} must be boolean, got dtype {values.dtype}; "
                "use .astype(bool) if it holds 0/1 values."
            )
        if values.hasnans:
            raise ValueError(f"{what} holds missing values; fill them first.")
        return values.to_numpy(dtype=bool), index
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got an array of shape {arr.shape}.")
    if arr.dtype != np.bool_:
        raise ValueError(
            f"{what} must be boolean, got dtype {arr.dtype}; "
            "use .astype(bool) if it holds 0/1 values."
        )
    return arr, index


def _mask_arrays(masks):
    """Validate ``masks``: names, list of equal-length bool arrays, index."""
    if isinstance(masks, pd.DataFrame):
        if not masks.columns.is_unique:
            raise ValueError("masks has duplicated column names.")
        items = [(name, masks.iloc[:, j]) for j, name in enumerate(masks.columns)]
    elif isinstance(masks, Mapping):
        items = list(masks.items())
    else:
        raise TypeError(
            "masks must be a dict of name -> boolean array or a DataFrame of "
            f"boolean columns, got {type(masks).__name__}."
        )
    if not items:
        raise ValueError("masks must hold at least one segment.")
    names, arrays, index = [], [], None
    for name, values in items:
        arr, index = _as_bool_1d(values, f"mask {name!r}", index)
        if arrays and arr.shape[0] != arrays[0].shape[0]:
            raise ValueError(
                f"All masks must have the same length: mask {names[0]!r} has "
                f"{arrays[0].shape[0]} rows, mask {name!r} has {arr.shape[0]}."
            )
        names.append(_py(name))
        arrays.append(arr)
    return names, arrays, index


def _check_universe(universe, n, index):
    """Return (universe size, boolean mask or None)."""
    if universe is None:
        return n, None
    if isinstance(universe, (bool, np.bool_)):
        raise TypeError("universe must be an int or a boolean mask, not a bool.")
    if isinstance(universe, numbers.Integral):
        if universe < 0:
            raise ValueError(f"universe must be >= 0, got {universe}.")
        return int(universe), None
    arr, _ = _as_bool_1d(universe, "universe", index)
    if arr.shape[0] != n:
        raise ValueError(
            f"universe mask has {arr.shape[0]} rows but the segmentation has {n}."
        )
    return int(np.count_nonzero(arr)), arr


def _mask_counts(arrays, universe_mask):
    """One blocked pass over the masks.

    Returns the int64 Gram matrix (sizes on the diagonal, pairwise overlaps
    off it), the number of rows in 2+ segments, in 1+ segments, and in 1+
    segments and the universe.
    """
    k = len(arrays)
    n = arrays[0].shape[0]
    block = int(min(_MAX_BLOCK_ROWS, max(1024, _BLOCK_ELEMENTS // k)))
    buf = np.empty((k, min(block, max(n, 1))), dtype=np.float32)
    gram = np.zeros((k, k), dtype=np.int64)
    n_overlapping = n_covered = covered_in_universe = 0
    for start in range(0, n, block):
        stop = min(start + block, n)
        b = buf[:, : stop - start]
        for j, arr in enumerate(arrays):
            b[j] = arr[start:stop]
        gram += np.rint(b @ b.T).astype(np.int64)
        per_row = b.sum(axis=0)
        n_overlapping += int(np.count_nonzero(per_row > 1.5))
        covered = per_row > 0.5
        n_covered += int(np.count_nonzero(covered))
        if universe_mask is not None:
            covered_in_universe += int(
                np.count_nonzero(covered & universe_mask[start:stop])
            )
    return gram, n_overlapping, n_covered, covered_in_universe
