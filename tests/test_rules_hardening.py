"""Hardening of the rule model: rules files, malformed declarations, big rule
sets, and one meaning for every condition (what is applied is what is
described)."""

import copy
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sklearn_mece
from sklearn_mece import (
    HierarchicalSegmenter,
    LevelSpec,
    PercentileThresholder,
    RuleSet,
    _rules,
    load_rules,
)
from sklearn_mece._operators import OPERATORS
from sklearn_mece._rules import (
    MAX_RULES_FILE_BYTES,
    MAX_TABLE_SIZE,
    CompiledVariable,
    build_table,
    compile_rules,
    first_match,
    table_size,
)

SMALL = {
    "levels": {"aov": {"names": ["low", "medium", "high"], "percentiles": [40, 75]}},
    "segments": [{"name": "Big", "when": [["aov", "==", "high"]]}],
    "else": "Rest",
}

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# ---------------------------------------------------------------------------------
# 1. Rules files
# ---------------------------------------------------------------------------------
def _causes(exc):
    """Types of the exceptions chained below ``exc`` (``raise ... from``)."""
    found = []
    while exc.__cause__ is not None:
        exc = exc.__cause__
        found.append(type(exc))
    return found


def _load_in_child(path):
    """``load_rules(path)`` in a child process with 2 GiB of address space.

    Returns ``(exception type name, message)``. A load that blocks, or reads
    until memory runs out, cannot take the test run with it: the child is
    stopped (the test then fails) or hits ``MemoryError``.
    """
    resource = pytest.importorskip("resource")
    code = (
        "import sys\n"
        "from sklearn_mece import load_rules\n"
        "try:\n"
        "    load_rules(sys.argv[1])\n"
        "except BaseException as exc:\n"
        "    print(type(exc).__name__ + ': ' + str(exc))\n"
        "else:\n"
        "    print('loaded')\n"
    )

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    env = dict(
        os.environ,
        PYTHONPATH=str(Path(sklearn_mece.__file__).parents[1]),
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=limit_memory,
            env=env,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"load_rules({str(path)!r}) did not return (it blocks)")
    name, _, message = done.stdout.strip().partition(": ")
    return name, message


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_device_file_is_refused_without_reading_it():
    name, message = _load_in_child("/dev/zero")
    assert name == "ValueError", message
    assert "'/dev/zero'" in message and "not a regular file" in message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "rules.json"
    os.mkfifo(fifo)
    name, message = _load_in_child(fifo)
    assert name == "ValueError", message
    assert "FIFO" in message and "not a regular file" in message


def test_directory_is_refused(tmp_path):
    with pytest.raises(ValueError, match="it is a directory, not a regular file"):
        load_rules(tmp_path)


def test_file_size_is_capped(tmp_path):
    # a valid file of exactly the limit loads; one byte more is refused
    text = json.dumps(SMALL)
    exact = tmp_path / "exact.json"
    exact.write_bytes(text.encode() + b" " * (MAX_RULES_FILE_BYTES - len(text)))
    assert load_rules(exact) == RuleSet.from_dict(SMALL)
    big = tmp_path / "big.json"
    big.write_bytes(text.encode() + b" " * (MAX_RULES_FILE_BYTES + 1 - len(text)))
    with pytest.raises(ValueError) as info:
        load_rules(big)
    message = str(info.value)
    assert str(big) in message
    assert f"limit of {MAX_RULES_FILE_BYTES:,} bytes" in message
    assert "MAX_RULES_FILE_BYTES" in message


def test_limit_is_a_documented_constant():
    assert MAX_RULES_FILE_BYTES == 1 << 20
    assert _rules.MAX_RULES_FILE_BYTES is MAX_RULES_FILE_BYTES
    assert "1 MiB" in load_rules.__doc__


