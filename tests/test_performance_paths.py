"""The fast paths give exactly what the reference paths give.

* numba and numpy engines of :mod:`sklearn_mece._kernels` agree bit for bit
  (codes and NaN/inf/invalid counts), including the threaded split;
* the segmenter's kernel path agrees with its reference evaluation (one
  variable at a time) and with the large-table fallback of ``_rules``
  (``first_match``), and raises the same errors;
* the thresholder's one-pass codes agree with plain numpy comparisons.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from sklearn_mece import (
    HierarchicalSegmenter,
    PercentileThresholder,
    _backend,
    _kernels,
    _rules,
    make_cart_abandoner_pipeline,
)
from sklearn_mece._operators import OPERATORS
from sklearn_mece.datasets import make_cart_abandoners

HAS_NUMBA = _kernels.engine_for(10**9, "numba") == "numba"
ENGINES = [
    "numpy",
    pytest.param(
        "numba", marks=pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")
    ),
]


def _reference_levels(values, cuts):
    codes = (values[:, None] >= np.asarray(cuts)[None, :]).sum(axis=1).astype(np.int8)
    codes[np.isnan(values)] = -1
    return codes


def _values(n, seed, special=True):
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(0, 2, n), 1)  # many ties, some exactly on cuts
    if special:
        x[rng.random(n) < 0.05] = np.nan
        x[rng.random(n) < 0.01] = np.inf
        x[rng.random(n) < 0.01] = -np.inf
    return x


@pytest.fixture(params=[False, True], ids=["one-thread", "split"])
def split_threads(request, monkeypatch):
    monkeypatch.setattr(_kernels, "BLOCK", 4096)  # several numpy blocks per call
    if request.param:
        monkeypatch.setattr(_backend, "THREAD_MIN_ROWS", 1000)
        monkeypatch.setattr(_kernels, "NUMBA_BLOCK", 777)  # many blocks per thread
    return request.param


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("n_cuts", [1, 2, 3, 4, 5, 9])
def test_level_codes_engines(engine, n_cuts, split_threads):
    x = _values(50_001, n_cuts)
    cuts = np.sort(np.round(np.random.default_rng(n_cuts).normal(0, 2, n_cuts), 1))
    codes, n_nan, n_inf = _kernels.level_codes(x, cuts, engine=engine)
    expected = _reference_levels(x, cuts)
    np.testing.assert_array_equal(codes, expected)
    assert codes.dtype == np.int8
    assert n_nan == np.isnan(x).sum()
    assert n_inf == np.isinf(x).sum()


@pytest.mark.parametrize("engine", ENGINES)
def test_level_codes_read_only_and_strided(engine):
    x = _values(20_000, 1, special=False)
    two = np.column_stack([x, x])
    two.flags.writeable = False
    codes, _, _ = _kernels.level_codes(two[:, 1], np.array([0.0, 1.0]), engine=engine)
    np.testing.assert_array_equal(codes, _reference_levels(x, [0.0, 1.0]))


@pytest.mark.parametrize("engine", ENGINES)
def test_nonfinite_counts_engines(engine):
    x = _values(30_000, 3)
    assert _kernels.nonfinite_counts(x, engine=engine) == (
        int(np.isnan(x).sum()),
        int(np.isinf(x).sum()),
    )
    assert _kernels.nonfinite_counts(np.ones(10), engine=engine) == (0, 0)


def _reference_lookup(inputs, table):
    doms = [(inp[2] + 1 if inp[0] == "level" else 3) for inp in inputs]
    n = inputs[0][1].shape[0]
    cell = np.zeros(n, dtype=np.int64)
    for inp, d in zip(inputs, doms):
        if inp[0] == "level":
            slot = inp[1].astype(np.int64) + 1
        else:
            _, v, op, operands = inp
            if op in ("in", "not in"):
                hit = np.isin(v, operands, invert=op == "not in")
            else:
                hit = {
                    "==": np.equal,
                    "!=": np.not_equal,
                    "<": np.less,
                    "<=": np.less_equal,
                    ">": np.greater,
                    ">=": np.greater_equal,
                }[op](v, operands[0])
            slot = hit.astype(np.int64) + 1
            slot[np.isnan(v)] = 0
        cell = cell * d + slot
    return table[cell]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("op", list(OPERATORS))
@pytest.mark.parametrize("idx_size", ["uint8", "uint16"])
def test_rule_lookup_engines(engine, op, idx_size, split_threads):
    rng = np.random.default_rng(7)
    n = 40_003
    n_levels = 3 if idx_size == "uint8" else 60
    levels = rng.integers(-1, n_levels, n).astype(np.int8)
    v = _values(n, 11)
    v[np.isinf(v)] = 1.0
    operands = np.array([0.0, 1.0, -2.0]) if "in" in op else np.array([0.5])
    other = rng.integers(0, 2, n).astype(np.int64)  # a non-int8 level column
    inputs = [
        ("level", levels, n_levels),
        ("compare", v, op, operands),
        ("level", other, 2),
    ]
    size = (n_levels + 1) * 3 * 3
    table = rng.integers(-1, 100, size).astype(np.int16)
    out, counts = _kernels.rule_lookup(inputs, table, engine=engine)
    np.testing.assert_array_equal(out, _reference_lookup(inputs, table))
    assert counts.tolist() == [
        [0, int((levels == -1).sum()), 0],
        [0, int(np.isnan(v).sum()), 0],
        [0, 0, 0],
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_rule_lookup_counts_invalid_and_infinite(engine):
    levels = np.array([0, 1, 5, -3, -1] * 20_000, dtype=np.int8)
    v = np.array([1.0, np.inf, np.nan, -np.inf, 2.0] * 20_000)
    out, counts = _kernels.rule_lookup(
        [("level", levels, 2), ("compare", v, "<", np.array([1.5]))],
        np.zeros(9, dtype=np.int8),
        engine=engine,
    )
    assert counts[0].tolist() == [40_000, 20_000, 0]
    # invalid level codes stop the lookup before the comparison is counted
    assert counts[:, 0].any()


@pytest.mark.parametrize("engine", ENGINES)
def test_bincount_and_take_engines(engine, split_threads):
    rng = np.random.default_rng(3)
    codes = rng.integers(-1, 7, 70_001).astype(np.int8)
    expected = np.bincount(codes[codes >= 0], minlength=6)[:6]
    np.testing.assert_array_equal(_kernels.bincount(codes, 6, engine=engine), expected)
    table = np.arange(10, 18, dtype=np.int32)
    np.testing.assert_array_equal(
        _kernels.take(table, codes, engine=engine), table[codes]
    )


def test_numba_can_be_disabled(monkeypatch):
    monkeypatch.setenv("SKLEARN_MECE_NO_NUMBA", "1")
    assert _kernels.engine_for(10**9) == "numpy"
    monkeypatch.setattr(_backend, "USE_NUMBA", False)
    monkeypatch.delenv("SKLEARN_MECE_NO_NUMBA")
    assert _kernels.engine_for(10**9, "numba") == "numpy"


# ---------------------------------------------------------------------------
# segmenter: kernel path == reference path == large-table fallback
# ---------------------------------------------------------------------------
def _data(n=20_000, seed=0, nan=True):
    X = make_cart_abandoners(n, random_state=seed)
    if nan:
        rng = np.random.default_rng(seed)
        X.loc[rng.random(n) < 0.02, "days_since_last_order"] = np.nan
        X.loc[rng.random(n) < 0.02, "engagement_score"] = np.nan
    return X


RULES = {
    "levels": {"x": ["low", "mid", "high"]},
    "segments": [
        {"name": "a", "when": [["x", "==", "high"], ["v", "<=", 0.2]]},
        {"name": "b", "when": [["v", "in", [0.5, 0.7, 0.9]]]},
        {"name": "c", "when": [["x", "!=", "low"], ["w", "not in", [1.0, 2.0]]]},
        {"name": "d", "when": [["w", ">", 3], ["v", "<", 0.6]]},
        {"name": "e", "when": [["w", ">=", 2], ["v", "!=", 0.3]]},
        {"name": "f", "when": [["x_level", "==", 0], ["w", "==", 0]]},
    ],
    "else": "rest",
}


def _rule_frame(n, seed):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x_level": rng.integers(-1, 3, n).astype(np.int8),
            "v": np.round(rng.random(n), 1),
            "w": rng.integers(0, 5, n).astype(np.float64),
        }
    )
    frame.loc[rng.random(n) < 0.03, "v"] = np.nan
    return frame


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("n", [7, 100_000])
def test_segmenter_fast_path_equals_reference(engine, n, monkeypatch):
    monkeypatch.setattr(_backend, "NUMBA_MIN_ROWS", 0 if engine == "numba" else 10**12)
    X = _rule_frame(n, 1)
    for min_size in (None, 0.15):  # 0.15: merges some segments
        seg = HierarchicalSegmenter(RULES, nan_segment="missing", min_size=min_size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seg.fit(X)
        fast = seg._rule_index(X)
        np.testing.assert_array_equal(fast, seg._rule_index_reference(X))
        codes = seg.transform(X)[:, -1]
        expected = np.asarray(seg.rule_codes_)[seg._rule_index_reference(X)]
        np.testing.assert_array_equal(codes, expected)
        # fit counts segments from the rule sizes: equal to counting the codes
        np.testing.assert_array_equal(
            seg.segment_counts_,
            np.bincount(codes.astype(int), minlength=len(seg.segment_names_)),
        )


@pytest.mark.parametrize("output", ["codes", "names"])
def test_large_table_fallback_gives_identical_codes(output, monkeypatch):
    X = _rule_frame(30_000, 2)
    ref = HierarchicalSegmenter(RULES, nan_segment="missing", output=output)
    ref.set_output(transform="pandas")
    expected = ref.fit(X).transform(X)
    assert ref.rule_table_ is not None
    monkeypatch.setattr(_rules, "MAX_TABLE_SIZE", 4)
    slow = HierarchicalSegmenter(RULES, nan_segment="missing", output=output)
    slow.set_output(transform="pandas")
    got = slow.fit(X).transform(X)
    assert slow.rule_table_ is None
    pd.testing.assert_frame_equal(got, expected)
    assert slow.merge_map_ == ref.merge_map_
    np.testing.assert_array_equal(slow.segment_counts_, ref.segment_counts_)


def test_preset_fast_path_equals_seed_logic():
    X = _data(nan=False)
    pipe = make_cart_abandoner_pipeline(min_size=0, max_size=None)[:2]
    out = pipe.fit(X).transform(X)
    cuts = pipe.named_steps["thresholds"].cuts_
    aov = X["avg_order_value"].to_numpy()
    eng = X["engagement_score"].to_numpy()
    prof = X["profitability_score"].to_numpy()
    days = X["days_since_last_order"].to_numpy()
    a_hi, a_med = aov >= cuts["avg_order_value"][1], aov >= cuts["avg_order_value"][0]
    e_hi, e_med = eng >= cuts["engagement_score"][1], eng >= cuts["engagement_score"][0]
    p_hi = prof >= cuts["profitability_score"][0]
    names = np.select(
        [
            a_hi,
            a_med & e_hi,
            a_med & e_med & ~e_hi & p_hi,
            ~a_med & e_hi,
            days <= 30,
        ],
        [
            "High_AOV_Premium",
            "Med_AOV_High_Engagement",
            "Med_AOV_Med_Engagement_High_Profit",
            "Low_AOV_High_Engagement",
            "Recent_Customers",
        ],
        "Other_Bucket",
    )
    np.testing.assert_array_equal(out["segment"].astype(str).to_numpy(), names)
    assert out["segment"].dtype == "category"
    assert out["avg_order_value_level"].dtype == np.int8


def _error(fn):
    with pytest.raises(ValueError) as info:
        fn()
    return str(info.value)


@pytest.mark.parametrize("engine", ENGINES)
def test_errors_are_those_of_the_reference(engine, monkeypatch):
    monkeypatch.setattr(_backend, "NUMBA_MIN_ROWS", 0 if engine == "numba" else 10**12)
    X = _rule_frame(5_000, 3)
    seg = HierarchicalSegmenter(RULES).fit(X.fillna(0.0).assign(x_level=1))
    bad_level = X.fillna(0.0).assign(x_level=np.int8(7))
    message = _error(lambda: seg.transform(bad_level))
    assert message == _error(lambda: seg._rule_index_reference(bad_level))
    assert "not level codes 0..2" in message
    infinite = X.fillna(0.0).assign(x_level=1)
    infinite.loc[3, "w"] = np.inf
    message = _error(lambda: seg.transform(infinite))
    # the wording after the count belongs to the shared finite-value check
    assert message.startswith("Column 'w' contains 1 infinite value(s)")
    missing = X.assign(x_level=1)
    message = _error(lambda: seg.transform(missing))
    assert message.startswith("Missing values (NaN) in tested column(s) ('v': ")


@pytest.mark.parametrize("engine", ENGINES)
def test_thresholder_codes_and_errors(engine, monkeypatch):
    monkeypatch.setattr(_backend, "NUMBA_MIN_ROWS", 0 if engine == "numba" else 10**12)
    X = _data(nan=True)
    t = PercentileThresholder(percentiles=(10, 25, 40, 60, 75, 90)).fit(
        X[["avg_order_value", "engagement_score"]]
    )
    out = t.transform(X[["avg_order_value", "engagement_score"]])
    for j, name in enumerate(t.columns_):
        values = X[name].to_numpy()
        np.testing.assert_array_equal(
            out[:, 2 + j].astype(np.int8), _reference_levels(values, t.cuts_[name])
        )
    Y = X[["avg_order_value", "engagement_score"]].copy()
    Y.iloc[5, 1] = -np.inf
    assert _error(lambda: t.transform(Y)).startswith(
        "Column 'engagement_score' contains 1 infinite value(s); replace them "
        "(or mark them missing with NaN)"
    )


def test_single_row_matches_batch():
    X = _data(nan=False)
    pipe = make_cart_abandoner_pipeline(min_size=50, max_size=None)[:2].fit(X)
    batch = pipe.transform(X.iloc[:50])
    rows = pd.concat([pipe.transform(X.iloc[[i]]) for i in range(50)])
    pd.testing.assert_frame_equal(rows, batch)


@pytest.mark.parametrize("n", [1, 2, 37, _kernels.SMALL_ROWS])
@pytest.mark.parametrize("n_cuts", [0, 1, 2, 5])
def test_small_input_level_codes_equal_reference(n, n_cuts):
    # inputs of at most SMALL_ROWS rows take the whole-array path
    x = _values(n, 100 + n_cuts)
    x[:: max(n // 3, 1)] = 0.5  # some values exactly on a cut
    cuts = np.sort(np.r_[0.5, np.random.default_rng(n).normal(0, 2, n_cuts)])[:n_cuts]
    codes, n_nan, n_inf = _kernels.level_codes(x, cuts)
    np.testing.assert_array_equal(codes, _reference_levels(x, cuts))
    assert (n_nan, n_inf) == (int(np.isnan(x).sum()), int(np.isinf(x).sum()))


@pytest.mark.parametrize("n", [1, 5, _kernels.SMALL_ROWS])
@pytest.mark.parametrize("op", list(OPERATORS))
def test_small_input_rule_lookup_equals_reference(n, op):
    rng = np.random.default_rng(n)
    levels = rng.integers(-1, 3, n).astype(np.int8)
    v = _values(n, n + 1)
    operands = np.array([0.0, 1.0, -2.0]) if "in" in op else np.array([0.5])
    inputs = [("level", levels, 3), ("compare", v, op, operands)]
    table = rng.integers(-1, 100, 4 * 3).astype(np.int16)
    out, counts = _kernels.rule_lookup(inputs, table)
    np.testing.assert_array_equal(out, _reference_lookup(inputs, table))
    assert counts.tolist() == [
        [0, int((levels == -1).sum()), 0],
        [0, int(np.isnan(v).sum()), int(np.isinf(v).sum())],
    ]
    bad = levels.copy()
    bad[0] = 3  # not a level code: counted, never looked up
    _, counts = _kernels.rule_lookup([("level", bad, 3)], np.zeros(4, np.int8))
    assert counts[0, 0] == 1


def test_nan_cut_never_counts_on_any_path():
    # the whole-array path counts ``>=`` like the others, whatever the cut order
    x = np.array([-1.0, 0.5, 2.0, np.nan])
    cuts = np.array([np.nan, 0.0, 1.0])
    expected = _reference_levels(x, cuts)
    small, _, _ = _kernels.level_codes(x, cuts)
    blocked, _, _ = _kernels.level_codes(np.repeat(x, 2000), cuts, engine="numpy")
    np.testing.assert_array_equal(small, expected)
    np.testing.assert_array_equal(blocked[::2000], expected)


def test_nested_run_does_not_deadlock(monkeypatch):
    # a kernel called from inside a pool thread runs serially
    monkeypatch.setattr(_backend, "THREAD_MIN_ROWS", 10)
    inner = _backend.run_in_slices(
        lambda lo, hi: sum(_backend.run_in_slices(lambda a, b: b - a, 100)), 100
    )
    assert inner == [100] * len(_backend.row_slices(100))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("closed", ["left", "right"])
def test_closed_puts_values_on_a_cut_on_its_side(engine, closed, monkeypatch):
    # values exactly on the cuts (rounded data), -0.0 / +0.0 at a zero cut,
    # and groups: "right" is value > cut in every path, "left" value >= cut
    monkeypatch.setattr(_backend, "NUMBA_MIN_ROWS", 0 if engine == "numba" else 10**12)
    rng = np.random.default_rng(5)
    x = np.round(rng.normal(0, 2, 60_000), 1)
    x[:100] = -0.0
    x[100:200] = 0.0
    X = pd.DataFrame({"x": x, "g": rng.choice(["a", "b"], x.size)})
    cut_values = {"x": [-1.0, 0.0, 1.5]}
    t = PercentileThresholder(
        (20, 50, 80), columns=["x"], cut_values=cut_values, closed=closed
    ).fit(X)
    codes = t.transform(X)[:, -1].astype(int)
    cuts = np.asarray(cut_values["x"])
    side = "right" if closed == "left" else "left"
    np.testing.assert_array_equal(codes, np.searchsorted(cuts, x, side=side))
    # learned per-group cuts take the same side
    g = PercentileThresholder((20, 50, 80), columns=["x"], groupby="g", closed=closed)
    g.fit(X)
    grouped = g.transform(X)[:, -1].astype(int)
    for k, group in enumerate(g.groups_):
        rows = (X["g"] == group).to_numpy()
        expected = np.searchsorted(g.group_cuts_["x"][k], x[rows], side=side)
        np.testing.assert_array_equal(grouped[rows], expected)
