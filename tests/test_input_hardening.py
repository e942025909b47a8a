"""Odd input never gives a silent wrong answer, and every fit is all-or-nothing.

Each test here reproduces a scenario of the 0.1.0 hardening review that
returned a wrong result or an unclear crash on 0.1.0.
"""

import inspect

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from sklearn_mece import (
    HierarchicalSegmenter,
    PercentileThresholder,
    check_mece,
    make_cart_abandoner_pipeline,
)
from sklearn_mece._base import column_as_float
from sklearn_mece.datasets import make_cart_abandoners

pytest.importorskip("datasketches")


@pytest.fixture(scope="module")
def users():
    return make_cart_abandoners(2_000, random_state=0)


def _as_timedelta(s):
    return pd.to_timedelta(s, unit="D")


def _as_datetime(s):
    return pd.to_datetime(s * 1e9)


def _as_tz_datetime(s):
    return pd.to_datetime(s * 1e9).dt.tz_localize("UTC")


def _as_arrow_timestamp(s):
    pytest.importorskip("pyarrow")
    return _as_datetime(s).astype("timestamp[ns][pyarrow]")


# -- dtypes that are not numbers ----------------------------------------------------
@pytest.mark.parametrize(
    "convert, words",
    [
        (_as_timedelta, "durations"),
        (_as_datetime, "dates"),
        (_as_tz_datetime, "dates"),
        (lambda s: s + 1j, "complex numbers"),
        (_as_arrow_timestamp, "dates"),
    ],
    ids=["timedelta", "datetime", "tz-aware", "complex", "arrow-timestamp"],
)
@pytest.mark.parametrize("column", ["days_since_last_order", "avg_order_value"])
def test_non_numeric_dtypes_are_refused_naming_the_column(
    users, convert, words, column
):
    # 0.1.0 read them as integers since the epoch (a timedelta recency moved
    # rows out of Recent_Customers) or dropped the imaginary part
    bad = users.assign(**{column: convert(users[column])})
    pipe = make_cart_abandoner_pipeline(min_size=0)
    with pytest.raises(
        TypeError, match=f"Column '{column}' must be numeric, got {words}"
    ):
        pipe.fit(bad)
    fitted = make_cart_abandoner_pipeline(min_size=0).fit(users)
    with pytest.raises(TypeError, match=f"Column '{column}' must be numeric"):
        fitted.transform(bad)


def test_complex_columns_are_also_a_value_error(users):
    # scikit-learn raises ValueError for complex data: both kinds catch it
    bad = users.assign(avg_order_value=users["avg_order_value"] + 0j)
    with pytest.raises(ValueError, match="complex numbers"):
        PercentileThresholder({"avg_order_value": (50,)}).fit(bad)


def test_polars_datetime_column_is_refused(users):
    pl = pytest.importorskip("polars")
    bad = pl.from_pandas(
        users.assign(
            days_since_last_order=_as_timedelta(users["days_since_last_order"])
        )
    )
    with pytest.raises(TypeError, match="'days_since_last_order' must be numeric"):
        make_cart_abandoner_pipeline(min_size=0).fit(bad)


@pytest.mark.parametrize("dtype", ["S1", "U1"])
def test_a_series_of_bytes_or_numpy_str_is_refused_not_parsed(dtype):
    """Found by the invariant below: pandas 3 keeps numpy's bytes dtype in a
    Series, and ``Series([b"0"])`` was read as the number 0."""
    column = pd.Series(np.array(["0"], dtype=dtype))
    with pytest.raises(ValueError, match="'col' must be numeric, got text"):
        column_as_float(column, "col")


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(
        dtype=st.one_of(
            hnp.integer_dtypes(),
            hnp.unsigned_integer_dtypes(),
            hnp.floating_dtypes(),
            hnp.complex_number_dtypes(),
            hnp.datetime64_dtypes(),
            hnp.timedelta64_dtypes(),
            hnp.boolean_dtypes(),
            hnp.unicode_string_dtypes(),
            hnp.byte_string_dtypes(),
        ),
        shape=hnp.array_shapes(min_dims=1, max_dims=1, max_side=20),
    ),
    st.booleans(),
)
def test_a_column_is_read_as_its_numbers_or_refused_by_name(values, as_series):
    """Invariant: either the exact numbers come back, or a TypeError/ValueError
    naming the column; never a cast that changes meaning."""
    data = values
    if as_series:
        try:
            data = pd.Series(values)
        except (OverflowError, ValueError):  # pandas' own range of dates
            assume(False)
    try:
        out = column_as_float(data, "col")
    except (TypeError, ValueError) as exc:
        assert "'col'" in str(exc)
        assert values.dtype.kind in "cmMUS" or values.dtype.kind == "O"
        return
    assert values.dtype.kind in "biuf"
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, values.astype(np.float64))


