import json

import numpy as np
import pytest

from sklearn_mece import CART_ABANDONER_RULES, Condition, RuleSet, load_rules
from sklearn_mece._rules import MAX_TABLE_SIZE, build_table, compile_rules, first_match


def test_json_round_trip_of_preset_keeps_everything():
    text = CART_ABANDONER_RULES.to_json()
    again = RuleSet.from_json(text)
    assert again == CART_ABANDONER_RULES
    assert json.loads(again.to_json()) == json.loads(text)
    assert again.segments[0].strategy and again.else_segment.description


def test_toml_and_json_files(tmp_path):
    toml = tmp_path / "r.toml"
    toml.write_text(
        'else = "Other"\n'
        "[levels.aov]\n"
        'names = ["low", "high"]\n'
        "percentiles = [60]\n"
        "[[segments]]\n"
        'name = "Big"\n'
        'when = [["aov", "==", "high"]]\n'
        'description = "big baskets"\n'
    )
    rules = load_rules(toml)
    assert rules.names == ["Big", "Other"]
    assert rules.percentiles() == {"aov": (60.0,)}
    js = tmp_path / "r.json"
    js.write_text(rules.to_json())
    assert load_rules(js) == rules


def test_bad_rules_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="is not valid"):
        load_rules(bad)
    with pytest.raises(ValueError, match="Cannot read rules file"):
        load_rules(tmp_path / "missing.json")


def test_shorthand_when_dict():
    rules = RuleSet.from_dict(
        {
            "levels": {"aov": ["low", "medium", "high"]},
            "segments": [
                {"name": "A", "when": {"aov": ["medium", "high"], "days": ["<=", 30]}}
            ],
        }
    )
    conds = rules.segments[0].conditions
    assert conds == (
        Condition("aov", "in", ("medium", "high")),
        Condition("days", "<=", 30),
    )


@pytest.mark.parametrize(
    "data, error, msg",
    [
        ({"segments": [{"name": "A"}, {"name": "A"}]}, ValueError, "Duplicate segment"),
        ({"segments": [{"name": "A", "parent": "Z"}]}, ValueError, "unknown parent"),
        (
            {"segments": [{"name": "A", "parent": "B"}, {"name": "B", "parent": "A"}]},
            ValueError,
            "Parent cycle",
        ),
        (
            {"segments": [{"name": "A", "when": [["x", "~", 1]]}]},
            ValueError,
            "unknown operator",
        ),
        (
            {"segments": [{"name": "A", "when": [["x", "in", 1]]}]},
            TypeError,
            "'in' must be given a list of values",
        ),
        (
            {"segments": [{"name": "A", "when": [["x", "<", np.inf]]}]},
            ValueError,
            "finite",
        ),
        ({"segments": [{"name": "A", "color": 1}]}, ValueError, "unknown keys"),
        ({"segs": []}, ValueError, "Unknown keys"),
    ],
)
def test_invalid_declarations(data, error, msg):
    with pytest.raises(error, match=msg):
        RuleSet.from_dict(data)


def test_unknown_level_and_undeclared_level_names():
    # a level name is checked where the declaration is built ...
    with pytest.raises(ValueError, match="unknown level 'medium'"):
        RuleSet.from_dict(
            {
                "levels": {"aov": ["low", "high"]},
                "segments": [{"name": "A", "when": [["aov", "==", "medium"]]}],
            }
        )
    # ... and on a level column, whose suffix is known when compiling
    rules = RuleSet.from_dict(
        {
            "levels": {"aov": ["low", "high"]},
            "segments": [{"name": "A", "when": [["aov_level", "==", "medium"]]}],
        }
    )
    with pytest.raises(ValueError, match=r"Segment 'A'.*unknown level 'medium'"):
        compile_rules(rules, lambda c: 0)
    # a level name on an undeclared feature reads as a text test: the fit
    # then refuses it on a numeric column, saying to declare the levels
    rules = RuleSet.from_dict(
        {"segments": [{"name": "A", "when": [["eng", "==", "high"]]}]}
    )
    variables, _ = compile_rules(rules, lambda c: 0)
    assert [v.kind for v in variables] == ["text"]


