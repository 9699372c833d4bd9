"""The YAML definition format: a toy instrument scores as worked by hand, and bad files are rejected with the
line of the mistake."""

from __future__ import annotations

import textwrap

import pytest
from pydantic import ValidationError

from jedi_academy.instruments import DefinitionError, InstrumentDefinition, parse_definition, score
from jedi_academy.instruments.model import build_instrument

TOY = textwrap.dedent(
    """\
    id: toy
    name: Toy scale
    short_name: TOY
    version: "1"
    citations:
      - {text: "Someone A. A toy scale. J Toys 2020;1:1-2.", pmid: 123}
    licence:
      summary: made up for tests
      text_shippable: true
      commercial_use: free
      terms: made up for tests
      confirmed: true
    option_sets:
      agree:
        - {code: 0, label: "No"}
        - {code: 1, label: "Somewhat"}
        - {code: 2, label: "Yes"}
    default_options: agree
    items:
      - {id: a, text: "First statement"}
      - id: b
        text: "Second statement"
        reverse: true
      - {id: c, text: "Third statement", values: {0: 0, 1: 0, 2: 5}}
    scoring:
      method: sum
      range: [0, 9]
    bands:
      - {label: low, min: 0, max: 4}
      - {label: high, min: 5, max: 9}
    subscales:
      - {id: ab, name: "A and B", items: [a, b]}
    outcomes:
      - id: strong_c
        description: "c answered Yes"
        rule: {any: [{count_items: [c], code_at_least: 2, at_least: 1}]}
    """
)


def line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in the text")


def problems(text: str) -> list:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(text, "toy.yaml")
    return caught.value.problems


def only_problem(text: str):
    found = problems(text)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def test_toy_definition_scores_reverse_and_value_keyed_items_by_hand():
    toy = build_instrument(parse_definition(TOY))
    # a = 2; b reversed: 0 -> 2; c = 1 -> 0 by its value table
    result = score(toy, [2, 0, 1])
    assert (result.total, result.band, result.subscales, result.outcomes) == (
        4,
        "low",
        {"ab": 4},
        {"strong_c": False},
    )
    result = score(toy, [0, 2, 2])
    assert (result.total, result.band, result.outcomes) == (5, "high", {"strong_c": True})
    assert [o.value for o in toy.item("b").options] == [2, 1, 0]


def test_unknown_field_points_at_its_line():
    text = TOY.replace(
        '  - {id: a, text: "First statement"}', '  - {id: a, text: "First statement", colour: blue}'
    )
    problem = only_problem(text)
    assert (problem.line, problem.path, problem.message) == (
        line_of(text, "colour"),
        "items[0].colour",
        "unknown field 'colour'",
    )
    assert str(problem).startswith(f"toy.yaml:{problem.line}:")


def test_missing_field_points_at_the_mapping_that_lacks_it():
    text = TOY.replace("  commercial_use: free\n", "")
    problem = only_problem(text)
    assert problem.line == line_of(text, "licence:")
    assert problem.message == "missing required field 'commercial_use'"


def test_wrong_type_points_at_the_value():
    text = TOY.replace('{code: 1, label: "Somewhat"}', '{code: one, label: "Somewhat"}')
    problem = only_problem(text)
    assert problem.line == line_of(text, "code: one")
    assert problem.path == "option_sets.agree[1].code"


def test_keyed_code_outside_the_options():
    text = TOY.replace("    reverse: true\n", "    keyed: [1, 7]\n")
    problem = only_problem(text)
    assert problem.line == line_of(text, "keyed: [1, 7]")
    assert "keyed code(s) [7]" in problem.message


def test_two_keys_on_one_item():
    text = TOY.replace("    reverse: true\n", "    reverse: true\n    keyed: [1]\n")
    problem = only_problem(text)
    assert problem.line == line_of(text, "- id: b")
    assert "at most one of reverse, keyed, values" in problem.message


def test_subscale_with_unknown_item():
    text = TOY.replace("items: [a, b]", "items: [a, z]")
    problem = only_problem(text)
    assert (problem.line, problem.path) == (line_of(text, "items: [a, z]"), "subscales[0].items[1]")
    assert "no item 'z'" in problem.message


