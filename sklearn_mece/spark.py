"""Spark integration: learn cuts with Spark's aggregates, transform with SQL.

Optional: ``pip install 'sklearn-mece[spark]'`` (pyspark and sqlglot;
pyspark needs a Java runtime, Java 17 for Spark 4). pyspark is imported when a
function of this module is called, not when the module is imported.

Learning the cuts of a :class:`~sklearn_mece.PercentileThresholder` on a Spark
DataFrame, two ways (:func:`fit_thresholder`):

* ``exact=True`` (default): two Spark jobs. The first counts each column's
  non-missing and infinite values; the second fetches the order statistics
  that numpy's ``method`` reads (:func:`sklearn_mece._quantiles.rank_plan`)
  with Spark SQL's exact ``percentile_disc``, asked at percentages that
  select one rank each; they are combined with numpy's own formulas
  (:func:`sklearn_mece._quantiles.combine`). The cuts are **bit-identical**
  to ``np.percentile(column_without_missing, q, method=method)``, i.e. to
  ``PercentileThresholder.fit`` on the same data in pandas, for every
  method, ``"linear"`` included (one documented exception, as for Dask: when
  a selected order statistic is a zero and the column holds both ``-0.0``
  and ``+0.0``, the sign of that zero may differ). Spark's own interpolating
  ``percentile(col, array(...))`` is *not* used for ``"linear"``: its
  interpolation is Spark's, not numpy's. Spark's source (3.x) computes
  ``(1 - g) * a + g * b`` where numpy computes ``a + (b - a) * g`` (or
  ``b - (b - a) * (1 - g)`` when ``g >= 0.5``): up to 2 ulps apart, on
  about one cut in five of random data. The pyspark 4.3 tested here agreed
  with numpy on 2,000 percentiles compared, but no version documents
  numpy's formula; selected order statistics do not depend on it. Like
  ``percentile``, ``percentile_disc`` gathers a column's distinct values
  with their counts, in the end in one task: a column of hundreds of
  millions of distinct values needs the memory for them (use
  ``exact=False`` there, or round the values).
* ``exact=False``: ``DataFrame.approxQuantile`` (the Greenwald-Khanna
  summary), whose guarantee is deterministic: for ``N`` non-missing values
  and a requested probability ``p``, it returns a value ``x`` of the data
  with ``floor((p - relative_error) * N) <= rank(x) <= ceil((p +
  relative_error) * N)``. ``relative_error`` is recorded in ``rank_error_``.
  Two Spark jobs as well (the counts, then the summary).

Missing values: Spark's ``DOUBLE`` has a ``NaN`` distinct from ``NULL``.
``NaN = NaN`` is true in Spark SQL and ``NaN`` sorts above every number (so
``NaN >= 5`` is true, where pandas says false), and ``isnan(NULL)`` is false.
What a pandas ``NaN`` becomes in ``spark.createDataFrame(pandas_df)``
depends on Arrow conversion (``spark.sql.execution.arrow.pyspark.enabled``):
``NULL`` with Arrow (on by default in pyspark 4.3), ``NaN`` without (Spark
3.5's default); outer joins give ``NULL``, ``CAST('NaN' AS DOUBLE)`` gives
``NaN``, and data from elsewhere may hold either. This module treats both as
missing, like ``NaN`` in pandas: the cuts ignore them, and the generated SQL
of :func:`transform` tests both (a row goes to the ``nan_segment`` exactly
as in pandas). Infinite values are refused, as by ``fit``.

Applying a fitted pipeline is :func:`transform`: the SQL of
:func:`sklearn_mece.sql.to_sql` (dialect ``"spark"``) run by Spark SQL, with
no Python UDF; the rows never leave the JVM.

This module is a thin adapter: it runs Spark aggregates and SQL; the order
statistics' combination is :mod:`sklearn_mece._quantiles`, the thresholder
is fitted through its protocol for state learned elsewhere
(:meth:`~PercentileThresholder.learning_plan`,
:meth:`~PercentileThresholder.fit_from_cuts`), and the SQL is
:mod:`sklearn_mece.sql`.

The examples need a Spark session (and Java), which the doctests do not
start: they are marked ``# doctest: +SKIP``. ``tests/test_spark.py`` runs
them on a local session.
"""

import math
import re
import uuid