# -- containers ---------------------------------------------------------------------
def test_polars_lazyframe_says_to_collect(users):
    pl = pytest.importorskip("polars")
    with pytest.raises(TypeError, match=r"LazyFrame.*\.collect\(\)"):
        make_cart_abandoner_pipeline(min_size=0).fit(pl.from_pandas(users).lazy())
    pipe = make_cart_abandoner_pipeline(min_size=0).fit(users)
    with pytest.raises(TypeError, match="LazyFrame"):
        pipe.transform(pl.from_pandas(users).lazy())


def test_integer_column_names_are_refused_unless_they_are_positions(users):
    frame = users[["avg_order_value", "engagement_score"]].set_axis(
        [2024, 2025], axis=1
    )
    for est in (
        PercentileThresholder((50,)),
        HierarchicalSegmenter({"segments": [], "else": "E"}),
    ):
        with pytest.raises(TypeError, match=r"column names must be strings.*2024"):
            est.fit(frame)
    mixed = users.set_axis([0, *users.columns[1:]], axis=1)
    with pytest.raises(TypeError, match="strings"):
        make_cart_abandoner_pipeline(min_size=0).fit(mixed)
    # pandas' default names (the positions) work like an array ...
    positional = frame.set_axis([0, 1], axis=1)
    out = PercentileThresholder((50,)).fit_transform(positional)
    assert out.shape == (len(frame), 4)
    # ... and a rule given by name says why it cannot be found
    with pytest.raises(ValueError, match="no column names.*string column names"):
        make_cart_abandoner_pipeline(min_size=0).fit(
            users.set_axis(range(users.shape[1]), axis=1)
        )


# -- level columns ------------------------------------------------------------------
LEVEL_RULES = {
    "levels": {"aov": {"names": ["low", "medium", "high"]}},
    "segments": [{"name": "A", "when": [["aov", "==", "high"]]}],
    "else": "E",
}


