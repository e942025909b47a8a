"""The command line end to end, in a temporary folder."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklearn_mece.cli import main
from sklearn_mece.datasets import make_cart_abandoners

ROOT = Path(__file__).resolve().parents[1]
HILLSTROM = ROOT.parent / "shared" / "data" / "hillstrom.csv"
IMG = "data:image/png;base64,"


@pytest.fixture(scope="module")
def users():
    data = make_cart_abandoners(3_000, random_state=0).drop(columns="abandoned_at")
    rng = np.random.default_rng(0)
    data["treated"] = (rng.uniform(size=len(data)) < 0.7).astype(int)
    rate = 0.10 + 0.05 * data["treated"] + 0.1 * data["engagement_score"]
    data["converted"] = (rng.uniform(size=len(data)) < rate).astype(int)
    return data


@pytest.fixture
def csv_path(users, tmp_path):
    path = tmp_path / "users.csv"
    users.to_csv(path, index=False)
    return path


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _error_line(err):
    lines = [
        line for line in err.splitlines() if line.startswith("sklearn-mece: error:")
    ]
    assert len(lines) == 1, err
    return lines[0]


def test_segment_then_apply_gives_identical_labels(capsys, csv_path, tmp_path):
    out = tmp_path / "out"
    model = tmp_path / "model.skops"
    code, stdout, stderr = _run(
        capsys,
        "segment",
        csv_path,
        "--out",
        out,
        "--min-size",
        50,
        "--id-col",
        "user_id",
        "--model",
        model,
    )
    assert code == 0, stderr
    for name in ("assignments.csv", "segments.csv", "segments.json", "report.html"):
        assert (out / name).is_file(), name
    assert model.is_file()
    for step in ("reading", "fitting", "writing", "saving"):
        assert f"sklearn-mece: {step}" in stderr
    assert "High_AOV_Premium" in stdout and "MECE: PASS" in stdout
    assert "Strategies:" in stdout

    segments = json.loads((out / "segments.json").read_text())
    assert {"segment", "size", "description", "strategy", "rule"} <= set(segments[0])
    assert all(record["strategy"] for record in segments)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count(IMG) >= 3

    # apply the saved model to the same rows, shuffled, with extra columns
    shuffled = pd.read_csv(csv_path).sample(frac=1.0, random_state=1)
    shuffled["note"] = "x"
    new_path = tmp_path / "new.parquet"
    shuffled.drop(columns=["treated", "converted"]).to_parquet(new_path)
    code, stdout, stderr = _run(
        capsys,
        "apply",
        new_path,
        "--model",
        model,
        "--out",
        tmp_path / "applied",
        "--id-col",
        "user_id",
    )
    assert code == 0, stderr
    first = pd.read_csv(out / "assignments.csv").set_index("user_id")
    second = pd.read_csv(tmp_path / "applied" / "assignments.csv").set_index("user_id")
    assert len(second) == len(first)
    pd.testing.assert_series_equal(
        second["segment"].loc[first.index], first["segment"], check_names=False
    )
    assert "segment_score" in first and "segment_tier" in first
    np.testing.assert_allclose(
        second["segment_score"].loc[first.index], first["segment_score"]
    )


def test_observed_lift_flows_into_report_and_html(capsys, csv_path, tmp_path):
    out = tmp_path / "out"
    code, _, stderr = _run(
        capsys,
        "segment",
        csv_path,
        "--out",
        out,
        "--min-size",
        50,
        "--treatment",
        "treated",
        "--outcome",
        "converted",
        "--format",
        "parquet",
    )
    assert code == 0, stderr
    report = pd.read_csv(out / "segments.csv")
    for column in ("n_treated", "n_control", "lift_observed", "lift_ci_low"):
        assert column in report
    assert (report["n_treated"] + report["n_control"] == report["size"]).all()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count(IMG) == 4  # sizes, scores, cuts, lift
    assignments = pd.read_parquet(out / "assignments.parquet")
    assert assignments.columns[0] == "row" and len(assignments) == 3_000

    # new customers have no outcome yet: the saved model labels them anyway
    model = tmp_path / "model.skops"
    code, _, stderr = _run(
        capsys,
        "segment",
        csv_path,
        "--out",
        out,
        "--min-size",
        50,
        "--treatment",
        "treated",
        "--outcome",
        "converted",
        "--model",
        model,
        "--no-html",
        "-q",
    )
    assert code == 0, stderr
    fresh = tmp_path / "fresh.csv"
    pd.read_csv(csv_path).drop(columns=["treated", "converted"]).to_csv(fresh)
    code, _, stderr = _run(
        capsys, "apply", fresh, "--model", model, "--out", tmp_path / "a", "-q"
    )
    assert code == 0, stderr
    labels = pd.read_csv(tmp_path / "a" / "assignments.csv")["segment"]
    assert labels.tolist() == assignments["segment"].astype(str).tolist()


def test_segment_with_a_rules_file(capsys, csv_path, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(
        'else = { name = "Rest", strategy = "newsletter" }\n'
        "[levels.cart_value]\n"
        'names = ["small", "big"]\n'
        "percentiles = [80]\n"
        "[[segments]]\n"
        'name = "Big_Carts"\n'
        'when = [["cart_value", "==", "big"]]\n'
        'strategy = "call them"\n'
        "[[segments]]\n"
        'name = "Loyal"\n'
        'when = [["days_since_last_order", "<=", 14]]\n'
    )
    code, stdout, stderr = _run(
        capsys,
        "segment",
        csv_path,
        "--out",
        tmp_path / "o",
        "--rules",
        rules,
        "--min-size",
        0,
        "--no-html",
    )
    assert code == 0, stderr
    report = pd.read_csv(tmp_path / "o" / "segments.csv")
    assert report["segment"].tolist() == ["Big_Carts", "Loyal", "Rest"]
    assert report["strategy"].fillna("").tolist() == ["call them", "", "newsletter"]
    assert "cart_value" in report.loc[0, "rule"]
    assert "call them" in stdout

    json_rules = tmp_path / "rules.json"
    json_rules.write_text(
        json.dumps(
            {
                "levels": {
                    "cart_items": {"names": ["few", "many"], "percentiles": [50]}
                },
                "segments": [{"name": "Many", "when": [["cart_items", "==", "many"]]}],
                "else": "Few",
            }
        )
    )
    code, _, stderr = _run(
        capsys, "segment", csv_path, "--out", tmp_path / "j", "--rules", json_rules
    )
    assert code == 0, stderr


@pytest.mark.parametrize(
    "content, match",
    [
        ("{not json", "bad rules file"),
        ('{"segments": [{"name": "A", "when": [["x", "~", 1]]}]}', "unknown operator"),
        ('{"segments": [], "colour": 1}', "Unknown keys"),
        ('{"segments": [{"name": "A", "when": [["x", "<", 1]]}]}', "percentiles"),
    ],
)
def test_bad_rules_file(capsys, csv_path, tmp_path, content, match):
    rules = tmp_path / "rules.json"
    rules.write_text(content)
    code, _, stderr = _run(
        capsys, "segment", csv_path, "--out", tmp_path / "o", "--rules", rules
    )
    assert code == 2
    line = _error_line(stderr)
    assert "bad rules file" in line and match in line


def test_missing_column(capsys, users, tmp_path):
    path = tmp_path / "partial.csv"
    users.drop(columns=["engagement_score"]).to_csv(path, index=False)
    code, _, stderr = _run(capsys, "segment", path, "--out", tmp_path / "o")
    assert code == 2
    line = _error_line(stderr)
    assert "missing column(s) 'engagement_score'" in line
    assert not (tmp_path / "o").exists()

    code, _, stderr = _run(
        capsys, "segment", path, "--out", tmp_path / "o", "--id-col", "customer"
    )
    assert code == 2 and "'customer'" in _error_line(stderr)


def test_missing_column_at_apply(capsys, csv_path, users, tmp_path):
    model = tmp_path / "m.skops"
    code, _, _ = _run(
        capsys, "segment", csv_path, "--out", tmp_path / "o", "--model", model, "-q"
    )
    assert code == 0
    path = tmp_path / "new.csv"
    users.drop(columns=["days_since_last_order"]).to_csv(path, index=False)
    code, _, stderr = _run(
        capsys, "apply", path, "--model", model, "--out", tmp_path / "a"
    )
    assert code == 2
    assert "missing column(s) 'days_since_last_order'" in _error_line(stderr)


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("nope.csv", None, "no such file"),
        ("data.xlsx", b"whatever", "unknown file type"),
        ("broken.parquet", b"this is not parquet", "cannot read"),
        ("empty.csv", b"", "cannot read"),
    ],
)
def test_unreadable_input(capsys, tmp_path, name, content, match):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    code, _, stderr = _run(capsys, "segment", path, "--out", tmp_path / "o")
    assert code == 2
    assert match in _error_line(stderr)


def test_bad_model_file(capsys, csv_path, tmp_path):
    model = tmp_path / "model.skops"
    model.write_bytes(b"not a model")
    code, _, stderr = _run(
        capsys, "apply", csv_path, "--model", model, "--out", tmp_path / "o"
    )
    assert code == 2
    assert "cannot load model" in _error_line(stderr)


def test_treatment_needs_outcome(capsys, csv_path, tmp_path):
    code, _, stderr = _run(
        capsys, "segment", csv_path, "--out", tmp_path / "o", "--treatment", "treated"
    )
    assert code == 2
    assert "--treatment and --outcome" in _error_line(stderr)


def test_quiet_has_no_progress(capsys, csv_path, tmp_path):
    code, _, stderr = _run(
        capsys, "segment", csv_path, "--out", tmp_path / "o", "--quiet", "--no-html"
    )
    assert code == 0
    assert "reading" not in stderr
    assert not (tmp_path / "o" / "report.html").exists()


def test_demo_writes_the_html_report(capsys, tmp_path):
    code, stdout, stderr = _run(
        capsys, "demo", "--out", tmp_path, "--n-users", 3_000, "--min-size", 50
    )
    assert code == 0, stderr
    assert "Strategies:" in stdout and "score" in stdout
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert html.count(IMG) >= 3
    table = pd.read_csv(tmp_path / "segments.csv")
    assert {"score", "tier", "description", "strategy"} <= set(table.columns)


def test_console_entry_exit_code(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_mece", "segment", str(tmp_path / "x.csv")]
        + ["--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("sklearn-mece: error:")


@pytest.mark.skipif(not HILLSTROM.is_file(), reason="Hillstrom data not available")
def test_hillstrom_example(capsys):
    spec = importlib.util.spec_from_file_location(
        "real_lift", ROOT / "examples" / "real_lift.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main([str(HILLSTROM)]) == 0
    out = capsys.readouterr().out
    assert "64,000 customers" in out and "21,306 randomized control" in out
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 6  # header + one row per segment
    assert all("[+" in row or "[-" in row for row in rows[1:])


def test_missing_values_error_or_nan_segment(capsys, users, tmp_path):
    data = users.copy()
    data.loc[data.index[:3], "engagement_score"] = np.nan
    path = tmp_path / "with_nan.csv"
    data.to_csv(path, index=False)
    code, _, err = _run(capsys, "segment", path, "--out", tmp_path / "a", "-q")
    assert code == 2
    line = _error_line(err)
    assert (
        "'engagement_score'" in line and "3 row(s)" in line and "--nan-segment" in line
    )
    code, _, _ = _run(
        capsys, "segment", path, "--out", tmp_path / "b", "--nan-segment",
        "Missing_Data", "--no-html", "-q",
    )  # fmt: skip
    assert code == 0
    table = pd.read_csv(tmp_path / "b" / "segments.csv")
    assert table.loc[table["segment"] == "Missing_Data", "size"].item() == 3