import numpy as np
import pandas as pd

from . import _quantiles
from ._base import column_as_float, infinite_values_error

__all__ = ["approx_percentiles", "exact_percentiles", "fit_thresholder", "transform"]

#: ``relative_error`` of ``approxQuantile`` when ``exact=False`` and none is given.
DEFAULT_RELATIVE_ERROR = 1e-3

_LEGACY_DISC = "spark.sql.legacy.percentileDiscCalculation"


def _require_pyspark():
    from ._base import optional_import

    return optional_import(
        "pyspark.sql.functions",
        feature="sklearn_mece.spark",
        extra="spark",
        detail="(pyspark and sqlglot; pyspark needs a Java runtime, Java 17 for "
        "Spark 4)",
    )


# --------------------------------------------------------------------------
# columns
# --------------------------------------------------------------------------
def _quote(name):
    """A Spark SQL identifier for any column name (dots, spaces, backticks)."""
    return "`" + str(name).replace("`", "``") + "`"


def _field(spark_df, column):
    for field in spark_df.schema.fields:
        if field.name == column:
            return field
    raise ValueError(
        f"Column {column!r} is not in the Spark DataFrame (columns: "
        f"{list(spark_df.columns)})."
    )


def _pandas_dtype(data_type):
    """The pandas dtype of a Spark column in ``X_meta``."""
    from pyspark.sql import types as T

    if isinstance(data_type, T.NumericType):
        return np.dtype(np.float64)
    if isinstance(data_type, T.BooleanType):
        return np.dtype(bool)
    if isinstance(data_type, T.DateType):
        return np.dtype("datetime64[s]")
    if isinstance(data_type, T.TimestampType):  # an instant, shown in UTC here
        return pd.DatetimeTZDtype("us", "UTC")
    if type(data_type).__name__ == "TimestampNTZType":
        return np.dtype("datetime64[us]")
    if isinstance(data_type, T.DayTimeIntervalType):
        return np.dtype("timedelta64[us]")
    return np.dtype(object)


def _meta_frame(spark_df):
    """One row of missing values with the columns and dtypes of ``spark_df``.

    :meth:`~PercentileThresholder.learning_plan` reads only the columns (and
    needs one row): numeric columns are float64, booleans bool, dates and
    timestamps datetime64, day-time intervals timedelta64, anything else
    object.
    """
    columns = {}
    for field in spark_df.schema.fields:
        dtype = _pandas_dtype(field.dataType)
        if dtype == np.dtype(np.float64):
            value = np.nan
        elif dtype == np.dtype(bool):
            value = False
        elif dtype == np.dtype(object):
            value = None
        else:
            value = pd.NaT
        columns[field.name] = pd.Series([value], dtype=dtype)
    return pd.DataFrame(columns)


def _check_numeric(spark_df, meta, columns):
    """Refuse a thresholded column Spark would cast to NULL (text) or to numbers."""
    from pyspark.sql import types as T

    for column in columns:
        data_type = _field(spark_df, column).dataType
        if isinstance(data_type, (T.NumericType, T.BooleanType)):
            continue
        column_as_float(meta[column], str(column))  # dates, durations: its error
        raise ValueError(
            f"Column {column!r} must be numeric, got Spark type "
            f"{data_type.simpleString()}."
        )


def _clean(spark_df, columns):
    """The columns as DOUBLE named ``c0, c1, ...``, with NaN turned into NULL."""
    F = _require_pyspark()
    null = F.lit(None).cast("double")
    return spark_df.select(
        *[
            F.nanvl(F.col(_quote(c)).cast("double"), null).alias(f"c{i}")
            for i, c in enumerate(columns)
        ]
    )


def _counts(clean, columns):
    """One job: non-missing and infinite values of every column.

    Refuses a column with infinite values, or with no non-missing value.
    """
    F = _require_pyspark()
    aggs = []
    for i in range(len(columns)):
        c = F.col(f"c{i}")
        aggs.append(F.count(c).alias(f"n{i}"))
        aggs.append(F.count(F.when(F.abs(c) == float("inf"), 1)).alias(f"inf{i}"))
    row = clean.agg(*aggs).collect()[0]
    counts = {}
    for i, column in enumerate(columns):
        n, n_inf = int(row[f"n{i}"]), int(row[f"inf{i}"])
        if n_inf:
            raise infinite_values_error(column, n_inf)
        if n == 0:
            raise ValueError(
                f"Column {column!r}: cannot learn cuts: no non-missing values."
            )
        counts[column] = n
    return counts


