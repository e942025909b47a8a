"""``sklearn-mece sql``: the query of a saved model, printed."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

duckdb = pytest.importorskip("duckdb")
sqlglot = pytest.importorskip("sqlglot")

from sklearn_mece import load, make_cart_abandoner_pipeline, save  # noqa: E402
from sklearn_mece.cli import main  # noqa: E402
from sklearn_mece.datasets import make_cart_abandoners  # noqa: E402
from sklearn_mece.sql import DIALECTS, to_sql  # noqa: E402


@pytest.fixture(scope="module")
def users():
    data = make_cart_abandoners(3_000, random_state=0).drop(columns="abandoned_at")
    data.loc[::50, "days_since_last_order"] = np.nan
    return data


@pytest.fixture(scope="module")
def model_path(users, tmp_path_factory):
    pipe = make_cart_abandoner_pipeline(min_size=50, segments__nan_segment="Unknown")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(users)
    path = tmp_path_factory.mktemp("model") / "model.skops"
    save(pipe, path)
    return path


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("dialect", DIALECTS)
def test_prints_the_query_of_the_saved_model(capsys, model_path, dialect):
    code, out, err = _run(
        capsys,
        "sql",
        "--model",
        model_path,
        "--table",
        "shop.customers",
        "--dialect",
        dialect,
        "--id-col",
        "user_id",
    )
    assert code == 0, err
    want = to_sql(
        load(model_path), "shop.customers", dialect=dialect, id_columns=["user_id"]
    )
    assert out == want + "\n"
    assert len(sqlglot.parse(out, read=dialect)) == 1


def test_query_labels_rows_as_the_model_does(capsys, model_path, users):
    code, out, err = _run(
        capsys,
        "sql",
        "--model",
        model_path,
        "--table",
        "customers",
        "--id-col",
        "user_id",
        "--levels",
    )
    assert code == 0, err
    con = duckdb.connect()
    con.register("customers", users)
    got = con.execute(out).df().set_index("user_id").loc[users["user_id"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = load(model_path).transform(users)
    assert (got["segment"].to_numpy() == want["segment"].astype(str).to_numpy()).all()
    assert (want["segment"] == "Unknown").any()
    assert np.array_equal(
        got["segment_score"].to_numpy(), want["segment_score"].to_numpy()
    )
    assert got["segment_tier"].tolist() == want["segment_tier"].astype(str).tolist()
    assert (
        got["avg_order_value_level"].tolist() == want["avg_order_value_level"].tolist()
    )


def test_default_dialect_is_duckdb_and_id_columns_repeat(capsys, model_path):
    code, out, _ = _run(
        capsys,
        "sql",
        "--model",
        model_path,
        "--table",
        "t",
        "--id-col",
        "user_id",
        "--id-col",
        "avg_order_value",
    )
    assert code == 0
    assert (
        out
        == to_sql(load(model_path), "t", id_columns=["user_id", "avg_order_value"])
        + "\n"
    )


def test_errors_are_one_line(capsys, model_path, tmp_path):
    code, out, err = _run(
        capsys, "sql", "--model", tmp_path / "none.skops", "--table", "t"
    )
    assert code == 2 and not out
    assert (
        err.startswith("sklearn-mece: error: cannot load model")
        and "no such file" in err
    )
    code, out, err = _run(
        capsys, "sql", "--model", model_path, "--table", "t", "--id-col", "segment"
    )
    assert code == 2 and not out
    assert err.count("\n") == 1 and "appear twice" in err
    code, out, err = _run(capsys, "sql", "--model", model_path, "--table", "a..b")
    assert code == 2 and "table" in err
    with pytest.raises(SystemExit):
        main(["sql", "--model", str(model_path), "--table", "t", "--dialect", "mysql"])


def test_console_script_module(model_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sklearn_mece",
            "sql",
            "--model",
            str(model_path),
            "--table",
            "customers",
            "--dialect",
            "postgres",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("SELECT ")
    assert len(sqlglot.parse(result.stdout, read="postgres")) == 1
