"""Replies to cards: each kind of bad reply is named, and accepted cards cite real comment ids."""

import json

from jedi_academy.personas.parsing import parse_card
from tests.factories import make_card

LABELS = {"C1": "t1_real_a", "C2": "t1_real_b"}


def reply(evidence: tuple[str, ...] = ("C1",), **changes: object) -> str:
    data = make_card(evidence=evidence).model_dump()
    data.update(changes)
    return json.dumps(data)


def test_valid_reply_maps_labels_to_comment_ids() -> None:
    parsed = parse_card(reply(("C2", "C1", "C2")), LABELS)
    assert parsed.reason is None and parsed.card is not None
    assert parsed.card.presenting_problems[0].evidence == ["t1_real_b", "t1_real_a"]  # deduplicated, in order
    assert parsed.card.evidence_ids() == {"t1_real_a", "t1_real_b"}


def test_a_trait_citing_a_comment_that_was_not_shown_is_rejected() -> None:
    data = json.loads(reply())
    data["goals"][0]["evidence"] = ["C1", "C7"]
    parsed = parse_card(json.dumps(data), LABELS)
    assert parsed.card is None and parsed.reason == "invalid_evidence"
    assert "C7" not in parsed.detail  # reasons never echo ids


def test_each_bad_reply_has_its_reason() -> None:
    full = reply()
    assert parse_card("   ", LABELS).reason == "empty"
    for cut in range(1, len(full) - 1, 11):
        assert parse_card(full[:cut], LABELS).reason == "truncated", full[:cut]
    assert parse_card("The patient is sad.", LABELS).reason == "invalid_json"
    missing = json.loads(full)
    del missing["goals"]
    assert parse_card(json.dumps(missing), LABELS).reason == "schema"
    assert parse_card(reply(severity_scale="x"), LABELS).reason == "schema"  # unknown field
    assert parse_card(json.dumps([1, 2]), LABELS).reason == "schema"


def test_control_characters_inside_strings_are_cleaned_not_fatal() -> None:
    data = json.loads(reply())
    data["name"] = "Ro\x0ebin"
    raw = json.dumps(data).replace("\\u000e", "\x0e")  # a raw control character, as xgrammar may emit
    parsed = parse_card(raw, LABELS)
    assert parsed.card is not None and parsed.card.name == "Ro bin"
