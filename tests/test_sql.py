"""sklearn_mece.sql: the pipeline as one SELECT, cut points learned in a database.

Every translated query is executed on DuckDB and on SQLite and compared row
by row with ``pipeline.transform``; every dialect's query parses back.
"""

import math
import sqlite3
import time
import warnings

import numpy as np
import pandas as pd
import pytest

duckdb = pytest.importorskip("duckdb")
sqlglot = pytest.importorskip("sqlglot")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from sklearn_mece import (  # noqa: E402
    ClusterSegmenter,
    HierarchicalSegmenter,
    PercentileThresholder,
    SegmentScorer,
)
from sklearn_mece._levels import NUMPY_METHODS  # noqa: E402
from sklearn_mece.sql import DIALECTS, _Sql, fit_thresholder, to_sql  # noqa: E402

COUNTRIES = np.array(["US", "FR", "DE", "GB", "ES", "IT"], dtype=object)

RULES = {
    "levels": {
        "avg_order_value": {
            "names": ["low", "medium", "high"],
            "percentiles": [40, 75],
        },
        "engagement_score": {
            "names": ["low", "medium", "high"],
            "percentiles": [30, 60],
        },
    },
    "segments": [
        {"name": "Premium", "when": [["avg_order_value", "==", "high"]]},
        {
            "name": "US_Engaged",
            "when": [["country", "==", "US"], ["engagement_score", ">=", "medium"]],
        },
        {
            "name": "EU_Recent",
            "when": [
                ["country", "in", ["FR", "DE"]],
                ["days_since_last_order", "<=", 30],
            ],
        },
        {
            "name": "Tiny",
            "when": [
                ["avg_order_value", "==", "low"],
                ["days_since_last_order", ">", 364],
            ],
            "parent": "EU_Recent",
        },
        {
            "name": "Lapsing",
            "when": [
                ["days_since_last_order", ">", 180],
                ["country", "not in", ["US"]],
            ],
        },
        {
            "name": "Not_GB_Low",
            "when": [["country", "!=", "GB"], ["engagement_score", "in", ["low"]]],
        },
    ],
    "else": "Other",
}


def make_frame(n, seed=0, nan_share=0.01):
    rng = np.random.default_rng(seed)

    def with_nan(values):
        values = values.astype(np.float64)
        values[rng.uniform(size=n) < nan_share] = np.nan
        return values

    country = COUNTRIES[rng.integers(0, len(COUNTRIES), n)]
    country[rng.uniform(size=n) < nan_share] = None
    return pd.DataFrame(
        {
            "customer_id": np.arange(n, dtype=np.int64),
            "avg_order_value": with_nan(np.round(rng.lognormal(4, 1, n), 2)),
            "engagement_score": with_nan(np.round(rng.uniform(size=n), 3)),
            "profitability_score": rng.uniform(size=n),
            "days_since_last_order": with_nan(rng.integers(0, 366, n)),
            "country": country,
            "tenure": with_nan(rng.uniform(0, 1000, n)),
        }
    )


