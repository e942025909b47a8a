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
* a **comparison** of a raw column with a number otherwise
  (``("days_since_last_order", "<=", 30)``, ``("x3", "in", [1, 2])``).

The same declaration is used by the segmenter, ``describe()``, the exporters
and the command line; it round-trips through JSON (and loads from TOML).
Compilation turns every distinct test into a small-integer variable (a level
code, or a 0/1 comparison), evaluates the rules once over every combination of
variable values, and leaves one table lookup per row.
"""

import json
import operator
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._levels import default_level_names

__all__ = [
    "Condition",
    "LevelSpec",
    "RuleSet",
    "Segment",
    "load_rules",
]

_OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_SET_OPS = ("in", "not in")
ALL_OPS = (*_OPS, *_SET_OPS)
MAX_TABLE_SIZE = 1 << 20


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_)
    )


def _plain(v):
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


@dataclass(frozen=True)
class Condition:
    """One test of a segment: ``column op value``.

    Parameters
    ----------
    column : str or int
        A feature declared with levels, its level column, or a raw column.
    op : {"==", "!=", "<", "<=", ">", ">=", "in", "not in"}
        Comparison. ``in``/``not in`` take a list.
    value : str, number or list
        Level name(s) or code(s) for a level test, number(s) for a comparison.

    Examples
    --------
    >>> Condition.from_obj(["days_since_last_order", "<=", 30])
    Condition(column='days_since_last_order', op='<=', value=30)
    >>> Condition.from_obj({"column": "aov", "op": "in", "value": ["medium", "high"]})
    Condition(column='aov', op='in', value=('medium', 'high'))
    """

    column: str | int
    op: str
    value: object

    def __post_init__(self):
        if self.op not in ALL_OPS:
            raise ValueError(
                f"Condition on {self.column!r}: unknown operator {self.op!r}; use one "
                f"of {list(ALL_OPS)}."
            )
        if self.op in _SET_OPS:
            if isinstance(self.value, (str, bytes)) or not isinstance(
                self.value, (list, tuple)
            ):
                raise ValueError(
                    f"Condition on {self.column!r}: {self.op!r} needs a list, got "
                    f"{self.value!r}."
                )
            object.__setattr__(self, "value", tuple(_plain(self.value)))
        elif isinstance(self.value, (list, tuple)):
            raise ValueError(
                f"Condition on {self.column!r}: {self.op!r} needs a single value, got "
                f"{self.value!r}; use 'in' for a set."
            )
        else:
            object.__setattr__(self, "value", _plain(self.value))
        for v in self.values:
            if not (isinstance(v, str) or _is_number(v)):
                raise TypeError(
                    f"Condition on {self.column!r}: value {v!r} must be a level name "
                    "or a number."
                )
            if _is_number(v) and not np.isfinite(v):
                raise ValueError(
                    f"Condition on {self.column!r}: value {v!r} must be finite."
                )

    @property
    def values(self):
        """The compared values as a tuple."""
        return self.value if self.op in _SET_OPS else (self.value,)

    @classmethod
    def from_obj(cls, obj):
        """Build from ``[column, op, value]`` or ``{"column", "op", "value"}``."""
        if isinstance(obj, Condition):
            return obj
        if isinstance(obj, dict):
            unknown = set(obj) - {"column", "op", "value"}
            if unknown or "column" not in obj or "value" not in obj:
                raise ValueError(
                    f"A condition dict needs keys 'column', 'op', 'value'; got {obj!r}."
                )
            return cls(obj["column"], obj.get("op", "=="), obj["value"])
        if isinstance(obj, (list, tuple)) and len(obj) == 3:
            return cls(obj[0], obj[1], obj[2])
        raise ValueError(
            f"A condition is [column, op, value] or a dict with those keys; got {obj!r}."
        )

    def to_dict(self):
        """Plain-data form (JSON-ready)."""
        value = list(self.value) if self.op in _SET_OPS else self.value
        return {"column": self.column, "op": self.op, "value": value}


def _conditions_from(when):
    """Accept a list of conditions, or the dict shorthand ``{column: spec}``."""
    if when is None:
        return ()
    if isinstance(when, dict):
        out = []
        for column, spec in when.items():
            if (
                isinstance(spec, (list, tuple))
                and len(spec) == 2
                and isinstance(spec[0], str)
                and spec[0] in ALL_OPS
            ):
                out.append(Condition(column, spec[0], spec[1]))
            elif isinstance(spec, (list, tuple)):
                out.append(Condition(column, "in", list(spec)))
            else:
                out.append(Condition(column, "==", spec))
        return tuple(out)
    return tuple(Condition.from_obj(c) for c in when)


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
    """

    name: str
    conditions: tuple = ()
    parent: str | None = None
    description: str | None = None
    strategy: str | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(
                f"Segment names must be non-empty strings, got {self.name!r}."
            )
        object.__setattr__(self, "conditions", _conditions_from(self.conditions))

    @classmethod
    def from_obj(cls, obj):
        """Build from a dict with ``name``, ``when`` and optional fields."""
        if isinstance(obj, Segment):
            return obj
        if not isinstance(obj, dict) or "name" not in obj:
            raise ValueError(f"A segment is a dict with at least 'name'; got {obj!r}.")
        unknown = set(obj) - {"name", "when", "parent", "description", "strategy"}
        if unknown:
            raise ValueError(
                f"Segment {obj['name']!r}: unknown keys {sorted(unknown)}."
            )
        return cls(
            name=obj["name"],
            conditions=obj.get("when"),
            parent=obj.get("parent"),
            description=obj.get("description"),
            strategy=obj.get("strategy"),
        )

    def to_dict(self):
        """Plain-data form (JSON-ready); optional fields only when set."""
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
    names : tuple of str
        Level names, lowest first (code ``i`` is ``names[i]``).
    percentiles : tuple of float, optional
        Percentiles the cuts are learned at (``len(names) - 1`` of them);
        lets one declaration configure the thresholder too.

    Examples
    --------
    >>> LevelSpec.from_obj({"percentiles": [40, 75]})
    LevelSpec(names=('low', 'medium', 'high'), percentiles=(40.0, 75.0))
    """

    names: tuple
    percentiles: tuple | None = None

    def __post_init__(self):
        names = tuple(self.names)
        if len(names) < 2 or len(set(names)) != len(names):
            raise ValueError(f"Levels need at least two distinct names, got {names!r}.")
        object.__setattr__(self, "names", names)
        if self.percentiles is not None:
            q = tuple(float(p) for p in self.percentiles)
            if len(q) != len(names) - 1:
                raise ValueError(
                    f"{len(names)} levels need {len(names) - 1} percentiles, got {q}."
                )
            object.__setattr__(self, "percentiles", q)

    @classmethod
    def from_obj(cls, obj):
        """From a list of names, or ``{"names": [...], "percentiles": [...]}``."""
        if isinstance(obj, LevelSpec):
            return obj
        if isinstance(obj, dict):
            percentiles = obj.get("percentiles")
            names = obj.get("names")
            if names is None and percentiles is not None:
                names = default_level_names(len(percentiles) + 1)
            return cls(names, percentiles)
        return cls(tuple(obj))

    def to_dict(self):
        """Plain-data form (JSON-ready)."""
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

    def __post_init__(self):
        segments = tuple(Segment.from_obj(s) for s in self.segments)
        else_segment = self.else_segment
        if isinstance(else_segment, str):
            else_segment = Segment(else_segment)
        else:
            else_segment = Segment.from_obj(else_segment)
        if else_segment.conditions:
            raise ValueError("The ELSE segment cannot have conditions.")
        object.__setattr__(self, "segments", segments)
        object.__setattr__(self, "else_segment", else_segment)
        object.__setattr__(
            self,
            "levels",
            {str(k): LevelSpec.from_obj(v) for k, v in dict(self.levels).items()},
        )
        names = self.names
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"Duplicate segment names: {dupes}.")
        for seg in segments:
            if seg.parent is not None and seg.parent not in names:
                raise ValueError(
                    f"Segment {seg.name!r}: unknown parent {seg.parent!r}."
                )
            if seg.parent == seg.name:
                raise ValueError(f"Segment {seg.name!r} cannot be its own parent.")
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
        """Map each segment name to the segment it merges into (ELSE: None)."""
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
        """``{feature: percentiles}`` for features declaring percentiles."""
        return {
            name: spec.percentiles
            for name, spec in self.levels.items()
            if spec.percentiles is not None
        }

    # -- plain data ---------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data):
        """Build from plain data: ``{"levels", "segments", "else"}``."""
        if isinstance(data, RuleSet):
            return data
        if isinstance(data, (list, tuple)):
            data = {"segments": list(data)}
        if not isinstance(data, dict):
            raise TypeError(
                f"Rules must be a dict, a list of segments or a RuleSet, got "
                f"{type(data).__name__}."
            )
        unknown = set(data) - {"levels", "segments", "else"}
        if unknown:
            raise ValueError(f"Unknown keys in rules: {sorted(unknown)}.")
        return cls(
            segments=tuple(data.get("segments", ())),
            else_segment=data.get("else", "Other"),
            levels=data.get("levels", {}),
        )

    def to_dict(self):
        """Plain-data form, JSON-ready, accepted by :meth:`from_dict`."""
        out = {}
        if self.levels:
            out["levels"] = {k: v.to_dict() for k, v in self.levels.items()}
        out["segments"] = [s.to_dict() for s in self.segments]
        else_dict = self.else_segment.to_dict()
        del else_dict["when"]
        out["else"] = else_dict if len(else_dict) > 1 else else_dict["name"]
        return out

    def to_json(self, **kwargs):
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text):
        """Parse JSON text written by :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    # -- words --------------------------------------------------------------------------
    def describe_condition(self, cond, cuts=None, suffix="_level"):
        """One condition in words, with cut values when ``cuts`` are known."""
        feature = _level_feature(cond.column, self.levels, suffix)
        if feature is None:
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
            words += f" ({_interval_words(feature, codes, feature_cuts)})"
        return words

    def describe(self, cuts=None, suffix="_level", merge_map=None, sizes=None):
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

        Returns
        -------
        str

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
                lines.append("   - " + self.describe_condition(cond, cuts, suffix))
            if seg.description:
                lines.append(f"   why: {seg.description}")
            if seg.strategy:
                lines.append(f"   strategy: {seg.strategy}")
        return "\n".join(lines)


