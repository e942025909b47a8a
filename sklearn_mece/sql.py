"""SQL: a fitted pipeline as one ``SELECT``, and cut points learned in a database.

Optional: ``pip install 'sklearn-mece[sql]'`` (sqlglot, and DuckDB as the
embedded database). Both are imported when a function of this module is
called, not when the module is imported.

* :func:`to_sql` translates a fitted pipeline (thresholder, segment step,
  scorer) into one ``SELECT`` over a table, in the SQL of a database
  (:data:`DIALECTS`), built as a sqlglot syntax tree: every identifier is
  quoted and every value is a literal, so no name or value can break out of
  the query. The query applies exactly what the steps learned: it returns,
  for every row, what ``pipeline.transform`` returns.
* :func:`fit_thresholder` learns the cut points of a
  :class:`~sklearn_mece.PercentileThresholder` inside a database (any DB-API
  connection: DuckDB, sqlite3, psycopg, ...) through the thresholder's
  protocol for state learned elsewhere, bit-identical to ``fit``.

Float semantics
---------------
Every value tested is read as a float64 (``CAST(column AS DOUBLE)``, as the
package reads every numeric column) and compared with the cut or operand as a
float64 literal that reproduces the exact bits (a bare ``0.1`` is a DECIMAL or
NUMERIC in most of these databases, not a double):

* duckdb, snowflake, spark: ``CAST('repr(v)' AS DOUBLE)``;
* postgres: ``CAST('repr(v)' AS DOUBLE PRECISION)``;
* bigquery: ``CAST('repr(v)' AS FLOAT64)``;
* tsql: ``CAST('repr(v)' AS FLOAT)`` (``FLOAT`` is ``FLOAT(53)``);
* sqlite: ``v = m * 2**e`` built from exact integers,
  ``(CAST(m AS REAL) * CAST(2**k AS REAL) ...)``: SQLite's text-to-real
  conversion is not correctly rounded (3.40.1: 39 of 900,000 random doubles
  one ulp off, more near the float64 limits), while integers up to ``2**53``
  and products with powers of two are exact.

``repr(v)`` is the shortest decimal that reads back as ``v``; the text is
converted by the database's correctly rounded parser. A value equal to a cut
goes to the upper level (``>=``), with ``closed="right"`` to the lower one
(``>``), as :class:`~sklearn_mece.PercentileThresholder` does; scores are
written the same way, so ``segment_score`` has the bits of ``transform``'s.

Missing values
--------------
pandas' ``NaN`` is not SQL's ``NULL``, and databases differ. A float is
missing when:

* duckdb, spark: ``x IS NULL OR ISNAN(x)``. DuckDB stores NaN (from Parquet,
  Arrow, CSV or arithmetic; DuckDB 2.0's pandas scan reads a pandas NaN as
  ``NULL``),
  sorts it above every number and finds ``NaN = NaN`` true; Spark too.
* bigquery: ``x IS NULL OR IS_NAN(x)`` (NaN sorts below every number there).
* postgres, snowflake: ``x IS NULL OR x = CAST('NaN' AS DOUBLE ...)``: NaN
  equals itself and sorts above every number.
* sqlite: ``x IS NULL``: SQLite stores a NaN as ``NULL`` (and ``-0.0`` as
  ``0``).
* tsql: ``x IS NULL``: ``FLOAT`` holds no NaN.

Every test of a value comes after the missing test, so NaN's ordering never
decides a segment. A text column is missing when ``NULL``. A row with a missing value in *any*
column the rules test goes to ``nan_segment`` (the strict per-row rule of the
segmenter), whatever rule would have decided it.

Rows ``transform`` refuses
--------------------------
Where ``pipeline.transform`` raises for a row, the query cannot raise (SQL has
no portable per-row error), so the row gets ``NULL`` in ``segment``,
``segment_score`` and ``segment_tier``: a missing value in a tested column
when ``nan_segment`` is ``None``, an infinite value in a thresholded or
compared column (``ABS(x) > 1.7976931348623157e308``), a level column holding
something else than level codes, a text value unseen at fit with
``unknown_category="error"``, a group unseen at fit with
``unseen_group="error"``, a missing split value in a split segment without
``nan_segment``, and on SQLite (which stores any value in any column) a text
value in a numeric column. ``SELECT ... WHERE segment IS NULL`` finds them.

A segment the scorer did not see at fit gets a ``NULL`` score; its tier is
``0`` with ``handle_unknown="nan"`` and ``tier_output="codes"`` (as
``transform``), else ``NULL`` (``transform`` gives a missing tier name, or
raises with ``handle_unknown="error"``).

Refused at translation
----------------------
:class:`~sklearn_mece.ClusterSegmenter` (its distances are float arithmetic
whose rounding differs between engines: a row near the boundary of two
clusters could change segment), pipelines with steps other than a
thresholder, a segment step and a scorer, steps fitted on data without column
names, and dialects not in :data:`DIALECTS`.

Text comparisons use the database's equality: in T-SQL the query adds
``COLLATE Latin1_General_BIN2`` so that ``'US'`` never equals ``'us'``
(trailing blanks still compare as SQL Server compares them).
"""