def make_pipeline_(
    *,
    closed="left",
    output="names",
    nan_segment="Unknown",
    tier_output="names",
    scorer=True,
    min_size=0.03,
    max_size=0.3,
    method="linear",
):
    steps = [
        PercentileThresholder(
            {"avg_order_value": (40, 75), "engagement_score": (30, 60)},
            closed=closed,
            method=method,
        ),
        HierarchicalSegmenter(
            RULES,
            min_size=min_size,
            max_size=max_size,
            max_size_policy="split" if max_size else "flag",
            split_column="tenure",
            nan_segment=nan_segment,
            output=output,
        ),
    ]
    if scorer:
        steps.append(SegmentScorer(tier_output=tier_output, handle_unknown="nan"))
    return make_pipeline(*steps).set_output(transform="pandas")


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def on_the_cuts(frame, pipe, seed=1, share=0.3):
    """A copy of ``frame`` whose values sit on (and next to) every learned cut,
    rule operand and split cut, for ``share`` of the rows."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    n = len(out)
    thresholder = pipe.steps[0][1]
    seg = next(s for _, s in pipe.steps if isinstance(s, HierarchicalSegmenter))
    targets = {c: list(v) for c, v in getattr(thresholder, "cuts_", {}).items()}
    targets.setdefault("days_since_last_order", []).extend([30.0, 180.0, 364.0])
    for split in seg.splits_:
        targets.setdefault(split["column"], []).extend(split["cuts"])
    for column, cuts in targets.items():
        if column not in out:
            continue
        values = np.array(cuts, dtype=np.float64)
        values = np.concatenate(
            [values, np.nextafter(values, np.inf), np.nextafter(values, -np.inf)]
        )
        rows = rng.uniform(size=n) < share
        out.loc[rows, column] = rng.choice(values, int(rows.sum()))
    return out


def expected(pipe, frame):
    out = quiet(pipe.transform, frame)
    return out


def duckdb_table(con, frame, table="customers"):
    """``frame`` as a DuckDB table holding both NULL and NaN where it has NaN.

    DuckDB reads a pandas NaN as NULL; half of them (by row) are turned back
    into NaN, which DuckDB stores and sorts above every number.
    """
    con.register("frame_view", frame)
    name = _Sql("duckdb").table(table).sql("duckdb")
    con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame_view")
    con.unregister("frame_view")
    exp = sqlglot.exp
    for column in frame.columns:
        if frame[column].dtype != np.float64 or not frame[column].isna().any():
            continue
        col = exp.column(column, quoted=True)
        update = exp.update(
            name,
            {column: exp.cast(exp.Literal.string("NaN"), "double")},
            where=exp.and_(
                col.is_(exp.null()),
                exp.EQ(
                    this=exp.Mod(
                        this=exp.column("rowid"), expression=exp.Literal.number(2)
                    ),
                    expression=exp.Literal.number(0),
                ),
            ),
        )
        con.execute(update.sql("duckdb"))
    return con


def duckdb_result(query, frame):
    con = duckdb_table(duckdb.connect(), frame)
    counts = con.execute(
        'SELECT count(*) FILTER (WHERE isnan("avg_order_value")) FROM customers'
        if "avg_order_value" in frame
        else "SELECT 1"
    ).fetchone()
    if "avg_order_value" in frame and frame["avg_order_value"].isna().sum() > 10:
        assert counts[0] > 0, "NaN stored in DuckDB"
    got = con.execute(query).df()
    con.close()
    return got


def sqlite_connection(frame, table="customers"):
    con = sqlite3.connect(":memory:")
    frame.to_sql(table, con, index=False)
    return con


def sqlite_result(query, frame):
    con = sqlite_connection(frame)
    got = pd.read_sql_query(query, con)
    con.close()
    return got


def assert_same(got, want, scorer=True, id_col="customer_id"):
    got = got.sort_values(id_col).reset_index(drop=True)
    assert got[id_col].tolist() == want[id_col].tolist()
    seg = want["segment"]
    seg = seg.astype(object) if isinstance(seg.dtype, pd.CategoricalDtype) else seg
    got_seg = got["segment"]
    if not pd.api.types.is_object_dtype(seg) and not isinstance(
        seg.dtype, pd.StringDtype
    ):
        got_seg = got_seg.astype(np.int64)
        seg = seg.astype(np.int64)
    mismatch = np.flatnonzero(got_seg.to_numpy() != seg.to_numpy())
    assert mismatch.size == 0, (
        f"{mismatch.size} segment mismatches, e.g. row {mismatch[:3]}: "
        f"{got_seg.to_numpy()[mismatch[:3]]} vs {seg.to_numpy()[mismatch[:3]]}"
    )
    if scorer:
        score = got["segment_score"].to_numpy(dtype=np.float64, na_value=np.nan)
        assert np.array_equal(score, want["segment_score"].to_numpy(), equal_nan=True)
        tier = want["segment_tier"]
        tier = (
            tier.astype(object) if isinstance(tier.dtype, pd.CategoricalDtype) else tier
        )
        got_tier = got["segment_tier"]
        if tier.dtype == object:
            assert got_tier.tolist() == tier.tolist()
        else:
            assert got_tier.astype(np.int64).tolist() == tier.astype(np.int64).tolist()


# --------------------------------------------------------------------------
# to_sql: row by row against transform
# --------------------------------------------------------------------------
@pytest.mark.parametrize("closed", ["left", "right"])
def test_million_rows_on_duckdb_and_sqlite(closed):
    n = 1_000_000
    fit_frame = make_frame(200_000, seed=0)
    pipe = quiet(make_pipeline_(closed=closed).fit, fit_frame)
    seg = pipe.steps[1][1]
    assert any(t != n_ for n_, t in seg.merge_map_.items()), "a merge is tested"
    assert seg.splits_, "a split is tested"
    frame = on_the_cuts(make_frame(n, seed=2), pipe)
    want = expected(pipe, frame)
    assert (want["segment"] == "Unknown").sum() > 10_000
    on_cut = frame["avg_order_value"].isin(pipe.steps[0][1].cuts_["avg_order_value"])
    assert on_cut.sum() > 10_000
    query = to_sql(pipe, "customers", id_columns=["customer_id"])

    start = time.perf_counter()
    got = duckdb_result(query, frame)
    duck_time = time.perf_counter() - start
    assert_same(got, want)

    query = to_sql(pipe, "customers", dialect="sqlite", id_columns=["customer_id"])
    assert_same(sqlite_result(query, frame), want)
    assert duck_time < 60


CONFIGS = [
    {},
    {"closed": "right"},
    {"output": "codes", "tier_output": "codes"},
    {"closed": "right", "output": "codes", "tier_output": "names"},
    {"nan_segment": None},
    {"nan_segment": None, "output": "codes", "closed": "right"},
    {"scorer": False},
    {"max_size": None, "min_size": 0},
    {"method": "nearest"},
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: str(c) or "default")
def test_configurations_on_duckdb_and_sqlite(config):
    fit_frame = make_frame(10_000, seed=3)
    if config.get("nan_segment", "Unknown") is None:
        fit_frame = fit_frame.dropna()
    pipe = quiet(make_pipeline_(**config).fit, fit_frame)
    frame = on_the_cuts(make_frame(10_000, seed=4), pipe)
    scorer = config.get("scorer", True)
    if config.get("nan_segment", "Unknown") is None:
        # transform refuses missing values: the query gives NULL for them
        frame["tenure"] = frame["tenure"].fillna(500.0)
        tested = [
            "avg_order_value",
            "engagement_score",
            "days_since_last_order",
            "country",
        ]
        clean = frame.dropna(subset=tested)
        want = expected(pipe, clean)
        for dialect, run in (("duckdb", duckdb_result), ("sqlite", sqlite_result)):
            got = run(
                to_sql(pipe, "customers", dialect=dialect, id_columns=["customer_id"]),
                frame,
            )
            missing = ~got["customer_id"].isin(clean["customer_id"])
            assert got.loc[missing, "segment"].isna().all()
            if scorer:
                assert got.loc[missing, "segment_score"].isna().all()
            assert_same(got[~missing], want, scorer=scorer)
        return
    want = expected(pipe, frame)
    for dialect, run in (("duckdb", duckdb_result), ("sqlite", sqlite_result)):
        query = to_sql(pipe, "customers", dialect=dialect, id_columns=["customer_id"])
        assert_same(run(query, frame), want, scorer=scorer)


def test_levels_columns_equal_the_thresholder():
    fit_frame = make_frame(5_000, seed=5)
    pipe = quiet(make_pipeline_(closed="right").fit, fit_frame)
    frame = on_the_cuts(make_frame(5_000, seed=6), pipe)
    want = expected(pipe, frame)
    for dialect, run in (("duckdb", duckdb_result), ("sqlite", sqlite_result)):
        query = to_sql(
            pipe, "customers", dialect=dialect, levels=True, id_columns=["customer_id"]
        )
        got = run(query, frame).sort_values("customer_id")
        assert list(got.columns[:3]) == [
            "customer_id",
            "avg_order_value_level",
            "engagement_score_level",
        ]
        for column in ("avg_order_value_level", "engagement_score_level"):
            assert got[column].astype(int).tolist() == want[column].tolist()


def test_segmenter_without_thresholder_and_raw_level_columns():
    rng = np.random.default_rng(7)
    n = 5_000
    frame = pd.DataFrame(
        {
            "id": np.arange(n),
            "x_level": rng.integers(0, 3, n).astype(np.float64),
            "days": rng.integers(0, 100, n).astype(np.float64),
            "channel": rng.choice(["web", "app", "shop"], n).astype(object),
        }
    )
    frame.loc[::37, "x_level"] = np.nan
    frame.loc[::41, "x_level"] = -1
    frame.loc[::43, "channel"] = None
    rules = {
        "levels": {"x": ["low", "medium", "high"]},
        "segments": [
            {"name": "High", "when": [["x", ">=", "medium"], ["days", "<", 50]]},
            {"name": "Web", "when": [["channel", "==", "web"]]},
            {"name": "Mid", "when": [["days", "in", [10, 20, 30]]]},
        ],
    }
    seg = quiet(
        HierarchicalSegmenter(rules, nan_segment="NA", output="names").fit, frame
    )
    want = quiet(seg.set_output(transform="pandas").transform, frame)
    for dialect, run in (("duckdb", duckdb_result), ("sqlite", sqlite_result)):
        query = to_sql(seg, "customers", dialect=dialect, id_columns=["id"])
        assert_same(run(query, frame), want, scorer=False, id_col="id")


def test_text_unknown_category_and_unseen_values():
    frame = pd.DataFrame(
        {
            "id": np.arange(6),
            "country": ["US", "FR", "DE", "US", "FR", "DE"],
        }
    )
    rules = [
        {"name": "US", "when": [["country", "==", "US"]]},
        {"name": "Not_FR", "when": [["country", "!=", "FR"]]},
    ]
    new = pd.DataFrame({"id": np.arange(4), "country": ["US", "JP", "FR", None]})
    other = HierarchicalSegmenter(rules, output="names", nan_segment="NA").fit(frame)
    got = duckdb_result(to_sql(other, "customers", id_columns=["id"]), new)
    # "JP" was never seen: any other value, so it satisfies !=
    assert got.sort_values("id")["segment"].tolist() == ["US", "Not_FR", "Other", "NA"]
    assert got.sort_values("id")["segment"].tolist() == other.predict(new).tolist()
    strict = HierarchicalSegmenter(
        rules, output="names", nan_segment="NA", unknown_category="error"
    ).fit(frame)
    with pytest.raises(ValueError, match="not seen at fit"):
        strict.predict(new)
    got = sqlite_result(
        to_sql(strict, "customers", dialect="sqlite", id_columns=["id"]), new
    )
    segments = got.sort_values("id")["segment"]
    assert segments.isna().tolist() == [False, True, False, False]
    assert segments.dropna().tolist() == ["US", "Other", "NA"]


@pytest.mark.parametrize("unseen_group", ["global", "error"])
def test_groupby_thresholder(unseen_group):
    rng = np.random.default_rng(8)
    n = 6_000
    frame = pd.DataFrame(
        {
            "id": np.arange(n),
            "shop": rng.choice(["a", "b", "c"], n).astype(object),
            "aov": np.round(rng.lognormal(3, 1, n), 1),
        }
    )
    frame.loc[frame["shop"] == "b", "aov"] *= 10
    rules = {
        "levels": {"aov": ["low", "medium", "high"]},
        "segments": [
            {"name": "High", "when": [["aov", "==", "high"]]},
            {"name": "Mid", "when": [["aov", "==", "medium"]]},
        ],
    }
    pipe = make_pipeline(
        PercentileThresholder(
            {"aov": (40, 75)}, groupby="shop", unseen_group=unseen_group
        ),
        HierarchicalSegmenter(rules, output="names"),
    ).set_output(transform="pandas")
    pipe = quiet(pipe.fit, frame)
    new = frame.copy()
    t = pipe.steps[0][1]
    new.loc[::3, "aov"] = rng.choice(t.group_cuts_["aov"].ravel(), len(new.loc[::3]))
    new.loc[::50, "shop"] = "z"
    for dialect, run in (("duckdb", duckdb_result), ("sqlite", sqlite_result)):
        got = run(to_sql(pipe, "customers", dialect=dialect, id_columns=["id"]), new)
        got = got.sort_values("id").reset_index(drop=True)
        if unseen_group == "global":
            assert_same(got, expected(pipe, new), scorer=False, id_col="id")
        else:
            unseen = new["shop"] == "z"
            assert got.loc[unseen.to_numpy(), "segment"].isna().all()
            assert_same(
                got[~unseen.to_numpy()],
                expected(pipe, new[~unseen]),
                scorer=False,
                id_col="id",
            )


def test_infinite_values_give_null():
    frame = make_frame(3_000, seed=9)
    pipe = quiet(make_pipeline_().fit, frame)
    new = frame.copy()
    new.loc[[0, 1], "avg_order_value"] = [np.inf, -np.inf]
    new.loc[[2], "days_since_last_order"] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        quiet(pipe.transform, new)
    for dialect, run in (("duckdb", duckdb_result), ("sqlite", sqlite_result)):
        got = run(
            to_sql(pipe, "customers", dialect=dialect, id_columns=["customer_id"]), new
        ).sort_values("customer_id")
        assert got["segment"].iloc[:3].isna().all()
        assert_same(got.iloc[3:], expected(pipe, new.iloc[3:]))


# --------------------------------------------------------------------------
# dialects, quoting, injection
# --------------------------------------------------------------------------
def test_every_dialect_parses_back():
    pipe = quiet(make_pipeline_().fit, make_frame(3_000))
    for dialect in DIALECTS:
        for levels in (False, True):
            query = to_sql(
                pipe,
                "shop.customers",
                dialect=dialect,
                levels=levels,
                id_columns=["customer_id"],
            )
            parsed = sqlglot.parse(query, read=dialect)
            assert len(parsed) == 1 and isinstance(parsed[0], sqlglot.exp.Select)
            assert parsed[0].sql(dialect=dialect) == query


NASTY = [
    "a'b",
    'c"d',
    "e`f",
    "g]h",
    "x; DROP TABLE sentinel; --",
    "y */ SELECT 1; /*",
    "z\\'; DROP TABLE sentinel; --",
    "é 中",
]


def test_injection_through_names_is_inert():
    rng = np.random.default_rng(10)
    n = 400
    value_col, text_col, id_col = NASTY[1] + NASTY[4], NASTY[0] + NASTY[5], NASTY[3]
    frame = pd.DataFrame(
        {
            id_col: np.arange(n),
            value_col: rng.uniform(0, 100, n).round(1),
            text_col: rng.choice(NASTY, n).astype(object),
        }
    )
    rules = {
        "levels": {value_col: ["low", "high"]},
        "segments": [
            {
                "name": NASTY[4],
                "when": [[value_col, "==", "high"], [text_col, "in", NASTY[:4]]],
            },
            {"name": NASTY[5], "when": [[text_col, "==", NASTY[6]]]},
            {"name": NASTY[6], "when": [[text_col, "not in", [NASTY[7], NASTY[2]]]]},
        ],
        "else": NASTY[0] + NASTY[1],
    }
    pipe = make_pipeline(
        PercentileThresholder({value_col: (50,)}),
        HierarchicalSegmenter(rules, output="names", output_column="segment"),
    ).set_output(transform="pandas")
    pipe = quiet(pipe.fit, frame)
    want = expected(pipe, frame)
    table = "t" + NASTY[4] + NASTY[5] + NASTY[1]
    for dialect in DIALECTS:
        query = to_sql(
            pipe, (NASTY[0] + "s", table), dialect=dialect, id_columns=[id_col]
        )
        parsed = sqlglot.parse(query, read=dialect)
        assert len(parsed) == 1
        strings = {
            lit.this for lit in parsed[0].find_all(sqlglot.exp.Literal) if lit.is_string
        }
        assert set(NASTY[:7]) <= strings | {NASTY[0] + NASTY[1]}
        idents = {i.this for i in parsed[0].find_all(sqlglot.exp.Identifier)}
        assert {value_col, text_col, id_col, table, NASTY[0] + "s"} <= idents
    # DuckDB: a schema and a table with those names, and a sentinel table
    con = duckdb.connect()
    schema = NASTY[0] + "s"
    con.execute(
        "CREATE SCHEMA " + sqlglot.exp.to_identifier(schema, quoted=True).sql("duckdb")
    )
    con.execute("CREATE TABLE sentinel AS SELECT 1 AS x")
    con.register("frame_view", frame)
    target = _Sql("duckdb").table((schema, table)).sql("duckdb")
    con.execute(f"CREATE TABLE {target} AS SELECT * FROM frame_view")
    got = con.execute(to_sql(pipe, (schema, table), id_columns=[id_col])).df()
    assert_same(got, want, scorer=False, id_col=id_col)
    assert con.execute("SELECT count(*) FROM sentinel").fetchone() == (1,)
    # SQLite
    lite = sqlite_connection(frame, table)
    lite.execute("CREATE TABLE sentinel (x)")
    got = pd.read_sql_query(
        to_sql(pipe, table, dialect="sqlite", id_columns=[id_col]), lite
    )
    assert_same(got, want, scorer=False, id_col=id_col)
    names = {r[0] for r in lite.execute("SELECT name FROM sqlite_master")}
    assert names == {table, "sentinel"}


def test_table_names():
    seg = HierarchicalSegmenter([{"name": "A", "when": [["x", ">", 1]]}]).fit(
        pd.DataFrame({"x": [1.0, 2.0]})
    )
    assert 'FROM "s"."t"' in to_sql(seg, "s.t")
    assert 'FROM "c"."s"."t"' in to_sql(seg, "c.s.t")
    assert 'FROM "a.b"."t"' in to_sql(seg, ("a.b", "t"))
    assert "FROM [s].[t]" in to_sql(seg, "s.t", dialect="tsql")
    for bad in ("", "a..b", "a.b.c.d"):
        with pytest.raises(ValueError, match="table"):
            to_sql(seg, bad)
    with pytest.raises(TypeError, match="table"):
        to_sql(seg, 3)


# --------------------------------------------------------------------------
# refusals
# --------------------------------------------------------------------------
def test_refusals():
    frame = make_frame(2_000)
    pipe = quiet(make_pipeline_().fit, frame)
    with pytest.raises(ValueError, match="dialect"):
        to_sql(pipe, "t", dialect="mysql")
    with pytest.raises(ValueError, match="twice"):
        to_sql(pipe, "t", id_columns=["segment"])
    with pytest.raises(TypeError, match="id_columns"):
        to_sql(pipe, "t", id_columns="customer_id")
    with pytest.raises(ValueError, match="not fitted"):
        to_sql(make_pipeline_(), "t")
    cols = ["avg_order_value", "engagement_score"]
    cluster = make_pipeline(
        ClusterSegmenter(KMeans(3, n_init=2, random_state=0), cols, output="names")
    )
    quiet(cluster.fit, frame.dropna())
    with pytest.raises(ValueError, match="ClusterSegmenter"):
        to_sql(cluster, "t")
    other = make_pipeline(StandardScaler(), HierarchicalSegmenter())
    quiet(other.fit, frame[["profitability_score"]])
    with pytest.raises(ValueError, match="StandardScaler"):
        to_sql(other, "t")
    arrays = HierarchicalSegmenter([{"name": "A", "when": [[0, ">", 1]]}]).fit(
        np.array([[1.0], [2.0]])
    )
    with pytest.raises(ValueError, match="column names"):
        to_sql(arrays, "t")


# --------------------------------------------------------------------------
# float literals
# --------------------------------------------------------------------------
FLOATS = st.floats(allow_nan=False, allow_infinity=False, width=64)
EDGES = [
    0.0,
    -0.0,
    0.1,
    1 / 3,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    1e-300,
    123456789.123456789,
    2.0**53 + 2,
    1.3702301622804807e-308,
    1.766634342673819e-298,
]


def _literal_checks(values):
    """For each v: the literal's bits, and v and its neighbours (bound as
    parameters, so exact) compared with the literal as numpy compares."""
    duck = duckdb.connect()
    lite = sqlite3.connect(":memory:")
    exp = sqlglot.exp
    for dialect, con in (("duckdb", duck), ("sqlite", lite)):
        q = _Sql(dialect)
        for v in values:
            lit = q.double(v)
            with np.errstate(over="ignore"):
                probes = [v, np.nextafter(v, np.inf), np.nextafter(v, -np.inf)]
            probes = [float(p) for p in probes if np.isfinite(p)]
            cols = [lit.copy()]
            for _ in probes:
                param = exp.Placeholder()
                # a plain cast: a bound float is a number (as_double's SQLite
                # type test would read the placeholder twice)
                as_double = exp.Cast(this=param, to=q.double_type())
                cols.append(exp.GTE(this=as_double, expression=lit.copy()))
                cols.append(exp.GT(this=as_double.copy(), expression=lit.copy()))
            params = [p for p in probes for _ in (0, 1)]
            row = con.execute(exp.select(*cols).sql(dialect), params).fetchone()
            assert row[0] == v, (dialect, v, row[0])
            if v != 0.0:
                assert math.copysign(1, row[0]) == math.copysign(1, v)
            want = []
            for p in probes:
                want += [bool(p >= v), bool(p > v)]
            assert [bool(b) for b in row[1:]] == want, (dialect, v)


def test_float_literals_edge_cases():
    _literal_checks(EDGES)


@settings(max_examples=60, deadline=None)
@given(st.lists(FLOATS, min_size=1, max_size=20))
def test_float_literals_round_trip(values):
    _literal_checks(values)


# --------------------------------------------------------------------------
# fit_thresholder
# --------------------------------------------------------------------------
def same_bits(got, want):
    """Bit for bit, but a zero's sign: SQLite stores -0.0 as the integer 0
    (a REAL that is integral is stored as an integer), losing its sign."""
    got, want = np.asarray(got), np.asarray(want)
    zero = (got == 0) & (want == 0)
    return got.shape == want.shape and got[~zero].tobytes() == want[~zero].tobytes()


def fit_frame_with_ties(n=3_000, seed=11):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": np.round(rng.normal(size=n), 1),
            "b": rng.integers(0, 20, n).astype(np.float64),
            "c": rng.lognormal(size=n),
            "name": rng.choice(["x", "y"], n).astype(object),
        }
    )
    frame.loc[::17, "a"] = np.nan
    frame.loc[::5, "b"] = np.nan
    frame.loc[::7, "c"] = 1.0  # a seventh of the values tied
    return frame


def _duck_with_nan_and_null(frame):
    con = duckdb_table(duckdb.connect(), frame, "data")
    assert con.execute("SELECT count(*) FILTER (WHERE isnan(a)) FROM data").fetchone()[
        0
    ]
    return con


@pytest.mark.parametrize("method", NUMPY_METHODS)
def test_fit_thresholder_bit_identical(method):
    frame = fit_frame_with_ties()
    q = {"a": (10, 33.3, 50, 90), "b": (0, 25, 75, 100), "c": (1, 99.9)}
    want = quiet(PercentileThresholder(q, method=method).fit, frame)
    duck = quiet(
        fit_thresholder,
        PercentileThresholder(q, method=method),
        _duck_with_nan_and_null(frame),
        "data",
    )
    lite = quiet(
        fit_thresholder,
        PercentileThresholder(q, method=method),
        sqlite_connection(frame, "data"),
        "data",
    )
    for got in (duck, lite):
        for column in q:
            assert got.cuts_[column].tobytes() == want.cuts_[column].tobytes(), column
        assert got.columns_ == want.columns_


@settings(max_examples=20, deadline=None)
@given(
    st.lists(
        st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: round(v, 1)),
        min_size=1,
        max_size=60,
    ),
    st.lists(st.floats(0, 100), min_size=1, max_size=4, unique=True).map(sorted),
)
def test_fit_thresholder_random_linear(values, q):
    frame = pd.DataFrame({"v": values + values[: len(values) // 2]})
    want = quiet(PercentileThresholder({"v": q}).fit, frame).cuts_["v"]
    con = duckdb_table(duckdb.connect(), frame, "data")
    got = quiet(fit_thresholder, PercentileThresholder({"v": q}), con, "data").cuts_[
        "v"
    ]
    # the one exception, as with Dask: a selected zero of either sign
    assert same_bits(got, want)
    got = quiet(
        fit_thresholder,
        PercentileThresholder({"v": q}),
        sqlite_connection(frame, "data"),
        "data",
    ).cuts_["v"]
    assert same_bits(got, want)


def test_fit_thresholder_refuses_like_fit():
    frame = pd.DataFrame({"a": [1.0, np.inf, 2.0], "b": [np.nan] * 3, "g": ["x"] * 3})
    for con in (duckdb.connect(), sqlite_connection(frame, "data")):
        if isinstance(con, duckdb.DuckDBPyConnection):
            con.register("data", frame)
        with pytest.raises(ValueError, match="'a' contains 1 infinite"):
            fit_thresholder(PercentileThresholder({"a": (50,)}), con, "data")
        with pytest.raises(ValueError, match="'b': cannot learn cuts: no non-missing"):
            fit_thresholder(PercentileThresholder({"b": (50,)}), con, "data")
        with pytest.raises(ValueError, match="groupby"):
            fit_thresholder(
                PercentileThresholder({"a": (50,)}, groupby="g"), con, "data"
            )
    with pytest.raises(ValueError, match="dialect"):
        fit_thresholder(PercentileThresholder(), object(), "data")


def test_fit_thresholder_then_to_sql_on_sqlite():
    frame = make_frame(20_000, seed=12)
    con = sqlite_connection(frame)
    pipe = make_pipeline_(closed="right")
    thresholder = quiet(fit_thresholder, pipe.steps[0][1], con, "customers")
    reference = quiet(make_pipeline_(closed="right").fit, frame)
    for column, cuts in reference.steps[0][1].cuts_.items():
        assert thresholder.cuts_[column].tobytes() == cuts.tobytes()
    # the cuts learned in SQLite, assigned in SQLite: what transform gives
    reference.steps[0] = (reference.steps[0][0], thresholder)
    query = to_sql(reference, "customers", dialect="sqlite", id_columns=["customer_id"])
    assert_same(pd.read_sql_query(query, con), expected(reference, frame))
    # the fixed cut values of cut_values stay fixed
    fixed = PercentileThresholder(
        {"avg_order_value": (40, 75), "days_since_last_order": (50,)},
        cut_values={"days_since_last_order": [30.0], "avg_order_value": {75: 100.0}},
    )
    quiet(fit_thresholder, fixed, con, "customers")
    assert fixed.cuts_["days_since_last_order"].tolist() == [30.0]
    assert fixed.cuts_["avg_order_value"][1] == 100.0


def test_fit_thresholder_default_connection_is_duckdb():
    frame = fit_frame_with_ties(500, seed=13)
    default = duckdb.default_connection
    con = default() if callable(default) else default
    con.register("sklearn_mece_test_frame", frame)
    try:
        got = quiet(
            fit_thresholder,
            PercentileThresholder({"c": (20, 80)}),
            None,
            "sklearn_mece_test_frame",
        )
    finally:
        con.unregister("sklearn_mece_test_frame")
    want = quiet(PercentileThresholder({"c": (20, 80)}).fit, frame)
    assert got.cuts_["c"].tobytes() == want.cuts_["c"].tobytes()


@pytest.mark.parametrize("tier_output", ["codes", "names"])
def test_segment_unseen_by_the_scorer(tier_output):
    fit_frame = make_frame(5_000, seed=14).dropna()  # "Unknown" stays empty
    pipe = quiet(
        make_pipeline_(output="codes", tier_output=tier_output, max_size=None).fit,
        fit_frame,
    )
    scorer = pipe.steps[-1][1]
    unknown = pipe.steps[1][1].segment_names_.index("Unknown")
    assert unknown not in scorer.segments_
    frame = make_frame(5_000, seed=15)
    want = expected(pipe, frame)
    assert want["segment_score"].isna().any()
    for dialect, run in (("duckdb", duckdb_result), ("sqlite", sqlite_result)):
        got = run(
            to_sql(pipe, "customers", dialect=dialect, id_columns=["customer_id"]),
            frame,
        )
        got = got.sort_values("customer_id").reset_index(drop=True)
        if tier_output == "codes":
            assert_same(got, want)
        else:  # transform's missing tier name is NULL here
            rows = (want["segment"] != unknown).to_numpy()
            assert got.loc[~rows, "segment_tier"].isna().all()
            assert_same(got[rows], want[rows])


# -- found in review: each with the test that would have caught it ----------------
def test_sqlite_missing_column_is_an_error_not_a_string():
    # SQLite reads an unqualified "name" matching no column as the text
    # 'name': a renamed column silently became 0.0 (every row 'Other')
    train = pd.DataFrame({"id": range(4), "aov": [10.0, 20.0, 30.0, 40.0]})
    rules = {
        "levels": {"aov": ["low", "high"]},
        "segments": [{"name": "Big", "when": [["aov", "==", "high"]]}],
    }
    pipe = make_pipeline(
        PercentileThresholder({"aov": (50,)}),
        HierarchicalSegmenter(rules, output="names"),
    ).set_output(transform="pandas")
    pipe.fit(train)
    con = sqlite3.connect(":memory:")
    train.rename(columns={"aov": "order_value"}).to_sql("customers", con, index=False)
    with pytest.raises(sqlite3.OperationalError, match="no such column"):
        con.execute(to_sql(pipe, "customers", dialect="sqlite", id_columns=["id"]))
    with pytest.raises(sqlite3.OperationalError, match="no such column"):
        con.execute(to_sql(pipe, "customers", dialect="sqlite", id_columns=["ID_X"]))


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_fit_thresholder_refuses_text_like_fit(engine):
    if engine == "sqlite":
        con = sqlite3.connect(":memory:")
        con.execute("create table t(x real, txt text)")
        con.executemany(
            "insert into t values (?, ?)",
            [(1.0, "7"), (2.0, "abc"), (3.0, "2024-05-01"), (4.0, "")],
        )
    else:
        con = duckdb.connect()
        con.execute("create table t(x double, txt varchar)")
        con.execute("insert into t values (1, '7'), (2, 'abc'), (3, NULL)")
    with pytest.raises(ValueError, match="Column 'txt' must be numeric"):
        fit_thresholder(PercentileThresholder({"txt": (50,)}), con, "t")
    assert fit_thresholder(PercentileThresholder({"x": (50,)}), con, "t").cuts_["x"]


def test_output_names_clash_case_insensitively():
    frame = make_frame(2_000, seed=3).rename(columns={"customer_id": "Segment"})
    pipe = quiet(make_pipeline_(scorer=False).fit, frame)
    with pytest.raises(ValueError, match="appear twice"):
        to_sql(pipe, "customers", id_columns=["Segment"])


def test_sqlite_text_in_a_numeric_column_is_refused_not_zero():
    # SQLite casts '' or 'n/a' to 0.0; transform refuses text in a numeric
    # column, so the query gives the row a NULL segment (refused), never 0.0's
    train = pd.DataFrame(
        {
            "id": range(6),
            "aov": [10.0, 20, 30, 40, 50, 60],
            "days": [1.0, 50, 3, 70, 5, 90],
        }
    )
    rules = {
        "levels": {"aov": ["low", "high"]},
        "segments": [
            {"name": "Big", "when": [["aov", "==", "high"]]},
            {"name": "Recent", "when": [["days", "<=", 30]]},
        ],
    }
    pipe = make_pipeline(
        PercentileThresholder({"aov": (50,)}),
        HierarchicalSegmenter(rules, output="names", nan_segment="Unknown"),
    ).set_output(transform="pandas")
    pipe.fit(train)
    con = sqlite3.connect(":memory:")
    con.execute("create table customers(id integer, aov, days)")
    rows = [
        (0, 10.0, 1.0),
        (1, "", 1.0),
        (2, "n/a", 1.0),
        (3, 60.0, "x"),
        (4, None, 1.0),
    ]
    con.executemany("insert into customers values (?, ?, ?)", rows)
    got = con.execute(to_sql(pipe, "customers", dialect="sqlite", id_columns=["id"]))
    assert got.fetchall() == [
        (0, "Recent"),
        (1, None),
        (2, None),
        (3, None),
        (4, "Unknown"),
    ]
