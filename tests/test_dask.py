"""Dask integration on a local cluster over a generated multi-file parquet dataset.

The files are ordered by customer cohort (each file holds one cohort, whose
order values differ), the case where per-partition percentiles merged by
``dask.dataframe.DataFrame.quantile`` are far off.
"""

import sys
import warnings

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from sklearn_mece import (  # noqa: E402
    CollapsedCutsWarning,
    PercentileThresholder,
    make_cart_abandoner_pipeline,
)
from sklearn_mece import dask as mdask  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:The inplace keyword in DataFrame.reset_index"  # dask's parquet reader
)

N_FILES = 6
ROWS = 25_000
METHODS = ["linear", "inverted_cdf", "averaged_inverted_cdf", "hazen", "nearest"]


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            dashboard_address=None,
        )
        client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def _cohort(i, rng):
    n = ROWS
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(i * n, (i + 1) * n),
            # each file is a cohort: order values grow with the cohort
            "avg_order_value": np.round(rng.lognormal(3.0 + 0.4 * i, 0.5, n), 2),
            "engagement_score": np.round(rng.random(n), 2),  # heavy ties
            "profitability_score": np.round(rng.normal(0.0, 1.0, n), 3),  # negatives
            "days_since_last_order": rng.integers(0, 120, n).astype(np.float64),
        }
    )
    frame.loc[rng.random(n) < 0.05, "engagement_score"] = np.nan
    if i == 0:
        frame.loc[:10, "profitability_score"] = [0.0, -0.0] * 5 + [0.0]
    return frame


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("cohorts")
    rng = np.random.default_rng(0)
    frames = []
    for i in range(N_FILES):
        frame = _cohort(i, rng)
        pq.write_table(
            pa.Table.from_pandas(frame, preserve_index=False),
            path / f"part-{i}.parquet",
        )
        frames.append(frame)
    return path, pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def ddf(dataset, client):
    path, _ = dataset
    return dd.read_parquet(str(path))


def _no_nan(values):
    values = np.asarray(values, dtype=np.float64)
    return values[~np.isnan(values)]


@pytest.mark.parametrize("method", METHODS)
def test_exact_percentiles_bit_identical(ddf, dataset, method):
    _, df = dataset
    q = {
        "avg_order_value": [0, 40, 75, 100],
        "engagement_score": [40, 70],
        "profitability_score": [0.5, 70, 99.99],
    }
    got = mdask.exact_percentiles(ddf, q, method=method)
    for column, pcts in q.items():
        expected = np.percentile(_no_nan(df[column]), pcts, method=method)
        np.testing.assert_array_equal(
            got[column].view(np.uint64), np.asarray(expected).view(np.uint64)
        )


def test_exact_selection_with_tiny_buckets(ddf, dataset, monkeypatch):
    # gathering only tiny buckets forces the descent through all four digits
    monkeypatch.setattr(mdask, "GATHER_LIMIT", 3)
    _, df = dataset
    q = {"avg_order_value": [40, 75], "engagement_score": [50]}
    got = mdask.exact_percentiles(ddf, q)
    for column, pcts in q.items():
        np.testing.assert_array_equal(
            got[column], np.percentile(_no_nan(df[column]), pcts)
        )


def test_fit_thresholder_exact_equals_in_memory_fit(ddf, dataset):
    _, df = dataset
    params = {
        "percentiles": {
            "avg_order_value": (40, 75),
            "engagement_score": (40, 70),
            "profitability_score": (70,),
        },
        "select_by_name": True,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollapsedCutsWarning)
        memory = PercentileThresholder(**params).fit(df)
        distributed_fit = mdask.fit_thresholder(PercentileThresholder(**params), ddf)
    for name in memory.cuts_:
        np.testing.assert_array_equal(
            distributed_fit.cuts_[name].view(np.uint64),
            memory.cuts_[name].view(np.uint64),
        )
        np.testing.assert_array_equal(distributed_fit.rank_error_[name], 0.0)
    assert distributed_fit.columns_ == memory.columns_
    assert list(distributed_fit.feature_names_in_) == list(memory.feature_names_in_)
    X = df.iloc[:1000]
    np.testing.assert_array_equal(distributed_fit.transform(X), memory.transform(X))


