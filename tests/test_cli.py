"""The command line end to end, in a temporary folder."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _shared import HILLSTROM, ROOT, load_example

from sklearn_mece import load
from sklearn_mece.cli import main
from sklearn_mece.datasets import make_cart_abandoners

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
    # no campaign data: the printed table says the lift is simulated
    assert "lift_source" in stdout
    assert "lift_score is SIMULATED for every segment" in stdout
    segments_csv = pd.read_csv(out / "segments.csv")
    assert (segments_csv["lift_source"] == "simulated").all()

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
    code, stdout, stderr = _run(
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
    assert "SIMULATED" not in stdout
    assert "lift_ci_low/high_adjusted: 95 % simultaneous intervals over" in stdout
    report = pd.read_csv(out / "segments.csv")
    for column in (
        "n_treated",
        "n_control",
        "lift_observed",
        "lift_ci_low",
        "lift_ci_low_adjusted",
        "lift_ci_high_adjusted",
        "lift_shrunk",
        "lift_score",
    ):
        assert column in report
    assert (report["lift_source"] == "observed").all()
    assert (
        report["lift_intervals"]
        .str.startswith(
            "lift_ci_low/high: 95 % interval of each segment; lift_ci_low/high_adjusted"
        )
        .all()
    )
    assert (report["n_treated"] + report["n_control"] == report["size"]).all()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count(IMG) == 4  # sizes, scores, cuts, lift
    assert "adjusted interval: 95 % simultaneous intervals over" in html
    assert "Lift is simulated" not in html
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
        "--overwrite",
        "-q",
    )
    assert code == 0, stderr
    # the re-run replaced the folder: no stale report.html or parquet beside it
    assert sorted(p.name for p in out.iterdir()) == [
        "assignments.csv",
        "audiences",
        "segments.csv",
        "segments.json",
    ]
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
    module = load_example("real_lift")
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


# ---------------------------------------------------------------------------------
# CSV injection
# ---------------------------------------------------------------------------------
def test_segment_and_apply_neutralise_formulas_in_csv(capsys, users, tmp_path):
    from test_csv_safety import (
        HOSTILE_NAMES,
        HOSTILE_RULES,
        assert_csv_cells,
        read_text,
    )

    data = users.assign(**{"=id": [f"-u{i}" for i in range(len(users))]})
    data["delta"] = -data["avg_order_value"]
    path = tmp_path / "users.csv"
    data.to_csv(path, index=False)
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(HOSTILE_RULES))
    model = tmp_path / "m.skops"
    code, _, err = _run(
        capsys, "segment", path, "--out", tmp_path / "o", "--rules", rules,
        "--min-size", 0, "--id-col", "=id", "--model", model, "-q",
    )  # fmt: skip
    assert code == 0, err
    segments = pd.read_csv(tmp_path / "o" / "segments.csv")
    assert segments["segment"].tolist() == ["'" + n for n in HOSTILE_NAMES]
    assert segments["strategy"].iloc[0] == "'@cmd|' /C calc'!A0"
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert "@evil" in html  # the HTML shows the names as they are

    # the audience files: inside the folder whatever the names, ids neutralised,
    # every id in exactly one file, each file linked from the report
    files = sorted((tmp_path / "o" / "audiences").iterdir())
    assert len(files) == len(segments)
    assert all(f.parent.name == "audiences" for f in files)
    ids = pd.concat([pd.read_csv(f, dtype=str) for f in files])["'=id"]
    assert sorted(ids) == sorted("'" + data["=id"])
    for f in files:
        assert f'href="audiences/{f.name}"' in html

    code, _, err = _run(
        capsys, "apply", path, "--model", model, "--out", tmp_path / "a",
        "--id-col", "=id", "-q",
    )  # fmt: skip
    assert code == 0, err
    for folder in ("o", "a"):
        assignments = tmp_path / folder / "assignments.csv"
        written = pd.read_csv(assignments)
        # what was written, before neutralising: the ids and the model's names
        frame = data[["=id"]].assign(
            segment=written["segment"].str[1:],
            segment_score=written["segment_score"],
            segment_tier=written["segment_tier"],
        )
        assert set(frame["segment"]) <= set(HOSTILE_NAMES)
        rows = assert_csv_cells(read_text(assignments), frame, index=False)
        assert rows[0][0] == "'=id" and all(row[0].startswith("'-") for row in rows[1:])

    code, _, err = _run(
        capsys, "apply", path, "--model", model, "--out", tmp_path / "raw",
        "--id-col", "=id", "--raw-csv", "-q",
    )  # fmt: skip
    assert code == 0, err
    raw = pd.read_csv(tmp_path / "raw" / "assignments.csv")
    assert raw.columns[0] == "=id" and set(raw["segment"]) <= set(HOSTILE_NAMES)


def _audiences(folder, id_col):
    """{segment file name: ids} of the audience files in ``folder``."""
    files = sorted((folder / "audiences").iterdir())
    return {f.name: pd.read_csv(f, dtype=str)[id_col].tolist() for f in files}


def test_audiences_are_written_without_the_report_and_by_apply(
    capsys, csv_path, users, tmp_path
):
    """The campaign system's input, in a batch run (--no-html) and each time a
    saved model labels new data: every id in exactly one file, the segment's."""
    model = tmp_path / "m.skops"
    code, out, err = _run(
        capsys, "segment", csv_path, "--out", tmp_path / "seg", "--model", model,
        "--min-size", 50, "--id-col", "user_id", "--no-html", "-q",
    )  # fmt: skip
    assert code == 0, err
    assert not (tmp_path / "seg" / "report.html").exists()
    fresh = users.sample(frac=0.5, random_state=1)
    fresh.to_csv(tmp_path / "new.csv", index=False)
    code, out, err = _run(
        capsys, "apply", tmp_path / "new.csv", "--model", model,
        "--out", tmp_path / "app", "--id-col", "user_id", "-q",
    )  # fmt: skip
    assert code == 0, err
    assert "audiences" in out
    for folder, data in (("seg", users), ("app", fresh)):
        audiences = _audiences(tmp_path / folder, "user_id")
        names = load(model).named_steps["segments"].segment_names_
        assert list(audiences) == [
            f"{i:02d}_{name}.csv" for i, name in enumerate(names, start=1)
        ]
        assignments = pd.read_csv(tmp_path / folder / "assignments.csv", dtype=str)
        assert sorted(assignments["user_id"]) == sorted(data["user_id"].astype(str))
        for file, ids in audiences.items():
            segment = file[3:-4]
            expected = assignments.loc[assignments["segment"] == segment, "user_id"]
            assert sorted(ids) == sorted(expected), (folder, file)
        assert sum(map(len, audiences.values())) == len(data)