@pytest.mark.parametrize(
    "suffix, text",
    [
        (".json", "[" * 100_000 + "]" * 100_000),
        (".json", '{"segments": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        (".toml", "a = " + "[" * 100_000 + "]" * 100_000),
        (".toml", "a = " + "{b = " * 20_000 + "1" + "}" * 20_000),
    ],
)
def test_deep_nesting_is_a_value_error(tmp_path, suffix, text):
    path = tmp_path / f"deep{suffix}"
    path.write_text(text)
    with pytest.raises(ValueError, match="nested too deeply") as info:
        load_rules(path)
    assert str(path) in str(info.value)
    assert RecursionError in _causes(info.value)
    if suffix == ".json":
        with pytest.raises(ValueError, match="nested too deeply"):
            RuleSet.from_json(text)


def test_invalid_utf8_is_a_value_error_naming_the_file(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"segments": [{"name": "Caf\xe9"}]}'.encode("latin-1"))
    with pytest.raises(ValueError) as info:
        load_rules(path)
    assert type(info.value) is ValueError
    assert str(path) in str(info.value) and "not valid UTF-8" in str(info.value)
    assert UnicodeDecodeError in _causes(info.value)


def test_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(SMALL).encode())
    assert load_rules(path) == RuleSet.from_dict(SMALL)


@pytest.mark.parametrize(
    "text, cause, fragment",
    [
        ("5", TypeError, "Rules must be a dict"),
        ('"rules"', TypeError, "Rules must be a dict"),
        ('{"segments": [{"name": "A", "when": 5}]}', TypeError, "segments[0]"),
        ('{"levels": [1, 2]}', TypeError, "'levels' must be a mapping"),
        ('{"segments": [], "segments": [{"name": "A"}]}', ValueError, "given twice"),
        (
            '{"segments": [{"name": "A", "when": [["x", "<", NaN]]}]}',
            ValueError,
            "finite",
        ),
    ],
)
def test_every_failure_of_a_file_is_a_value_error_naming_it(
    tmp_path, text, cause, fragment
):
    path = tmp_path / "rules.json"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        load_rules(path)
    assert type(info.value) is ValueError
    assert str(path) in str(info.value) and fragment in str(info.value)
    assert cause in _causes(info.value)