import math
import numbers

import numpy as np
import pandas as pd

from . import _quantiles
from ._base import infinite_values_error
from ._operators import OPERATORS

__all__ = ["DIALECTS", "fit_thresholder", "to_sql"]

#: Dialects :func:`to_sql` writes (sqlglot's names).
DIALECTS = ("duckdb", "sqlite", "postgres", "bigquery", "snowflake", "spark", "tsql")

# how each dialect spells "NaN" for a float: a function, equality with the
# NaN value (NaN = NaN holds there), or not at all (NaN cannot be stored)
_NAN_TEST = {
    "duckdb": "function",
    "spark": "function",
    "bigquery": "function",
    "postgres": "equals",
    "snowflake": "equals",
    "sqlite": None,
    "tsql": None,
}
_MAX_DOUBLE = float(np.finfo(np.float64).max)


def _require_sqlglot():
    from ._base import optional_import

    hint = {
        "feature": "sklearn_mece.sql",
        "extra": "sql",
        "detail": "(sqlglot and duckdb)",
    }
    sqlglot = optional_import("sqlglot", **hint)
    return sqlglot, sqlglot.exp


def _require_duckdb():
    from ._base import optional_import

    return optional_import(
        "duckdb",
        feature="sklearn_mece.sql's embedded database",
        extra="sql",
        detail="(sqlglot and duckdb), or pass a connection",
    )


def _check_dialect(dialect):
    if dialect not in DIALECTS:
        raise ValueError(
            f"Unsupported dialect {dialect!r}; use one of {list(DIALECTS)} (how "
            "each stores NaN and parses float literals is known for these only)."
        )


