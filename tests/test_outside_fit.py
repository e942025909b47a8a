"""State learned elsewhere: the thresholder's protocol and the engine-neutral selection."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sklearn_mece import PercentileThresholder
from sklearn_mece import _quantiles as Q
from sklearn_mece._levels import NUMPY_METHODS
from sklearn_mece._sketch import empty_sketch, update_sketch


def _pieces_runner(pieces, log=None):
    def run_pass(plan):
        if log is not None:
            log.append(plan)
        return Q.merge_passes([Q.local_pass(p, plan) for p in pieces], plan)

    return run_pass


@settings(max_examples=80, deadline=None)
@given(
    arrays(
        np.float64,
        st.integers(1, 300),
        elements=st.floats(-1e300, 1e300, allow_nan=False) | st.just(np.nan),
    ),
    st.lists(st.integers(0, 300), max_size=4),
    st.lists(st.floats(0, 100), min_size=1, max_size=4, unique=True).map(sorted),
    st.sampled_from(NUMPY_METHODS),
    st.sampled_from([None, 0, 3]),
)
def test_distributed_selection_is_numpy_bit_for_bit(x, splits, q, method, limit):
    x = x + 0.0  # one zero sign (numpy's sign of mixed zeros is its partition's)
    clean = x[~np.isnan(x)]
    if clean.size == 0:
        return
    pieces = [{"c": part} for part in np.split(x, sorted(s % x.size for s in splits))]
    got = Q.distributed_percentiles(
        _pieces_runner(pieces), {"c": q}, method=method, gather_limit=limit
    )["c"]
    expected = np.percentile(clean, q, method=method)
    np.testing.assert_array_equal(got.view(np.uint64), expected.view(np.uint64))


def test_distributed_selection_passes_and_errors():
    x = np.random.default_rng(0).normal(size=5_000)
    log = []
    Q.distributed_percentiles(
        _pieces_runner([{"a": x[:2000]}, {"a": x[2000:]}], log), {"a": [50]}
    )
    assert 2 <= len(log) <= 5
    with pytest.raises(ValueError, match="'a' contains 1 infinite"):
        Q.distributed_percentiles(_pieces_runner([{"a": [1.0, np.inf]}]), {"a": [50]})
    with pytest.raises(ValueError, match="'a': no non-missing"):
        Q.distributed_percentiles(_pieces_runner([{"a": [np.nan]}]), {"a": [50]})
    with pytest.raises(ValueError, match="not a valid method"):
        Q.distributed_percentiles(_pieces_runner([]), {"a": [50]}, method="mean")
    assert Q.distributed_percentiles(_pieces_runner([]), {}) == {}


FRAME = pd.DataFrame(
    {
        "aov": np.arange(100.0),
        "days": np.arange(100.0)[::-1],
        "user": [f"u{i}" for i in range(100)],
    }
)
PARAMS = {
    "percentiles": {"aov": (40, 75), "days": (50,)},
    "cut_values": {"aov": {75: 80.0}, "days": (10.0, 20.0)},
}


def test_learning_plan_resolves_like_fit_and_changes_nothing():
    t = PercentileThresholder(**PARAMS)
    plan = t.learning_plan(FRAME.head(2))
    assert list(plan) == ["aov"] and plan["aov"].tolist() == [40.0, 75.0]
    assert not hasattr(t, "n_features_in_")
    # arrays: keys are positions, as in fit
    plan = PercentileThresholder((50,), columns=[1]).learning_plan(np.zeros((1, 3)))
    assert list(plan) == [1]
    with pytest.raises(ValueError, match="groupby"):
        PercentileThresholder(groupby="user").learning_plan(FRAME)
    with pytest.raises(ValueError, match="nope"):
        PercentileThresholder({"nope": (50,)}).learning_plan(FRAME)


def test_fit_from_cuts_equals_fit():
    memory = PercentileThresholder(**PARAMS).fit(FRAME)
    t = PercentileThresholder(**PARAMS)
    plan = t.learning_plan(FRAME.head(2))
    cuts = {c: np.percentile(FRAME[c], q) for c, q in plan.items()}
    t.fit_from_cuts(FRAME.head(2), cuts)
    for name in memory.cuts_:
        np.testing.assert_array_equal(t.cuts_[name], memory.cuts_[name])
        np.testing.assert_array_equal(t.percentiles_[name], memory.percentiles_[name])
    assert t.columns_ == memory.columns_
    np.testing.assert_array_equal(t.transform(FRAME), memory.transform(FRAME))


@pytest.mark.parametrize(
    ("cuts", "error", "match"),
    [
        ({}, ValueError, "'aov': no learned cuts"),
        ({"aov": [1.0]}, ValueError, "'aov': 2 percentile"),
        ({"aov": [2.0, 1.0]}, ValueError, "'aov'.*non-decreasing"),
        ({"aov": [1.0, np.inf]}, ValueError, "'aov'.*finite"),
        ({"aov": "ab"}, TypeError, "'aov'.*numbers"),
        ({"aov": [1.0, 2.0], "days": [1.0]}, ValueError, "not in the learning plan"),
    ],
)
def test_fit_from_cuts_refuses_bad_cuts_all_or_nothing(cuts, error, match):
    t = PercentileThresholder(**PARAMS).fit(FRAME)
    with pytest.raises(error, match=match):
        t.fit_from_cuts(FRAME.head(2), cuts)
    assert not hasattr(t, "cuts_") and not hasattr(t, "n_features_in_")


def test_fit_from_cuts_records_the_rank_error():
    t = PercentileThresholder({"aov": (50,)})
    t.fit_from_cuts(FRAME, {"aov": [49.5]}, rank_error=0.01)
    np.testing.assert_array_equal(t.rank_error_["aov"], [0.01])
    with pytest.raises(ValueError, match="rank_error"):
        t.fit_from_cuts(FRAME, {"aov": [49.5]}, rank_error=2)


def test_fit_from_sketches_equals_partial_fit():
    t = PercentileThresholder(**PARAMS, sketch_k=200)
    plan = t.learning_plan(FRAME)
    sketches = {c: update_sketch(empty_sketch(200), FRAME[c].to_numpy()) for c in plan}
    t.fit_from_sketches(FRAME.head(2), sketches, len(FRAME))
    ref = PercentileThresholder(**PARAMS, sketch_k=200).partial_fit(FRAME)
    assert t.n_samples_seen_ == ref.n_samples_seen_ == 100
    assert t.sketches_.keys() == ref.sketches_.keys() == {"aov"}
    for name in ref.cuts_:
        np.testing.assert_array_equal(t.cuts_[name], ref.cuts_[name])
    t.partial_fit(FRAME)  # continues like a partially fitted thresholder
    assert t.n_samples_seen_ == 200


def test_fit_from_sketches_refuses_bad_sketches_all_or_nothing():
    t = PercentileThresholder(**PARAMS)
    with pytest.raises(ValueError, match="'aov'"):
        t.fit_from_sketches(FRAME, {"aov": b"not a sketch"}, 100)
    assert not hasattr(t, "cuts_")
    with pytest.raises(ValueError, match="'aov': no sketch"):
        t.fit_from_sketches(FRAME, {}, 100)
    with pytest.raises(ValueError, match="n_samples"):
        t.fit_from_sketches(FRAME, {}, -1)
    with pytest.raises(ValueError, match="not in the learning plan"):
        t.fit_from_sketches(FRAME, {"days": empty_sketch(1000)}, 100)
