"""Spark integration on one local session (module-scoped; few Spark actions).

Skipped without pyspark or without a Java runtime. Missing values reach Spark
both as ``NULL`` and as ``NaN`` (Spark keeps them apart; pandas has one NaN):
with Arrow on (Spark 4's default) ``createDataFrame`` turns pandas NaN into
NULL, so half of them are turned back into NaN here.
"""

import os
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyspark")
if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
    pytest.skip("no Java runtime (java on PATH or JAVA_HOME)", allow_module_level=True)

from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from sklearn_mece import (  # noqa: E402
    PercentileThresholder,
    make_cart_abandoner_pipeline,
)
from sklearn_mece import spark as mspark  # noqa: E402
from sklearn_mece.datasets import make_cart_abandoners  # noqa: E402
from sklearn_mece.presets import CART_ABANDONER_RULES  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    # pyspark 4.3 about pandas 3, at every conversion
    "ignore:PySpark does not yet fully support pandas:FutureWarning",
    # pyspark 4.3's toPandas under pandas 3 (Pandas4Warning)
    "ignore:The copy keyword is deprecated",
)

N = 100_000
LEVELLED = ["avg_order_value", "engagement_score", "profitability_score"]


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    # the session's warehouse in a temporary folder, not the working directory
    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        session = (
            SparkSession.builder.master("local[2]")
            .appName("sklearn-mece-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.default.parallelism", "2")
            .config("spark.sql.warehouse.dir", str(warehouse))
            .getOrCreate()
        )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _to_spark(spark, pdf, numeric, key):
    """``pdf`` in Spark; its missing numbers NULL or NaN (even ``key``: NaN).

    Whatever ``createDataFrame`` did with NaN (kept with Arrow off, NULL with
    Arrow on), both kinds of missing value are there afterwards.
    """
    sdf = spark.createDataFrame(pdf)
    nan = F.lit(float("nan"))
    null = F.lit(None).cast("double")
    even = F.col(key) % 2 == 0
    for c in numeric:
        x = F.col(c).cast("double")
        missing = x.isNull() | F.isnan(x)
        sdf = sdf.withColumn(
            c, F.when(missing, F.when(even, nan).otherwise(null)).otherwise(x)
        )
    return sdf


def _same_bits(got, expected):
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    return got.shape == expected.shape and np.array_equal(
        got.view(np.int64), expected.view(np.int64)
    )


# --------------------------------------------------------------------------
# fit_thresholder
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fit_data(spark):
    """Random data with ties, NaN and NULL; the pandas frame and its Spark copy."""
    rng = np.random.default_rng(0)
    n = N
    pdf = pd.DataFrame(
        {
            "id": np.arange(n),
            "aov": rng.lognormal(3.0, 1.0, n),
            "days": rng.integers(0, 60, n).astype(np.float64),  # heavy ties
            "score": np.round(rng.random(n), 3) + 0.001,
            "items": rng.integers(1, 9, n),  # an integer column
            "country": rng.choice(["US", "FR"], n),
        }
    )
    for c in ("aov", "days", "score"):
        pdf.loc[rng.random(n) < 0.05, c] = np.nan
    sdf = _to_spark(spark, pdf, ["aov", "days", "score"], "id").cache()
    counts = sdf.agg(
        *[F.count_if(F.isnan(c)).alias(f"nan_{c}") for c in ("aov", "days")],
        *[F.count_if(F.col(c).isNull()).alias(f"null_{c}") for c in ("aov", "days")],
    ).collect()[0]
    assert min(counts) > 1000, counts  # both kinds of missing value
    return pdf, sdf


Q = {"aov": (10, 33.3, 40, 75, 99.9), "days": (25, 50, 90), "score": (40, 70)}


