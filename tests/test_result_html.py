"""The notebook view and HTML page of Comparison, Migration and Stability.

The results are built on synthetic data whose every number is known in
advance (12,345 rows, 10,000 of them in the first segment), with segment names
that would run as script or as a spreadsheet formula if written unescaped.
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from sklearn_mece import (
    HierarchicalSegmenter,
    compare_segmentations,
    segment_migration,
    segment_stability,
)

SCRIPT = "<script>alert(1)</script>"
FORMULA = '"=1+1"'
SCRIPT_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
FORMULA_ESCAPED = "&#34;=1+1&#34;"
N_ROWS = 12_345
N_FIRST = 10_000  # rows of the first segment
RIGHT = '<td class="num" style="text-align:right">'


def _segmenter():
    """``x >= 0.5`` is SCRIPT, everything else FORMULA: fixed cut points."""
    rules = {
        "segments": [{"name": SCRIPT, "when": [["x", ">=", 0.5]]}],
        "else": {"name": FORMULA},
    }
    return HierarchicalSegmenter(rules)


@pytest.fixture(scope="module")
def before():
    ids = np.arange(N_ROWS)
    return pd.DataFrame({"id": ids, "x": (ids < N_FIRST).astype(float)})


@pytest.fixture(scope="module")
def comparison():
    champion = np.where(np.arange(N_ROWS) < N_FIRST, SCRIPT, FORMULA)
    challenger = np.where(np.arange(N_ROWS) < 12_000, "a", "b")
    X = pd.DataFrame({"x": np.zeros(N_ROWS)})
    return compare_segmentations(champion, challenger, X)


@pytest.fixture(scope="module")
def migration(before):
    # the last 345 ids leave (all FORMULA); 1,000 SCRIPT ids move to FORMULA
    after = before.iloc[:12_000].copy()
    after.loc[after["id"] < 1_000, "x"] = 0.0
    return segment_migration(_segmenter().fit(before), before, after, "id")


@pytest.fixture(scope="module")
def stability(before):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return segment_stability(
            _segmenter(), before[["x"]], n_resamples=3, method="kfold", random_state=0
        )


def _result(request, name):
    return request.getfixturevalue(name)


def _details(fragment):
    """The content of every ``<details>`` block."""
    return re.findall(r"<details>(.*?)</details>", fragment, flags=re.S)


def _summary_value(fragment, label):
    """The value shown beside ``label`` in the summary table."""
    match = re.search(
        rf"<tr><th>{re.escape(label)}</th><td[^>]*>(.*?)</td></tr>", fragment
    )
    assert match, f"no summary line {label!r}"
    return match.group(1)


# ---------------------------------------------------------------------------------
# what every result's view does
# ---------------------------------------------------------------------------------
RESULTS = ["comparison", "migration", "stability"]


@pytest.mark.parametrize("name", RESULTS)
def test_names_from_the_data_are_escaped(request, name):
    fragment = _result(request, name)._repr_html_()
    assert SCRIPT_ESCAPED in fragment and FORMULA_ESCAPED in fragment
    assert "<script" not in fragment.lower()
    assert FORMULA not in fragment


@pytest.mark.parametrize("name", RESULTS)
def test_wide_tables_scroll_inside_the_cell(request, name):
    fragment = _result(request, name)._repr_html_()
    wrapped = re.findall(r'<div style="overflow-x:auto">\s*<table', fragment)
    assert fragment.count("<table") >= 3
    assert len(wrapped) == fragment.count("<table")


@pytest.mark.parametrize("name", RESULTS)
def test_first_table_is_shown_and_the_others_fold(request, name):
    result = _result(request, name)
    fragment = result._repr_html_()
    tables = list(result._tables())
    shown = 2 if name == "comparison" else 1  # a comparison shows both sides
    folded = "".join(_details(fragment))
    for table in tables[:shown]:
        assert f"<h3>{table}</h3>" in fragment
        assert f">{table}</h3>" not in folded
    assert len(_details(fragment)) == len(tables) - shown
    for table, block in zip(tables[shown:], _details(fragment)):
        assert f'<summary><h3 style="display:inline">{table}</h3></summary>' in block
        assert "<table" in block


@pytest.mark.parametrize("name", RESULTS)
def test_to_html_writes_a_page_holding_the_fragment(request, name, tmp_path):
    result = _result(request, name)
    fragment = result._repr_html_()
    path = tmp_path / f"{name}.html"
    assert result.to_html(path) == fragment == result.to_html()
    page = path.read_bytes().decode("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in page
    assert f"<title>{result._title}</title>" in page
    assert fragment in page
    assert page.rstrip().endswith("</html>")


# ---------------------------------------------------------------------------------
# each result's numbers
# ---------------------------------------------------------------------------------
def test_comparison_view(comparison):
    fragment = comparison._repr_html_()
    assert "<h2>Segmentation comparison</h2>" in fragment
    assert _summary_value(fragment, "rows compared") == "12,345"
    assert _summary_value(fragment, "adjusted Rand index") == (
        f"{comparison.adjusted_rand:.4f}"
    )
    assert _summary_value(fragment, "champion: segments") == "2"
    assert _summary_value(fragment, "challenger: segments") == "2"
    # no size limits: every segment complies, 100 % of the rows
    assert (
        _summary_value(fragment, "champion: rows in segments within size limits")
        == "100.0 %"
    )
    # the champion's first segment: 10,000 rows, 81.0 % of 12,345, best match "a"
    row = re.search(rf"<tr><th>{re.escape(SCRIPT_ESCAPED)}</th>(.*?)</tr>", fragment)
    assert row.group(1).startswith(f"{RIGHT}10,000</td>{RIGHT}81.0 %</td>")
    assert "<td>a</td>" in row.group(1)  # text is not right-aligned
    assert "<td>yes</td>" in row.group(1)  # compliant
    # the crosstab: 2,000 FORMULA rows are in "a", 345 in "b"
    (crosstab,) = _details(fragment)
    assert f"<th>{FORMULA_ESCAPED}</th>{RIGHT}2,000</td>{RIGHT}345</td>" in crosstab
    assert "rows: champion, columns: challenger" in crosstab


def test_migration_view(migration):
    fragment = migration._repr_html_()
    assert "<h2>Segment migration</h2>" in fragment
    assert _summary_value(fragment, "ids before") == "12,345"
    assert _summary_value(fragment, "ids after") == "12,000"
    assert _summary_value(fragment, "kept their segment") == "11,000"
    assert _summary_value(fragment, "stability rate") == "91.7 %"  # 11,000 / 12,000
    assert _summary_value(fragment, "exits (ids only before)") == "345"
    assert _summary_value(fragment, "cut points refitted after") == "no"
    counts, shares = _details(fragment)
    # SCRIPT: 9,000 stayed, 1,000 moved to FORMULA, none left
    assert f"<th>{SCRIPT_ESCAPED}</th>{RIGHT}9,000</td>{RIGHT}1,000</td>" in counts
    assert f"<th>{SCRIPT_ESCAPED}</th>{RIGHT}90.0 %</td>{RIGHT}10.0 %</td>" in shares
    # the per-segment table: FORMULA's net change is 1,000 in, 345 out
    row = re.search(rf"<tr><th>{re.escape(FORMULA_ESCAPED)}</th>(.*?)</tr>", fragment)
    assert row.group(1).endswith(f"{RIGHT}655</td>")
    assert f"{RIGHT}2,345</td>" in row.group(1)  # size before


def test_stability_view(stability):
    fragment = stability._repr_html_()
    assert "<h2>Segment stability under resampling</h2>" in fragment
    assert _summary_value(fragment, "rows") == "12,345"
    # k-fold: every row is held out once
    assert _summary_value(fragment, "held-out evaluations") == "12,345"
    assert _summary_value(fragment, "change rate") == "0.0 %"  # fixed cut points
    assert _summary_value(fragment, "fragile above the change rate") == "10.0 %"
    assert _summary_value(fragment, "fragile segments") == "none"
    assert _summary_value(fragment, "resampling") == "kfold"
    row = re.search(rf"<tr><th>{re.escape(SCRIPT_ESCAPED)}</th>(.*?)</tr>", fragment)
    assert row.group(1).startswith(f"{RIGHT}10,000</td>")
    assert row.group(1).endswith("<td>no</td>")  # not fragile
    (per_resample,) = _details(fragment)
    assert per_resample.split("<tbody>")[1].count("<tr>") == 3  # one per fold
    assert f"{RIGHT}0.0 %</td>" in per_resample


def test_missing_values_and_their_columns(comparison):
    # no size limits: min_size / max_size are missing, shown as a dash, and the
    # numeric column stays right-aligned, header included
    fragment = comparison._repr_html_()
    assert '<th style="text-align:right">min_size</th>' in fragment
    assert f"{RIGHT}–</td>{RIGHT}–</td>" in fragment
    assert "nan" not in fragment.lower()


def test_printed_tables_use_the_package_number_formats(comparison, migration):
    text = str(comparison)
    assert "10,000" in text and "nan" not in text.lower()
    assert "0.810" in text  # the share 10,000 / 12,345, as before
    per_segment = str(migration).split("transition counts")[0]
    assert "9,000" in per_segment and "2,345" in per_segment
