"""ClusterSegmenter: sklearn checks, canonical labels, merges, noise, the preset swap."""

import pickle

import numpy as np
import pandas as pd
import pytest
from _shared import FEATURES
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import (
    DBSCAN,
    HDBSCAN,
    AgglomerativeClustering,
    Birch,
    KMeans,
    MiniBatchKMeans,
)
from sklearn.ensemble import RandomForestClassifier
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

from sklearn_mece import (
    ClusterSegmenter,
    SegmentSizeWarning,
    check_mece,
    make_cart_abandoner_pipeline,
)
from sklearn_mece.datasets import make_cart_abandoners


# ---------------------------------------------------------------------------------
# the preset with each clusterer swapped in
# ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data():
    return make_cart_abandoners(2_000, random_state=0)


CLUSTERERS = {
    "KMeans": KMeans(6, n_init=3),
    "MiniBatchKMeans": MiniBatchKMeans(6, n_init=3),
    "GaussianMixture": GaussianMixture(6),
    "Birch": Birch(n_clusters=6),
    "AgglomerativeClustering": AgglomerativeClustering(6),
    "DBSCAN": DBSCAN(eps=0.8, min_samples=10),
    "HDBSCAN": HDBSCAN(min_cluster_size=40, copy=True),
}


@pytest.mark.parametrize("output", ["codes", "names"])
@pytest.mark.parametrize("name", list(CLUSTERERS))
def test_preset_swap_runs_end_to_end(data, name, output):
    pipe = make_cart_abandoner_pipeline(min_size=50)
    seg = ClusterSegmenter(
        CLUSTERERS[name], FEATURES, random_state=0, output=output, min_size=20
    )
    # Pipeline.set_params does not pass the pipeline's pandas output on to the
    # new step: set it again (see test_set_params_alone_keeps_pandas_output)
    pipe.set_params(segments=seg).set_output(transform="pandas")
    out = pipe.fit_transform(data)
    fitted = pipe.named_steps["segments"]
    assert len(out) == len(data)
    assert list(out.columns[: data.shape[1]]) == list(data.columns)
    # raw columns flow through unchanged
    pd.testing.assert_series_equal(out["user_id"], data["user_id"])
    labels = out["segment"]
    if output == "codes":
        assert labels.dtype.kind in "iu"
        labels = pd.Series(np.asarray(fitted.segment_names_, dtype=object)[labels])
    else:
        assert isinstance(labels.dtype, pd.CategoricalDtype)
        assert list(labels.cat.categories) == fitted.segment_names_
    assert check_mece(labels, expected_labels=fitted.segment_names_).is_mece
    # the output contract of HierarchicalSegmenter
    sizes = fitted.segment_sizes_
    assert list(sizes.index) == fitted.segment_names_
    assert sizes.sum() == len(data)
    pd.testing.assert_series_equal(
        labels.value_counts().reindex(sizes.index, fill_value=0),
        sizes,
        check_names=False,
        check_index_type=False,
    )
    assert len(fitted.segment_valid_) == len(fitted.segment_issues_) == len(sizes)
    before = pipe[: list(pipe.named_steps).index("segments")].transform(data)
    predicted = fitted.predict(before)
    assert set(predicted) <= set(fitted.segment_names_)
    assert (predicted == labels.to_numpy(dtype=object)).all()
    # the scorer (when the preset has one) runs unchanged on the new segments
    if "scores" in pipe.named_steps:
        report = pipe.named_steps["scores"].report_
        keys = fitted.segment_names_ if output == "names" else range(len(sizes))
        assert set(report.index) == {k for k, n in zip(keys, sizes) if n}
        assert out["segment_score"].notna().all()


def test_set_params_alone_keeps_pandas_output(data):
    pipe = make_cart_abandoner_pipeline(min_size=50)
    pipe.set_params(segments=ClusterSegmenter(KMeans(4, n_init=2), FEATURES))
    out = pipe.fit_transform(data)
    assert list(out.columns[: data.shape[1]]) == list(data.columns)
    assert {"segment", "segment_score", "segment_tier"} <= set(out.columns)


