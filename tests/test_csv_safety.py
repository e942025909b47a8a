"""CSV injection: every CSV writer neutralises text a spreadsheet would run.

Each writer's output is read back with the csv module and compared cell by cell
with the frame it wrote: a text cell (and a header, and an index label) that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return must come
back with a leading single quote, every other text cell verbatim, and every
number (negative ones included) unchanged.
"""

import csv
import gzip
import io
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from sklearn_mece import (
    MECESegmentationEngine,
    compare_segmentations,
    make_cart_abandoner_pipeline,
    segment_migration,
    segment_stability,
)
from sklearn_mece.datasets import make_cart_abandoners
from sklearn_mece.export import (
    _rounded,
    export_assignments,
    export_report,
    segment_report,
)

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")

#: Rules whose names, descriptions and strategies a spreadsheet would run.
HOSTILE_RULES = {
    "levels": {
        "avg_order_value": {"names": ["low", "mid", "high"], "percentiles": [40, 75]}
    },
    "segments": [
        {
            "name": '=HYPERLINK("http://evil.example","x")',
            "when": [["avg_order_value", "==", "high"]],
            "description": "+SUM(1+1)",
            "strategy": "@cmd|' /C calc'!A0",
        },
        {
            "name": "-2+3",
            "when": [["avg_order_value", "==", "mid"]],
            "strategy": "\t=1+1",
        },
        {
            "name": "@evil",
            "when": [["days_since_last_order", "<=", 30]],
            "description": "\r=2+2",
        },
    ],
    "else": {"name": "+Rest", "strategy": "=cmd"},
}
HOSTILE_NAMES = [s["name"] for s in HOSTILE_RULES["segments"]] + ["+Rest"]


