"""The rule model: segments and conditions as plain data, compiled to a lookup table.

A segmentation is declared as an ordered list of segments, each a name and a
conjunction of conditions, followed by an ELSE segment. A row belongs to the
first segment whose conditions all hold, else to the ELSE segment: mutually
exclusive and collectively exhaustive by construction.

A condition is a triple ``(column, op, value)``:

* a **level test** when ``column`` is a feature declared in ``levels`` and
  ``value`` is a level name or a list of names (``("avg_order_value", "==",
  "high")``, ``("engagement_score", "in", ["low", "medium"])``,
  ``("engagement_score", ">=", "medium")``). It reads the feature's level column
  ``<column><suffix>`` produced by :class:`PercentileThresholder`. Naming the
  level column itself with integer codes works too (``("x0_level", "==", 2)``).
  A number on the declared feature itself (``("avg_order_value", ">=", 2)``)
  would be ambiguous (a level code, or the raw value?) and is refused when the
  rules are built.
* a **text test** when ``column`` is not a declared feature (nor its level
  column) and ``value`` is text or a list of texts (``("country", "==",
  "US")``, ``("channel", "in", ["web", "app"])``). Text has no order: only
  ``==``, ``!=``, ``in`` and ``not in`` apply. The column must hold text
  (object, ``str``/``string``, categorical or polars string values); a text
  test of a numeric column is an error at fit naming the column (a level name
  on a feature whose levels were not declared reads as text, so the message
  says to declare them).
* a **comparison** of a raw column with a number otherwise
  (``("days_since_last_order", "<=", 30)``, ``("x3", "in", [1, 2])``); the
  column must hold numbers (a number compared with a text column is an error
  at fit naming the column).

So the value decides: text on an undeclared column is a text test, a number is
a numeric comparison, and one condition never mixes the two.

The same declaration is used by the segmenter, ``describe()``, the exporters
and the command line; it round-trips through JSON (and loads from TOML).
Compilation turns every distinct test into a small-integer variable
(:class:`CompiledVariable`: a level code, a false/true comparison, or the
listed value a text column holds), evaluates the rules once over every
combination of variable values, and leaves one table lookup per row. Slot ``0``
of every variable means *missing*, the layout the kernels read: a level code
``c`` is slot ``c + 1``, a comparison is slot 1 (false) or 2 (true), and a text
column whose conditions list ``k`` values has slot ``i + 1`` for the ``i``-th
listed value and slot ``k + 1`` for any other value. When that table would
hold more than :data:`MAX_TABLE_SIZE` entries (the product of the variables'
domain sizes: about 12 comparisons), no table is built and the rules are
evaluated row by row (:func:`first_match`), with the same result.

Every part of a declaration is validated when it is built: a malformed one
raises a ``ValueError`` (a wrong value) or a ``TypeError`` (a wrong kind of
value, e.g. a string where a list is expected) whose message starts with where
the problem is (``segments[2]: Segment 'Lapsing', when[0]: ...``).
"""

import contextlib
import json
import math
import os
import reprlib
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from ._base import to_plain
from ._levels import default_level_names
from ._operators import OPERATORS
from ._version import DOCS_URL, docs_version

#: Most entries of a compiled lookup table; beyond it the rules are evaluated
#: row by row (see :func:`build_table`).
MAX_TABLE_SIZE = 1 << 20

#: Largest rules file :func:`load_rules` reads, in bytes (1 MiB). A rules file
#: is a few kilobytes; the limit keeps a wrong path (a log, a device) from
#: being read into memory.
MAX_RULES_FILE_BYTES = 1 << 20

#: The keys each declaration accepts: read by the loader and by the JSON Schema
#: of rules files (:func:`rules_schema`).
RULES_KEYS = ("levels", "domains", "segments", "else")
SEGMENT_KEYS = ("name", "when", "parent", "description", "strategy")
LEVEL_KEYS = ("names", "percentiles")
CONDITION_KEYS = ("column", "op", "value")
DOMAIN_KEYS = ("min", "max")

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 8


def _short(value):
    """``repr`` for messages: bounded in length and depth, never recursive."""
    return _REPR.repr(value)


def _kind(value):
    """``"str 'abc'"``: the type and a short repr of a value, for messages."""
    return f"{type(value).__name__} {_short(value)}"


def _as_list(value, what, expected="a list"):
    """``value`` as a list when it is a list, a tuple or a 1-d array.

    The one place that decides what counts as a list in a declaration: a str,
    bytes or a mapping is iterable but never a list here (taking it for one
    would split a name into characters or keep only a dict's keys); neither is
    a set (its order is arbitrary).

    Raises
    ------
    TypeError
        Naming ``what`` and what was given.
    """
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return list(value)
    raise TypeError(f"{what} must be {expected}, got {_kind(value)}.")


def _as_mapping(value, what, expected="a mapping"):
    """``value`` as a dict when it is a mapping; else a TypeError naming ``what``."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{what} must be {expected}, got {_kind(value)}.")


def _check_keys(obj, what, allowed, required=()):
    """Refuse unknown and missing keys of a declaration dict."""
    unknown = sorted((k for k in obj if k not in allowed), key=str)
    if unknown:
        raise ValueError(
            f"{what}: unknown keys {_short(unknown)}; allowed: {sorted(allowed)}."
        )
    missing = [k for k in required if k not in obj]
    if missing:
        raise ValueError(f"{what}: missing keys {missing}; got {_short(obj)}.")


def _check_name(value, what):
    """A name (segment, level, feature): a non-empty string."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a non-empty string, got {_kind(value)}.")
    if not value:
        raise ValueError(f"{what} must be a non-empty string, got ''.")
    return value