def test_default_columns_skip_ids_levels_and_text(data):
    pipe = make_cart_abandoner_pipeline(min_size=0)
    pipe.set_params(segments=ClusterSegmenter(KMeans(4, n_init=2), random_state=0))
    pipe.fit(data)
    seg = pipe.named_steps["segments"]
    assert seg.columns_ == [
        "avg_order_value",
        "engagement_score",
        "profitability_score",
        "days_since_last_order",
        "cart_items",
        "cart_value",
    ]
    # arrays: every column
    arr = data[FEATURES].to_numpy()
    seg = ClusterSegmenter(KMeans(2, n_init=2), random_state=0).fit(arr)
    assert seg.columns_ == ["x0", "x1", "x2", "x3"]
    with pytest.raises(ValueError, match="no numeric feature column"):
        ClusterSegmenter().fit(data[["user_id", "country"]])


# ---------------------------------------------------------------------------------
# canonical labels
# ---------------------------------------------------------------------------------
def _blobs(n=600, random_state=0):
    rng = np.random.RandomState(random_state)
    centres = np.array([[50.0, 0.2], [150.0, 0.8], [400.0, 0.5], [150.0, 0.2]])
    spread = np.array([5.0, 0.03])
    k = np.arange(n) % len(centres)
    values = centres[k] + rng.standard_normal((n, 2)) * spread
    return pd.DataFrame(
        {
            "user_id": np.arange(n),
            "aov": values[:, 0],
            "engagement": values[:, 1],
            "country": np.where(k % 2, "US", "DE"),
        }
    ), k


class _PermutedKMeans(ClusterMixin, BaseEstimator):
    """KMeans whose raw labels are permuted: the segments must not notice."""

    def __init__(self, n_clusters=4, shift=1, random_state=None):
        self.n_clusters = n_clusters
        self.shift = shift
        self.random_state = random_state

    def fit(self, X, y=None):
        self.km_ = KMeans(self.n_clusters, n_init=5, random_state=self.random_state)
        self.labels_ = self._permute(self.km_.fit_predict(X))
        return self

    def _permute(self, labels):
        return (labels + self.shift) % self.n_clusters * 7 + 3

    def predict(self, X):
        return self._permute(self.km_.predict(X))


@pytest.mark.parametrize(
    "estimator",
    [
        KMeans(4, n_init=5),
        AgglomerativeClustering(4),
        DBSCAN(eps=0.5, min_samples=5),
        GaussianMixture(4, n_init=2),
    ],
    ids=lambda e: type(e).__name__,
)
def test_identical_labels_across_fits_and_shuffled_rows(estimator):
    X, _ = _blobs()
    seg = ClusterSegmenter(estimator, ["aov", "engagement"], random_state=0)
    first = seg.fit(X).predict(X)
    names = list(seg.segment_names_)
    second = clone(seg).fit(X).predict(X)
    np.testing.assert_array_equal(first, second)
    perm = np.random.RandomState(1).permutation(len(X))
    shuffled = clone(seg).fit(X.iloc[perm])
    assert shuffled.segment_names_ == names
    np.testing.assert_array_equal(shuffled.predict(X), first)
    np.testing.assert_allclose(
        shuffled.segment_centroids_, seg.segment_centroids_, rtol=1e-12
    )


def test_labels_do_not_depend_on_raw_label_numbering():
    X, truth = _blobs()
    reference = ClusterSegmenter(
        _PermutedKMeans(shift=0), ["aov", "engagement"], random_state=0
    ).fit(X)
    for shift in (1, 2, 3):
        seg = ClusterSegmenter(
            _PermutedKMeans(shift=shift), ["aov", "engagement"], random_state=0
        ).fit(X)
        assert seg.segment_names_ == reference.segment_names_
        np.testing.assert_array_equal(seg.transform(X), reference.transform(X))
    # the partition is the true one, whatever the names
    assert pd.crosstab(reference.predict(X), truth).gt(0).sum(axis=1).eq(1).all()