# --------------------------------------------------------------------------
# exact order statistics
# --------------------------------------------------------------------------
def _rank_percentage(rank, n, legacy):
    """The percentage at which ``percentile_disc`` returns the ``rank``-th value.

    Spark 3.5+ (``spark.sql.legacy.percentileDiscCalculation=false``, the
    default) returns, at ``p``, the value of 1-based rank ``ceil(n * p)``
    (rank 1 when that is 0); the legacy calculation, the value of 0-based
    rank ``floor((n - 1) * p)``. The percentage is the middle of the interval
    that selects ``rank``, checked with the JVM's double arithmetic (the same
    IEEE-754 operations as Python's floats).
    """
    if legacy:
        p = 1.0 if rank >= n - 1 else (rank + 0.5) / (n - 1)
        ok = math.floor(float(n - 1) * p) == rank
    else:
        p = (rank + 0.5) / n
        ok = max(math.ceil(float(n) * p), 1) == rank + 1
    if not ok:  # pragma: no cover - only above 2**50 values
        raise ValueError(f"Cannot select rank {rank} of {n} values exactly.")
    return p


def _double_literal(value):
    """A Spark SQL DOUBLE literal with the exact bits of ``value``."""
    return repr(float(value)) + "D"


def exact_percentiles(spark_df, percentiles, *, method="linear"):
    """Exact percentiles of Spark DataFrame columns, bit-identical to numpy.

    Missing values (``NULL`` and ``NaN``) are ignored, as by
    :class:`PercentileThresholder`. Two Spark jobs: the counts, then one
    aggregate of ``percentile_disc`` per column at the ranks ``method``
    reads.

    Parameters
    ----------
    spark_df : pyspark.sql.DataFrame
        The data, holding the columns named in ``percentiles``.
    percentiles : dict of column -> sequence of float
        Percentiles in ``[0, 100]`` per column (numeric or boolean columns).
    method : str, default="linear"
        Any method of :func:`numpy.percentile`.

    Returns
    -------
    dict of column -> ndarray of float64
        Equal, bit for bit, to ``np.percentile(values_without_missing, q,
        method=method)`` (see the module notes for signed zeros).

    Raises
    ------
    ValueError
        If a column is not numeric, has no non-missing value, or holds
        infinite values.

    Examples
    --------
    >>> from sklearn_mece.spark import exact_percentiles
    >>> sdf = spark.range(100).selectExpr("CAST(id AS DOUBLE) AS aov")  # doctest: +SKIP
    >>> exact_percentiles(sdf, {"aov": [40, 75]})  # doctest: +SKIP
    {'aov': array([39.6 , 74.25])}
    """
    _require_pyspark()
    _quantiles._check_method(method)
    columns = list(percentiles)
    if not columns:
        return {}
    _check_numeric(spark_df, _meta_frame(spark_df), columns)
    clean = _clean(spark_df, columns)
    counts = _counts(clean, columns)
    conf = spark_df.sparkSession.conf.get(_LEGACY_DISC, "false")
    legacy = str(conf).strip().lower() == "true"
    plans, wanted, aggs = {}, {}, []
    F = _require_pyspark()
    for i, column in enumerate(columns):
        n = counts[column]
        plans[column], wanted[column] = _quantiles.rank_plan(
            n, percentiles[column], method
        )
        ps = ", ".join(
            _double_literal(_rank_percentage(r, n, legacy)) for r in wanted[column]
        )
        aggs.append(
            F.expr(f"percentile_disc(array({ps})) WITHIN GROUP (ORDER BY c{i})").alias(
                f"v{i}"
            )
        )
    row = clean.agg(*aggs).collect()[0]
    out = {}
    for i, column in enumerate(columns):
        values = dict(zip(wanted[column], (float(v) for v in row[f"v{i}"])))
        out[column] = _quantiles.combine(plans[column], values)
    return out