# --------------------------------------------------------------------------
# expressions
# --------------------------------------------------------------------------
class _Sql:
    """Expression builders for one dialect (identifiers quoted, exact floats)."""

    def __init__(self, dialect):
        _check_dialect(dialect)
        _, self.exp = _require_sqlglot()
        self.dialect = dialect
        self.nan_test = _NAN_TEST[dialect]
        self.source = None  # alias of the table read, once to_sql names it

    # identifiers and literals
    def ident(self, name):
        return self.exp.to_identifier(str(name), quoted=True)

    def col(self, name, table=None):
        exp = self.exp
        return exp.Column(
            this=self.ident(name), table=None if table is None else self.ident(table)
        )

    def src(self, name):
        """A column of the table read, qualified by its alias: SQLite reads an
        unqualified double-quoted name that matches no column as a string
        literal, a qualified one is an error ("no such column")."""
        return self.col(name, table=self.source)

    def table(self, table):
        exp = self.exp
        if isinstance(table, exp.Table):
            return table.copy()
        if isinstance(table, str):
            parts = table.split(".")
        elif isinstance(table, (list, tuple)) and all(
            isinstance(p, str) for p in table
        ):
            parts = list(table)
        else:
            raise TypeError(
                "table must be a name ('customers' or 'schema.customers') or a "
                f"tuple of name parts, got {type(table).__name__}."
            )
        if not 1 <= len(parts) <= 3 or not all(parts):
            raise ValueError(
                f"table {table!r} must be 'table', 'schema.table' or "
                "'catalog.schema.table' with non-empty parts (pass a tuple of "
                "parts for names holding dots)."
            )
        parts = [self.ident(p) for p in parts]
        kwargs = dict(zip(("this", "db", "catalog"), reversed(parts)))
        return exp.Table(**kwargs)

    def double_type(self):
        return self.exp.DataType.build("double")

    def double(self, value):
        """An exact float64 literal (see the module notes)."""
        exp = self.exp
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"cannot write the non-finite value {value!r} in SQL")
        if self.dialect != "sqlite":
            return exp.Cast(this=exp.Literal.string(repr(value)), to=self.double_type())
        return self._exact_real(value)

    def _exact_real(self, value):
        exp = self.exp

        def real(n):
            return exp.Cast(this=exp.Literal.number(n), to=self.double_type())

        if value == 0.0:
            node = real(0)
            return (
                exp.Paren(this=exp.Neg(this=node))
                if math.copysign(1, value) < 0
                else node
            )
        mant, e = math.frexp(value)
        m = int(mant * (1 << 53))
        e -= 53
        while m % 2 == 0:
            m //= 2
            e += 1
        node = real(m)
        while e > 0:
            step = min(e, 62)
            node = exp.Mul(this=node, expression=real(1 << step))
            e -= step
        while e < 0:
            step = min(-e, 62)
            node = exp.Div(this=node, expression=real(1 << step))
            e += step
        return exp.Paren(this=node)

    def number(self, value):
        return self.exp.Literal.number(int(value))

    def string(self, value):
        return self.exp.Literal.string(str(value))

    def value(self, value):
        """A segment, tier or group value as a literal of its kind."""
        if isinstance(value, str):
            return self.string(value)
        if isinstance(value, (bool, np.bool_)):
            return self.exp.Boolean(this=bool(value))
        if isinstance(value, numbers.Integral):
            return self.number(value)
        return self.double(value)

    def true(self):
        one = self.number(1)
        return self.exp.EQ(this=one, expression=one.copy())

    def false(self):
        return self.exp.EQ(this=self.number(1), expression=self.number(0))

    # predicates
    def as_double(self, expr):
        exp = self.exp
        cast = exp.Cast(this=expr, to=self.double_type())
        if self.dialect != "sqlite":
            return cast
        # SQLite stores text in any column and casts it to 0.0: a value that is
        # not a number reads as infinity instead, which is refused (NULL
        # segment), as transform refuses text in a numeric column
        typed = exp.Anonymous(this="typeof", expressions=[expr.copy()])
        number = exp.In(
            this=typed,
            expressions=[self.string(t) for t in ("integer", "real", "null")],
        )
        return exp.Case(
            ifs=[exp.If(this=number, true=cast)], default=exp.Literal.number("1e999")
        )

    def is_nan(self, expr):
        exp = self.exp
        if self.nan_test == "function":
            return exp.IsNan(this=expr.copy())
        if self.nan_test == "equals":
            nan = exp.Cast(this=exp.Literal.string("NaN"), to=self.double_type())
            return exp.EQ(this=expr.copy(), expression=nan)
        return None

    def missing(self, expr):
        """``expr IS NULL`` or NaN, for a float expression."""
        exp = self.exp
        null = exp.Is(this=expr.copy(), expression=exp.Null())
        nan = self.is_nan(expr)
        return null if nan is None else self.paren_or(null, nan)

    def is_null(self, expr):
        return self.exp.Is(this=expr.copy(), expression=self.exp.Null())

    def infinite(self, expr):
        """``ABS(expr) > max`` on a non-NaN float (NaN sorts high in some SQL)."""
        exp = self.exp
        big = exp.GT(
            this=exp.Abs(this=expr.copy()), expression=self.double(_MAX_DOUBLE)
        )
        nan = self.is_nan(expr)
        if nan is None:
            return big
        return self.paren_and(big, exp.Not(this=exp.Paren(this=nan)))

    def paren_or(self, *conds):
        conds = [c for c in conds if c is not None]
        if not conds:
            return self.false()
        node = conds[0]
        for c in conds[1:]:
            node = self.exp.Or(this=node, expression=c)
        return self.exp.Paren(this=node)

    def paren_and(self, *conds):
        conds = [c for c in conds if c is not None]
        if not conds:
            return self.true()
        node = conds[0]
        for c in conds[1:]:
            node = self.exp.And(this=node, expression=c)
        return self.exp.Paren(this=node)

    def text(self, expr):
        """A text expression compared byte for byte (T-SQL: binary collation)."""
        if self.dialect == "tsql":
            return self.exp.Collate(
                this=expr.copy(), expression=self.exp.var("Latin1_General_BIN2")
            )
        return expr.copy()

    def in_list(self, expr, values, negate=False):
        exp = self.exp
        node = exp.In(this=expr.copy(), expressions=list(values))
        return exp.Not(this=exp.Paren(this=node)) if negate else node

    def case(self, ifs, default=None):
        exp = self.exp
        return exp.Case(
            ifs=[exp.If(this=cond, true=value) for cond, value in ifs],
            default=exp.Null() if default is None else default,
        )

    # operators, read from the operator table
    def compare(self, op, expr, operands):
        """``expr op operands`` for an operator of :data:`OPERATORS`.

        The SQL comparison follows from the operator's own definition: which of
        "below", "equal", "above" (or "listed", "not listed") satisfy it, asked
        to :meth:`Operator.holds` itself.
        """
        exp = self.exp
        if op.takes_list:
            listed, other = op.holds(np.array([0.0, 1.0]), [0.0]).tolist()
            if listed == other:
                return self.true() if listed else self.false()
            values = [self.double(v) for v in operands]
            return self.in_list(expr, values, negate=not listed)
        below, equal, above = op.holds(np.array([-1.0, 0.0, 1.0]), [0.0]).tolist()
        right = self.double(operands[0])
        kinds = {
            (True, False, False): exp.LT,
            (False, True, False): exp.EQ,
            (False, False, True): exp.GT,
            (True, True, False): exp.LTE,
            (False, True, True): exp.GTE,
            (True, False, True): exp.NEQ,
        }
        key = (below, equal, above)
        if key not in kinds:
            return self.true() if below else self.false()
        return kinds[key](this=expr.copy(), expression=right)