def test_cli_reports_a_bad_rules_file_in_one_line(tmp_path, capsys):
    from sklearn_mece.cli import main

    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    code = main(
        ["segment", str(tmp_path / "x.csv"), "--out", str(tmp_path / "o")]
        + ["--rules", str(path)]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "bad rules file" in err and "nested too deeply" in err
    assert "Traceback" not in err


# ---------------------------------------------------------------------------------
# 2. and 5. Malformed declarations: where, and what was expected
# ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data, error, fragments",
    [
        (
            {"segments": [{"name": "A", "when": 5}]},
            TypeError,
            ["segments[0]", "Segment 'A'", "'when' must be a list of conditions"],
        ),
        ({"levels": [1, 2]}, TypeError, ["'levels' must be a mapping", "list [1, 2]"]),
        (
            {"segments": [{"name": "A", "when": [[["x"], "<", 1]]}]},
            TypeError,
            ["segments[0]", "Segment 'A'", "when[0]", "column must be a name"],
        ),
        (
            {"segments": [{"name": "A"}, {"name": "B", "when": [["x", "<", None]]}]},
            TypeError,
            [
                "segments[1]",
                "Segment 'B'",
                "when[0]",
                "must be a string (a level name or a text) or a number",
            ],
        ),
        (
            {"segments": [{"name": "A", "when": [["x", "<", 10**400]]}]},
            ValueError,
            ["segments[0]", "when[0]", "finite number within the float range"],
        ),
        (
            {"segments": [{"name": "A", "when": [["x", "<"]]}]},
            ValueError,
            ["segments[0]", "when[0]", "[column, op, value]", "2 item(s)"],
        ),
        (
            {
                "segments": [
                    {"name": "A", "when": [{"column": "x", "value": 1, "o": 1}]}
                ]
            },
            ValueError,
            ["segments[0]", "when[0]", "unknown keys ['o']"],
        ),
        (
            {"segments": [{"name": "A", "when": {"x": {"op": "<"}}}]},
            TypeError,
            [
                "segments[0]",
                "when['x']",
                "must be a string (a level name or a text) or a number",
            ],
        ),
        (
            {"levels": {"aov": {"percentiles": [10**400]}}},
            ValueError,
            ["levels['aov']", "[0, 100]"],
        ),
        (
            {"levels": {"aov": {"percentiles": [None]}}},
            TypeError,
            ["levels['aov']", "'percentiles' must be numbers"],
        ),
        (
            {"levels": {"aov": {"names": ["a", "b"], "percentiles": [50], "x": 1}}},
            ValueError,
            ["levels['aov']", "unknown keys ['x']"],
        ),
        (
            {"levels": {"aov": {}}},
            ValueError,
            ["levels['aov']", "'names' or 'percentiles'"],
        ),
        (
            {"levels": {"aov": ["low", ["high"]]}},
            TypeError,
            ["levels['aov']", "'names'[1]", "non-empty string"],
        ),
        (
            {"levels": {"aov": ["low", "high", "low"]}},
            ValueError,
            ["levels['aov']", "two distinct names"],
        ),
        (
            {"segments": [{"name": "A", "description": 5}]},
            TypeError,
            ["segments[0]", "'description' must be a string"],
        ),
        ({"else": None}, TypeError, ["'else'", "segment name or a segment dict"]),
        ({"else": {"name": "E", "parent": "E"}}, ValueError, ["'else'", "parent"]),
        ({"segments": None}, TypeError, ["'segments' must be a list"]),
        ({"levels": None}, TypeError, ["'levels' must be a mapping"]),
    ],
)
def test_malformed_structure_says_where_and_what(data, error, fragments):
    with pytest.raises(error) as info:
        RuleSet.from_dict(data)
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"levels": {"aov": {"names": "high"}}}, "'names' must be a list"),
        ({"levels": {"aov": {"names": "hl"}}}, "'names' must be a list"),
        (
            {"levels": {"aov": {"names": {"low": 0, "high": 1}}}},
            "'names' must be a list",
        ),
        ({"levels": {"aov": {"names": b"hl"}}}, "'names' must be a list"),
        ({"levels": {"aov": {"names": {"low", "high"}}}}, "'names' must be a list"),
        ({"levels": {"aov": "hl"}}, "A level declaration must be a list"),
        ({"levels": "aov"}, "'levels' must be a mapping"),
        ({"levels": {"aov": {"percentiles": "50"}}}, "'percentiles' must be a list"),
        (
            {"levels": {"aov": {"names": ["l", "h"], "percentiles": "5"}}},
            "must be a list",
        ),
        ({"segments": "AB"}, "'segments' must be a list"),
        ({"segments": [{"name": "A", "when": "abc"}]}, "'when' must be a list"),
        ({"segments": [{"name": "A", "when": ["x<1"]}]}, "A condition must be"),
        ({"segments": [{"name": "A", "when": [["x", "in", "ab"]]}]}, "list of values"),
        ({"segments": [{"name": "A", "when": {"x": ["in", "ab"]}}]}, "list of values"),
    ],
)
def test_a_string_or_mapping_is_never_taken_for_a_list(data, fragment):
    with pytest.raises(TypeError, match=re.escape(fragment)):
        RuleSet.from_dict(data)


def test_level_spec_keeps_a_list_of_names():
    assert LevelSpec(["lo", "hi"]).names == ("lo", "hi")
    assert LevelSpec(np.array(["lo", "hi"])).names == ("lo", "hi")
    assert LevelSpec(["lo", "mid", "hi"], np.array([40, 75])).percentiles == (40, 75)
    with pytest.raises(TypeError, match="'names' must be a list"):
        LevelSpec("hi")


