"""The JSON Schema of rules files: shipped, in step with the loader, and what
an editor would flag, load_rules refuses with the place of the problem."""

import json
from importlib import resources

import pytest

from sklearn_mece import RFM_RULES, load_rules
from sklearn_mece._rules import RULES_SCHEMA_FILE, rules_schema
from sklearn_mece.presets import CART_ABANDONER_RULES

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is in [dev]")


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(
        resources.files("sklearn_mece").joinpath(RULES_SCHEMA_FILE).read_text("utf-8")
    )
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_shipped_schema_is_the_one_the_rule_model_describes():
    shipped = resources.files("sklearn_mece").joinpath(RULES_SCHEMA_FILE)
    assert json.loads(shipped.read_text("utf-8")) == rules_schema()


def _write(tmp_path, rules, name="rules.json"):
    path = tmp_path / name
    path.write_text(json.dumps(rules), encoding="utf-8")
    return path


VALID = {
    "preset": CART_ABANDONER_RULES.to_dict(),
    "rfm": RFM_RULES.to_dict(),
    "every form": {
        "$schema": "sklearn_mece/schemas/rules.schema.json",
        "levels": {
            "aov": {"percentiles": [40, 75]},
            "eng": ["low", "high"],
            "freq": {"names": ["few", "many"], "percentiles": [50]},
        },
        "domains": {"eng": {"min": 0, "max": 1}, "days": [0, None]},
        "segments": [
            {"name": "Top", "when": [["aov", "==", "high"], ["eng", "in", ["high"]]]},
            {"name": "Web", "when": {"channel": "web", "days": ["<=", 30]}},
            {
                "name": "Lapsing",
                "when": [{"column": "days", "op": ">", "value": 90}],
                "parent": "Web",
                "description": "why",
                "strategy": "what to do",
            },
            {"name": "Many", "when": {"freq": ["many"]}},
        ],
        "else": {"name": "Rest", "strategy": "newsletter"},
    },
    "a list of segments": [{"name": "Recent", "when": [["days", "<=", 30]]}],
}


@pytest.mark.parametrize("name", list(VALID))
def test_valid_rules_pass_the_schema_and_load(validator, tmp_path, name):
    rules = VALID[name]
    assert list(validator.iter_errors(rules)) == []
    assert load_rules(_write(tmp_path, rules)).names


# what an editor underlines as it is typed, and where load_rules says it is
INVALID = {
    "misspelt key": (
        {"segments": [{"name": "A", "wehn": [["x", "==", 1]]}]},
        "segments[0]",
    ),
    "unknown operator": (
        {"segments": [{"name": "A", "when": [["x", "=>", 1]]}]},
        "when[0]",
    ),
    "segment without a name": (
        {"segments": [{"when": [["x", "==", 1]]}]},
        "segments[0]",
    ),
    "condition of two items": (
        {"segments": [{"name": "A", "when": [["x", 1]]}]},
        "when[0]",
    ),
    "percentile above 100": (
        {"levels": {"x": {"percentiles": [40, 175]}}, "segments": []},
        "percentiles",
    ),
    "one level name": ({"levels": {"x": ["only"]}, "segments": []}, "levels"),
    "else with conditions": (
        {"segments": [], "else": {"name": "R", "when": [["x", "==", 1]]}},
        "else",
    ),
    "unknown top-level key": ({"segmnts": []}, "segmnts"),
    "domain of three bounds": ({"domains": {"x": [0, 1, 2]}, "segments": []}, "domain"),
}


@pytest.mark.parametrize("name", list(INVALID))
def test_invalid_rules_fail_the_schema_and_load_rules_says_where(
    validator, tmp_path, name
):
    rules, where = INVALID[name]
    assert list(validator.iter_errors(rules)), f"the schema accepts {name}"
    with pytest.raises(ValueError, match="rules.json") as error:
        load_rules(_write(tmp_path, rules))
    message = str(error.value)
    assert where in message, message