def approx_percentiles(spark_df, percentiles, *, relative_error=DEFAULT_RELATIVE_ERROR):
    """Percentiles from ``DataFrame.approxQuantile``, within a rank error.

    Missing values (``NULL`` and ``NaN``) are ignored. Each result is a value
    ``x`` of the column with ``floor((p - relative_error) * N) <= rank(x) <=
    ceil((p + relative_error) * N)`` (Spark's deterministic guarantee; ``N``
    non-missing values, ``p = q / 100``). ``relative_error=0`` computes exact
    order statistics (expensive), not numpy's interpolation.

    Parameters
    ----------
    spark_df : pyspark.sql.DataFrame
        The data, holding the columns named in ``percentiles``.
    percentiles : dict of column -> sequence of float
        Percentiles in ``[0, 100]`` per column.
    relative_error : float, default=0.001
        In ``[0, 1]``.

    Returns
    -------
    dict of column -> ndarray of float64
        Values of each column at its percentiles, within the rank error.

    Raises
    ------
    ValueError
        If a column is not numeric, has no non-missing value, or holds
        infinite values.

    Examples
    --------
    >>> from sklearn_mece.spark import approx_percentiles
    >>> sdf = spark.range(100).selectExpr("CAST(id AS DOUBLE) AS aov")  # doctest: +SKIP
    >>> approx_percentiles(sdf, {"aov": [40, 75]}, relative_error=0.01)  # doctest: +SKIP
    {'aov': array([39., 74.])}
    """
    _require_pyspark()
    relative_error = _check_relative_error(relative_error)
    columns = list(percentiles)
    if not columns:
        return {}
    _check_numeric(spark_df, _meta_frame(spark_df), columns)
    clean = _clean(spark_df, columns)
    _counts(clean, columns)
    wanted = {c: np.asarray(percentiles[c], dtype=np.float64) / 100.0 for c in columns}
    probabilities = sorted({float(p) for q in wanted.values() for p in q})
    found = clean.approxQuantile(
        [f"c{i}" for i in range(len(columns))], probabilities, relative_error
    )
    out = {}
    for column, values in zip(columns, found):
        at = dict(zip(probabilities, values))
        out[column] = np.array([at[float(p)] for p in wanted[column]], np.float64)
    return out


def _check_relative_error(relative_error):
    ok = isinstance(relative_error, (int, float, np.integer, np.floating))
    if isinstance(relative_error, bool) or not ok or not 0 <= relative_error <= 1:
        raise ValueError(f"relative_error must be in [0, 1], got {relative_error!r}.")
    return float(relative_error)


# --------------------------------------------------------------------------
# estimators
# --------------------------------------------------------------------------
def fit_thresholder(thresholder, spark_df, *, exact=True, relative_error=None):
    """Fit a :class:`PercentileThresholder` on a Spark DataFrame.

    Parameters
    ----------
    thresholder : PercentileThresholder
        Unfitted or fitted; it is (re)fitted in place, as by ``fit``.
    spark_df : pyspark.sql.DataFrame
        The data; the thresholded columns must be numeric (or boolean).
    exact : bool, default=True
        ``True``: cuts bit-identical to ``thresholder.fit`` on the same data
        in pandas (:func:`exact_percentiles`; ``rank_error_`` is 0).
        ``False``: ``approxQuantile`` (:func:`approx_percentiles`); the cuts
        are values of the data within ``relative_error`` in rank of their
        percentiles, recorded in ``rank_error_``.
    relative_error : float, optional
        With ``exact=False`` only; default 0.001.

    Returns
    -------
    PercentileThresholder
        The fitted ``thresholder``: ``cuts_``, ``percentiles_``,
        ``rank_error_`` as from ``fit``; it transforms pandas data, and
        :func:`transform` applies it (in a pipeline) in Spark.

    Raises
    ------
    ValueError
        As ``fit``: a thresholded column that is not numeric, holds infinite
        values or only missing ones; and with ``groupby`` (not supported).

    Notes
    -----
    ``groupby`` and sample weights are not supported here. ``X_meta`` of the
    fitting protocol is one row of missing values with ``spark_df``'s columns
    and matching dtypes (float64 for every numeric type), so the fitted
    thresholder has the Spark DataFrame's column names in
    ``feature_names_in_``. Its ``fit_sample_`` (what ``partial_fit``
    continues from after ``fit``) is not kept.

    Examples
    --------
    >>> from sklearn_mece import PercentileThresholder
    >>> from sklearn_mece.spark import fit_thresholder
    >>> sdf = spark.range(100).selectExpr("CAST(id AS DOUBLE) AS aov")  # doctest: +SKIP
    >>> t = fit_thresholder(PercentileThresholder((40, 75)), sdf)  # doctest: +SKIP
    >>> t.cuts_  # doctest: +SKIP
    {'aov': array([39.6 , 74.25])}
    """
    _require_pyspark()
    if not isinstance(exact, (bool, np.bool_)):
        raise ValueError(f"exact must be True or False, got {exact!r}.")
    if exact and relative_error is not None:
        raise ValueError("relative_error is for exact=False only.")
    if not exact:
        relative_error = _check_relative_error(
            DEFAULT_RELATIVE_ERROR if relative_error is None else relative_error
        )
    meta = _meta_frame(spark_df)
    todo = thresholder.learning_plan(meta)
    if exact:
        cuts = exact_percentiles(spark_df, todo, method=thresholder.method)
        return thresholder.fit_from_cuts(meta, cuts)
    cuts = approx_percentiles(spark_df, todo, relative_error=relative_error)
    return thresholder.fit_from_cuts(meta, cuts, rank_error=relative_error)