@pytest.mark.parametrize("method", ["linear", "inverted_cdf", "hazen", "nearest"])
def test_exact_fit_is_bit_identical_to_pandas_fit(fit_data, method):
    pdf, sdf = fit_data
    pct = {**Q, "items": (20, 50)}
    expected = PercentileThresholder(pct, method=method).fit(pdf)
    got = mspark.fit_thresholder(PercentileThresholder(pct, method=method), sdf)
    assert list(got.cuts_) == list(expected.cuts_)
    for c in pct:
        assert _same_bits(got.cuts_[c], expected.cuts_[c]), (c, got.cuts_[c])
        assert np.array_equal(got.rank_error_[c], np.zeros(len(pct[c])))
    assert list(got.feature_names_in_) == list(sdf.columns)
    assert got.n_features_in_ == len(sdf.columns)
    # the fitted thresholder codes pandas data as the pandas fit does
    pd.testing.assert_frame_equal(
        got.set_output(transform="pandas").transform(pdf),
        expected.set_output(transform="pandas").transform(pdf),
    )


def test_legacy_percentile_disc_calculation(spark, fit_data):
    """Both of Spark's percentile_disc definitions select the same ranks."""
    pdf, sdf = fit_data
    key = "spark.sql.legacy.percentileDiscCalculation"
    spark.conf.set(key, "true")
    try:
        got = mspark.exact_percentiles(sdf, Q, method="linear")
    finally:
        spark.conf.unset(key)
    for c, q in Q.items():
        values = pdf[c].dropna().to_numpy()
        assert _same_bits(got[c], np.percentile(values, q)), c


def test_approximate_fit_within_relative_error(fit_data):
    pdf, sdf = fit_data
    t = mspark.fit_thresholder(
        PercentileThresholder(Q), sdf, exact=False, relative_error=0.01
    )
    for c, q in Q.items():
        assert np.array_equal(t.rank_error_[c], np.full(len(q), 0.01))
        values = np.sort(pdf[c].dropna().to_numpy())
        n = values.size
        for p, x in zip(np.asarray(q) / 100, t.cuts_[c]):
            assert x in values  # a value of the data
            # Spark's bound: floor((p - e) n) <= rank(x) <= ceil((p + e) n);
            # rank(x) of a tied value: any of its 1-based ranks
            first = np.searchsorted(values, x, side="left") + 1
            last = np.searchsorted(values, x, side="right")
            assert last >= np.floor((p - 0.01) * n), (c, p, x)
            assert first <= np.ceil((p + 0.01) * n), (c, p, x)
    with pytest.raises(ValueError, match="relative_error is for exact=False"):
        mspark.fit_thresholder(PercentileThresholder(Q), sdf, relative_error=0.01)
    with pytest.raises(ValueError, match=r"relative_error must be in \[0, 1\]"):
        mspark.fit_thresholder(
            PercentileThresholder(Q), sdf, exact=False, relative_error=2
        )


def test_fit_refusals(spark):
    sdf = spark.createDataFrame(
        [(1.0, 1.0, None, "a"), (float("inf"), 2.0, None, "b"), (3.0, 3.0, None, "c")],
        "x double, y double, z double, s string",
    )
    with pytest.raises(ValueError, match=r"Column 'x' contains 1 infinite value"):
        mspark.fit_thresholder(PercentileThresholder((50,), columns=["x"]), sdf)
    with pytest.raises(ValueError, match=r"Column 'x' contains 1 infinite value"):
        mspark.fit_thresholder(
            PercentileThresholder((50,), columns=["x"]), sdf, exact=False
        )
    with pytest.raises(
        ValueError, match="Column 'z': cannot learn cuts: no non-missing values"
    ):
        mspark.fit_thresholder(PercentileThresholder((50,), columns=["y", "z"]), sdf)
    with pytest.raises(ValueError, match="Column 's' must be numeric"):
        mspark.fit_thresholder(PercentileThresholder((50,), columns=["s"]), sdf)
    with pytest.raises(ValueError, match="groupby is not supported"):
        mspark.fit_thresholder(
            PercentileThresholder((50,), columns=["y"], groupby="s"), sdf
        )
    # a refused fit leaves the thresholder unfitted
    t = PercentileThresholder((50,), columns=["x"])
    with pytest.raises(ValueError):
        mspark.fit_thresholder(t, sdf)
    assert not hasattr(t, "cuts_")
    # cuts fixed by cut_values: nothing to learn, no Spark job
    fixed = PercentileThresholder((50,), columns=["s"], cut_values={"s": [1.0]})
    assert mspark.fit_thresholder(fixed, sdf) is fixed
    assert _same_bits(fixed.cuts_["s"], [1.0])