def test_canonical_order_and_names():
    X, _ = _blobs()
    seg = ClusterSegmenter(
        KMeans(4, n_init=5), ["aov", "engagement"], random_state=0
    ).fit(X)
    aov = seg.centroid_table_["aov"].to_numpy()
    assert (np.diff(aov) <= 0).all()  # descending by default
    assert seg.segment_names_[0].startswith("C1_aov-high")
    assert len(set(seg.segment_names_)) == 4
    # clusters with the same order_by centroid: ordered by the next column
    rng = np.random.RandomState(0)
    noise = np.tile(rng.uniform(-1, 1, 20), 3)
    tied = pd.DataFrame(
        {
            "aov": np.repeat([100.0, 100.0, 300.0], 20) + noise,
            "engagement": np.repeat([0.2, 0.8, 0.5], 20) + noise / 100,
        }
    )
    for order in (range(60), rng.permutation(60)):
        ties = ClusterSegmenter(AgglomerativeClustering(3)).fit(tied.iloc[order])
        aov_tied = ties.centroid_table_["aov"].tolist()
        assert aov_tied[1] == aov_tied[2] < aov_tied[0]
        assert ties.centroid_table_["engagement"].is_monotonic_decreasing is False
        assert ties.centroid_table_["engagement"].iloc[1:].is_monotonic_decreasing
    up = clone(seg).set_params(ascending=True, order_by="engagement").fit(X)
    assert up.centroid_table_["engagement"].is_monotonic_increasing
    assert up.order_column_ == "engagement"
    named = clone(seg).set_params(
        name_columns=["engagement"],
        abbreviations={"engagement": "eng"},
        name_prefix="K",
    )
    assert named.fit(X).segment_names_[0].startswith("K1_eng-")
    bare = clone(seg).set_params(name_columns=[]).fit(X)
    assert bare.segment_names_ == ["C1", "C2", "C3", "C4"]
    assert "C1_aov-high" in seg.describe()


# ---------------------------------------------------------------------------------
# noise, merges, max_size, missing values
# ---------------------------------------------------------------------------------
def test_noise_goes_to_an_explicit_segment_never_merged():
    X, _ = _blobs()
    outliers = pd.DataFrame(
        {
            "user_id": [-1, -2],
            "aov": [2000.0, -500.0],
            "engagement": [5.0, -3.0],
            "country": ["US", "US"],
        }
    )
    X = pd.concat([X, outliers], ignore_index=True)
    seg = ClusterSegmenter(
        DBSCAN(eps=0.5, min_samples=5), ["aov", "engagement"], min_size=10
    )
    with pytest.warns(SegmentSizeWarning, match="'Noise' is invalid: 2 rows"):
        seg.fit(X)
    assert seg.segment_names_[-1] == "Noise"
    assert seg.segment_sizes_["Noise"] == 2
    assert seg.merge_map_[-1] == "Noise"
    assert list(seg.predict(outliers)) == ["Noise", "Noise"]
    assert not seg.segment_valid_[-1]  # 2 < min_size: flagged, not merged
    with pytest.warns(SegmentSizeWarning):
        renamed = clone(seg).set_params(noise_segment="Outliers").fit(X)
    assert renamed.segment_names_[-1] == "Outliers"


def test_min_size_merges_into_nearest_cluster():
    X, k = _blobs(n=400)
    # a small cluster close to the (150, 0.8) blob
    rng = np.random.RandomState(3)
    small = pd.DataFrame(
        {
            "user_id": 1000 + np.arange(12),
            "aov": 175.0 + rng.standard_normal(12),
            "engagement": 0.8 + 0.01 * rng.standard_normal(12),
            "country": "US",
        }
    )
    X = pd.concat([X, small], ignore_index=True)
    kwargs = {"columns": ["aov", "engagement"], "random_state": 0}
    free = ClusterSegmenter(AgglomerativeClustering(5), **kwargs).fit(X)
    assert len(free.segment_names_) == 5
    merged = ClusterSegmenter(AgglomerativeClustering(5), min_size=50, **kwargs).fit(X)
    assert len(merged.segment_names_) == 4
    small_segment = merged.predict(small)
    big_segment = merged.predict(X.iloc[np.flatnonzero(k == 1)[:5]])
    assert set(small_segment) == set(big_segment)
    assert merged.segment_sizes_[big_segment[0]] == 100 + 12
    assert len(set(merged.merge_map_.values())) == 4
    assert all(merged.segment_valid_)