def test_level_comparisons_compile_to_code_sets():
    rules = RuleSet.from_dict(
        {
            "levels": {"e": ["low", "medium", "high"]},
            "segments": [
                {"name": "A", "when": [["e", ">=", "medium"]]},
                {"name": "B", "when": [["e", "not in", ["high"]]]},
                {"name": "C", "when": [["e_level", "==", 0]]},
            ],
        }
    )
    variables, conds = compile_rules(rules, lambda c: 0)
    assert len(variables) == 1 and variables[0].column == "e_level"
    # slot = code + 1 (slot 0: missing)
    assert [c[0][1] for c in conds] == [[2, 3], [1, 2], [1]]


def test_table_and_row_evaluation_agree():
    rules = CART_ABANDONER_RULES
    variables, conds = compile_rules(rules, lambda c: 0)
    table = build_table(variables, conds)
    domains = [v.n_levels + 1 if v.kind == "level" else 3 for v in variables]
    assert domains == [v.domain for v in variables]
    assert table.size == np.prod(domains) < MAX_TABLE_SIZE
    slots = np.indices(domains).reshape(len(domains), -1).T
    direct = first_match(slots, conds)
    missing = (slots == 0).any(axis=1)
    assert np.array_equal(table[~missing], direct[~missing])
    assert (table[missing] == -1).all()


def test_describe_shows_cut_values():
    text = CART_ABANDONER_RULES.describe(
        cuts={"avg_order_value": np.array([100.0, 250.0])}
    )
    assert "100 <= avg_order_value < 250" in text
    assert "avg_order_value >= 250" in text
    assert "ELSE" in text


@pytest.mark.parametrize("n_rows", [10, 70_000])
def test_an_unknown_operator_is_a_value_error_at_every_size(n_rows):
    # one operator table: the rule model, the reference evaluation and the
    # kernels all refuse a name it does not hold (0.1.0: set membership
    # below 65,536 rows, KeyError above)
    import pandas as pd

    from sklearn_mece import HierarchicalSegmenter

    with pytest.raises(ValueError, match="unknown operator '~'"):
        Condition("days", "~", 3)
    X = pd.DataFrame({"days": np.arange(n_rows, dtype=float) % 90})
    seg = HierarchicalSegmenter([{"name": "R", "when": [["days", "<=", 30]]}]).fit(X)
    seg.variables_[0]["op"] = "~"  # state fit cannot make (rebuilt at load)
    with pytest.raises(ValueError, match="unknown operator '~'"):
        seg.transform(X)
    with pytest.raises(ValueError, match="unknown operator '~'"):
        seg._rule_index_reference(X)


def test_describe_says_on_which_side_of_a_cut_ties_fall():
    import pandas as pd

    from sklearn_mece import PercentileThresholder, make_rfm_pipeline

    rules = RuleSet.from_dict(
        {
            "levels": {"n": {"names": ["low", "mid", "high"], "percentiles": [40, 80]}},
            "segments": [{"name": "Mid", "when": [["n", "==", "mid"]]}],
        }
    )
    cuts = {"n": [1.0, 3.0]}
    assert "1 <= n < 3" in rules.describe(cuts=cuts)
    assert "1 < n <= 3" in rules.describe(cuts=cuts, closed="right")
    X = pd.DataFrame({"n": [1.0, 1, 1, 2, 3, 4, 5, 6, 7, 9]})
    t = PercentileThresholder({"n": [40, 80]}, closed="right").fit(X)
    from sklearn_mece import HierarchicalSegmenter

    seg = HierarchicalSegmenter(rules.to_dict()).fit(
        t.set_output(transform="pandas").transform(X)
    )
    assert "(2.6 < n <= 6.2)" in seg.describe(cuts=t)
    # the RFM preset is right-closed and its descriptions say so
    pipe = make_rfm_pipeline()
    assert pipe.named_steps["thresholds"].closed == "right"