def read_text(path):
    """A CSV file's text as written (no newline translation)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        return fh.read()


def _expected(value):
    """What a text cell must read back as (an independent statement of the rule)."""
    return "'" + value if value.startswith(DANGEROUS) else value


def _is_text(value):
    return isinstance(value, str)


def _check_cell(cell, value, where):
    if _is_text(value):
        assert cell == _expected(value), where
    elif isinstance(value, bool | np.bool_):
        assert cell == str(bool(value)), where
    elif isinstance(value, int | float | np.integer | np.floating):
        if isinstance(value, float | np.floating) and math.isnan(value):
            assert cell == "", where
        else:  # numbers are written as they are, negative ones included
            assert float(cell) == float(value), where
            assert not cell.startswith("'"), where
    elif value is None or value is pd.NA:
        assert cell == "", where


def assert_csv_cells(text, frame, *, index):
    """Compare the CSV ``text`` with the ``frame`` it was written from.

    Every header, index label and cell is checked; no cell of the file may
    start with a dangerous character unless it is a number.
    """
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, body = rows[0], rows[1:]
    assert len(body) == len(frame)
    offset = frame.index.nlevels if index else 0
    for k, name in enumerate(frame.columns):
        _check_cell(header[offset + k], name, f"header {name!r}")
    if index:
        for level, name in enumerate(frame.index.names):
            if name is not None:
                _check_cell(header[level], name, f"index name {name!r}")
        for i, label in enumerate(frame.index):
            labels = label if isinstance(label, tuple) else (label,)
            for level, value in enumerate(labels):
                _check_cell(body[i][level], value, f"index label {value!r}")
    for k in range(frame.shape[1]):
        values = frame.iloc[:, k].astype(object).tolist()
        for i, value in enumerate(values):
            _check_cell(body[i][offset + k], value, f"row {i} column {k}: {value!r}")
    for row in body:
        for cell in row:
            if cell.startswith(DANGEROUS):
                float(cell)  # only a number may start so
    return rows


@pytest.fixture(scope="module")
def data():
    X = make_cart_abandoners(2_000, random_state=0).drop(columns="abandoned_at")
    rng = np.random.default_rng(0)
    X["delta"] = rng.normal(-1.0, 1.0, len(X))  # mostly negative floats
    X["=id"] = [f"-{i}" if i % 3 else f"@u{i}" for i in range(len(X))]
    return X


@pytest.fixture(scope="module")
def hostile(data):
    pipe = make_cart_abandoner_pipeline(min_size=0, max_size=None, rules=HOSTILE_RULES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pipe.fit_transform(data)
    assert set(HOSTILE_NAMES) <= set(out["segment"].astype(str))
    return pipe, out


def test_write_csv_dtypes_index_and_headers():
    import pyarrow as pa

    from sklearn_mece._csv import write_csv

    frame = pd.DataFrame(
        {
            "obj": np.array(["=a", 1, None, "-x", -2.5], dtype=object),
            "string": pd.array(["+a", None, "ok", "@b", "\tq"], dtype="string"),
            "str": pd.array(["+a", None, "ok", "@b", "\rq"], dtype=str),
            "arrow": pd.array(
                ["-1", None, "ok", "@b", "x"], dtype=pd.ArrowDtype(pa.string())
            ),
            "cat": pd.Categorical(["=c", "d", "=c", "'=c", "d"]),
            "neg": [-1.5, -2.0, 3.0, -4e-9, np.nan],
            "int": [-1, 2, -3, 4, 5],
            "=header": ["a"] * 5,
        },
        index=pd.Index(["=i", "b", "-3", "d", "e"], name="-idx"),
    )
    before = frame.copy()
    for index in (True, False):
        assert_csv_cells(write_csv(frame, index=index), frame, index=index)
    pd.testing.assert_frame_equal(frame, before)  # the caller's frame is untouched
    raw = write_csv(frame, csv_escape=False, index=True)
    assert raw.splitlines()[0].startswith("-idx,") and "\n=i,=a," in raw
    # a categorical whose escaped category would collide with another one
    rows = list(csv.reader(io.StringIO(write_csv(frame[["cat"]]))))
    assert [r[0] for r in rows[1:]] == ["'=c", "d", "'=c", "'=c", "d"]


def test_write_csv_multiindex_headers_and_labels():
    from sklearn_mece._csv import write_csv

    frame = pd.DataFrame(
        {("=g", "h"): [1.5, -2.5], ("k", "+m"): ["-x", "y"]},
        index=pd.MultiIndex.from_tuples([("=a", 1), ("b", -2)], names=["@x", "y"]),
    )
    rows = list(csv.reader(io.StringIO(write_csv(frame, index=True))))
    assert rows[0] == ["", "", "'=g", "k"] and rows[1] == ["", "", "h", "'+m"]
    assert rows[2][:2] == ["'@x", "y"]
    assert rows[3] == ["'=a", "1", "1.5", "'-x"]
    assert rows[4] == ["b", "-2", "-2.5", "y"]


def test_export_report_neutralises_names_descriptions_strategies(hostile, tmp_path):
    pipe, out = hostile
    report = segment_report(pipe, out)
    path = export_report(report, tmp_path / "segments.csv")
    # scores are written rounded (test_format checks the rounding)
    frame = _rounded(report.rename_axis("segment").reset_index())
    assert_csv_cells(read_text(path), frame, index=False)
    back = pd.read_csv(path)
    assert back["segment"].tolist() == ["'" + n for n in HOSTILE_NAMES]
    assert back["size"].tolist() == report["size"].tolist()

    raw = export_report(report, tmp_path / "raw.csv", csv_escape=False)
    assert pd.read_csv(raw)["segment"].tolist() == HOSTILE_NAMES


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_export_assignments_neutralises_ids_segments_and_headers(
    hostile, tmp_path, suffix
):
    pipe, out = hostile
    path = export_assignments(
        out, tmp_path / f"a{suffix}", id_col="=id", columns=["delta"]
    )
    frame = _rounded(out[["=id", "segment", "segment_score", "segment_tier", "delta"]])
    assert_csv_cells(read_text(path), frame, index=False)
    back = pd.read_csv(path)
    np.testing.assert_array_equal(back["delta"], out["delta"])  # negative floats
    assert (back["delta"] < 0).any()

    raw = pd.read_csv(export_assignments(out, tmp_path / "raw.csv", csv_escape=False))
    assert raw["segment"].tolist() == out["segment"].astype(str).tolist()


def test_export_assignments_writes_a_hostile_index(hostile, tmp_path):
    _, out = hostile
    frame = out[["segment"]].set_axis(out["=id"].rename("=row"))
    path = export_assignments(frame, tmp_path / "a.csv")
    expected = frame.reset_index()
    assert_csv_cells(read_text(path), expected, index=False)


def test_engine_export_results(data, tmp_path):
    engine = MECESegmentationEngine(
        min_segment_size=0, max_segment_size=None, rules=HOSTILE_RULES
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        segments, _ = engine.run_segmentation(data.drop(columns="=id"))
    paths = engine.export_results(segments, str(tmp_path / "out"))
    frame = pd.DataFrame(segments)
    assert_csv_cells(read_text(paths[0]), frame, index=False)
    assignments = pd.read_csv(paths[2])
    assert set(assignments["segment"]) == {"'" + n for n in HOSTILE_NAMES}

    paths = engine.export_results(segments, str(tmp_path / "raw"), csv_escape=False)
    assert pd.read_csv(paths[0])["name"].tolist() == HOSTILE_NAMES


def _all_tables_safe(result):
    names = [name for name in result.to_dict() if name != "summary"]
    assert names
    for name in names:
        assert_csv_cells(result.to_csv(table=name), result._tables()[name], index=True)
    return names


def test_comparison_to_csv(hostile, data, tmp_path):
    pipe, _ = hostile
    preset = make_cart_abandoner_pipeline(min_size=0, max_size=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        preset.fit(data)
        forward = compare_segmentations(pipe, preset, data)
        backward = compare_segmentations(preset, pipe, data)  # hostile headers
    assert "crosstab" in _all_tables_safe(forward)
    _all_tables_safe(backward)
    crosstab = backward.to_csv(tmp_path / "c.csv", table="crosstab")
    assert crosstab == read_text(tmp_path / "c.csv")
    assert all(
        ("'" + n) in crosstab.splitlines()[0].split(",") for n in ["@evil", "+Rest"]
    )
    raw = backward.to_csv(table="crosstab", csv_escape=False)
    assert "@evil" in raw.splitlines()[0].split(",")


def test_migration_and_stability_to_csv(hostile, data):
    pipe, _ = hostile
    after = data.assign(avg_order_value=data["avg_order_value"] * 1.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        migration = segment_migration(pipe, data, after, id_col="user_id")
        stability = segment_stability(pipe, data, n_resamples=2, random_state=0)
    _all_tables_safe(migration)
    # net changes are negative numbers: written as numbers, not neutralised
    assert (migration.segments["net_change"] < 0).any()
    _all_tables_safe(stability)


def test_a_carriage_return_inside_a_cell_does_not_split_the_row(tmp_path):
    report = pd.DataFrame(
        {"size": [1, 2], "strategy": ["call\r=HYPERLINK(1)", "mail"]},
        index=pd.Index(["A", "B"], name="segment"),
    )
    for escape in (True, False):
        path = export_report(report, tmp_path / "r.csv", csv_escape=escape)
        back = pd.read_csv(path)
        assert back["strategy"].tolist() == report["strategy"].tolist()
        rows = list(csv.reader(io.StringIO(read_text(path), newline="")))
        assert len(rows) == 3