# --------------------------------------------------------------------------
# transform
# --------------------------------------------------------------------------
_BASE = CART_ABANDONER_RULES.to_dict()
RULES = {
    **_BASE,
    "segments": [
        # text conditions: ==, in, not in, !=
        {
            "name": "US_Tech",
            "when": [
                ["country", "==", "US"],
                ["product_category", "in", ["Electronics", "Sports"]],
            ],
        },
        {
            "name": "Abroad_Recent",
            "when": [
                ["country", "not in", ["US", "GB"]],
                ["product_category", "!=", "Fashion"],
                ["days_since_last_order", "<=", 30],
            ],
        },
        # rare: merged into the ELSE bucket at fit
        {"name": "Big_Carts", "when": [["cart_items", ">=", 8]]},
        *_BASE["segments"],
    ],
}


@pytest.fixture(scope="module")
def fitted(spark):
    pytest.importorskip("sklearn_mece.sql")
    X = make_cart_abandoners(N, random_state=0)
    pipe = make_cart_abandoner_pipeline(
        min_size=500,
        max_size=15_000,
        rules=RULES,
        segments__nan_segment="Unknown",
        segments__max_size_policy="split",
        segments__split_column="cart_value",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X)
    seg = pipe.named_steps["segments"]
    assert seg.merge_map_, "the test needs a merge"
    assert seg.splits_, "the test needs a split"
    # data to transform: many values exactly on the cuts, missing values
    rng = np.random.default_rng(1)
    Xt = X.copy()
    Xt["days_since_last_order"] = Xt["days_since_last_order"].astype(np.float64)
    cuts = dict(pipe.named_steps["thresholds"].cuts_)
    cuts["days_since_last_order"] = np.array([30.0])
    cuts["cart_value"] = np.concatenate([split["cuts"] for split in seg.splits_])
    for c, values in cuts.items():
        on = rng.random(N) < 0.15
        Xt.loc[on, c] = rng.choice(values, on.sum())
    for c in [*LEVELLED, "days_since_last_order", "cart_value"]:
        Xt.loc[rng.random(N) < 0.01, c] = np.nan
    Xt.loc[rng.random(N) < 0.01, "country"] = None
    Xt.loc[rng.random(N) < 0.01, "country"] = "JP"  # not seen at fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = pipe.transform(Xt)
    assert (expected["segment"] == "Unknown").sum() > 1000
    numeric = [*LEVELLED, "days_since_last_order", "cart_value"]
    return pipe, Xt, expected, _to_spark(spark, Xt, numeric, "user_id")