# --------------------------------------------------------------------------
# the pipeline, read
# --------------------------------------------------------------------------
def _steps(pipeline):
    """(thresholder, segmenter, scorer) of a fitted pipeline; refuses the rest."""
    from ._cluster import ClusterSegmenter
    from ._pipeline import find_steps, segment_step
    from ._scorer import SegmentScorer
    from ._segmenter import HierarchicalSegmenter
    from ._thresholder import PercentileThresholder

    seg = segment_step(pipeline)
    found = find_steps(pipeline)
    if isinstance(seg, ClusterSegmenter):
        raise ValueError(
            "to_sql cannot translate a ClusterSegmenter: its nearest-centroid "
            "distances are float arithmetic whose rounding differs between "
            "engines, so a row near a boundary could change segment; use a "
            "HierarchicalSegmenter, or apply the pipeline in Python."
        )
    if not isinstance(seg, HierarchicalSegmenter):
        raise ValueError(
            f"to_sql translates a HierarchicalSegmenter, not {type(seg).__name__}."
        )
    kinds = (PercentileThresholder, HierarchicalSegmenter, SegmentScorer)
    steps = getattr(pipeline, "steps", [(None, pipeline)])
    order = []
    for name, step in steps:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        kind = next((i for i, k in enumerate(kinds) if isinstance(step, k)), None)
        if kind is None:
            raise ValueError(
                f"to_sql cannot translate step {name!r} ({type(step).__name__}): "
                "only a PercentileThresholder, a HierarchicalSegmenter and a "
                "SegmentScorer, in that order, have a SQL form."
            )
        order.append((kind, name))
    if [k for k, _ in order] != sorted({k for k, _ in order}):
        raise ValueError(
            "to_sql translates at most one thresholder, one segment step and one "
            f"scorer, in that order; the pipeline has {[n for _, n in order]}."
        )
    thresholder = found.thresholder
    scorer = found.scorer
    for step in (thresholder, seg, scorer):
        if step is None:
            continue
        if getattr(step, "feature_names_in_", None) is None:
            raise ValueError(
                f"{type(step).__name__} was fitted without column names (an "
                "array); SQL reads columns by name: fit it on a DataFrame."
            )
    if thresholder is not None and not hasattr(thresholder, "cuts_"):
        raise ValueError("The thresholder is not fitted: it has no `cuts_`.")
    if scorer is not None and "scores_" not in scorer.__dict__:
        raise ValueError("The scorer is not fitted: it has no `scores_`.")
    return thresholder, seg, scorer


class _Names:
    """Internal aliases of the layers (never seen by the caller)."""

    def __init__(self):
        self.count = 0

    def __call__(self, kind):
        self.count += 1
        return f"_mece_{kind}{self.count}"


def _level_expr(q, thresholder, name, column):
    """Level code of a thresholded column: -1 missing, NULL refused (as transform)."""
    x = q.as_double(q.src(column))
    cuts = [float(c) for c in thresholder.cuts_[name]]
    groups = None
    if thresholder.groupby is not None:
        gcol = q.src(thresholder.feature_names_in_[thresholder.groupby_position_])
        groups = (gcol, thresholder.groups_, thresholder.group_cuts_[name])

    def cut(j):
        if groups is None:
            return q.double(cuts[j])
        gcol, values, table = groups
        return q.case(
            [
                (
                    q.exp.EQ(this=gcol.copy(), expression=q.value(g)),
                    q.double(table[i][j]),
                )
                for i, g in enumerate(values)
            ],
            q.double(cuts[j]),
        )

    above = q.exp.GTE if thresholder.closed == "left" else q.exp.GT
    ifs = [(q.missing(x), q.number(-1)), (q.infinite(x), q.exp.Null())]
    if groups is not None and thresholder.unseen_group == "error":
        gcol, values, _ = groups
        unseen = q.paren_or(
            q.is_null(gcol), q.in_list(gcol, [q.value(g) for g in values], negate=True)
        )
        ifs.append((unseen, q.exp.Null()))
    for j in reversed(range(len(cuts))):
        ifs.append((above(this=x.copy(), expression=cut(j)), q.number(j + 1)))
    return q.case(ifs, q.number(0))


