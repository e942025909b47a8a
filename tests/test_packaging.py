"""What a packager and a newcomer get: the source distribution holds the
licence notice, the changes, the examples and the templates; the command line
says its version."""

import subprocess
import sys
import tarfile

import pytest
from _shared import ROOT

import sklearn_mece
from sklearn_mece._version import DOCS_URL


def test_the_sdist_ships_the_licence_the_changes_and_the_examples(tmp_path):
    pytest.importorskip("build", reason="the sdist is built with 'build' ([dev])")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--sdist",
            "--outdir",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (sdist,) = tmp_path.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
        (pkg_info,) = [
            m
            for m in archive.getmembers()
            if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")
        ]
        metadata = archive.extractfile(pkg_info).read().decode("utf-8")
    examples = {
        p.relative_to(ROOT).as_posix() for p in (ROOT / "examples").glob("*.py")
    }
    templates = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "sklearn_mece" / "templates").glob("*.j2")
    }
    assert {"LICENSE", "CHANGELOG.md", "README.md"} <= names
    assert {
        "docs/conf.py",
        "docs/index.rst",
        "docs/api.rst",
        ".readthedocs.yaml",
    } <= names
    # the project URLs a package index shows: the published documentation
    assert f"Project-URL: Documentation, {DOCS_URL}/en/stable/" in metadata
    assert f"Project-URL: Changelog, {DOCS_URL}/en/stable/changelog.html" in metadata
    assert "sklearn_mece/schemas/rules.schema.json" in names
    assert examples and examples <= names
    assert templates and templates <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".skops")]
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "BSD 3-Clause License" in licence and "Neither the name" in licence


def test_the_command_line_says_its_version(capsys):
    from sklearn_mece.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"sklearn-mece {sklearn_mece.__version__}"


def test_without_matplotlib_the_demo_writes_everything_but_the_plots(tmp_path):
    """A plain install (no [plot] extra): the demo exits 0, writes every file,
    and the report says in one line how to get the plots."""
    from _shared import run_python

    code = f"""
import sys
sys.modules["matplotlib"] = None  # as on a machine without it: import fails
from sklearn_mece.cli import main
code = main(["demo", "--out", {str(tmp_path / "out")!r}, "--n-users", "3000",
             "--min-size", "50"])
print("exit", code)
"""
    printed = run_python(["-c", code], cwd=ROOT, timeout=300)
    assert "exit 0" in printed
    out = tmp_path / "out"
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert {"assignments.csv", "segments.csv", "segments.json", "report.html"} <= set(
        files
    )
    assert sum(f.startswith("audiences/") for f in files) == 6
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<img" not in page
    assert (
        "Drawing plots needs matplotlib: pip install &#39;sklearn-mece[plot]&#39;"
        in page
    )
    # the notes that stand for a plot with nothing to show stay
    assert "No observed lift: fit the scorer with" in page


def test_install_hints_only_for_what_is_missing(tmp_path, monkeypatch):
    """A missing optional package gets the pip hint; an installed one whose
    own import fails gets its error, not advice to install it again."""
    from sklearn_mece._base import optional_import

    with pytest.raises(ImportError, match=r"pip install 'sklearn-mece\[wings\]'"):
        optional_import("no_such_package.sub", feature="Flying", extra="wings")
    (tmp_path / "broken_pkg").mkdir()
    (tmp_path / "broken_pkg" / "__init__.py").write_text(
        "import a_dependency_it_lacks\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match="installed but failed to import") as err:
        optional_import("broken_pkg", feature="Flying", extra="wings")
    assert "a_dependency_it_lacks" in str(err.value)
    assert "pip install" not in str(err.value)


def test_every_plot_entry_point_says_how_to_get_matplotlib(monkeypatch):
    import pandas as pd

    from sklearn_mece import make_cart_abandoner_pipeline, segment_migration
    from sklearn_mece.datasets import make_cart_abandoners
    from sklearn_mece.report import plot_sizes, plots_unavailable, tier_colors

    before = make_cart_abandoners(600, random_state=0)
    after = make_cart_abandoners(600, random_state=1)
    pipe = make_cart_abandoner_pipeline(min_size=0).fit(before)
    migration = segment_migration(pipe, before, after, id_col="user_id", fit=False)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    for name in [m for m in sys.modules if m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    hint = r"pip install 'sklearn-mece\[plot\]'"
    assert "pip install 'sklearn-mece[plot]'" in plots_unavailable()
    with pytest.raises(ImportError, match=hint):
        tier_colors(["Tier 1"])
    with pytest.raises(ImportError, match=hint):
        plot_sizes(pd.DataFrame({"size": [1]}, index=["A"]))
    with pytest.raises(ImportError, match=hint):
        migration.plot()


def test_a_parquet_input_without_pyarrow_says_how_to_read_it(tmp_path, monkeypatch):
    pytest.importorskip("pyarrow")
    from sklearn_mece.cli import CLIError, read_table
    from sklearn_mece.datasets import make_cart_abandoners

    path = tmp_path / "users.parquet"
    make_cart_abandoners(100, random_state=0).to_parquet(path)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(CLIError, match=r"pip install 'sklearn-mece\[parquet\]'"):
        read_table(path)