def test_transform_equals_pandas_row_by_row(spark, fitted):
    pipe, Xt, expected, sdf = fitted
    c = "avg_order_value"
    kinds = sdf.agg(F.count_if(F.isnan(c)), F.count_if(F.col(c).isNull())).first()
    assert min(kinds) > 300, kinds  # NaN and NULL both reach the SQL
    views = {t.name for t in spark.catalog.listTables()}
    out = mspark.transform(pipe, sdf, id_columns=["user_id"])
    assert out.columns == ["user_id", "segment", "segment_score", "segment_tier"]
    got = out.toPandas().sort_values("user_id").reset_index(drop=True)
    assert {t.name for t in spark.catalog.listTables()} == views  # view dropped
    assert got["user_id"].tolist() == Xt["user_id"].tolist()
    for c in ("segment", "segment_tier"):
        want = expected[c].astype(object).to_numpy()
        diff = np.flatnonzero(got[c].astype(object).to_numpy() != want)
        assert diff.size == 0, (c, diff.size, got.loc[diff[:5], c].tolist())
    np.testing.assert_array_equal(
        got["segment_score"].to_numpy(np.float64),
        expected["segment_score"].to_numpy(np.float64),
    )
    # every kind of row was there: missing values, text conditions, splits
    segments = set(got["segment"])
    assert {"Unknown", "Abroad_Recent", "US_Tech_1", "US_Tech_2"} <= segments
    assert {"Other_Bucket_1", "Other_Bucket_3"} <= segments  # where merged rows go
    assert "Big_Carts" not in segments  # merged


def test_transform_without_scorer_with_levels(spark, fitted):
    pipe, Xt, expected, sdf = fitted
    head = sdf.limit(50)
    out = mspark.transform(pipe[:2], head)
    assert out.columns == ["segment"]
    got = mspark.transform(pipe[:2], head, id_columns=["user_id"], levels=True)
    got = got.toPandas()
    level_columns = [f"{c}_level" for c in LEVELLED]
    assert list(got.columns) == ["user_id", *level_columns, "segment"]
    want = expected.set_index("user_id").loc[got["user_id"]]
    assert got["segment"].tolist() == want["segment"].astype(object).tolist()
    for c in level_columns:
        assert got[c].tolist() == want[c].tolist(), c


def test_signed_zeros(spark):
    """Only -0.0 at the selected rank: numpy's -0.0, bit for bit."""
    x = [-1.0, -0.0, -0.0, -0.0, 2.0, 3.0]
    sdf = spark.createDataFrame([(v,) for v in x], "x double")
    for method in ("linear", "lower"):
        got = mspark.exact_percentiles(sdf, {"x": [40, 50]}, method=method)["x"]
        assert _same_bits(got, np.percentile(x, [40, 50], method=method))
    assert np.signbit(got).all()  # "lower": -0.0 twice (linear's lerp gives +0.0)


def test_docstring_examples_on_a_session(spark):
    """The module's examples (skipped by the doctests: no session there)."""
    import doctest

    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    have_sql = True
    try:
        import sklearn_mece.sql  # noqa: F401
    except ImportError:
        have_sql = False
    ran = 0
    for test in finder.find(mspark, globs={"spark": spark}):
        if not test.examples or (test.name.endswith(".transform") and not have_sql):
            continue
        for example in test.examples:
            example.options.pop(doctest.SKIP, None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = runner.run(test)
        assert result.failed == 0, test.name
        ran += result.attempted
    assert ran >= 10


def test_transform_plumbing(spark, monkeypatch):
    """The generated SQL runs verbatim (braces, quoted table) on a dropped view."""
    import sys
    import types

    calls = []

    def to_sql(pipeline, table, *, dialect="duckdb", id_columns=None, levels=False):
        calls.append((pipeline, dialect, id_columns, levels))
        return (
            f"SELECT id, CONCAT('{{x}}', CAST(id AS STRING), '}}') AS segment "
            f"FROM `{table}` WHERE id < 3"
        )

    fake = types.ModuleType("sklearn_mece.sql")
    fake.to_sql = to_sql
    monkeypatch.setitem(sys.modules, "sklearn_mece.sql", fake)
    views = {t.name for t in spark.catalog.listTables()}
    out = mspark.transform("pipe", spark.range(5), id_columns=["id"])
    assert calls == [("pipe", "spark", ["id"], False)]
    assert {t.name for t in spark.catalog.listTables()} == views
    assert [r.segment for r in out.orderBy("id").collect()] == [
        "{x}0}",
        "{x}1}",
        "{x}2}",
    ]