def _build(pipeline, table, dialect, id_columns, levels):
    q = _Sql(dialect)
    exp = q.exp
    thresholder, seg, scorer = _steps(pipeline)
    from ._rules import CompiledVariable

    id_columns = [] if id_columns is None else id_columns
    if isinstance(id_columns, str) or not all(
        isinstance(c, str) and c for c in id_columns
    ):
        raise TypeError(
            f"id_columns must be a list of column names, got {id_columns!r}."
        )
    id_columns = list(id_columns)
    names_of = _Names()
    source = q.table(table)
    q.source = names_of("src")
    source.set("alias", exp.TableAlias(this=q.ident(q.source)))

    # layer 1: raw reads, level codes
    inner = {}  # key -> (alias, expression)

    def read(key, kind, build):
        if key not in inner:
            inner[key] = (names_of(kind), build())
        return q.col(inner[key][0])

    produced = {}  # level column made by the thresholder -> thresholded column
    if thresholder is not None:
        for name in thresholder.columns_:
            produced[name + thresholder.suffix] = name
            read(("level", name), "l", lambda n=name: _level_expr(q, thresholder, n, n))

    seg_names = list(seg.feature_names_in_)
    variables = [CompiledVariable.from_dict(v) for v in seg.variables_]
    refused, missing, tests = [], [], []
    for var in variables:
        column = str(seg_names[var.position])
        if column in produced:  # the thresholder's level codes
            codes = read(("level", produced[column]), "l", None)
            if var.kind == "level":
                missing.append(exp.EQ(this=codes, expression=q.number(-1)))
                tests.append(("codes", codes))
            else:  # a number compared with the codes: -1 is a number there
                tests.append(("num", q.as_double(codes)))
            continue
        if var.kind == "text":
            value = read(("text", column), "t", lambda c=column: q.src(c))
            missing.append(q.is_null(value))
            if seg.unknown_category == "error":
                known = list(
                    dict.fromkeys(
                        [*seg.text_categories_.get(column, []), *var.categories]
                    )
                )
                refused.append(
                    q.paren_and(
                        exp.Not(this=q.is_null(value)),
                        q.in_list(
                            q.text(value), [q.string(v) for v in known], negate=True
                        ),
                    )
                )
            tests.append(("text", value))
            continue
        value = read(("num", column), "n", lambda c=column: q.as_double(q.src(c)))
        if var.kind == "level":  # level codes read from the table
            missing.append(
                q.paren_or(
                    q.missing(value), exp.EQ(this=value, expression=q.number(-1))
                )
            )
            valid = q.in_list(value, [q.number(c) for c in range(-1, var.n_levels)])
            refused.append(
                q.paren_and(
                    exp.Not(this=q.missing(value)), exp.Not(this=exp.Paren(this=valid))
                )
            )
        else:
            missing.append(q.missing(value))
            refused.append(q.infinite(value))
        tests.append(("num", value))
    if thresholder is not None:
        for name in thresholder.columns_:
            refused.append(q.is_null(read(("level", name), "l", None)))

    def condition(var_index, allowed):
        var = variables[var_index]
        kind, value = tests[var_index]
        if kind == "codes" or var.kind == "level":
            codes = [a - 1 for a in allowed]
            if len(codes) == var.n_levels:
                return q.true()
            if not codes:
                return q.false()
            return q.in_list(value, [q.number(c) for c in codes])
        if kind == "text":
            k = len(var.categories)
            listed = [var.categories[a - 1] for a in allowed if a <= k]
            other = (k + 1) in allowed
            if other and len(listed) == k:
                return q.true()
            if other:
                excluded = [c for c in var.categories if c not in listed]
                return q.in_list(
                    q.text(value), [q.string(c) for c in excluded], negate=True
                )
            if not listed:
                return q.false()
            return q.in_list(q.text(value), [q.string(c) for c in listed])
        return q.compare(OPERATORS[var.op], value, var.operands)

    # segment values
    def out(code):
        if seg.output == "names":
            return q.string(seg.segment_names_[code])
        return q.number(code)

    nan_code = None
    if seg.nan_segment is not None:
        nan_code = seg.segment_names_.index(seg.nan_segment)
    splits = {s["first_code"]: s for s in seg.splits_}

    def result(code):
        split = splits.get(code)
        if split is None:
            return out(code)
        value = read(
            ("num", split["column"]),
            "n",
            lambda c=split["column"]: q.as_double(q.src(c)),
        )
        ifs = [(q.missing(value), exp.Null() if nan_code is None else out(nan_code))]
        cuts = split["cuts"]
        for j in reversed(range(len(cuts))):
            ifs.append(
                (
                    exp.GTE(this=value.copy(), expression=q.double(cuts[j])),
                    out(code + j + 1),
                )
            )
        return q.case(ifs, out(code))

    any_missing = q.paren_or(*missing) if missing else None
    ifs = []
    refused_all = list(refused)
    if seg.nan_segment is None and any_missing is not None:
        refused_all.append(any_missing)
    if refused_all:
        ifs.append((q.paren_or(*refused_all), exp.Null()))
    if seg.nan_segment is not None and any_missing is not None:
        ifs.append((any_missing, out(nan_code)))
    codes = seg.rule_codes_.tolist()
    for r, conds in enumerate(seg.conditions_):
        ifs.append(
            (q.paren_and(*[condition(v, a) for v, a in conds]), result(codes[r]))
        )
    else_code = codes[len(seg.conditions_)]  # the last entry is for missing rows
    segment = q.case(ifs, result(else_code)) if ifs else result(else_code)

    # output names
    level_names = []
    if levels and thresholder is not None:
        level_names = [
            (n + thresholder.suffix, ("level", n)) for n in thresholder.columns_
        ]
    outputs = [seg.output_column]
    if scorer is not None:
        outputs += ["segment_score", "segment_tier"]
    taken = id_columns + [n for n, _ in level_names] + outputs
    # DuckDB, Spark, SQL Server, ... resolve names case-insensitively
    folded = [n.casefold() for n in taken]
    clash = sorted({n for n in taken if folded.count(n.casefold()) > 1})
    if clash:
        raise ValueError(
            f"Output column(s) {clash} appear twice (an id column named like an "
            "output column?); rename the id column in a view first."
        )

    ids = [(c, names_of("id")) for c in id_columns]
    layer1 = [exp.alias_(q.src(c), a, quoted=True) for c, a in ids]
    layer1 += [exp.alias_(e, a, quoted=True) for a, e in inner.values()]
    sub1 = _subquery(q, exp.select(*layer1).from_(source), names_of("a"))
    seg_alias = names_of("s")
    layer2 = [exp.alias_(q.col(a), a, quoted=True) for _, a in ids]
    layer2 += [
        exp.alias_(q.col(inner[k][0]), inner[k][0], quoted=True) for _, k in level_names
    ]
    layer2.append(exp.alias_(segment, seg_alias, quoted=True))
    query = exp.select(*layer2).from_(sub1)

    final = [exp.alias_(q.col(a), c, quoted=True) for c, a in ids]
    final += [exp.alias_(q.col(inner[k][0]), n, quoted=True) for n, k in level_names]
    final.append(exp.alias_(q.col(seg_alias), seg.output_column, quoted=True))
    if scorer is not None:
        final += _score_columns(q, seg, scorer, q.col(seg_alias))
    sub2 = _subquery(q, query, names_of("b"))
    return exp.select(*final).from_(sub2)