# ---------------------------------------------------------------------------------
# 6. Names, keys, parents
# ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data, error, fragment",
    [
        ({"segments": [{"name": "A"}, {"name": "A"}]}, ValueError, "Duplicate segment"),
        ({"segments": [{"name": "Other"}]}, ValueError, "Duplicate segment names"),
        ({"segments": [{"name": ""}]}, ValueError, "non-empty string"),
        ({"segments": [{"name": 5}]}, TypeError, "non-empty string"),
        ({"segments": [{"name": None}]}, TypeError, "non-empty string"),
        ({"segments": [{"when": []}]}, ValueError, "missing keys ['name']"),
        ({"else": ""}, ValueError, "non-empty string"),
        (
            {"segments": [{"name": "A", "parent": "Z"}]},
            ValueError,
            "unknown parent 'Z'",
        ),
        ({"segments": [{"name": "A", "parent": 1}]}, TypeError, "'parent'"),
        ({"segments": [{"name": "A", "parent": "A"}]}, ValueError, "its own parent"),
        (
            {"segments": [{"name": "A", "parent": "B"}, {"name": "B", "parent": "A"}]},
            ValueError,
            "Parent cycle",
        ),
        ({"segments": [{"name": "A", "colour": 1}]}, ValueError, "unknown keys"),
        ({"segs": []}, ValueError, "Unknown keys in rules"),
        ({1: []}, ValueError, "Unknown keys in rules"),
        ({"levels": {"": ["a", "b"]}}, ValueError, "non-empty string"),
        ({"levels": {1: ["a", "b"]}}, TypeError, "non-empty string"),
        ({"levels": {"aov": ["", "b"]}}, ValueError, "non-empty string"),
        ({"segments": [{"name": "A", "when": [["", "<", 1]]}]}, ValueError, "column"),
        ({"segments": [{"name": "A", "when": [[True, "<", 1]]}]}, TypeError, "column"),
        ({"else": {"name": "E", "when": [["x", "<", 1]]}}, ValueError, "ELSE"),
    ],
)
def test_names_keys_and_parents(data, error, fragment):
    with pytest.raises(error, match=re.escape(fragment)):
        RuleSet.from_dict(data)


def test_integer_column_positions_stay_allowed():
    rules = RuleSet.from_dict(
        {"segments": [{"name": "A", "when": [[np.int64(2), "in", np.array([1, 2])]]}]}
    )
    cond = rules.segments[0].conditions[0]
    assert cond.column == 2 and type(cond.column) is int
    assert cond.value == (1, 2)
    assert RuleSet.from_json(rules.to_json()) == rules


# ---------------------------------------------------------------------------------
# 2. Fuzz: any JSON value anywhere gives ValueError/TypeError, never another error
# ---------------------------------------------------------------------------------
KEYS = (
    "levels segments else name when parent description strategy column op value "
    "names percentiles aov aov_level days x"
).split()
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**400, -(10**400), 2**63, 0, 1, 2, 40, 75])
    | st.floats()
    | TEXT
    | st.sampled_from([*OPERATORS, "low", "medium", "high", *KEYS])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | TEXT, inner, max_size=4)
    ),
    max_leaves=24,
)
LOCATIONS = ("rules", "Rules", "segments", "Segment", "segment", "levels", "else")


def _outcome(fn, *args):
    """``(result, None)`` or ``(None, error)``; only ValueError/TypeError allowed."""
    try:
        return fn(*args), None
    except (ValueError, TypeError) as exc:
        assert str(exc).strip(), f"empty message from {type(exc).__name__}"
        return None, exc


class _NotToml(Exception):
    pass


def _toml_string(s):
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        if not -(2**63) <= v < 2**63:
            raise _NotToml
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        items = (f"{_toml_string(k)} = {_toml_value(x)}" for k, x in v.items())
        return "{" + ", ".join(items) + "}"
    raise _NotToml  # None


def _toml_dumps(data):
    """TOML text of a dict (inline tables), or None when TOML cannot say it."""
    if not isinstance(data, dict):
        return None
    try:
        lines = [f"{_toml_string(k)} = {_toml_value(v)}" for k, v in data.items()]
    except _NotToml:
        return None
    text = "\n".join(lines) + "\n"
    assert tomllib.loads(text) == data or _has_nan(data)
    return text


def _has_nan(v):
    if isinstance(v, float):
        return math.isnan(v)
    if isinstance(v, list):
        return any(_has_nan(x) for x in v)
    if isinstance(v, dict):
        return any(_has_nan(x) for x in v.values())
    return False


def _check_files_agree(data, rules, error):
    """``load_rules`` of ``data`` as JSON (and TOML) agrees with ``from_dict``."""
    texts = [(".json", json.dumps(data))]
    toml = _toml_dumps(data)
    if toml is not None:
        texts.append((".toml", toml))
    with tempfile.TemporaryDirectory() as folder:
        for suffix, text in texts:
            path = os.path.join(folder, "rules" + suffix)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            loaded, file_error = _outcome(load_rules, path)
            if error is None:
                assert file_error is None, file_error
                assert loaded == rules
            else:
                assert type(file_error) is ValueError
                assert path in str(file_error) and str(error) in str(file_error)
                assert file_error.__cause__ is not None