def _segment(**fields):
    return {"segments": [{"name": "A", **fields}], "else": "Other"}


# each: does load_rules accept it? The schema must say the same (found by a
# review that probed the first version of the schema with these)
AGREE = {
    "shorthand [in, list]": (_segment(when={"c": ["in", ["web", "app"]]}), True),
    "shorthand [not in, list]": (_segment(when={"c": ["not in", ["web"]]}), True),
    "shorthand [in, scalar]": (_segment(when={"c": ["in", "web"]}), False),
    "shorthand [<=, number]": (_segment(when={"days": ["<=", 30]}), True),
    "shorthand list of values": (_segment(when={"c": ["web", "app"]}), True),
    "shorthand empty list": (_segment(when={"c": []}), True),
    "in an empty list": (_segment(when=[["c", "in", []]]), True),
    "a boolean value": (_segment(when=[["flag", "==", True]]), False),
    "a boolean in the shorthand": (_segment(when={"flag": True}), False),
    "an empty column name": (_segment(when=[["", "<=", 3]]), False),
    "a column position": (_segment(when=[[1, "<=", 3]]), True),
    "a list for ==": (_segment(when=[{"column": "c", "value": ["a", "b"]}]), False),
    "a list for in, dict form": (
        _segment(when=[{"column": "c", "op": "in", "value": ["a"]}]),
        True,
    ),
    "a scalar for in, dict form": (
        _segment(when=[{"column": "c", "op": "in", "value": "a"}]),
        False,
    ),
    "null parent and description": (
        _segment(when=[["x", "<=", 1]], parent=None, description=None),
        True,
    ),
    "else with empty when and null parent": (
        {"segments": [], "else": {"name": "R", "when": [], "parent": None}},
        True,
    ),
    "else with conditions": (
        {"segments": [], "else": {"name": "R", "when": [["x", "==", 1]]}},
        False,
    ),
    "null names beside percentiles": (
        {"levels": {"x": {"names": None, "percentiles": [50]}}, "segments": []},
        True,
    ),
    "a non-string $schema": ({"$schema": 1, "segments": []}, False),
    "an empty feature name": ({"levels": {"": ["a", "b"]}, "segments": []}, False),
}


@pytest.mark.parametrize("name", list(AGREE))
def test_the_schema_and_the_loader_agree(validator, tmp_path, name):
    rules, loads = AGREE[name]
    assert (not list(validator.iter_errors(rules))) is loads, "the schema disagrees"
    if loads:
        ruleset = load_rules(_write(tmp_path, rules))
        # what the rule model writes back is valid against the schema too
        assert list(validator.iter_errors(json.loads(ruleset.to_json()))) == []
    else:
        with pytest.raises(ValueError):
            load_rules(_write(tmp_path, rules))


def test_a_rules_file_names_the_published_schema_an_editor_fetches(tmp_path):
    """The schema's $id is this version's page of the documentation site
    (.ci/run checks the built site holds the file there); a JSON rules file
    naming it as "$schema" validates against it and loads."""
    from sklearn_mece._version import DOCS_URL, docs_version

    schema = rules_schema()
    assert schema["$id"] == f"{DOCS_URL}/en/{docs_version()}/rules.schema.json"
    rules = {"$schema": schema["$id"], **CART_ABANDONER_RULES.to_dict()}
    # an editor resolves the address to the schema it fetched there
    jsonschema.Draft202012Validator(schema).validate(rules)
    path = _write(tmp_path, rules)
    assert load_rules(path) == CART_ABANDONER_RULES
    # TOML: the address on a comment line, as Taplo-based editors read it
    toml = tmp_path / "rules.toml"
    toml.write_text(
        f"#:schema {schema['$id']}\n"
        'else = "Other"\n[[segments]]\nname = "Big"\nwhen = [["aov", ">", 100]]\n',
        encoding="utf-8",
    )
    assert load_rules(toml).names == ["Big", "Other"]