def _subquery(q, select, alias):
    if q.dialect == "sqlite":
        # LIMIT -1 (no limit) keeps SQLite from flattening the layer, which
        # would evaluate each level code once per reference (2x slower)
        select = select.limit(q.exp.Neg(this=q.number(1)))
    return q.exp.Subquery(this=select, alias=q.exp.TableAlias(this=q.ident(alias)))


def _score_columns(q, seg, scorer, segment):
    """``segment_score`` and ``segment_tier``: a CASE on the segment."""
    exp = q.exp
    pos = scorer.columns_["segment_column"]
    if str(scorer.feature_names_in_[pos]) != seg.output_column:
        raise ValueError(
            f"The scorer reads the segment column {scorer.feature_names_in_[pos]!r}, "
            f"not the segment step's output {seg.output_column!r}."
        )
    names = seg.output == "names"
    if names != (scorer.segment_kind_ == "str"):
        raise ValueError(
            "The scorer was fitted on segment "
            f"{'names' if scorer.segment_kind_ == 'str' else 'codes'}, but the "
            f"segment step outputs {seg.output}."
        )
    tier_names = scorer.tier_output == "names"
    scores, tiers = [], []
    for key, score, tier in zip(
        scorer.segments_, scorer.scores_.tolist(), scorer.tier_codes_.tolist()
    ):
        if names:
            value = q.string(key)
        else:
            if float(key) != int(key):
                continue  # a code no segment step outputs
            value = q.number(int(key))
        test = exp.EQ(this=segment.copy(), expression=value)
        scores.append((test, q.double(score)))
        tier_value = (
            q.string(scorer.tier_names_[tier - 1]) if tier_names else q.number(tier)
        )
        tiers.append((test.copy(), tier_value))
    null = (q.is_null(segment), exp.Null())
    unknown_tier = exp.Null() if tier_names else q.number(0)
    if scorer.handle_unknown == "error":
        unknown_tier = exp.Null()
    return [
        exp.alias_(q.case([null, *scores], exp.Null()), "segment_score", quoted=True),
        exp.alias_(q.case([null, *tiers], unknown_tier), "segment_tier", quoted=True),
    ]


def to_sql(pipeline, table, *, dialect="duckdb", id_columns=None, levels=False):
    """One ``SELECT`` that segments every row of a table as the pipeline does.

    Parameters
    ----------
    pipeline : fitted Pipeline or HierarchicalSegmenter
        A :class:`~sklearn_mece.PercentileThresholder` (optional), a
        :class:`~sklearn_mece.HierarchicalSegmenter` and a
        :class:`~sklearn_mece.SegmentScorer` (optional), fitted on a
        DataFrame, found by :func:`sklearn_mece._pipeline.find_steps`. Any
        other step, and a :class:`~sklearn_mece.ClusterSegmenter`, is refused
        (see the module notes).
    table : str or tuple of str
        The table (or view) holding the columns the pipeline was fitted on:
        ``"customers"``, ``"schema.customers"``, or a tuple of parts
        (``("my.schema", "customers")``) for names holding dots. Each part
        is quoted.
    dialect : str, default="duckdb"
        One of :data:`DIALECTS`.
    id_columns : list of str, optional
        Columns of ``table`` returned first, e.g. a customer id.
    levels : bool, default=False
        Also return each thresholded column's level code
        (``<column><suffix>``; ``-1`` for a missing value), after the id
        columns.

    Returns
    -------
    str
        One ``SELECT`` returning, for every row of ``table``, the id columns,
        the level columns (``levels=True``), the segment (the segment step's
        ``output_column``: names with ``output="names"``, else codes) and,
        with a scorer, ``segment_score`` and ``segment_tier``. Values equal
        what ``pipeline.transform`` gives for the row. A row ``transform``
        refuses gets ``NULL`` (e.g. a missing value in a tested column when
        ``nan_segment`` is ``None``; see the module notes).

    Raises
    ------
    ValueError
        For a pipeline or dialect that cannot be translated (see the module
        notes), an unfitted pipeline, or an id column named like an output.

    Examples
    --------
    >>> import duckdb, numpy as np, pandas as pd
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_mece import HierarchicalSegmenter, PercentileThresholder
    >>> from sklearn_mece.sql import to_sql
    >>> customers = pd.DataFrame({"id": [1, 2, 3, 4, 5],
    ...                           "aov": [10.0, 20.0, 30.0, 40.0, np.nan],
    ...                           "country": ["US", "FR", "US", "DE", "US"]})
    >>> rules = {"levels": {"aov": ["low", "high"]},
    ...          "segments": [{"name": "Big", "when": [["aov", "==", "high"]]},
    ...                       {"name": "US", "when": [["country", "==", "US"]]}]}
    >>> pipe = make_pipeline(
    ...     PercentileThresholder({"aov": (50,)}),
    ...     HierarchicalSegmenter(rules, output="names", nan_segment="Unknown"),
    ... ).set_output(transform="pandas").fit(customers)
    >>> query = to_sql(pipe, "customers", id_columns=["id"])
    >>> duckdb.sql(query).fetchall()
    [(1, 'US'), (2, 'Other'), (3, 'Big'), (4, 'Big'), (5, 'Unknown')]
    >>> pipe.transform(customers)["segment"].tolist()
    ['US', 'Other', 'Big', 'Big', 'Unknown']
    >>> snowflake = to_sql(pipe, "customers", dialect="snowflake")
    >>> "CAST('25.0' AS DOUBLE)" in snowflake  # the cut, an exact float64
    True
    """
    return _build(pipeline, table, dialect, id_columns, levels).sql(dialect=dialect)


