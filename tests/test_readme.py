"""The README's two set-up commands are the ones CI and users run."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Set up and run", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_readme_has_exactly_two_setup_commands():
    commands = _readme_commands()
    assert len(commands) == 2
    assert "sklearn-mece demo" in commands[0] and "pip install" in commands[0]
    assert "pytest" in commands[1] and "pip install" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert _readme_commands()[1] in ci


def test_readme_python_examples_run(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.+?)\n```", text, flags=re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme"})


def test_the_command_line_synopsis_lists_every_option():
    """The README's "Command line" block names every option of each command,
    as its --help does (options were added without it)."""
    import argparse

    from sklearn_mece.cli import build_parser

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Command line", 1)[1].split("```", 2)[1]
    synopses = re.split(r"\n(?=sklearn-mece )", block.strip())
    by_command = {s.split()[1]: s for s in synopses}
    (sub,) = [
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ]
    assert set(by_command) == set(sub.choices)
    for command, parser in sub.choices.items():
        for action in parser._actions:
            options = [o for o in action.option_strings if o not in ("-h", "--help")]
            if options:
                named = [
                    o
                    for o in options
                    if re.search(
                        rf"(?<![\w-]){re.escape(o)}(?![\w-])", by_command[command]
                    )
                ]
                assert named, (command, options)