def test_max_size_flag_and_split():
    X, _ = _blobs()
    kwargs = {"columns": ["aov", "engagement"], "random_state": 0}
    with pytest.warns(SegmentSizeWarning, match="max_size"):
        flagged = ClusterSegmenter(KMeans(2, n_init=3), max_size=200, **kwargs).fit(X)
    assert not all(flagged.segment_valid_)
    assert "max_size" in " ".join(flagged.segment_issues_)
    split = ClusterSegmenter(
        KMeans(2, n_init=3),
        max_size=200,
        max_size_policy="split",
        split_column="aov",
        **kwargs,
    ).fit(X)
    assert all(split.segment_valid_)
    assert split.segment_sizes_.max() <= 200
    assert any(n.endswith("_2") for n in split.segment_names_)
    assert split.splits_ and split.splits_[0]["column"] == "aov"
    np.testing.assert_array_equal(
        pd.Series(split.predict(X)).value_counts().reindex(split.segment_names_),
        split.segment_counts_,
    )
    with pytest.raises(ValueError, match="split_column"):
        ClusterSegmenter(
            KMeans(2, n_init=3), max_size=200, max_size_policy="split", **kwargs
        ).fit(X)


def test_missing_values_are_refused_or_routed():
    X, _ = _blobs()
    X.loc[[3, 10], "aov"] = np.nan
    seg = ClusterSegmenter(KMeans(4, n_init=3), ["aov", "engagement"], random_state=0)
    with pytest.raises(ValueError, match=r"Missing values \(NaN\).*'aov': 2 row"):
        seg.fit(X)
    seg.set_params(nan_segment="Unknown").fit(X)
    assert seg.segment_names_[-1] == "Unknown"
    assert seg.segment_sizes_["Unknown"] == 2
    assert list(seg.predict(X.loc[[3, 10]])) == ["Unknown", "Unknown"]
    assert np.isnan(seg.segment_centroids_[-1]).all()
    # NaN in a column that is not clustered passes through
    X2, _ = _blobs()
    X2["extra"] = np.nan
    out = ClusterSegmenter(KMeans(2, n_init=2), ["aov"], random_state=0)
    assert out.set_output(transform="pandas").fit_transform(X2)["extra"].isna().all()
    with pytest.raises(ValueError, match="infinite"):
        X2.loc[0, "aov"] = np.inf
        ClusterSegmenter(KMeans(2, n_init=2), ["aov"]).fit(X2)


# ---------------------------------------------------------------------------------
# predictors, scaling, output
# ---------------------------------------------------------------------------------
def test_inductive_classifier_reproduces_fit_labels():
    X, _ = _blobs()
    seg = ClusterSegmenter(AgglomerativeClustering(4), ["aov", "engagement"]).fit(X)
    # the clusterer saw the rows sorted by its columns (the canonical order)
    order = np.lexsort(X[["aov", "engagement"]].to_numpy().T[::-1])
    raw = np.empty_like(seg.estimator_.labels_)
    raw[order] = seg.estimator_.labels_
    codes = seg.transform(X)[:, -1].astype(int)
    # one code per raw cluster and one raw cluster per code
    assert pd.crosstab(raw, codes).gt(0).sum(axis=1).eq(1).all()
    assert pd.crosstab(raw, codes).gt(0).sum(axis=0).eq(1).all()
    assert seg.inductive_estimator_ is not None
    forest = ClusterSegmenter(
        DBSCAN(eps=0.5),
        ["aov", "engagement"],
        inductive_estimator=RandomForestClassifier(n_estimators=20),
        random_state=0,
    ).fit(X)
    assert forest.inductive_estimator_.random_state == 0
    assert isinstance(forest.inductive_estimator_, RandomForestClassifier)
    km = ClusterSegmenter(KMeans(4, n_init=3), ["aov", "engagement"]).fit(X)
    assert km.inductive_estimator_ is None


@pytest.mark.parametrize(
    "scaler", ["standard", "robust", "minmax", None, StandardScaler()]
)
def test_scaler_options(scaler):
    X, truth = _blobs()
    seg = ClusterSegmenter(
        KMeans(4, n_init=5), ["aov", "engagement"], scaler=scaler, random_state=0
    ).fit(X)
    if scaler is None:
        assert seg.scaler_ is None
        return  # unscaled, aov dominates: blobs at aov=150 merge
    assert pd.crosstab(seg.predict(X), truth).gt(0).sum(axis=1).eq(1).all()