# --------------------------------------------------------------------------
# cut points learned in a database
# --------------------------------------------------------------------------
def _dialect_of(connection):
    module = type(connection).__module__.split(".")[0].lstrip("_")
    if module == "duckdb":
        return "duckdb"
    if module == "sqlite3":
        return "sqlite"
    if module in ("psycopg", "psycopg2", "pg8000"):
        return "postgres"
    return None


def _run(connection, sql):
    """Execute ``sql``; (rows, column names). DB-API cursor, or DuckDB's own."""
    if _dialect_of(connection) == "duckdb":
        result = connection.execute(sql)
        description = result.description
        rows = result.fetchall()
    else:
        cursor = connection.cursor()
        try:
            cursor.execute(sql)
            description = cursor.description
            rows = cursor.fetchall()
        finally:
            cursor.close()
    return rows, [d[0] for d in description or ()]


def _meta_frame(connection, q, table):
    """One row of NaN with the table's columns (learning_plan reads names only)."""
    exp = q.exp
    query = exp.select(exp.Star()).from_(q.table(table)).limit(0)
    _, columns = _run(connection, query.sql(dialect=q.dialect))
    # one row: the thresholder validates X_meta as fit does (at least one row)
    return pd.DataFrame({c: [np.nan] for c in columns}, columns=columns)


def _refuse_text(connection, q, table, columns):
    """Refuse a column holding text, as ``fit`` does (DuckDB and SQLite).

    SQLite stores any value in any column and reads text as 0.0 when cast;
    DuckDB fails to cast a text column with its own error. Other databases
    raise their own cast error.
    """
    exp = q.exp
    if q.dialect not in ("sqlite", "duckdb"):
        return
    checks = []
    for column in columns:
        raw = q.col(column)
        if q.dialect == "sqlite":
            typed = exp.Anonymous(this="typeof", expressions=[raw.copy()])
            bad = exp.Not(
                this=exp.In(
                    this=typed,
                    expressions=[q.string(t) for t in ("integer", "real", "null")],
                )
            )
        else:
            bad = exp.and_(
                exp.Not(this=exp.Is(this=raw.copy(), expression=exp.Null())),
                exp.Is(
                    this=exp.TryCast(this=raw.copy(), to=q.double_type()),
                    expression=exp.Null(),
                ),
            )
        text = exp.Cast(this=raw.copy(), to=exp.DataType.build("text"))
        checks.append(exp.Max(this=q.case([(bad, text)])))
    rows, _ = _run(
        connection, exp.select(*checks).from_(q.table(table)).sql(dialect=q.dialect)
    )
    for column, example in zip(columns, rows[0]):
        if example is not None:
            raise ValueError(
                f"Column {str(column)!r} must be numeric, got text such as {example!r}."
            )


def _order_statistics(connection, q, table, column, ranks, n):
    """The values of 0-based ``ranks`` among the non-missing values, exactly."""
    exp = q.exp
    x = q.as_double(q.col(column))
    keep = exp.Not(this=q.missing(x))
    found = {}
    if q.dialect == "duckdb":
        # quantile_disc at the middle of rank k's interval [k/n, (k+1)/n) is
        # the k-th value (tested against numpy), in one aggregate
        at = exp.Array(expressions=[q.double((k + 0.5) / n) for k in ranks])
        values = exp.Anonymous(
            this="quantile_disc", expressions=[q.case([(keep, x.copy())]), at]
        )
        rows, _ = _run(
            connection, exp.select(values).from_(q.table(table)).sql(dialect="duckdb")
        )
        return dict(zip(ranks, (float(v) for v in rows[0][0])))
    # runs of consecutive ranks: one ORDER BY ... LIMIT m OFFSET k each
    runs, start = [], 0
    for i in range(1, len(ranks) + 1):
        if i == len(ranks) or ranks[i] != ranks[i - 1] + 1:
            runs.append(ranks[start:i])
            start = i
    for run in runs:
        query = (
            exp.select(exp.alias_(x.copy(), "v", quoted=True))
            .from_(q.table(table))
            .where(keep.copy())
            .order_by(exp.Ordered(this=x.copy()))
            .limit(len(run))
            .offset(run[0])
        )
        rows, _ = _run(connection, query.sql(dialect=q.dialect))
        if len(rows) != len(run):  # pragma: no cover - the table changed
            raise RuntimeError(
                f"Column {column!r}: the table changed while its cuts were learned."
            )
        found.update(zip(run, (float(r[0]) for r in rows)))
    return found