def test_apply_reads_the_models_own_segment_column_and_names(capsys, users, tmp_path):
    """A model saved from Python whose segmenter writes codes into a column of
    another name: apply printed codes ('5: 1,268'), or failed on 'segment'."""
    from sklearn_mece import make_cart_abandoner_pipeline, save

    pipe = make_cart_abandoner_pipeline(min_size=0)
    pipe.set_params(segments__output="codes", segments__output_column="seg")
    pipe.set_params(scores__segment_column="seg")
    features = users.drop(columns=["user_id"])
    pipe.fit(features)
    model = save(pipe, tmp_path / "codes.skops")
    users.to_csv(tmp_path / "users.csv", index=False)
    code, out, err = _run(
        capsys, "apply", tmp_path / "users.csv", "--model", model,
        "--out", tmp_path / "app", "--id-col", "user_id", "-q",
    )  # fmt: skip
    assert code == 0, err
    names = list(pipe.named_steps["segments"].segment_names_)
    codes = pipe.transform(features)["seg"]
    for i, name in enumerate(names):
        n = int((codes == i).sum())
        if n:
            assert f"  {name}: {n:,} (" in out
    audiences = _audiences(tmp_path / "app", "user_id")
    assert sum(map(len, audiences.values())) == len(users)


# ---------------------------------------------------------------------------------
# version warning, --nan-segment at apply
# ---------------------------------------------------------------------------------
@pytest.fixture
def model_path(capsys, csv_path, tmp_path):
    model = tmp_path / "model.skops"
    code, _, err = _run(
        capsys, "segment", csv_path, "--out", tmp_path / "fit", "--model", model,
        "--min-size", 50, "--no-html", "-q",
    )  # fmt: skip
    assert code == 0, err
    return model