def _check_valid(rules):
    """A declaration that was accepted round-trips and compiles cleanly."""
    assert RuleSet.from_dict(rules.to_dict()) == rules
    assert RuleSet.from_json(rules.to_json()) == rules
    _outcome(compile_rules, rules, lambda column: 0)
    _outcome(rules.describe)


@FUZZ
@given(JSON)
def test_any_json_value_gives_a_clear_error_or_valid_rules(data):
    rules, error = _outcome(RuleSet.from_dict, data)
    if error is None:
        _check_valid(rules)
    else:
        assert any(word in str(error) for word in LOCATIONS), error
    _check_files_agree(data, rules, error)


@FUZZ
@given(st.dictionaries(st.sampled_from(["levels", "segments", "else"]), JSON))
def test_any_json_value_under_the_top_keys(data):
    rules, error = _outcome(RuleSet.from_dict, data)
    if error is None:
        _check_valid(rules)
    else:
        assert any(word in str(error) for word in LOCATIONS), error
    _check_files_agree(data, rules, error)


# -- structured fuzz: a valid skeleton with one position swapped ----------------------
NAMES = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=6)
FEATURES = ("aov", "eng", "prof")
RAW = ("days", "x", 3)
NUMBERS = st.integers(-(10**6), 10**6) | st.floats(-1e9, 1e9, allow_nan=False)
COMPARE_OPS = st.sampled_from([n for n, op in OPERATORS.items() if not op.takes_list])
SET_OPS = st.sampled_from([n for n, op in OPERATORS.items() if op.takes_list])
TEXT_OPS = st.sampled_from(["==", "!="])
TEXTS = ("country", "channel")


@st.composite
def level_decls(draw):
    names = draw(st.lists(NAMES, min_size=2, max_size=4, unique=True))
    form = draw(st.sampled_from(["list", "names", "both", "percentiles"]))
    qs = sorted(
        draw(
            st.lists(
                st.floats(0, 100),
                min_size=len(names) - 1,
                max_size=len(names) - 1,
                unique=True,
            )
        )
    )
    if form == "list":
        return names
    if form == "names":
        return {"names": names}
    if form == "percentiles":
        return {"percentiles": qs}
    return {"names": names, "percentiles": qs}


def _level_names(decl):
    spec = LevelSpec.from_obj(decl)
    return list(spec.names)


@st.composite
def conditions(draw, levels):
    kinds = ["raw", "text"] + (["level", "code"] if levels else [])
    kind = draw(st.sampled_from(kinds))
    as_set = draw(st.booleans())
    if kind == "raw":
        column = draw(st.sampled_from(RAW))
        pool = NUMBERS
    elif kind == "text":  # a text test: text has no order
        column = draw(st.sampled_from(TEXTS))
        if as_set:
            return [column, draw(SET_OPS), draw(st.lists(TEXT, max_size=3))]
        return [column, draw(TEXT_OPS), draw(TEXT)]
    else:
        feature = draw(st.sampled_from(sorted(levels)))
        names = _level_names(levels[feature])
        if kind == "level":
            column, pool = feature, st.sampled_from(names)
        else:
            column, pool = feature + "_level", st.integers(0, len(names) - 1)
    if as_set:
        op, value = draw(SET_OPS), draw(st.lists(pool, max_size=3))
    else:
        op, value = draw(COMPARE_OPS), draw(pool)
    if draw(st.booleans()):
        return {"column": column, "op": op, "value": value}
    return [column, op, value]


@st.composite
def valid_rules(draw):
    features = draw(st.lists(st.sampled_from(FEATURES), max_size=3, unique=True))
    levels = {f: draw(level_decls()) for f in features}
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    else_name, names = names[-1], names[:-1]
    segments = []
    for i, name in enumerate(names):
        seg = {"name": name, "when": draw(st.lists(conditions(levels), max_size=3))}
        parent = draw(st.sampled_from([None, else_name, *names[:i]]))
        if parent is not None:
            seg["parent"] = parent
        if draw(st.booleans()):
            seg["description"] = draw(TEXT)
        segments.append(seg)
    data = {"segments": segments}
    if levels or draw(st.booleans()):
        data["levels"] = levels
    if draw(st.booleans()):
        data["else"] = {"name": else_name, "strategy": draw(TEXT)}
    else:
        data["else"] = else_name
    return data


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