def fit_thresholder(thresholder, connection, table, *, dialect=None):
    """Fit a :class:`PercentileThresholder` on a database table, exactly.

    Through the thresholder's protocol for state learned elsewhere:
    :meth:`~PercentileThresholder.learning_plan` names the columns and
    percentiles, the database counts each column's non-missing values and
    returns the order statistics numpy's ``method`` reads
    (:func:`sklearn_mece._quantiles.rank_plan`), which are combined with
    numpy's own formulas (:func:`~sklearn_mece._quantiles.combine`) and
    given to :meth:`~PercentileThresholder.fit_from_cuts`. The cuts equal
    ``thresholder.fit(frame)`` on the table read into pandas, bit for bit,
    for every ``method`` (one exception, as with Dask: a selected zero when a
    column holds both ``-0.0`` and ``0.0`` may carry the other sign).

    Parameters
    ----------
    thresholder : PercentileThresholder
        Fitted in place; ``groupby`` and sample weights are not supported.
    connection : DB-API connection or None
        DuckDB (``duckdb.connect()``), ``sqlite3``, psycopg, ... ``None``
        uses DuckDB's default in-process connection, which reads a
        registered DataFrame or a file (``"data.parquet"``) by name.
    table : str or tuple of str
        The table, as for :func:`to_sql`.
    dialect : str, optional
        The connection's SQL (:data:`DIALECTS`); recognised for DuckDB,
        sqlite3 and psycopg connections.

    Returns
    -------
    PercentileThresholder
        The fitted ``thresholder``.

    Raises
    ------
    ValueError
        As ``fit`` does: a column holding infinite values, or no
        non-missing value; ``groupby``.

    Notes
    -----
    Missing values (``NULL``, and ``NaN`` where the database stores it) are
    left out, as ``fit`` leaves out NaN. DuckDB reads the order statistics
    in one aggregate (``quantile_disc`` at the middle of each rank's
    interval); other databases with ``ORDER BY column LIMIT m OFFSET k`` per
    run of consecutive ranks (a sort per query: index the column on a large
    table). DuckDB's ``quantile_cont`` is not used: its interpolation
    differs from numpy's in the last bit (about one cut in twenty).

    Examples
    --------
    >>> import duckdb, numpy as np, pandas as pd
    >>> from sklearn_mece import PercentileThresholder
    >>> from sklearn_mece.sql import fit_thresholder
    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE TABLE customers AS SELECT range / 7 AS aov "
    ...                 "FROM range(100)")
    >>> t = fit_thresholder(PercentileThresholder((40, 75)), con, "customers")
    >>> t.cuts_["aov"].tolist()
    [5.6571428571428575, 10.607142857142858]
    >>> frame = con.execute("SELECT * FROM customers").df()
    >>> PercentileThresholder((40, 75)).fit(frame).cuts_["aov"].tolist()
    [5.6571428571428575, 10.607142857142858]
    """
    if connection is None:
        default = _require_duckdb().default_connection
        connection = default() if callable(default) else default
    if dialect is None:
        dialect = _dialect_of(connection)
        if dialect is None:
            raise ValueError(
                f"Cannot tell the SQL dialect of a {type(connection).__name__} "
                f"connection; pass dialect= (one of {list(DIALECTS)})."
            )
    q = _Sql(dialect)
    exp = q.exp
    meta = _meta_frame(connection, q, table)
    plan = thresholder.learning_plan(meta)
    if not plan:
        return thresholder.fit_from_cuts(meta, {})
    _refuse_text(connection, q, table, list(plan))
    # one pass: non-missing and infinite values per column
    counts = []
    for column in plan:
        x = q.as_double(q.col(column))
        keep = exp.Not(this=q.missing(x))
        one, zero = q.number(1), q.number(0)
        counts.append(exp.Sum(this=q.case([(keep, one)], zero)))
        counts.append(
            exp.Sum(
                this=q.case(
                    [(q.paren_and(keep.copy(), q.infinite(x)), one.copy())], zero.copy()
                )
            )
        )
    rows, _ = _run(
        connection, exp.select(*counts).from_(q.table(table)).sql(dialect=dialect)
    )
    totals = [0 if v is None else int(v) for v in rows[0]]
    cuts = {}
    for i, (column, percentiles) in enumerate(plan.items()):
        n, n_inf = totals[2 * i], totals[2 * i + 1]
        if n_inf:
            raise infinite_values_error(str(column), n_inf)
        if n == 0:
            raise ValueError(
                f"Column {str(column)!r}: cannot learn cuts: no non-missing values."
            )
        rank_plan, ranks = _quantiles.rank_plan(n, percentiles, thresholder.method)
        values = _order_statistics(connection, q, table, column, ranks, n)
        cuts[column] = _quantiles.combine(rank_plan, values)
    return thresholder.fit_from_cuts(meta, cuts)