def transform(pipeline, spark_df, *, id_columns=None, levels=False):
    """Segment every row of a Spark DataFrame with Spark SQL (no Python UDF).

    The fitted ``pipeline`` is translated by :func:`sklearn_mece.sql.to_sql`
    (dialect ``"spark"``) into one ``SELECT`` over ``spark_df``, passed as a
    DataFrame parameter of ``spark.sql`` (in classic Spark: a uniquely named
    temporary view, dropped once the query is analyzed; in Spark Connect: a
    relation of the plan). Nothing runs until an action; the rows never
    leave the JVM.

    Parameters
    ----------
    pipeline : fitted Pipeline or estimator
        What :func:`~sklearn_mece.sql.to_sql` accepts (e.g. the preset
        pipeline).
    spark_df : pyspark.sql.DataFrame
        Every column the pipeline reads, with the names it was fitted on.
    id_columns : list of str, optional
        Columns of ``spark_df`` copied to the output (first), e.g. a
        customer id.
    levels : bool, default=False
        Also return each thresholded column's level code (``-1`` when
        missing), after the id columns.

    Returns
    -------
    pyspark.sql.DataFrame
        The id columns, the level codes (``levels=True``), the segment (the
        segment step's ``output_column``, ``"segment"`` by default: names or
        codes as its ``output`` says) and, with a scorer, ``segment_score``
        (double) and ``segment_tier``: equal row by row to
        ``pipeline.transform`` on the same data in pandas. Missing values
        are ``NULL`` or ``NaN`` (see the module notes): both are routed as
        pandas routes ``NaN``. A row ``transform`` would refuse (e.g. a
        missing value in a tested column without ``nan_segment``) gets
        ``NULL`` outputs: Spark SQL cannot raise per row (see
        :mod:`sklearn_mece.sql`).

    Examples
    --------
    >>> from sklearn_mece import make_cart_abandoner_pipeline
    >>> from sklearn_mece.datasets import make_cart_abandoners
    >>> from sklearn_mece.spark import transform
    >>> X = make_cart_abandoners(2_000, random_state=0)
    >>> pipe = make_cart_abandoner_pipeline(min_size=50).fit(X)  # doctest: +SKIP
    >>> out = transform(pipe, spark.createDataFrame(X),
    ...                 id_columns=["user_id"])  # doctest: +SKIP
    >>> out.columns  # doctest: +SKIP
    ['user_id', 'segment', 'segment_score', 'segment_tier']
    """
    _require_pyspark()
    from .sql import to_sql

    placeholder = f"sklearn_mece_input_{uuid.uuid4().hex}"
    query = to_sql(
        pipeline, placeholder, dialect="spark", id_columns=id_columns, levels=levels
    )
    # a str.format template: escape the query's braces, then the table is {df}
    template = query.replace("{", "{{").replace("}", "}}")
    template, found = re.subn(rf"`?{placeholder}`?", "{df}", template)
    if not found:  # pragma: no cover - to_sql always reads the table
        raise RuntimeError("The generated SQL does not read the input table.")
    return spark_df.sparkSession.sql(template, df=spark_df)