@pytest.mark.parametrize("dtype", [object, "string"])
@pytest.mark.parametrize("n_rows", [30, 3_000])  # small and blocked kernel paths
def test_text_in_a_level_column_is_not_taken_for_codes(dtype, n_rows):
    # 0.1.0 parsed "0"/"1"/"2" as level codes without a word
    codes = pd.Series(np.array(["0", "1", "2"] * (n_rows // 3), dtype=object))
    frame = pd.DataFrame({"aov_level": codes.astype(dtype)})
    with pytest.raises(ValueError, match="'aov_level' must be numeric, got text"):
        HierarchicalSegmenter(LEVEL_RULES).fit(frame)
    numeric = pd.DataFrame({"aov_level": np.tile([0, 1, 2], n_rows // 3)})
    seg = HierarchicalSegmenter(LEVEL_RULES).fit(numeric)
    with pytest.raises(ValueError, match="'aov_level' must be numeric, got text"):
        seg.transform(frame)


# -- split codes beyond int8 --------------------------------------------------------
@pytest.mark.parametrize("n_rows, max_size", [(3_000, 20), (3_000, 2), (700, 5)])
def test_split_into_more_than_127_sub_segments_keeps_every_row_in_place(
    n_rows, max_size
):
    # 0.1.0: int8 sub-codes wrapped around; rows landed in other segments
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.permutation(n_rows).astype(float)})
    seg = HierarchicalSegmenter(
        {"segments": [], "else": "E"},
        max_size=max_size,
        max_size_policy="split",
        split_column="x",
        nan_segment="Unknown",
        output="names",
    ).set_output(transform="pandas")
    out = seg.fit_transform(X)["segment"].astype(str)
    k = -(-n_rows // max_size)
    assert k > 127
    assert check_mece(out).is_mece
    assert (out != "Unknown").all()
    # sub-segment i holds the i-th run of sorted x values: ordered, contiguous
    order = np.argsort(X["x"].to_numpy())
    sub = out.to_numpy()[order]
    numbers = np.array([int(s.rsplit("_", 1)[1]) for s in sub])
    assert np.all(np.diff(numbers) >= 0)
    assert numbers[0] == 1 and numbers[-1] == k
    np.testing.assert_array_equal(seg.transform(X)["segment"].astype(str), out)


# -- thresholder parameters ---------------------------------------------------------
def test_cut_values_for_an_unknown_or_unthresholded_column_is_an_error(users):
    X = users[["avg_order_value", "engagement_score"]]
    with pytest.raises(ValueError, match="Unknown cut_values column 'nope'"):
        PercentileThresholder({"avg_order_value": (50,)}, cut_values={"nope": [1]}).fit(
            X
        )
    with pytest.raises(
        ValueError, match="'engagement_score', which is not thresholded"
    ):
        PercentileThresholder(
            {"avg_order_value": (50,)}, cut_values={"engagement_score": [0.5]}
        ).fit(X)


def test_percentiles_as_text_and_too_many_cut_values_are_errors():
    X = np.arange(100.0).reshape(-1, 1)
    with pytest.raises(TypeError, match="percentiles must be a list of numbers"):
        PercentileThresholder({0: "50"}).fit(X)
    with pytest.raises(ValueError, match="at most 126 cut_values"):
        PercentileThresholder((50,), cut_values={0: list(range(200))}).fit(X)
    with pytest.raises(TypeError, match="cut_values maps percentiles"):
        PercentileThresholder((50,), cut_values={0: {50: "high"}}).fit(X)


# -- all-or-nothing fitting ---------------------------------------------------------
def _chunk(n, start=0.0):
    return pd.DataFrame({"a": np.arange(start, start + n), "b": np.arange(n) * 2.0})


def test_failed_first_partial_fit_leaves_the_thresholder_unfitted():
    t = PercentileThresholder((50,))
    bad = _chunk(10).assign(b="x")
    with pytest.raises(ValueError, match="'b' must be numeric"):
        t.partial_fit(bad)
    # 0.1.0: half-fitted, transform returned no level columns
    with pytest.raises(NotFittedError):
        t.transform(_chunk(3))
    assert t.partial_fit(_chunk(10)).n_samples_seen_ == 10
    assert t.transform(_chunk(3)).shape == (3, 4)


def test_a_rejected_chunk_is_never_counted():
    t = PercentileThresholder((50,))
    all_nan = _chunk(10).assign(b=np.nan)
    with pytest.raises(ValueError, match="'b': cannot learn cuts"):
        t.partial_fit(all_nan)  # fails after the sketches were updated
    assert not hasattr(t, "sketches_")
    t.partial_fit(_chunk(10))
    before = (
        t.n_samples_seen_,
        dict(t.sketches_),
        {k: v.copy() for k, v in t.cuts_.items()},
    )
    with pytest.raises(ValueError):
        t.partial_fit(_chunk(10).assign(b="x"))
    assert t.n_samples_seen_ == before[0] == 10
    assert t.sketches_ == before[1]
    for name, cuts in before[2].items():
        np.testing.assert_array_equal(t.cuts_[name], cuts)


def test_partial_fit_after_fit_continues_and_never_discards_the_fit():
    t = PercentileThresholder((50,)).fit(_chunk(10))
    np.testing.assert_array_equal(t.cuts_["a"], [4.5])
    t.partial_fit(_chunk(10, start=100.0))
    # 0.1.0 silently replaced the cuts by the chunk's ([104.]); now the 20
    # rows of both calls count: the median of 0..9 and 100..109
    assert t.n_samples_seen_ == 20
    assert t.cuts_["a"] == [9.0]


@pytest.mark.parametrize("method", ["fit", "partial_fit", "fit_transform"])
def test_every_fitting_method_takes_y(method):
    # what scikit-learn's check_fit_score_takes_y asserts, each on a fresh
    # estimator
    X = np.random.default_rng(0).random((30, 3))
    t = PercentileThresholder((50,))
    getattr(t, method)(X, np.arange(30) % 3)
    assert list(inspect.signature(getattr(t, method)).parameters)[1] == "y"


def test_merge_with_itself_is_refused_and_a_failed_merge_changes_nothing():
    t = PercentileThresholder((50,)).partial_fit(_chunk(10))
    with pytest.raises(ValueError, match="with itself"):
        t.merge(t)
    assert t.n_samples_seen_ == 10  # 0.1.0: 20
    other = PercentileThresholder((50,)).partial_fit(_chunk(10, start=50.0))
    other.sketches_ = {**other.sketches_, "b": other.sketches_["b"][:-8]}
    sketches = dict(t.sketches_)
    with pytest.raises(ValueError):
        t.merge(other)
    assert t.sketches_ == sketches and t.n_samples_seen_ == 10
    np.testing.assert_array_equal(t.cuts_["a"], [4.0])


def test_failed_scorer_fit_leaves_it_unfitted(users):
    pipe = make_cart_abandoner_pipeline(min_size=0)
    out = pipe[:2].fit_transform(users)
    scorer = clone(pipe.named_steps["scores"]).fit(out)
    bad = out.copy()
    bad["segment"] = bad["segment"].astype(object)
    bad.loc[bad.index[0], "segment"] = None  # fails after columns_ are learned
    with pytest.raises(ValueError, match="missing value"):
        scorer.fit(bad)
    assert not [a for a in vars(scorer) if a.endswith("_") and not a.startswith("__")]
    with pytest.raises(NotFittedError):
        scorer.transform(out)


# -- dask ---------------------------------------------------------------------------
def test_a_dask_partition_missing_a_column_is_named(users):
    dd = pytest.importorskip("dask.dataframe")
    from sklearn_mece.dask import fit_thresholder, transform

    parts = [users.iloc[:1000], users.iloc[1000:].drop(columns=["engagement_score"])]
    ddf = dd.from_map(lambda p: p, parts, meta=users.iloc[:0])
    t = PercentileThresholder({"avg_order_value": (40,), "engagement_score": (40,)})
    for algorithm in ("exact", "sketch"):
        with pytest.raises(ValueError, match=r"Partition 1 .*\['engagement_score'\]"):
            fit_thresholder(clone(t), ddf, algorithm=algorithm)
    pipe = make_cart_abandoner_pipeline(min_size=0).fit(users)
    with pytest.raises(ValueError, match=r"Partition 1 .*\['engagement_score'\]"):
        transform(pipe, ddf).compute()