def test_apply_shows_the_version_mismatch_warning(
    capsys, csv_path, model_path, tmp_path, monkeypatch
):
    from sklearn_mece import _version

    saved_with = _version.__version__  # the version model_path was saved with
    monkeypatch.setattr(_version, "__version__", "99.0.0")
    code, _, err = _run(
        capsys, "apply", csv_path, "--model", model_path, "--out", tmp_path / "a",
        "-q",
    )  # fmt: skip
    assert code == 0, err
    warnings_shown = [
        line for line in err.splitlines() if line.startswith("sklearn-mece: warning:")
    ]
    assert warnings_shown, err
    assert "99.0.0" in warnings_shown[0] and saved_with in warnings_shown[0]
    assert len(warnings_shown) == len(set(warnings_shown))  # each shown once
    assert (tmp_path / "a" / "assignments.csv").is_file()


@pytest.fixture
def data_with_nan(users, tmp_path):
    data = users.copy()
    data.loc[data.index[:4], "engagement_score"] = np.nan
    path = tmp_path / "with_nan.csv"
    data.to_csv(path, index=False)
    return path


def test_apply_missing_values_suggests_what_works(
    capsys, model_path, data_with_nan, tmp_path
):
    code, _, err = _run(
        capsys, "apply", data_with_nan, "--model", model_path, "--out",
        tmp_path / "a",
    )  # fmt: skip
    assert code == 2
    line = _error_line(err)
    assert "'engagement_score'" in line and "4 row(s)" in line
    assert "fitted without a missing-value segment" in line
    assert f"segment INPUT --nan-segment NAME --model {model_path}" in line
    assert not (tmp_path / "a").exists()

    # the flag cannot add a missing-value segment to a model fitted without one
    code, _, err = _run(
        capsys, "apply", data_with_nan, "--model", model_path, "--out",
        tmp_path / "a", "--nan-segment", "Unknown",
    )  # fmt: skip
    assert code == 2
    line = _error_line(err)
    assert "--nan-segment 'Unknown'" in line and "cannot be added after fit" in line
    assert f"--nan-segment Unknown --model {model_path}" in line


def test_apply_nan_segment_with_a_model_fitted_with_it(
    capsys, csv_path, data_with_nan, tmp_path
):
    model = tmp_path / "nan.skops"
    code, _, err = _run(
        capsys, "segment", csv_path, "--out", tmp_path / "fit", "--model", model,
        "--nan-segment", "Unknown", "--min-size", 50, "--no-html", "-q",
    )  # fmt: skip
    assert code == 0, err
    for flags in ([], ["--nan-segment", "Unknown"]):
        out = tmp_path / f"a{len(flags)}"
        code, _, err = _run(
            capsys, "apply", data_with_nan, "--model", model, "--out", out, *flags
        )
        assert code == 0, err
        labels = pd.read_csv(out / "assignments.csv")["segment"]
        assert (labels.iloc[:4] == "Unknown").all()
        assert (labels.iloc[4:] != "Unknown").all()
    code, _, err = _run(
        capsys, "apply", data_with_nan, "--model", model, "--out", tmp_path / "b",
        "--nan-segment", "Missing",
    )  # fmt: skip
    assert code == 2
    line = _error_line(err)
    assert "routes missing values to 'Unknown'" in line
    assert not (tmp_path / "b").exists()