def _mutate(data, path, action, new):
    data = copy.deepcopy(data)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if action == "delete":
        del parent[path[-1]]
    elif action == "add key" and isinstance(parent[path[-1]], dict):
        parent[path[-1]]["unexpected"] = new
    else:
        parent[path[-1]] = new
    return data


def _expected_locations(path):
    """Words an error caused at ``path`` must contain (one of them)."""
    if path[0] == "segments":
        return ("segments", "Duplicate segment names", "Parent cycle")
    if path[0] == "levels":
        return ("levels", "segments[")
    return ("'else'", "Duplicate segment names", "segments[")


@FUZZ
@given(valid_rules())
def test_valid_rules_round_trip(data):
    rules, error = _outcome(RuleSet.from_dict, data)
    assert error is None, error
    _check_valid(rules)
    variables, conds = compile_rules(rules, lambda column: 0)
    assert len(conds) == len(rules.segments)
    rules.describe()
    _check_files_agree(data, rules, None)
    _check_files_agree(rules.to_dict(), rules, None)


@FUZZ
@given(valid_rules(), st.data())
def test_one_swapped_position_gives_a_clear_error_or_valid_rules(data, draw):
    # every position below the root (the root itself: the test above)
    path = draw.draw(st.sampled_from(list(_paths(data))[1:]), label="path")
    action = draw.draw(st.sampled_from(["replace", "delete", "add key"]))
    mutated = _mutate(data, path, action, draw.draw(JSON, label="new value"))
    rules, error = _outcome(RuleSet.from_dict, mutated)
    if error is None:
        _check_valid(rules)
    else:
        expected = _expected_locations(path)
        assert any(word in str(error) for word in expected), (path, error)
    _check_files_agree(mutated, rules, error)


# ---------------------------------------------------------------------------------
# 3. Rule sets too big for a lookup table
# ---------------------------------------------------------------------------------
def _comparisons(n):
    return [CompiledVariable("compare", "x", 0, op="<", operands=(1,))] * n


def _levels(n_levels, n):
    return [CompiledVariable("level", "x_level", 0, n_levels=n_levels)] * n


@pytest.mark.parametrize(
    "variables",
    [
        _comparisons(13),
        _comparisons(646),
        _comparisons(647),
        _comparisons(100_000),
        _levels(2, 700),
        _levels(10**6, 2),
        _comparisons(5) + _levels(126, 300),
    ],
    ids=["13", "646", "647", "100000", "700 levels", "2 huge levels", "mixed"],
)
def test_too_big_a_table_is_not_built(variables):
    conds = [[(0, [1])]]
    assert table_size(variables) > MAX_TABLE_SIZE
    assert build_table(variables, conds) is None


def test_table_size_is_the_product_of_domains():
    variables = _comparisons(3) + _levels(4, 1)
    assert table_size(variables) == 3**3 * 5
    assert table_size(_comparisons(12)) == 3**12 <= MAX_TABLE_SIZE
    assert table_size(_comparisons(13)) > MAX_TABLE_SIZE


def test_many_comparisons_segment_row_by_row():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.uniform(0, 1000, 3000), "y": rng.uniform(0, 1, 3000)})
    cut = np.linspace(0, 1000, 701)[1:]
    segments = [
        {"name": f"s{i}", "when": [["x", "<", float(c)], ["y", ">=", 0.5]]}
        for i, c in enumerate(cut)
    ]
    seg = HierarchicalSegmenter({"segments": segments, "else": "rest"}).fit(X)
    assert seg.rule_table_ is None
    x, y = X["x"].to_numpy(), X["y"].to_numpy()
    expected = np.where(y >= 0.5, np.searchsorted(cut, x, side="right"), len(cut))
    expected = np.minimum(expected, len(cut))
    assert np.array_equal(np.asarray(seg.transform(X))[:, -1], expected)
    assert seg.segment_sizes_.sum() == len(X)