def test_fit_thresholder_with_fixed_cut_values(ddf, dataset):
    _, df = dataset
    params = {
        "percentiles": {"avg_order_value": (40, 75), "engagement_score": (50,)},
        "cut_values": {"avg_order_value": {75: 100.0}, "engagement_score": (0.5,)},
    }
    memory = PercentileThresholder(**params).fit(df)
    got = mdask.fit_thresholder(PercentileThresholder(**params), ddf)
    for name in memory.cuts_:
        np.testing.assert_array_equal(got.cuts_[name], memory.cuts_[name])


def test_fit_thresholder_sketch_within_rank_error(ddf, dataset):
    _, df = dataset
    t = mdask.fit_thresholder(
        PercentileThresholder(
            percentiles={"avg_order_value": (40, 75), "engagement_score": (70,)},
            sketch_k=200,
        ),
        ddf,
        algorithm="sketch",
    )
    assert t.n_samples_seen_ == len(df)
    for name in t.cuts_:
        values = np.sort(_no_nan(df[name]))
        for q, cut, eps in zip(
            t.percentiles_[name], t.cuts_[name], t.rank_error_[name]
        ):
            lo = np.searchsorted(values, cut, "left") / values.size
            hi = np.searchsorted(values, cut, "right") / values.size
            assert lo - eps <= q / 100 <= hi + eps
            assert 0 < eps < 0.014
    # the merged sketches keep working like partial_fit's
    more = PercentileThresholder(
        percentiles={"avg_order_value": (40, 75), "engagement_score": (70,)},
        sketch_k=200,
    ).partial_fit(df.iloc[:5000])
    more.merge(t)
    assert more.n_samples_seen_ == len(df) + 5000


def test_dask_quantile_is_not_what_we_use(ddf, dataset):
    """Why: dask's own quantile on cohort-ordered files misses the rank."""
    _, df = dataset
    values = np.sort(df["avg_order_value"].to_numpy())
    approx = float(ddf["avg_order_value"].quantile(0.75).compute())
    rank = np.searchsorted(values, approx) / values.size
    exact = mdask.exact_percentiles(ddf, {"avg_order_value": [75]})["avg_order_value"]
    exact_rank = np.searchsorted(values, exact[0]) / values.size
    assert abs(exact_rank - 0.75) < 1 / values.size + 1e-12
    assert abs(rank - 0.75) >= abs(exact_rank - 0.75)


def test_transform_with_map_partitions(ddf, dataset):
    _, df = dataset
    pipe = make_cart_abandoner_pipeline(
        min_size=0, max_size=None, segments__nan_segment="Unknown"
    )[:2]
    mdask.fit_thresholder(pipe.named_steps["thresholds"], ddf)
    pipe.named_steps["segments"].fit(pipe.named_steps["thresholds"].transform(df))
    out = mdask.transform(pipe, ddf)
    assert out.npartitions == ddf.npartitions
    got = out.compute().reset_index(drop=True)
    expected = pipe.transform(df).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)
    assert got["segment"].dtype == "category"
    assert got["avg_order_value_level"].dtype == np.int8


def test_errors(ddf, dataset, monkeypatch):
    with pytest.raises(ValueError, match="algorithm"):
        mdask.fit_thresholder(PercentileThresholder(), ddf, algorithm="tdigest")
    with pytest.raises(ValueError, match="groupby"):
        mdask.fit_thresholder(
            PercentileThresholder(columns=["avg_order_value"], groupby="customer_id"),
            ddf,
        )
    inf = dd.from_pandas(pd.DataFrame({"a": [1.0, np.inf, 2.0]}), npartitions=2)
    with pytest.raises(ValueError, match="infinite"):
        mdask.exact_percentiles(inf, {"a": [50]})
    with pytest.raises(ValueError, match="infinite"):
        mdask.fit_thresholder(PercentileThresholder(), inf, algorithm="sketch")
    empty = dd.from_pandas(pd.DataFrame({"a": [np.nan, np.nan]}), npartitions=1)
    with pytest.raises(ValueError, match="no non-missing values"):
        mdask.exact_percentiles(empty, {"a": [50]})


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)
    with pytest.raises(ImportError, match=r"sklearn-mece\[dask\]"):
        mdask.exact_percentiles(None, {"a": [50]})