def _fmt_values(cond):
    return (
        "[" + ", ".join(map(str, cond.values)) + "]"
        if cond.op in _SET_OPS
        else str(cond.value)
    )


def _fmt_num(x):
    return f"{x:,.6g}"


def _interval_words(feature, codes, cuts):
    parts = []
    start = prev = codes[0]
    for c in [*codes[1:], None]:
        if c is not None and c == prev + 1:
            prev = c
            continue
        lo = _fmt_num(cuts[start - 1]) if start > 0 else None
        hi = _fmt_num(cuts[prev]) if prev < len(cuts) else None
        if lo and hi:
            parts.append(f"{lo} <= {feature} < {hi}")
        elif lo:
            parts.append(f"{feature} >= {lo}")
        elif hi:
            parts.append(f"{feature} < {hi}")
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

    codes = [code(v) for v in cond.values]
    if cond.op == "in":
        return set(codes)
    if cond.op == "not in":
        return set(range(len(names))) - set(codes)
    return {c for c in range(len(names)) if _OPS[cond.op](c, codes[0])}


def load_rules(path):
    """Load a :class:`RuleSet` from a JSON or TOML file.

    Parameters
    ----------
    path : str or path-like
        ``.json`` or ``.toml`` file holding ``levels``, ``segments``, ``else``.
        In TOML, segments are an array of tables ``[[segments]]`` whose ``when``
        is a list of ``[column, op, value]`` arrays.

    Returns
    -------
    RuleSet

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> p = os.path.join(d, "rules.toml")
    >>> _ = open(p, "w").write('else = "Other"\\n[[segments]]\\nname = "Recent"\\n'
    ...                        'when = [["days", "<=", 30]]\\n')
    >>> load_rules(p).names
    ['Recent', 'Other']
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"Cannot read rules file {str(path)!r}: {exc}") from None
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"Rules file {str(path)!r} is not valid: {exc}") from None
    return RuleSet.from_dict(data)


# ---------------------------------------------------------------------------------
# Compilation
# ---------------------------------------------------------------------------------
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
    variables : list of dict
        One per distinct test: ``{"kind": "level", "position", "column",
        "n_levels"}`` or ``{"kind": "compare", "position", "column", "op",
        "value"}``. Slot ``domain - 1`` of each variable means "missing".
    conditions : list of list of (int, list of int)
        Per segment (ELSE excluded), its conditions as (variable index, allowed
        slots).
    """
    variables, index, compiled = [], {}, []
    for seg in rules.segments:
        conds = []
        for cond in seg.conditions:
            feature = _level_feature(cond.column, rules.levels, suffix)
            values_are_names = all(isinstance(v, str) for v in cond.values)
            if feature is not None and (values_are_names or cond.column != feature):
                names = rules.levels[feature].names
                allowed = sorted(_allowed_codes(cond, names, feature))
                column = feature + suffix
                key = ("level", column)
                if key not in index:
                    index[key] = len(variables)
                    variables.append(
                        {
                            "kind": "level",
                            "column": column,
                            "position": resolve(column),
                            "n_levels": len(names),
                        }
                    )
                conds.append((index[key], allowed))
                continue
            if not all(_is_number(v) for v in cond.values):
                raise ValueError(
                    f"Segment {seg.name!r}: condition on {cond.column!r} uses level "
                    f"name(s) {list(cond.values)} but no levels are declared for "
                    f"{cond.column!r}; declare them under 'levels' or compare with "
                    "numbers."
                )
            key = ("compare", cond.column, cond.op, cond.values)
            if key not in index:
                index[key] = len(variables)
                variables.append(
                    {
                        "kind": "compare",
                        "column": cond.column,
                        "position": resolve(cond.column),
                        "op": cond.op,
                        "value": list(cond.values)
                        if cond.op in _SET_OPS
                        else cond.value,
                    }
                )
            conds.append((index[key], [1]))
        compiled.append(conds)
    return variables, compiled


def domain_size(var):
    """Number of slots of a variable, the last one meaning missing."""
    return var["n_levels"] + 1 if var["kind"] == "level" else 3


def first_match(slots, conditions):
    """Rule index of each row of ``slots`` (n, n_vars); ELSE = len(conditions).

    Missing slots are not treated here: a missing slot simply fails every test
    on it. Callers mark rows with a missing slot themselves (``build_table``
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


def build_table(variables, conditions):
    """Lookup table over every combination of variable slots (C order).

    Returns ``None`` when the table would exceed ``MAX_TABLE_SIZE`` entries.
    """
    domains = [domain_size(v) for v in variables]
    size = int(np.prod(domains, dtype=np.float64)) if domains else 1
    if size > MAX_TABLE_SIZE:
        return None
    if domains:
        slots = np.indices(domains, dtype=np.int16).reshape(len(domains), -1).T
    else:  # no variable: one combination, in which rules without conditions match
        slots = np.zeros((1, 0), dtype=np.int16)
    table = first_match(slots, conditions)
    missing = (slots == np.asarray(domains, dtype=np.int16) - 1).any(axis=1)
    table[missing] = -1
    return table