def test_band_gap_and_band_end():
    text = TOY.replace("{label: high, min: 5, max: 9}", "{label: high, min: 6, max: 8}")
    found = problems(text)
    assert [(p.line, p.path) for p in found] == [
        (line_of(text, "label: high"), "bands[1].min"),
        (line_of(text, "label: high"), "bands[1].max"),
    ]


def test_declared_range_must_match_the_items():
    text = TOY.replace("range: [0, 9]", "range: [0, 8]")
    found = problems(text)
    assert found[0].line == line_of(text, "range: [0, 8]")
    assert "the items give 0-9" in found[0].message


def test_item_text_is_refused_when_the_licence_forbids_shipping_it():
    text = TOY.replace("text_shippable: true", "text_shippable: false")
    found = problems(text)
    assert [p.line for p in found] == [
        line_of(text, "id: a,"),
        line_of(text, 'text: "Second statement"'),
        line_of(text, "id: c,"),
    ]
    assert all("text_shippable is false" in p.message for p in found)


def test_duplicate_keys_are_reported_not_silently_collapsed():
    text = TOY.replace("short_name: TOY\n", "short_name: TOY\nname: Another name\n")
    problem = only_problem(text)
    assert problem.line == line_of(text, "name: Another name")
    assert "appears twice" in problem.message


def test_yaml_syntax_error_has_a_line():
    text = TOY.replace("    scoring:\n", "").replace("scoring:\n  method: sum", "scoring:\n  method: [sum")
    problem = only_problem(text)
    assert problem.line is not None and problem.line >= line_of(text, "method: [sum")
    assert "not valid YAML" in problem.message


def test_rule_without_a_known_kind():
    text = TOY.replace(
        "rule: {any: [{count_items: [c], code_at_least: 2, at_least: 1}]}", "rule: {most: [c]}"
    )
    problem = only_problem(text)
    assert problem.line == line_of(text, "rule: {most")
    assert "a rule needs one of" in problem.message


def test_rule_referring_to_a_missing_item_and_an_impossible_count():
    text = TOY.replace(
        "count_items: [c], code_at_least: 2, at_least: 1", "count_items: [q], code_at_least: 2, at_least: 2"
    )
    messages = [p.message for p in problems(text)]
    assert messages == ["no item 'q'", "at_least 2 exceeds the 1 items"]


def test_safety_item_must_exist():
    text = TOY + "safety:\n  - {item: x, code_at_least: 1, reason: because}\n"
    problem = only_problem(text)
    assert (problem.line, problem.path) == (line_of(text, "item: x"), "safety[0].item")


def test_citation_needs_an_identifier():
    text = TOY.replace(", pmid: 123}", "}")
    problem = only_problem(text)
    assert problem.line == line_of(text, "Someone A.")
    assert problem.message == "a citation needs a pmid or a doi"


def test_every_structural_problem_is_reported_in_line_order():
    text = TOY.replace('{code: 1, label: "Somewhat"}', '{code: one, label: "Somewhat"}')
    text = text.replace("    reverse: true\n", "    reverse: true\n    colour: red\n")
    found = problems(text)
    assert [p.line for p in found] == [line_of(text, "code: one"), line_of(text, "colour")]
    with pytest.raises(DefinitionError, match=r"\(and 1 more problem\)"):
        parse_definition(text, "toy.yaml")


def test_every_cross_check_problem_is_reported():
    text = TOY.replace("range: [0, 9]", "range: [0, 8]").replace("items: [a, b]", "items: [a, z]")
    found = problems(text)
    assert [p.path for p in found] == ["scoring.range", "bands[1].max", "subscales[0].items[1]"]
    assert [p.line for p in found] == [
        line_of(text, "range:"),
        line_of(text, "label: high"),
        line_of(text, "[a, z]"),
    ]


def test_a_document_that_is_not_a_mapping():
    assert "YAML mapping" in only_problem("- just\n- a list\n").message


def test_python_construction_runs_the_same_cross_checks():
    import yaml

    data = yaml.safe_load(TOY.replace("items: [a, b]", "items: [a, z]"))
    with pytest.raises(ValidationError, match="no item 'z'"):
        InstrumentDefinition.model_validate(data)