@contextlib.contextmanager
def _located(where):
    """Prefix a ValueError/TypeError raised inside with where it happened."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        if type(exc) not in (ValueError, TypeError):
            raise
        raise type(exc)(f"{where}: {exc}") from None


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_)
    )


def _is_finite(v):
    """Whether a number is finite and within the float range."""
    try:
        return math.isfinite(v)
    except OverflowError:  # an int beyond the float range
        return False


@dataclass(frozen=True)
class Condition:
    """One test of a segment: ``column op value``.

    Parameters
    ----------
    column : str or int
        A feature declared with levels, its level column, or a raw column
        (a non-empty name, or a position).
    op : {"==", "!=", "<", "<=", ">", ">=", "in", "not in"}
        Comparison (see :data:`sklearn_mece._operators.OPERATORS`).
        ``in``/``not in`` take a list.
    value : str, number or list
        Level name(s) for a level test, level code(s) for a test of a level
        column, text(s) for a text test of another column, number(s) for a
        comparison.

    Examples
    --------
    >>> Condition.from_obj(["days_since_last_order", "<=", 30])
    Condition(column='days_since_last_order', op='<=', value=30)
    >>> Condition.from_obj({"column": "aov", "op": "in", "value": ["medium", "high"]})
    Condition(column='aov', op='in', value=('medium', 'high'))
    >>> Condition.from_obj(["channel", "not in", ["web", "app"]])
    Condition(column='channel', op='not in', value=('web', 'app'))
    >>> Condition("aov", "in", "high")
    Traceback (most recent call last):
    ...
    TypeError: Condition on 'aov': 'in' must be given a list of values, got str 'high'.
    """

    column: str | int
    op: str
    value: object

    def __post_init__(self):
        column = self.column
        if isinstance(column, (int, np.integer)) and not isinstance(
            column, (bool, np.bool_)
        ):
            object.__setattr__(self, "column", int(column))
        elif not isinstance(column, str) or not column:
            error = ValueError if isinstance(column, str) else TypeError
            raise error(
                "A condition's column must be a name (a non-empty string) or an "
                f"integer position, got {_kind(column)}."
            )
        where = f"Condition on {_short(self.column)}"
        if not isinstance(self.op, str) or self.op not in OPERATORS:
            raise ValueError(
                f"{where}: unknown operator {_short(self.op)}; use one of "
                f"{list(OPERATORS)}."
            )
        takes_list = OPERATORS[self.op].takes_list
        if takes_list:
            values = _as_list(
                self.value,
                f"{where}: {self.op!r}",
                expected="given a list of values",
            )
        elif isinstance(self.value, (list, tuple, np.ndarray)):
            raise ValueError(
                f"{where}: {self.op!r} needs a single value, got "
                f"{_short(self.value)}; use 'in' for a set."
            )
        else:
            values = [self.value]
        for v in values:
            if not (isinstance(v, str) or _is_number(v)):
                raise TypeError(
                    f"{where}: value {_kind(v)} must be a string (a level name "
                    "or a text) or a number."
                )
            if _is_number(v) and not _is_finite(v):
                raise ValueError(
                    f"{where}: value {_short(v)} must be a finite number within "
                    "the float range."
                )
        values = [to_plain(v) for v in values]
        object.__setattr__(self, "value", tuple(values) if takes_list else values[0])

    @property
    def operator(self):
        """The :class:`~sklearn_mece._operators.Operator` of ``op``."""
        return OPERATORS[self.op]

    @property
    def values(self):
        """The compared values as a tuple."""
        return self.value if self.operator.takes_list else (self.value,)

    @classmethod
    def from_obj(cls, obj):
        """Build from ``[column, op, value]`` or ``{"column", "op", "value"}``.

        Parameters
        ----------
        obj : list, tuple, dict or Condition
            ``[column, op, value]``, or a dict with ``column``, ``value`` and
            optionally ``op`` (``"=="`` by default); a Condition is returned
            as it is.

        Returns
        -------
        Condition
            The validated condition.
        """
        if isinstance(obj, Condition):
            return obj
        if isinstance(obj, Mapping):
            _check_keys(
                obj,
                "A condition dict",
                set(CONDITION_KEYS),
                required=("column", "value"),
            )
            return cls(obj["column"], obj.get("op", "=="), obj["value"])
        items = _as_list(
            obj, "A condition", expected="[column, op, value] or a dict of those keys"
        )
        if len(items) != 3:
            raise ValueError(
                f"A condition is [column, op, value]; got {len(items)} item(s): "
                f"{_short(obj)}."
            )
        return cls(*items)

    def to_dict(self):
        """Plain-data form (JSON-ready).

        Returns
        -------
        dict
            ``{"column": ..., "op": ..., "value": ...}``; the value is a list
            for ``in``/``not in``.
        """
        value = list(self.value) if self.operator.takes_list else self.value
        return {"column": self.column, "op": self.op, "value": value}


def _conditions_from(when):
    """Accept a list of conditions, or the dict shorthand ``{column: spec}``."""
    if when is None:
        return ()
    if isinstance(when, Mapping):
        out = []
        for column, spec in when.items():
            with _located(f"when[{_short(column)}]"):
                if isinstance(spec, (list, tuple, np.ndarray)):
                    spec = _as_list(spec, "A condition")
                    if (
                        len(spec) == 2
                        and isinstance(spec[0], str)
                        and spec[0] in OPERATORS
                    ):
                        out.append(Condition(column, spec[0], spec[1]))
                    else:
                        out.append(Condition(column, "in", spec))
                else:
                    out.append(Condition(column, "==", spec))
        return tuple(out)
    items = _as_list(
        when,
        "'when'",
        expected="a list of conditions or a {column: condition} mapping",
    )
    out = []
    for j, c in enumerate(items):
        with _located(f"when[{j}]"):
            out.append(Condition.from_obj(c))
    return tuple(out)


@dataclass(frozen=True)
class Segment:
    """A named segment: the conjunction of its conditions.

    Parameters
    ----------
    name : str
        Unique segment name.
    conditions : tuple of Condition
        All must hold. An empty tuple matches every remaining row.
    parent : str, optional
        Segment that absorbs this one when it is smaller than ``min_size``
        (default: the ELSE segment).
    description : str, optional
        The business case.
    strategy : str, optional
        The marketing strategy.

    Examples
    --------
    >>> seg = Segment.from_obj({"name": "Recent", "when": {"days": ["<=", 30]},
    ...                         "strategy": "soft reminder"})
    >>> seg.conditions
    (Condition(column='days', op='<=', value=30),)
    >>> seg.to_dict()["when"]
    [{'column': 'days', 'op': '<=', 'value': 30}]
    >>> Segment.from_obj({"name": "Recent", "when": 5})
    Traceback (most recent call last):
    ...
    TypeError: Segment 'Recent': 'when' must be a list of conditions or a {column: condition} mapping, got int 5.
    """

    name: str
    conditions: tuple = ()
    parent: str | None = None
    description: str | None = None
    strategy: str | None = None

    def __post_init__(self):
        _check_name(self.name, "A segment name")
        with _located(f"Segment {_short(self.name)}"):
            if self.parent is not None:
                _check_name(self.parent, "'parent' (a segment name)")
            for key in ("description", "strategy"):
                value = getattr(self, key)
                if value is not None and not isinstance(value, str):
                    raise TypeError(f"{key!r} must be a string, got {_kind(value)}.")
            conditions = _conditions_from(self.conditions)
        object.__setattr__(self, "conditions", conditions)

    @classmethod
    def from_obj(cls, obj):
        """Build from a dict with ``name``, ``when`` and optional fields.

        Parameters
        ----------
        obj : dict or Segment
            ``name`` (required), ``when``, ``parent``, ``description``,
            ``strategy``; a Segment is returned as it is.

        Returns
        -------
        Segment
            The validated segment.
        """
        if isinstance(obj, Segment):
            return obj
        obj = _as_mapping(obj, "A segment", expected="a dict with at least 'name'")
        what = (
            f"Segment {_short(obj['name'])}"
            if isinstance(obj.get("name"), str)
            else "A segment"
        )
        _check_keys(obj, what, set(SEGMENT_KEYS), required=("name",))
        return cls(
            name=obj["name"],
            conditions=obj.get("when"),
            parent=obj.get("parent"),
            description=obj.get("description"),
            strategy=obj.get("strategy"),
        )

    def to_dict(self):
        """Plain-data form (JSON-ready); optional fields only when set.

        Returns
        -------
        dict
            ``name`` and ``when`` (the conditions' :meth:`Condition.to_dict`),
            then ``parent``, ``description`` and ``strategy`` where set.
        """
        out = {"name": self.name, "when": [c.to_dict() for c in self.conditions]}
        for key in ("parent", "description", "strategy"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass(frozen=True)
class LevelSpec:
    """Declared levels of a thresholded feature.

    Parameters
    ----------
    names : list of str
        Level names, lowest first (code ``i`` is ``names[i]``); at least two,
        distinct, non-empty.
    percentiles : list of float, optional
        Percentiles the cuts are learned at (``len(names) - 1`` of them,
        strictly ascending, in [0, 100]); lets one declaration configure the
        thresholder too.

    Examples
    --------
    >>> LevelSpec.from_obj({"percentiles": [40, 75]})
    LevelSpec(names=('low', 'medium', 'high'), percentiles=(40.0, 75.0))
    >>> LevelSpec.from_obj({"names": "high"})
    Traceback (most recent call last):
    ...
    TypeError: 'names' must be a list of level names, got str 'high'.
    """

    names: tuple
    percentiles: tuple | None = None

    def __post_init__(self):
        names = _as_list(self.names, "'names'", expected="a list of level names")
        for i, name in enumerate(names):
            _check_name(name, f"'names'[{i}] (a level name)")
        if len(names) < 2 or len(set(names)) != len(names):
            raise ValueError(
                f"Levels need at least two distinct names, got {_short(names)}."
            )
        object.__setattr__(self, "names", tuple(names))
        if self.percentiles is not None:
            q = _as_list(
                self.percentiles, "'percentiles'", expected="a list of numbers"
            )
            for p in q:
                if not _is_number(p):
                    raise TypeError(
                        f"'percentiles' must be numbers, got {_kind(p)} in {_short(q)}."
                    )
            if len(q) != len(names) - 1:
                raise ValueError(
                    f"{len(names)} levels need {len(names) - 1} percentiles, got "
                    f"{len(q)}: {_short(q)}."
                )
            if not all(_is_finite(p) and 0 <= p <= 100 for p in q):
                raise ValueError(f"'percentiles' must be in [0, 100], got {_short(q)}.")
            q = [float(p) for p in q]
            if any(b <= a for a, b in zip(q, q[1:])):
                raise ValueError(
                    f"'percentiles' must be strictly ascending, got {_short(q)}."
                )
            object.__setattr__(self, "percentiles", tuple(q))

    @classmethod
    def from_obj(cls, obj):
        """From a list of names, or ``{"names": [...], "percentiles": [...]}``.

        Parameters
        ----------
        obj : list, dict or LevelSpec
            Level names (lowest first), or a dict with ``names`` and/or
            ``percentiles`` (names default to ``low``/``medium``/``high`` and
            the like); a LevelSpec is returned as it is.

        Returns
        -------
        LevelSpec
            The validated declaration.
        """
        if isinstance(obj, LevelSpec):
            return obj
        if isinstance(obj, Mapping):
            _check_keys(obj, "A level declaration", set(LEVEL_KEYS))
            percentiles = obj.get("percentiles")
            names = obj.get("names")
            if names is None:
                if percentiles is None:
                    raise ValueError(
                        "A level declaration needs 'names' or 'percentiles', got "
                        f"{_short(obj)}."
                    )
                n_cuts = len(
                    _as_list(percentiles, "'percentiles'", "a list of numbers")
                )
                names = default_level_names(n_cuts + 1)
            return cls(names, percentiles)
        return cls(
            _as_list(
                obj,
                "A level declaration",
                expected="a list of level names or a dict with 'names' and/or "
                "'percentiles'",
            )
        )

    def to_dict(self):
        """Plain-data form (JSON-ready).

        Returns
        -------
        dict
            ``names`` and, when declared, ``percentiles`` (lists).
        """
        out = {"names": list(self.names)}
        if self.percentiles is not None:
            out["percentiles"] = list(self.percentiles)
        return out


@dataclass(frozen=True)
class RuleSet:
    """An ordered segment hierarchy ending in an ELSE segment.

    Parameters
    ----------
    segments : tuple of Segment
        Tested in order; the first match wins.
    else_segment : Segment
        Takes every row no segment matched (its conditions must be empty).
    levels : dict of str -> LevelSpec
        Level vocabulary of each thresholded feature named in conditions.
    domains : dict, optional
        Column name -> range its values should lie in, ``[min, max]`` or
        ``{"min": .., "max": ..}`` (``None``: unbounded on that side), stored
        as ``(min, max)``; see :meth:`from_dict`.

    Examples
    --------
    >>> rules = RuleSet.from_dict({
    ...     "levels": {"aov": {"names": ["low", "medium", "high"],
    ...                        "percentiles": [40, 75]}},
    ...     "segments": [
    ...         {"name": "Premium", "when": [["aov", "==", "high"]]},
    ...         {"name": "Recent", "when": [["days", "<=", 30]]},
    ...     ],
    ...     "else": "Other",
    ... })
    >>> rules.names
    ['Premium', 'Recent', 'Other']
    >>> RuleSet.from_json(rules.to_json()) == rules
    True
    """

    segments: tuple = ()
    else_segment: Segment = field(default_factory=lambda: Segment("Other"))
    levels: dict = field(default_factory=dict)
    domains: dict = field(default_factory=dict)

    def __post_init__(self):
        segments = []
        for i, seg in enumerate(
            _as_list(self.segments, "'segments'", expected="a list of segment dicts")
        ):
            with _located(f"segments[{i}]"):
                segments.append(Segment.from_obj(seg))
        with _located("'else'"):
            else_segment = self.else_segment
            if isinstance(else_segment, str):
                else_segment = Segment(else_segment)
            elif isinstance(else_segment, (Segment, Mapping)):
                else_segment = Segment.from_obj(else_segment)
            else:
                raise TypeError(
                    "the ELSE segment must be a segment name or a segment dict, "
                    f"got {_kind(else_segment)}."
                )
            if else_segment.conditions:
                raise ValueError("The ELSE segment cannot have conditions.")
            if else_segment.parent is not None:
                raise ValueError(
                    "The ELSE segment cannot have a parent: every merge ends in it."
                )
        levels = {}
        for feature, spec in _as_mapping(
            self.levels, "'levels'", expected="a mapping of feature name to levels"
        ).items():
            _check_name(feature, "A feature name under 'levels'")
            with _located(f"levels[{feature!r}]"):
                levels[feature] = LevelSpec.from_obj(spec)
        domains = {}
        for column, bounds in _as_mapping(
            self.domains, "'domains'", expected="a mapping of column name to [min, max]"
        ).items():
            _check_name(column, "A column name under 'domains'")
            with _located(f"domains[{column!r}]"):
                domains[column] = _domain_bounds(bounds)
        object.__setattr__(self, "segments", tuple(segments))
        object.__setattr__(self, "else_segment", else_segment)
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "domains", domains)
        names = self.names
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"Duplicate segment names: {_short(dupes)}.")
        for i, seg in enumerate(segments):
            with _located(f"segments[{i}]: Segment {_short(seg.name)}"):
                if seg.parent is not None and seg.parent not in names:
                    raise ValueError(
                        f"unknown parent {seg.parent!r}; segments are {_short(names)}."
                    )
                if seg.parent == seg.name:
                    raise ValueError("a segment cannot be its own parent.")
                for j, cond in enumerate(seg.conditions):
                    with _located(f"when[{j}]"):
                        _check_level_test(cond, levels)
        self.parents()  # detects cycles

    # -- access ---------------------------------------------------------------------
    @property
    def names(self):
        """Segment names in hierarchy order, the ELSE segment last."""
        return [s.name for s in self.segments] + [self.else_segment.name]

    @property
    def all_segments(self):
        """The segments followed by the ELSE segment."""
        return [*self.segments, self.else_segment]

    def parents(self):
        """Map each segment name to the segment it merges into (ELSE: None).

        Returns
        -------
        dict of str -> str or None
            Segment name -> name of its parent, ``None`` for the ELSE segment.

        Raises
        ------
        ValueError
            If the parents form a cycle.
        """
        else_name = self.else_segment.name
        parents = {s.name: s.parent or else_name for s in self.segments}
        parents[else_name] = None
        for start in parents:
            seen, node = {start}, parents[start]
            while node is not None:
                if node in seen:
                    raise ValueError(f"Parent cycle through segment {start!r}.")
                seen.add(node)
                node = parents[node]
        return parents

    def percentiles(self):
        """``{feature: percentiles}`` for features declaring percentiles.

        Returns
        -------
        dict of str -> tuple of float
            The declared percentiles of each such feature.
        """
        return {
            name: spec.percentiles
            for name, spec in self.levels.items()
            if spec.percentiles is not None
        }

    # -- plain data ---------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data):
        """Build from plain data: ``{"levels", "domains", "segments", "else"}``.

        Parameters
        ----------
        data : dict, list or RuleSet
            ``{"levels": {...}, "domains": {...}, "segments": [...], "else":
            "Other"}`` (every key optional), or just the list of segments.
            ``domains`` maps a column to the range its values should lie in,
            ``{"min": 0, "max": 1}`` (either side optional) or ``[min, max]``
            (``null``/``None``: unbounded on that side); values outside
            it at fit or transform give a :class:`DomainWarning`, naming the
            column and the count (negative days since the last order, scores
            above 1, ...). A column is checked where the data given to the
            segment step holds it (by name); a step that sees only level
            columns checks nothing.

        Returns
        -------
        RuleSet

        Raises
        ------
        ValueError, TypeError
            When the declaration is malformed; the message says where
            (``segments[0]: Segment 'A', when[1]: ...``) and what was expected.

        Examples
        --------
        >>> RuleSet.from_dict([{"name": "Recent", "when": [["days", "<=", 30]]}]).names
        ['Recent', 'Other']
        >>> RuleSet.from_dict({"levels": [1, 2]})
        Traceback (most recent call last):
        ...
        TypeError: 'levels' must be a mapping of feature name to levels, got list [1, 2].
        """
        if isinstance(data, RuleSet):
            return data
        if isinstance(data, (list, tuple)):
            data = {"segments": list(data)}
        if not isinstance(data, Mapping):
            raise TypeError(
                f"Rules must be a dict, a list of segments or a RuleSet, got "
                f"{type(data).__name__}."
            )
        # "$schema": where an editor finds the JSON Schema of the file
        if "$schema" in data and not isinstance(data["$schema"], str):
            raise TypeError(
                "'$schema' must be a string (where the rules' JSON Schema is), "
                f"got {_kind(data['$schema'])}."
            )
        unknown = sorted(
            (k for k in data if k not in (*RULES_KEYS, "$schema")), key=str
        )
        if unknown:
            raise ValueError(
                f"Unknown keys in rules: {_short(unknown)}; allowed: "
                f"{', '.join(map(repr, RULES_KEYS))}."
            )
        return cls(
            segments=data.get("segments", ()),
            else_segment=data.get("else", "Other"),
            levels=data.get("levels", {}),
            domains=data.get("domains", {}),
        )

    def to_dict(self):
        """Plain-data form, JSON-ready, accepted by :meth:`from_dict`.

        Returns
        -------
        dict
            ``levels`` and ``domains`` when declared, ``segments`` and ``else``
            (a name, or a dict when the ELSE segment has more than a name).
        """
        out = {}
        if self.levels:
            out["levels"] = {k: v.to_dict() for k, v in self.levels.items()}
        if self.domains:
            out["domains"] = {
                column: {k: b for k, b in zip(("min", "max"), bounds) if b is not None}
                for column, bounds in self.domains.items()
            }
        out["segments"] = [s.to_dict() for s in self.segments]
        else_dict = self.else_segment.to_dict()
        del else_dict["when"]
        out["else"] = else_dict if len(else_dict) > 1 else else_dict["name"]
        return out

    def to_json(self, **kwargs):
        """JSON text of :meth:`to_dict`.

        Parameters
        ----------
        **kwargs
            Passed to :func:`json.dumps` (``indent=2``, for example).

        Returns
        -------
        str
            The JSON text, accepted by :meth:`from_json`.
        """
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text):
        """Parse JSON text written by :meth:`to_json`.

        Malformed JSON (including nesting too deep to parse, and a key given
        twice in one object) raises a ``ValueError``.

        Parameters
        ----------
        text : str
            JSON text of :meth:`to_dict`'s form.

        Returns
        -------
        RuleSet
            The rules it declares.
        """
        return cls.from_dict(_parse_json(text))

    # -- renaming -----------------------------------------------------------------------
    def rename(self, mapping, *, suffix="_level"):
        """A copy with features renamed wherever the rules name them.

        A feature is named by its ``levels`` declaration (and so by
        :meth:`percentiles`) and by the column of every condition testing it,
        a condition on its level column included (``<feature><suffix>``
        becomes ``<new name><suffix>``). All of them follow ``mapping``;
        segment names, descriptions, strategies, parents, level names and
        values are unchanged, and so is this rule set.

        Parameters
        ----------
        mapping : mapping of str to str
            ``{current name: new name}``. Every key must be a feature the rules
            name (declared under ``levels`` or tested by a condition); the
            others keep their names. A swap (``{"a": "b", "b": "a"}``) is
            allowed. Conditions on a column position (an int) are unchanged.
        suffix : str, default="_level"
            Suffix of level columns (the segmenter's ``level_suffix``).

        Returns
        -------
        RuleSet
            A new rule set; :meth:`to_dict` and :meth:`from_dict` round-trip it
            like any other.

        Raises
        ------
        ValueError
            A key the rules do not name (the message lists the features they
            name), or a renaming that gives two features one name or names a
            feature like another feature's level column.
        TypeError
            ``mapping`` is not a mapping, or a new name is not a string.

        Examples
        --------
        >>> rules = RuleSet.from_dict({
        ...     "levels": {"aov": {"names": ["low", "high"], "percentiles": [75]}},
        ...     "segments": [
        ...         {"name": "Big", "when": [["aov", "==", "high"]]},
        ...         {"name": "Recent", "when": [["days", "<=", 30]]},
        ...     ]})
        >>> renamed = rules.rename({"aov": "history", "days": "recency"})
        >>> renamed.percentiles()
        {'history': (75.0,)}
        >>> print(renamed.describe())
        1. Big
           - history is high
        2. Recent
           - recency <= 30
        3. Other
           ELSE: every row not matched above
        >>> RuleSet.from_dict(renamed.to_dict()) == renamed
        True
        >>> rules.rename({"spend": "history"})
        Traceback (most recent call last):
        ...
        ValueError: Cannot rename ['spend']: the rules name no such feature; they name ['aov', 'days'].
        >>> rules.rename({"aov": "days"})
        Traceback (most recent call last):
        ...
        ValueError: Cannot rename: 'aov' and 'days' would both be named 'days'.
        """
        mapping = _as_mapping(
            mapping, "'mapping'", expected="a mapping of feature name to new name"
        )
        features = _rule_features(self, suffix)
        unknown = sorted((k for k in mapping if k not in features), key=str)
        if unknown:
            raise ValueError(
                f"Cannot rename {_short(unknown)}: the rules name no such feature; "
                f"they name {_short(features)}."
            )
        for old, new in mapping.items():
            _check_name(new, f"The new name of {old!r}")
        names = {f: mapping.get(f, f) for f in features}
        owner = {}
        for feature, name in names.items():
            if name in owner:
                raise ValueError(
                    f"Cannot rename: {owner[name]!r} and {feature!r} would both be "
                    f"named {name!r}."
                )
            owner[name] = feature

        def level_column_clashes(names):
            """(feature, level feature) pairs: a feature named like a level column."""
            if not suffix:
                return set()
            level_columns = {names[g] + suffix: g for g in self.levels}
            return {
                (f, level_columns[n]) for f, n in names.items() if n in level_columns
            }

        clashes = level_column_clashes(names) - level_column_clashes(
            {f: f for f in features}
        )
        if clashes:
            feature, level_feature = sorted(clashes)[0]
            raise ValueError(
                f"Cannot rename: {feature!r} would be named {names[feature]!r}, the "
                f"level column of {level_feature!r} (named {names[level_feature]!r})."
            )

        def column(name):
            if not isinstance(name, str):
                return name
            feature = _level_feature(name, self.levels, suffix)
            if feature is None or feature == name:
                return names[name]
            return names[feature] + suffix

        segments = [
            replace(
                seg,
                conditions=tuple(
                    replace(cond, column=column(cond.column)) for cond in seg.conditions
                ),
            )
            for seg in self.segments
        ]
        return RuleSet(
            segments=segments,
            else_segment=self.else_segment,
            levels={names[f]: spec for f, spec in self.levels.items()},
            domains={names[c]: bounds for c, bounds in self.domains.items()},
        )

    # -- words --------------------------------------------------------------------------
    def describe_condition(self, cond, cuts=None, suffix="_level", closed="left"):
        """One condition in words, with cut values when ``cuts`` are known.

        ``closed`` is the thresholder's: ``"left"``, a value equal to a cut is
        in the upper level; ``"right"``, in the lower one.

        Parameters
        ----------
        cond : Condition
            A condition, checked against the levels of these rules.
        cuts : dict of str -> array, optional
            Learned cut values (``PercentileThresholder.cuts_``) to print beside
            a level test.
        suffix : str, default="_level"
            Suffix of level columns.
        closed : {"left", "right"}, default="left"
            The thresholder's ``closed``.

        Returns
        -------
        str
            The condition in words.
        """
        _check_level_test(cond, self.levels)
        feature = _level_feature(cond.column, self.levels, suffix)
        if feature is None:
            if _test_kind(cond) == "text":
                return _text_words(cond)
            return f"{cond.column} {cond.op} {_fmt_values(cond)}"
        spec = self.levels[feature]
        codes = sorted(_allowed_codes(cond, spec.names, feature))
        words = (
            f"{feature} is {spec.names[codes[0]]}"
            if len(codes) == 1
            else f"{feature} in {{{', '.join(spec.names[c] for c in codes)}}}"
        )
        feature_cuts = None if cuts is None else cuts.get(feature)
        if feature_cuts is not None and len(feature_cuts) == len(spec.names) - 1:
            words += f" ({_interval_words(feature, codes, feature_cuts, closed)})"
        return words

    def describe(
        self, cuts=None, suffix="_level", merge_map=None, sizes=None, closed="left"
    ):
        """The rule tree in words.

        Parameters
        ----------
        cuts : dict of str -> array, optional
            Learned cut values (``PercentileThresholder.cuts_``) to print beside
            each level test.
        suffix : str, default="_level"
            Suffix of level columns.
        merge_map : dict, optional
            ``{segment: segment it was merged into}``.
        sizes : dict, optional
            ``{segment: size}`` to print.
        closed : {"left", "right"}, default="left"
            The thresholder's ``closed``: on which side of a cut a value equal
            to it falls (``"left"``: the upper level, ``>=``).

        Returns
        -------
        str
            One numbered entry per segment, ELSE last, each condition on a line.

        Examples
        --------
        >>> rules = RuleSet.from_dict({
        ...     "levels": {"aov": ["low", "high"]},
        ...     "segments": [{"name": "Big", "when": [["aov", "==", "high"]]}]})
        >>> print(rules.describe(cuts={"aov": [120.0]}))
        1. Big
           - aov is high (aov >= 120)
        2. Other
           ELSE: every row not matched above
        """
        lines = []
        n = len(self.segments)
        for i, seg in enumerate(self.all_segments):
            head = f"{i + 1}. {seg.name}"
            if sizes is not None and seg.name in sizes:
                head += f"  [n={sizes[seg.name]:,}]"
            if merge_map and merge_map.get(seg.name, seg.name) != seg.name:
                head += f"  (merged into {merge_map[seg.name]})"
            lines.append(head)
            if i == n:
                lines.append("   ELSE: every row not matched above")
            elif not seg.conditions:
                lines.append("   every remaining row")
            for cond in seg.conditions:
                lines.append(
                    "   - " + self.describe_condition(cond, cuts, suffix, closed)
                )
            if seg.description:
                lines.append(f"   why: {seg.description}")
            if seg.strategy:
                lines.append(f"   strategy: {seg.strategy}")
        return "\n".join(lines)


def _fmt_values(cond):
    return (
        "[" + ", ".join(map(str, cond.values)) + "]"
        if cond.operator.takes_list
        else str(cond.value)
    )


#: How a text test reads for each operator (``country is 'US'``).
_TEXT_WORDS = {"==": "is", "!=": "is not", "in": "in", "not in": "not in"}


def _text_words(cond):
    """A text test in words: ``country is 'US'``, ``channel in ['web', 'app']``."""
    values = list(cond.values) if cond.operator.takes_list else cond.value
    return f"{cond.column} {_TEXT_WORDS[cond.op]} {_short(values)}"


def _fmt_num(x):
    return f"{x:,.6g}"


def _interval_words(feature, codes, cuts, closed="left"):
    # "left": levels [c_k, c_k+1), a value equal to a cut goes up; "right":
    # (c_k, c_k+1], it goes down
    up, down = (">=", "<") if closed == "left" else (">", "<=")
    parts = []
    start = prev = codes[0]
    for c in [*codes[1:], None]:
        if c is not None and c == prev + 1:
            prev = c
            continue
        lo = _fmt_num(cuts[start - 1]) if start > 0 else None
        hi = _fmt_num(cuts[prev]) if prev < len(cuts) else None
        if lo and hi:
            parts.append(f"{lo} {'<=' if up == '>=' else '<'} {feature} {down} {hi}")
        elif lo:
            parts.append(f"{feature} {up} {lo}")
        elif hi:
            parts.append(f"{feature} {down} {hi}")
        else:
            parts.append("any value")
        if c is not None:
            start = prev = c
    return " or ".join(parts)


def _level_feature(column, levels, suffix):
    """The declared feature a condition on ``column`` tests levels of, or None."""
    if not isinstance(column, str):
        return None
    if column in levels:
        return column
    if suffix and column.endswith(suffix) and column[: -len(suffix)] in levels:
        return column[: -len(suffix)]
    return None


def _domain_bounds(bounds):
    """``(min, max)`` of a declared domain: numbers or None (unbounded), min <= max.

    Written ``{"min": 0, "max": 1}`` (either key optional; the form TOML can
    hold) or ``[min, max]`` with ``null`` for an open side.
    """
    if isinstance(bounds, Mapping):
        _check_keys(bounds, "A domain", set(DOMAIN_KEYS))
        pair = [bounds.get("min"), bounds.get("max")]
    else:
        pair = _as_list(
            bounds, "A domain", expected='{"min": .., "max": ..} or a list [min, max]'
        )
    if len(pair) != 2:
        raise ValueError(f"A domain is [min, max], got {_short(pair)}.")
    for bound in pair:
        if bound is not None and not (_is_number(bound) and math.isfinite(bound)):
            raise TypeError(
                f"A domain bound must be a finite number or null, got {_short(bound)}."
            )
    lo, hi = (None if b is None else float(b) for b in pair)
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"A domain's min {lo} is above its max {hi}.")
    return (lo, hi)


def _rule_features(rules, suffix="_level"):
    """The features a RuleSet names, in order: those declared under ``levels``,
    then the columns its conditions test (a level column counts as its
    feature; a column position is not a name). What :meth:`RuleSet.rename`
    can rename."""
    names = list(rules.levels)
    names.extend(rules.domains)
    for seg in rules.segments:
        for cond in seg.conditions:
            if isinstance(cond.column, str):
                feature = _level_feature(cond.column, rules.levels, suffix)
                names.append(cond.column if feature is None else feature)
    return list(dict.fromkeys(names))


def _allowed_codes(cond, names, feature):
    """Set of level codes satisfying a level test."""

    def code(v):
        if isinstance(v, str):
            if v not in names:
                raise ValueError(
                    f"Condition on {cond.column!r}: unknown level {v!r}; "
                    f"{feature!r} has levels {list(names)}."
                )
            return names.index(v)
        if _is_number(v) and float(v).is_integer() and 0 <= v < len(names):
            return int(v)
        raise ValueError(
            f"Condition on {cond.column!r}: unknown level {v!r}; {feature!r} has "
            f"levels {list(names)} (codes 0..{len(names) - 1})."
        )

    return set(cond.operator.allowed([code(v) for v in cond.values], len(names)))


def _check_level_test(cond, levels):
    """Refuse anything but level names in a condition on a declared feature.

    A condition naming a feature declared under ``levels`` has one meaning,
    read the same way by the compiler and the describer: a test of its level.
    A number there would be ambiguous (a level code, or the raw value?), so it
    is refused with the unambiguous spellings; level codes are given on the
    level column (``<feature>_level``).
    """
    column = cond.column
    if not isinstance(column, str) or column not in levels:
        return
    names = levels[column].names
    numbers = [v for v in cond.values if not isinstance(v, str)]
    if numbers:
        example = [names[-1]] if cond.operator.takes_list else names[-1]
        raise ValueError(
            f"Condition on {column!r}: {_short(numbers[0])} is a number, but "
            f"{column!r} is declared under 'levels', so it is tested by level name, "
            f"one of {_short(list(names))} (e.g. {_short([column, cond.op, example])})."
            f" To test level codes, name its level column (e.g. "
            f"'{column}_level'); to compare the raw value with a number, give "
            f"{column!r} a fixed cut (PercentileThresholder cut_values) and test "
            "the level, or compare a copy of the column under another name."
        )
    for v in cond.values:
        if v not in names:
            raise ValueError(
                f"Condition on {column!r}: unknown level {_short(v)}; {column!r} "
                f"has levels {_short(list(names))}."
            )


def _no_duplicate_keys(pairs):
    """JSON object hook: a key given twice is an error, not last-one-wins."""
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} is given twice in one object")
        out[key] = value
    return out


def _parse_json(text):
    """``json.loads`` that raises only ValueError (deep nesting included)."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except RecursionError as exc:
        raise ValueError("the JSON is nested too deeply to parse") from exc


_FILE_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _read_rules_file(path):
    """Bytes of a regular file of at most :data:`MAX_RULES_FILE_BYTES` bytes.

    The file is opened without blocking (a FIFO then opens at once and is
    refused like any other non-regular file), checked on the open descriptor,
    and read up to one byte past the limit, so a file that grows meanwhile is
    refused too.
    """
    name = os.fspath(path)
    limit = MAX_RULES_FILE_BYTES
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    too_large = (
        f"Rules file {name!r} is larger than the limit of {limit:,} bytes "
        "(sklearn_mece._rules.MAX_RULES_FILE_BYTES); a rules file is a few "
        "kilobytes: is this the right file?"
    )
    try:
        fd = os.open(name, flags)
    except OSError as exc:
        raise ValueError(f"Cannot read rules file {name!r}: {exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _FILE_KINDS.get(stat.S_IFMT(info.st_mode), "not a file")
            raise ValueError(
                f"Cannot read rules file {name!r}: it is {kind}, not a regular file."
            )
        if info.st_size > limit:
            raise ValueError(too_large)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ValueError(f"Cannot read rules file {name!r}: {exc}") from exc
    finally:
        os.close(fd)
    if size > limit:
        raise ValueError(too_large)
    return b"".join(chunks)


def load_rules(path):
    """Load a :class:`RuleSet` from a JSON or TOML file.

    Parameters
    ----------
    path : str or path-like
        ``.toml`` file (by its suffix) or JSON file holding ``levels``,
        ``segments``, ``else``, in UTF-8. In TOML, segments are an array of
        tables ``[[segments]]`` whose ``when`` is a list of
        ``[column, op, value]`` arrays. Only a regular file of at most
        :data:`MAX_RULES_FILE_BYTES` bytes (1 MiB) is read.

    Returns
    -------
    RuleSet
        The rules the file declares.

    Raises
    ------
    ValueError
        Naming the file, for every way it can fail: it cannot be opened, is not
        a regular file (a directory, a FIFO, a device), is too large, is not
        UTF-8, is not valid JSON/TOML (nesting too deep included), or does not
        declare valid rules. The underlying error is chained as the cause.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> p = os.path.join(d, "rules.toml")
    >>> _ = open(p, "w").write('else = "Other"\\n[[segments]]\\nname = "Recent"\\n'
    ...                        'when = [["days", "<=", 30]]\\n')
    >>> load_rules(p).names
    ['Recent', 'Other']
    >>> load_rules(d)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Cannot read rules file '...': it is a directory, not a regular file.
    """
    name = os.fspath(path)
    raw = _read_rules_file(name)
    try:
        text = raw.decode("utf-8-sig")  # a leading byte order mark is allowed
    except UnicodeDecodeError as exc:
        raise ValueError(f"Rules file {name!r} is not valid UTF-8: {exc}") from exc
    try:
        if os.path.splitext(os.fsdecode(name))[1].lower() == ".toml":
            data = tomllib.loads(text)
        else:
            data = _parse_json(text)
    except RecursionError as exc:
        raise ValueError(
            f"Rules file {name!r} is not valid: nested too deeply to parse."
        ) from exc
    except ValueError as exc:  # JSON and TOML decode errors are ValueErrors
        raise ValueError(f"Rules file {name!r} is not valid: {exc}") from exc
    try:
        return RuleSet.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"Rules file {name!r}: {exc}") from exc


# ---------------------------------------------------------------------------------
# Compilation
# ---------------------------------------------------------------------------------
def _test_kind(cond):
    """``"text"`` or ``"compare"``: how a condition on an undeclared column reads.

    The value decides: text is a text test (only the operators that apply to
    text), numbers are a numeric comparison; one condition never mixes them.
    """
    texts = [v for v in cond.values if isinstance(v, str)]
    if not texts:
        return "compare"
    if len(texts) != len(cond.values):
        number = next(v for v in cond.values if not isinstance(v, str))
        raise TypeError(
            f"Condition on {cond.column!r}: values {_short(list(cond.values))} mix "
            f"text ({texts[0]!r}) and numbers ({_short(number)}); a text test of "
            f"{cond.column!r} lists texts, a comparison lists numbers."
        )
    if not cond.operator.on_text:
        text_ops = [name for name, op in OPERATORS.items() if op.on_text]
        raise ValueError(
            f"Condition on {cond.column!r}: {cond.op!r} orders values, but "
            f"{_short(texts[0])} is text, which has no order; use one of "
            f"{text_ops}, or declare {cond.column!r} under 'levels' to test "
            "ordered level names."
        )
    return "text"


@dataclass(frozen=True)
class CompiledVariable:
    """One distinct test of the compiled rules: a small-integer variable.

    Its slots index one axis of the lookup table; slot ``0`` means missing.

    Parameters
    ----------
    kind : {"level", "compare", "text"}
        A level column (slot ``code + 1``), a comparison of a raw column with
        numbers (slot 1 false, 2 true) or a text column (slot ``i + 1`` for the
        ``i``-th of ``categories``, ``len(categories) + 1`` for any other value).
    column : str or int
        The tested column as the rules name it (a level test: its level column).
    position : int
        Its position in the data seen at fit.
    n_levels : int, default=0
        Codes of a level or text variable (a text variable: its listed values
        plus one for any other value); 0 for a comparison.
    op : str, default=None
        A comparison's operator.
    operands : tuple of float, default=()
        A comparison's value(s).
    categories : tuple of str, default=()
        A text variable's listed values, in slot order.

    Examples
    --------
    >>> var = CompiledVariable("text", "channel", 2, n_levels=3,
    ...                        categories=("web", "app"))
    >>> var.domain
    4
    >>> CompiledVariable.from_dict(var.to_dict()) == var
    True
    """

    kind: str
    column: str | int
    position: int
    n_levels: int = 0
    op: str | None = None
    operands: tuple = ()
    categories: tuple = ()

    @property
    def domain(self):
        """Number of slots, slot 0 (missing) included."""
        return 3 if self.kind == "compare" else self.n_levels + 1

    def to_dict(self):
        """Plain data (builtins only): what a fitted segmenter stores."""
        out = {"kind": self.kind, "column": self.column, "position": self.position}
        if self.kind == "compare":
            out.update(op=self.op, operands=list(self.operands))
        else:
            out["n_levels"] = self.n_levels
        if self.kind == "text":
            out["categories"] = list(self.categories)
        return out

    @classmethod
    def from_dict(cls, data):
        """Inverse of :meth:`to_dict`."""
        return cls(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        )


def compile_rules(rules, resolve, suffix="_level"):
    """Compile a RuleSet against the columns seen at fit.

    Parameters
    ----------
    rules : RuleSet
    resolve : callable
        Maps a column name/position to its position (raises on unknown).
    suffix : str
        Suffix of level columns.

    Returns
    -------
    variables : list of CompiledVariable
        One per distinct test: a level column, a comparison (column, operator,
        operands), or a text column (with every value its conditions list).
    conditions : list of list of (int, list of int)
        Per segment (ELSE excluded), its conditions as (variable index, allowed
        slots), slot 0 (missing) never allowed.

    Raises
    ------
    ValueError, TypeError
        Naming the segment and the condition: an unknown level, an ordering
        operator on text, text and numbers mixed in one condition.

    Examples
    --------
    >>> rules = RuleSet.from_dict([{"name": "US", "when": [["country", "==", "US"]]},
    ...                            {"name": "Web", "when": [["channel", "in", ["web"]]]}])
    >>> variables, conditions = compile_rules(rules, {"country": 0, "channel": 1}.get)
    >>> [(v.kind, v.column, v.categories) for v in variables]
    [('text', 'country', ('US',)), ('text', 'channel', ('web',))]
    >>> conditions
    [[(0, [1])], [(1, [1])]]
    """
    # first pass: what each condition tests, and every value listed per text column
    parsed, listed = [], {}
    for i, seg in enumerate(rules.segments):
        row = []
        for j, cond in enumerate(seg.conditions):
            with _located(f"segments[{i}]: Segment {_short(seg.name)}, when[{j}]"):
                # the describer reads a condition through the same functions:
                # what is applied is what is described
                feature = _level_feature(cond.column, rules.levels, suffix)
                if feature is not None:
                    names = rules.levels[feature].names
                    codes = sorted(_allowed_codes(cond, names, feature))
                    row.append(("level", feature + suffix, len(names), codes))
                    continue
                kind = _test_kind(cond)
            if kind == "text":
                values = listed.setdefault(cond.column, [])
                values.extend(v for v in cond.values if v not in values)
                row.append(("text", cond.column, None, cond))
            else:
                row.append(("compare", cond.column, None, cond))
        parsed.append(row)

    variables, index, compiled = [], {}, []
    for row in parsed:
        conds = []
        for kind, column, n_levels, test in row:
            if kind == "level":
                key = ("level", column)
                var = CompiledVariable("level", column, None, n_levels=n_levels)
                allowed = [c + 1 for c in test]
            elif kind == "text":
                categories = tuple(listed[column])
                key = ("text", column)
                var = CompiledVariable(
                    "text",
                    column,
                    None,
                    n_levels=len(categories) + 1,
                    categories=categories,
                )
                codes = [categories.index(v) for v in test.values]
                allowed = test.operator.allowed(codes, len(categories) + 1)
                allowed = [c + 1 for c in allowed]
            else:
                key = ("compare", column, test.op, test.values)
                var = CompiledVariable(
                    "compare", column, None, op=test.op, operands=tuple(test.values)
                )
                allowed = [2]
            if key not in index:
                index[key] = len(variables)
                variables.append(replace(var, position=resolve(column)))
            conds.append((index[key], allowed))
        compiled.append(conds)
    return variables, compiled


def first_match(slots, conditions):
    """Rule index of each row of ``slots`` (n, n_vars); ELSE = len(conditions).

    Missing slots (0) are not treated here: a missing slot simply fails every
    test on it. Callers mark rows with a missing slot themselves (``build_table``
    sets their entries to ``-1``; the segmenter does the same row-wise).
    """
    n = slots.shape[0]
    result = np.full(n, len(conditions), dtype=np.int32)
    undecided = np.ones(n, dtype=bool)
    for r, conds in enumerate(conditions):
        match = undecided.copy()
        for var, allowed in conds:
            match &= np.isin(slots[:, var], allowed)
        result[match] = r
        undecided &= ~match
    return result


def table_size(variables):
    """Entries of the lookup table over ``variables``, capped past the limit.

    The table holds one entry per combination of slots: the product of the
    variables' domain sizes (a comparison has 3 slots, a level test
    ``n_levels + 1``), so 13 comparisons already exceed :data:`MAX_TABLE_SIZE`.
    The product is taken in exact integers and stops as soon as it passes the
    limit, so any number of variables is sized without overflow.

    Examples
    --------
    >>> days = CompiledVariable("compare", "days", 0, op="<=", operands=(30,))
    >>> table_size([days] * 12)
    531441
    >>> table_size([days] * 5000) > MAX_TABLE_SIZE
    True
    """
    size = 1
    for var in variables:
        size *= var.domain
        if size > MAX_TABLE_SIZE:
            break
    return size


def build_table(variables, conditions):
    """Lookup table over every combination of variable slots (C order).

    Slot 0 of every axis means missing: its entries are ``-1``. Returns
    ``None``, before allocating anything, when the table would exceed
    :data:`MAX_TABLE_SIZE` entries (see :func:`table_size`): the caller then
    evaluates the rules row by row with :func:`first_match`, which gives the
    same result (:class:`HierarchicalSegmenter` does).
    """
    if table_size(variables) > MAX_TABLE_SIZE:
        return None
    domains = [v.domain for v in variables]
    # slots run to the largest domain (a level feature may declare many levels)
    dtype = np.int16 if max(domains, default=0) <= np.iinfo(np.int16).max else np.int32
    if domains:
        slots = np.indices(domains, dtype=dtype).reshape(len(domains), -1).T
    else:  # no variable: one combination, in which rules without conditions match
        slots = np.zeros((1, 0), dtype=dtype)
    table = first_match(slots, conditions)
    table[(slots == 0).any(axis=1)] = -1
    return table


# ---------------------------------------------------------------------------------
# JSON Schema of a rules file
# ---------------------------------------------------------------------------------
#: Where the JSON Schema of rules files is shipped in the package.
RULES_SCHEMA_FILE = "schemas/rules.schema.json"


def _keyed(keys, **schemas):
    """The schemas of a declaration's keys, exactly the keys the loader takes."""
    if set(schemas) != set(keys):
        raise AssertionError(f"schema keys {sorted(schemas)} != loader keys {keys}")
    return {key: schemas[key] for key in keys}


def schema_url():
    """Where the documentation site publishes this version's rules schema.

    The ``$id`` of :func:`rules_schema`, and what a JSON rules file names as
    its ``"$schema"`` for an editor to fetch (``.ci/run`` checks that the
    built site holds the file there).
    """
    return f"{DOCS_URL}/en/{docs_version()}/rules.schema.json"


def rules_schema():
    """The JSON Schema (draft 2020-12) of a rules file, for editors.

    Built from the rule model's own definitions (the operators of
    :data:`sklearn_mece._operators.OPERATORS`, the keys every declaration
    accepts), and shipped as ``sklearn_mece/schemas/rules.schema.json``; a
    test keeps the two equal, and published with the documentation at its
    ``$id`` (the installed version's pages). An editor given the file (its
    address as ``"$schema"`` in a JSON rules file, or the editor's settings)
    underlines a misspelt key, an unknown operator or a missing name as it
    is typed. What the schema
    accepts, :func:`load_rules` accepts, except what a schema cannot say:
    distinct names, a parent declared above, percentiles ascending and one
    fewer than the names, a domain's min not above its max, a column position
    written ``1.0``, a number too large for a float; :func:`load_rules`
    reports where each problem is. Regenerate the shipped file with
    ``python -c "import json, sklearn_mece as m; print(json.dumps(m.rules_schema(),
    indent=2))" > sklearn_mece/schemas/rules.schema.json``.

    Returns
    -------
    dict
        The schema as plain data, equal to the shipped file's content.

    Examples
    --------
    >>> schema = rules_schema()
    >>> sorted(schema["$defs"]["rules"]["properties"])
    ['$schema', 'domains', 'else', 'levels', 'segments']
    >>> schema["$defs"]["operator"]["enum"][:3]
    ['==', '!=', '<']
    """
    name = {"type": "string", "minLength": 1}
    optional_name = {"anyOf": [name, {"type": "null"}]}
    column = {
        "description": "Column name, or position for arrays.",
        "anyOf": [name, {"type": "integer", "minimum": 0}],
    }
    scalar = {
        "description": "A number, a level name or a text value.",
        "type": ["string", "number"],
    }
    values = {"type": "array", "items": scalar}
    list_ops = [op for op, o in OPERATORS.items() if o.takes_list]
    scalar_ops = [op for op, o in OPERATORS.items() if not o.takes_list]

    def operation(ops, operand):
        return {
            "type": "array",
            "prefixItems": [{"enum": ops}, operand],
            "minItems": 2,
            "maxItems": 2,
        }

    text = {"type": ["string", "null"]}
    bound = {"type": ["number", "null"]}
    nothing = {
        "description": "The ELSE segment has no conditions and no parent.",
        "anyOf": [
            {"type": "null"},
            {"type": "array", "maxItems": 0},
            {"type": "object", "maxProperties": 0},
        ],
    }
    segment = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": _keyed(
            SEGMENT_KEYS,
            name=name,
            when={"$ref": "#/$defs/when"},
            parent=optional_name,
            description=text,
            strategy=text,
        ),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_url(),
        "title": "sklearn-mece rules",
        "description": "An ordered hierarchy of segments: a row goes to the first "
        "segment whose conditions all hold, every other row to the ELSE segment.",
        "anyOf": [
            {"$ref": "#/$defs/rules"},
            {"type": "array", "items": {"$ref": "#/$defs/segment"}},
        ],
        "$defs": {
            "name": name,
            "operator": {"enum": list(OPERATORS)},
            "level": {
                "description": "Level names, lowest first, and the percentiles "
                "the cuts are learned at (one fewer than the names).",
                "anyOf": [
                    {
                        "type": "array",
                        "items": name,
                        "minItems": 2,
                        "uniqueItems": True,
                    },
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": _keyed(
                            LEVEL_KEYS,
                            names={
                                "anyOf": [
                                    {
                                        "type": "array",
                                        "items": name,
                                        "minItems": 2,
                                        "uniqueItems": True,
                                    },
                                    {"type": "null"},
                                ]
                            },
                            percentiles={
                                "anyOf": [
                                    {
                                        "type": "array",
                                        "items": {
                                            "type": "number",
                                            "minimum": 0,
                                            "maximum": 100,
                                        },
                                        "minItems": 1,
                                    },
                                    {"type": "null"},
                                ]
                            },
                        ),
                        "anyOf": [
                            {
                                "required": ["names"],
                                "properties": {"names": {"type": "array"}},
                            },
                            {
                                "required": ["percentiles"],
                                "properties": {"percentiles": {"type": "array"}},
                            },
                        ],
                    },
                ],
            },
            "domain": {
                "description": "The range a column's values should lie in; "
                "null or a missing side: unbounded.",
                "anyOf": [
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": _keyed(DOMAIN_KEYS, min=bound, max=bound),
                    },
                    {"type": "array", "items": bound, "minItems": 2, "maxItems": 2},
                ],
            },
            "condition": {
                "anyOf": [
                    {
                        "type": "array",
                        "description": "[column, operator, value]; 'in' and "
                        "'not in' take a list of values",
                        "prefixItems": [column, {"enum": scalar_ops}, scalar],
                        "minItems": 3,
                        "maxItems": 3,
                    },
                    {
                        "type": "array",
                        "prefixItems": [column, {"enum": list_ops}, values],
                        "minItems": 3,
                        "maxItems": 3,
                    },
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["column", "value"],
                        "properties": _keyed(
                            CONDITION_KEYS,
                            column=column,
                            op={"$ref": "#/$defs/operator"},
                            value={"anyOf": [scalar, values]},
                        ),
                        "if": {
                            "required": ["op"],
                            "properties": {"op": {"enum": list_ops}},
                        },
                        "then": {"properties": {"value": values}},
                        "else": {"properties": {"value": scalar}},
                    },
                ]
            },
            "when": {
                "anyOf": [
                    {"type": "array", "items": {"$ref": "#/$defs/condition"}},
                    {
                        "type": "object",
                        "description": "{column: value}, {column: [values]} or "
                        "{column: [operator, value]}",
                        "propertyNames": {"minLength": 1},
                        "additionalProperties": {
                            "anyOf": [
                                scalar,
                                operation(scalar_ops, scalar),
                                operation(list_ops, values),
                                {
                                    # a list of values (not read as
                                    # [operator, value])
                                    **values,
                                    "not": operation(list(OPERATORS), {}),
                                },
                            ]
                        },
                    },
                    {"type": "null"},
                ]
            },
            "segment": segment,
            "else": {
                "anyOf": [
                    name,
                    {
                        **segment,
                        # the same keys: no conditions and no parent
                        "properties": {
                            **segment["properties"],
                            "when": nothing,
                            "parent": {"type": "null"},
                        },
                    },
                ]
            },
            "rules": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "$schema": {"type": "string"},
                    **_keyed(
                        RULES_KEYS,
                        levels={
                            "type": "object",
                            "propertyNames": {"minLength": 1},
                            "additionalProperties": {"$ref": "#/$defs/level"},
                        },
                        domains={
                            "type": "object",
                            "propertyNames": {"minLength": 1},
                            "additionalProperties": {"$ref": "#/$defs/domain"},
                        },
                        segments={
                            "type": "array",
                            "items": {"$ref": "#/$defs/segment"},
                        },
                        **{"else": {"$ref": "#/$defs/else"}},
                    ),
                },
            },
        },
    }