def test_help_mentions_the_new_flags(capsys):
    for command, flags in (
        ("segment", ("--overwrite", "--raw-csv", "--nan-segment")),
        ("apply", ("--overwrite", "--raw-csv", "--nan-segment")),
        ("demo", ("--overwrite", "--raw-csv")),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        for flag in flags:
            assert flag in text, (command, flag)


# ---------------------------------------------------------------------------------
# output folders: all or nothing
# ---------------------------------------------------------------------------------
def _outside_audiences(files):
    """The files of a snapshot but the audience files, which must be there."""
    names = sorted(files)
    assert any(name.startswith("audiences/") for name in names), names
    return [name for name in names if not name.startswith("audiences/")]


def _snapshot(folder):
    """Every file under ``folder`` (its path relative to it) with its bytes;
    a folder inside is listed as its files."""
    folder = Path(folder)
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _no_temporary_folders(parent):
    leftovers = [p.name for p in Path(parent).iterdir() if p.name.startswith(".")]
    assert not leftovers, leftovers


def _failing_html(monkeypatch):
    import sklearn_mece.report

    def fail(*args, **kwargs):
        raise OSError("disk full while writing report.html")

    monkeypatch.setattr(sklearn_mece.report, "write_html_report", fail)


def test_failed_segment_leaves_no_folder(capsys, csv_path, tmp_path, monkeypatch):
    _failing_html(monkeypatch)
    out = tmp_path / "new" / "out"
    model = tmp_path / "model.skops"
    code, _, err = _run(
        capsys, "segment", csv_path, "--out", out, "--model", model, "-q"
    )
    assert code == 2
    assert "disk full" in _error_line(err)
    assert not out.exists() and not model.exists()
    assert not out.parent.exists()  # nor the parent folder the run created
    _no_temporary_folders(tmp_path)


def test_failed_rerun_leaves_the_previous_folder_untouched(
    capsys, csv_path, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    code, _, err = _run(capsys, "segment", csv_path, "--out", out, "-q")
    assert code == 0, err
    before = _snapshot(out)
    assert "report.html" in before
    _failing_html(monkeypatch)
    code, _, err = _run(
        capsys, "segment", csv_path, "--out", out, "--overwrite", "--min-size", 0,
        "--format", "json", "-q",
    )  # fmt: skip
    assert code == 2
    assert _snapshot(out) == before
    _no_temporary_folders(tmp_path)


def test_a_non_empty_out_needs_overwrite(capsys, csv_path, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("previous run")
    (out / "notes.txt").write_text("mine")
    for command in (
        ["segment", csv_path, "--out", out],
        ["apply", csv_path, "--model", tmp_path / "m.skops", "--out", out],
        ["demo", "--out", out, "--n-users", 100],
    ):
        code, _, err = _run(capsys, *command)
        assert code == 2
        line = _error_line(err)
        assert "is not empty" in line and "--overwrite" in line and str(out) in line
        assert _snapshot(out) == {"notes.txt": b"mine", "report.html": b"previous run"}

    # --overwrite replaces the contents: nothing stale is left beside the new files
    model = out / "model.skops"  # a model inside --out is part of the new folder
    code, _, err = _run(
        capsys, "segment", csv_path, "--out", out, "--overwrite", "--no-html",
        "--model", model, "-q",
    )  # fmt: skip
    assert code == 0, err
    assert _outside_audiences(_snapshot(out)) == [
        "assignments.csv",
        "model.skops",
        "segments.csv",
        "segments.json",
    ]
    _no_temporary_folders(tmp_path)
    # an empty folder is fine without the flag
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = _run(
        capsys, "apply", csv_path, "--model", model, "--out", empty, "-q"
    )
    assert code == 0, err
    assert _outside_audiences(_snapshot(empty)) == ["assignments.csv"]
    _no_temporary_folders(tmp_path)


def test_overwrite_never_deletes_the_input(capsys, csv_path, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    inside = out / "users.csv"
    inside.write_bytes(csv_path.read_bytes())
    code, _, err = _run(capsys, "segment", inside, "--out", out, "--overwrite")
    assert code == 2
    line = _error_line(err)
    assert "would delete the input file" in line
    assert inside.is_file()


def test_out_that_is_a_file(capsys, csv_path, tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    code, _, err = _run(capsys, "segment", csv_path, "--out", target, "--overwrite")
    assert code == 2
    assert "is not a folder" in _error_line(err)
    assert target.read_text() == "x"


def test_failed_apply_leaves_no_folder(
    capsys, csv_path, model_path, tmp_path, monkeypatch
):
    import sklearn_mece.cli

    write = sklearn_mece.cli.export_assignments

    def fail(X_out, path, **kwargs):
        write(X_out.head(10), path, **kwargs)  # a partial file, then the failure
        raise OSError("no space left")

    monkeypatch.setattr(sklearn_mece.cli, "export_assignments", fail)
    out = tmp_path / "applied"
    code, _, err = _run(capsys, "apply", csv_path, "--model", model_path, "--out", out)
    assert code == 2 and "no space left" in _error_line(err)
    assert not out.exists()
    _no_temporary_folders(tmp_path)


def test_overwrite_in_the_current_folder(capsys, csv_path, tmp_path, monkeypatch):
    # the folder keeps its identity (a shell may be in it, it may be a mount)
    work = tmp_path / "work"
    work.mkdir()
    (work / "old.csv").write_text("stale")
    monkeypatch.chdir(work)
    code, _, err = _run(
        capsys, "segment", csv_path, "--out", ".", "--overwrite", "--no-html", "-q"
    )
    assert code == 0, err
    assert Path.cwd() == work and work.is_dir()
    assert _outside_audiences(_snapshot(work)) == [
        "assignments.csv",
        "segments.csv",
        "segments.json",
    ]


# ---------------------------------------------------------------------------------
# errors are one line
# ---------------------------------------------------------------------------------
@pytest.mark.parametrize("what", ["datetime", "timedelta"])
def test_a_date_feature_is_a_one_line_error(capsys, users, tmp_path, what):
    polars = pytest.importorskip("polars")
    data = users.copy()
    if what == "datetime":
        data["avg_order_value"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(
            data["avg_order_value"], unit="s"
        )
        column = "avg_order_value"
    else:
        data["days_since_last_order"] = pd.to_timedelta(
            data["days_since_last_order"], unit="D"
        )
        column = "days_since_last_order"
    path = tmp_path / "dates.parquet"
    polars.from_pandas(data).write_parquet(path)
    code, _, err = _run(capsys, "segment", path, "--out", tmp_path / "o")
    assert code == 2
    line = _error_line(err)
    assert repr(column) in line and "numeric" in line
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_a_date_feature_at_apply_is_a_one_line_error(
    capsys, users, model_path, tmp_path
):
    data = users.copy()
    data["days_since_last_order"] = pd.to_timedelta(
        data["days_since_last_order"], unit="D"
    )
    path = tmp_path / "dates.parquet"
    data.to_parquet(path)
    code, _, err = _run(
        capsys, "apply", path, "--model", model_path, "--out", tmp_path / "o"
    )
    assert code == 2
    line = _error_line(err)
    assert "'days_since_last_order'" in line and "numeric" in line


@pytest.mark.parametrize("kind", ["directory", "not-json", "zip"])
def test_bad_rules_and_model_files_are_one_line(capsys, csv_path, tmp_path, kind):
    import zipfile

    bad = tmp_path / f"bad.{'json' if kind != 'zip' else 'skops'}"
    if kind == "directory":
        bad.mkdir()
    elif kind == "not-json":
        bad.write_bytes(b"\x00\xff not json")
    else:
        with zipfile.ZipFile(bad, "w") as archive:
            archive.writestr("schema.json", "{broken")
    if kind == "zip":
        argv = ["apply", csv_path, "--model", bad, "--out", tmp_path / "o"]
        expected = "cannot load model"
    else:
        argv = ["segment", csv_path, "--out", tmp_path / "o", "--rules", bad]
        expected = "bad rules file"
    code, _, err = _run(capsys, *argv)
    assert code == 2
    line = _error_line(err)
    assert expected in line and str(bad) in line
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_scorer_parameters_follow_the_scorer_step_whatever_its_name():
    from argparse import Namespace

    from sklearn.pipeline import Pipeline

    from sklearn_mece import make_cart_abandoner_pipeline
    from sklearn_mece.cli import _Progress, _scorer_inputs, _scorer_params

    pipe = make_cart_abandoner_pipeline()
    renamed = Pipeline([(f"s{i}", step) for i, (_, step) in enumerate(pipe.steps)])
    args = Namespace(treatment="t", outcome="o")
    assert _scorer_params(renamed, args) == {"s2__treatment": "t", "s2__outcome": "o"}
    data = pd.DataFrame(columns=["engagement_score", "avg_order_value", "other"])
    present = _scorer_inputs(renamed, data, _Progress(quiet=True))
    assert present == ["avg_order_value", "engagement_score"]  # the seed's order
    scorer = renamed.named_steps["s2"]
    assert scorer.profitability_column is None and scorer.recency_column is None


# ---------------------------------------------------------------------------------
# --map: your column names
# ---------------------------------------------------------------------------------
YOURS = {"avg_order_value": "history", "days_since_last_order": "recency"}
MAP_ARGS = [
    "--map",
    "history=avg_order_value",
    "--map",
    "recency=days_since_last_order",
]


@pytest.fixture
def renamed_csv(users, tmp_path):
    path = tmp_path / "mine.csv"
    users.rename(columns=YOURS).to_csv(path, index=False)
    return path


def test_map_gives_the_same_segments_as_the_preset_names(
    capsys, csv_path, renamed_csv, tmp_path
):
    common = ["--min-size", 50, "--id-col", "user_id", "-q", "--no-html"]
    code, _, stderr = _run(
        capsys, "segment", csv_path, "--out", tmp_path / "a", *common
    )
    assert code == 0, stderr
    model = tmp_path / "mine.skops"
    code, stdout, stderr = _run(
        capsys,
        "segment",
        renamed_csv,
        "--out",
        tmp_path / "b",
        *MAP_ARGS,
        "--model",
        model,
        *common,
    )
    assert code == 0, stderr
    assert "mean_history" in stdout  # the printed table follows the mapping
    expected = pd.read_csv(tmp_path / "a" / "assignments.csv")
    got = pd.read_csv(tmp_path / "b" / "assignments.csv")
    pd.testing.assert_frame_equal(got, expected)
    report = pd.read_csv(tmp_path / "b" / "segments.csv")
    assert report.loc[0, "rule"].startswith("history is high")
    pd.testing.assert_series_equal(
        report["score"], pd.read_csv(tmp_path / "a" / "segments.csv")["score"]
    )
    # the saved model reads your names: apply needs no --map
    code, _, stderr = _run(
        capsys, "apply", renamed_csv, "--model", model, "--out", tmp_path / "c", "-q"
    )
    assert code == 0, stderr
    applied = pd.read_csv(tmp_path / "c" / "assignments.csv")
    assert applied["segment"].tolist() == expected["segment"].tolist()


def test_map_with_a_rules_file(capsys, renamed_csv, tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps(
            {
                "levels": {
                    "avg_order_value": {"names": ["s", "b"], "percentiles": [80]}
                },
                "segments": [
                    {"name": "Big", "when": [["avg_order_value", "==", "b"]]},
                    {"name": "Recent", "when": [["days_since_last_order", "<=", 14]]},
                ],
            }
        )
    )
    code, _, stderr = _run(
        capsys,
        "segment",
        renamed_csv,
        "--out",
        tmp_path / "o",
        "--rules",
        rules,
        *MAP_ARGS,
        "--min-size",
        0,
        "--no-html",
    )
    assert code == 0, stderr
    report = pd.read_csv(tmp_path / "o" / "segments.csv")
    assert report["segment"].tolist() == ["Big", "Recent", "Other"]
    assert report.loc[1, "rule"] == "recency <= 14 AND not in segment 1"


@pytest.mark.parametrize(
    "maps, match",
    [
        (["history"], "'history' is not YOUR_COLUMN=PRESET_COLUMN"),
        (["=avg_order_value"], "is not YOUR_COLUMN=PRESET_COLUMN"),
        (["history="], "is not YOUR_COLUMN=PRESET_COLUMN"),
        (
            ["history=aov"],
            "'aov' is not a preset column; the preset's columns are avg_order_value, "
            "engagement_score, profitability_score, days_since_last_order",
        ),
        (["avg_order_value=history"], "did you mean --map history=avg_order_value"),
        (
            ["history=avg_order_value", "h2=avg_order_value"],
            "the preset column 'avg_order_value' is mapped twice",
        ),
        (
            ["history=avg_order_value", "history=engagement_score"],
            "your column 'history' is mapped twice",
        ),
    ],
)
def test_malformed_map_is_an_argparse_error(capsys, renamed_csv, tmp_path, maps, match):
    argv = ["segment", renamed_csv, "--out", tmp_path / "o"]
    for item in maps:
        argv += ["--map", item]
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --map" in err and match in err
    assert not (tmp_path / "o").exists()


def test_map_onto_a_column_the_preset_reads_is_refused(capsys, csv_path, tmp_path):
    code, _, stderr = _run(
        capsys,
        "segment",
        csv_path,
        "--out",
        tmp_path / "o",
        "--map",
        "engagement_score=avg_order_value",
    )
    assert code == 2
    line = _error_line(stderr)
    assert "--map" in line and "would both read the column 'engagement_score'" in line


def test_missing_column_suggests_map(capsys, renamed_csv, tmp_path):
    code, _, stderr = _run(capsys, "segment", renamed_csv, "--out", tmp_path / "o")
    assert code == 2
    line = _error_line(stderr)
    assert "missing column(s) 'avg_order_value', 'days_since_last_order'" in line
    assert "'avg_order_value' is the preset's column for average order value" in line
    assert "pass --map YOUR_COLUMN=avg_order_value" in line

    # a mapped name the data does not have is named with its --map
    code, _, stderr = _run(
        capsys,
        "segment",
        renamed_csv,
        "--out",
        tmp_path / "o",
        "--map",
        "hist=avg_order_value",
        "--map",
        "recency=days_since_last_order",
    )
    assert code == 2
    line = _error_line(stderr)
    assert "missing column(s) 'hist'" in line
    assert "given by --map hist=avg_order_value" in line
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(not HILLSTROM.is_file(), reason="Hillstrom data not available")
def test_hillstrom_needs_engagement_and_profitability(capsys, tmp_path):
    code, _, stderr = _run(
        capsys, "segment", HILLSTROM, "--out", tmp_path / "o", *MAP_ARGS
    )
    assert code == 2
    line = _error_line(stderr)
    assert "missing column(s) 'engagement_score', 'profitability_score'" in line
    assert "--map YOUR_COLUMN=engagement_score" in line


def test_segment_help_lists_the_preset_columns_and_map(capsys):
    from sklearn_mece.presets import PRESET_COLUMNS

    with pytest.raises(SystemExit) as exit_info:
        main(["segment", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--map YOUR_COLUMN=PRESET_COLUMN" in text
    for name, meaning in PRESET_COLUMNS.items():
        line = next(line for line in text.splitlines() if line.strip().startswith(name))
        assert meaning in line, line
    # laid out as written, not re-wrapped
    assert "  sklearn-mece segment data.csv --out out \\\n" in text
    assert "--map history=avg_order_value --map recency=days_since_last_order" in text