def test_unknown_label_goes_to_nearest_cluster():
    X, _ = _blobs()
    seg = ClusterSegmenter(
        _PermutedKMeans(), ["aov", "engagement"], random_state=0
    ).fit(X)
    expected = seg.predict(X)
    seg.estimator_.shift = 0.5  # now predict returns labels never seen at fit
    assert not np.isin(
        seg.estimator_.predict(
            seg.scaler_.transform(X[["aov", "engagement"]].to_numpy())
        ),
        seg.cluster_labels_,
    ).all()
    np.testing.assert_array_equal(seg.predict(X), expected)


def test_output_names_pandas_and_feature_names():
    X, _ = _blobs()
    seg = ClusterSegmenter(
        KMeans(4, n_init=3), ["aov", "engagement"], output="names", random_state=0
    ).set_output(transform="pandas")
    out = seg.fit_transform(X)
    assert isinstance(out["segment"].dtype, pd.CategoricalDtype)
    assert out["country"].equals(X["country"])
    assert list(seg.get_feature_names_out()) == [*X.columns, "segment"]
    plain = clone(seg).set_output(transform="default").fit(X).transform(X)
    assert plain.dtype == object and set(plain[:, -1]) == set(seg.segment_names_)
    assert seg.segment_table_["share"].sum() == pytest.approx(1.0)


def test_pickle_round_trip_and_plain_fitted_state():
    X, _ = _blobs()
    seg = ClusterSegmenter(
        DBSCAN(eps=0.5), ["aov", "engagement"], min_size=5, random_state=0
    ).fit(X)
    again = pickle.loads(pickle.dumps(seg))
    np.testing.assert_array_equal(again.predict(X), seg.predict(X))
    for name, value in vars(seg).items():
        assert not isinstance(value, (pd.DataFrame, pd.Series, pd.Index)), name


def test_skops_round_trip():
    pytest.importorskip("skops")
    from sklearn_mece import load, save

    X = make_cart_abandoners(800, random_state=1)
    pipe = make_cart_abandoner_pipeline(min_size=0).set_params(
        segments=ClusterSegmenter(AgglomerativeClustering(4), FEATURES)
    )
    pipe.fit(X)
    import os
    import tempfile

    path = save(pipe, os.path.join(tempfile.mkdtemp(), "cluster.skops"))
    loaded = load(path)
    pd.testing.assert_frame_equal(loaded.transform(X), pipe.transform(X))


def test_parameter_errors():
    X, _ = _blobs()
    with pytest.raises(ValueError, match="not among the clustered columns"):
        ClusterSegmenter(KMeans(2), ["aov"], order_by="engagement").fit(X)
    with pytest.raises(ValueError, match="listed twice"):
        ClusterSegmenter(KMeans(2), ["aov", "aov"]).fit(X)
    with pytest.raises(ValueError, match="different names"):
        ClusterSegmenter(
            DBSCAN(eps=0.5), ["aov", "engagement"], noise_segment="X", nan_segment="X"
        ).fit(X)
    with pytest.raises(ValueError, match="not unique"):
        ClusterSegmenter(
            KMeans(2, n_init=2), ["aov"], name_columns=[], nan_segment="C1"
        ).fit(X)
    with pytest.raises(ValueError, match="already exists"):
        ClusterSegmenter(KMeans(2), ["aov"]).fit(X.assign(segment=1))
    with pytest.raises(ValueError, match="must be numeric"):
        ClusterSegmenter(KMeans(2), ["country"]).fit(X)
    with pytest.raises(ValueError, match="empty"):
        ClusterSegmenter(KMeans(2), []).fit(X)


@pytest.mark.parametrize(
    "estimator",
    [KMeans(6, n_init=4), MiniBatchKMeans(6, n_init=3), GaussianMixture(6)],
    ids=lambda e: type(e).__name__,
)
def test_shuffled_rows_give_identical_labels_on_realistic_data(estimator, data):
    """Overlapping, skewed clusters (the mock data), not separable blobs: the fit
    sees the rows in a canonical order, so the input order cannot matter."""
    seg = ClusterSegmenter(estimator, FEATURES, random_state=0)
    first = seg.fit(data).predict(data)
    perm = np.random.RandomState(3).permutation(len(data))
    shuffled = clone(seg).fit(data.iloc[perm])
    assert shuffled.segment_names_ == seg.segment_names_
    np.testing.assert_array_equal(shuffled.predict(data), first)