def test_level_feature_with_many_levels_compiles_exactly():
    names = [f"l{i}" for i in range(40_000)]
    rules = RuleSet.from_dict(
        {
            "levels": {"a": names},
            "segments": [{"name": "top", "when": [["a", ">=", "l39998"]]}],
        }
    )
    variables, conds = compile_rules(rules, lambda column: 0)
    table = build_table(variables, conds)
    assert table.size == variables[0].domain == 40_001
    assert table[0] == -1  # slot 0: missing
    assert (table[1:39_999] == 1).all() and (table[39_999:] == 0).all()
    slots = np.arange(1, 40_001)[:, None]
    assert np.array_equal(table[1:], first_match(slots, conds))


# ---------------------------------------------------------------------------------
# 4. A condition on a declared feature: one meaning, applied as described
# ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "condition",
    [
        ["aov", ">=", 2],
        ["aov", "==", 236.475],
        ["aov", "in", [1, 2]],
        ["aov", "not in", ["low", 0]],
    ],
)
def test_a_number_on_a_declared_level_feature_is_refused(condition):
    data = copy.deepcopy(SMALL)
    data["segments"].append({"name": "Odd", "when": [["days", "<", 9], condition]})
    with pytest.raises(ValueError) as info:
        RuleSet.from_dict(data)
    message = str(info.value)
    assert "segments[1]" in message and "Segment 'Odd'" in message
    assert "when[1]" in message and "'aov' is declared under 'levels'" in message
    assert "tested by level name" in message and "'aov_level'" in message
    assert "compare the raw value" in message


def test_unknown_level_name_is_refused_at_construction():
    data = copy.deepcopy(SMALL)
    data["segments"][0]["when"] = [["aov", "in", ["high", "huge"]]]
    with pytest.raises(ValueError, match=r"segments\[0\].*unknown level 'huge'"):
        RuleSet.from_dict(data)


def _described_mask(text, values):
    """Rows the words ``(lo <= aov < hi or aov >= x)`` of ``describe`` select."""
    words = re.search(r"\((.*)\)", text).group(1)
    mask = np.zeros(len(values), dtype=bool)
    for part in words.split(" or "):
        number = r"(-?[\d,.]+)"
        if m := re.fullmatch(number + r" <= aov < " + number, part):
            lo, hi = (float(g.replace(",", "")) for g in m.groups())
            mask |= (values >= lo) & (values < hi)
        elif m := re.fullmatch(r"aov >= " + number, part):
            mask |= values >= float(m.group(1).replace(",", ""))
        elif m := re.fullmatch(r"aov < " + number, part):
            mask |= values < float(m.group(1).replace(",", ""))
        else:
            raise AssertionError(f"unexpected words {part!r}")
    return mask


@pytest.mark.parametrize(
    "condition",
    [
        ["aov", "==", "high"],
        ["aov", ">=", "medium"],
        ["aov", "<", "high"],
        ["aov", "not in", ["medium"]],
        ["aov_level", "==", 2],
        ["aov_level", ">=", 1],
        ["aov_level", "in", [0, 2]],
        ["aov_level", "!=", "low"],
    ],
)
def test_what_is_applied_is_what_is_described(condition):
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"aov": rng.integers(1, 400, 2000).astype(float)})
    rules = RuleSet.from_dict(
        {
            "levels": {
                "aov": {"names": ["low", "medium", "high"], "percentiles": [40, 75]}
            },
            "segments": [{"name": "S", "when": [condition]}],
        }
    )
    thresholds = PercentileThresholder(rules.percentiles()).set_output(
        transform="pandas"
    )
    levels = thresholds.fit_transform(X)
    seg = HierarchicalSegmenter(rules.to_dict(), output="names").fit(levels)
    text = seg.describe(cuts=thresholds)
    line = next(li for li in text.splitlines() if li.strip().startswith("- "))
    described = _described_mask(line, X["aov"].to_numpy())
    applied = seg.predict(levels) == "S"
    assert 0 < applied.sum() < len(X)
    assert np.array_equal(applied, described)
