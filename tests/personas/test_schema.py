"""The card schema and its enforcement by constrained decoding on the tiny model (the real path)."""

import json

import jsonschema
import pytest

from jedi_academy.llm import GenerationParams
from jedi_academy.personas.card import PersonaCard
from jedi_academy.personas.parsing import parse_card
from jedi_academy.personas.prompt import persona_messages
from jedi_academy.personas.schema import CardLimits, card_json_schema
from jedi_academy.personas.selection import SelectionRules, to_candidate
from tests.factories import make_card
from tests.personas.helpers import TINY_LIMITS, make_bundle


def test_schema_mirrors_the_card_and_constrains_evidence_to_the_labels() -> None:
    schema = card_json_schema(["C1", "C2"])
    assert list(schema["properties"]) == list(PersonaCard.model_fields)
    assert schema["required"] == list(PersonaCard.model_fields)
    good = make_card(evidence=("C1", "C2")).model_dump()
    jsonschema.validate(good, schema)
    bad = make_card(evidence=("C3",)).model_dump()
    with pytest.raises(jsonschema.ValidationError, match="C3"):
        jsonschema.validate(bad, schema)
    empty_history = {**good, "history": []}  # the card allows it; generation asks for at least one trait
    PersonaCard.model_validate(empty_history)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(empty_history, schema)


def test_limits_tighten_but_never_loosen_the_card() -> None:
    tight = card_json_schema(["C1"], CardLimits(text_max_chars=12, max_items=1, max_evidence=1))
    trait = tight["properties"]["presenting_problems"]["items"]
    assert trait["properties"]["text"]["maxLength"] == 12
    assert trait["properties"]["evidence"]["maxItems"] == 1
    assert tight["properties"]["symptoms"]["maxItems"] == 1
    loose = card_json_schema(["C1"], CardLimits(text_max_chars=10_000, max_items=99))
    assert loose["properties"]["presenting_problems"]["items"]["properties"]["text"]["maxLength"] == 240
    assert loose["properties"]["symptoms"]["maxItems"] == 6
    with pytest.raises(ValueError):
        card_json_schema([])


def test_tiny_model_writes_valid_cards_under_constrained_decoding(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    candidate = to_candidate(make_bundle("alice"), SelectionRules())
    labels = candidate.labels
    messages = persona_messages("Depression", "Low mood.", "Be specific.", candidate.comments)
    params = GenerationParams(
        temperature=1.0,
        max_tokens=600,
        seed=5,
        json_schema=card_json_schema(list(labels), TINY_LIMITS),
    )
    replies = tiny_llm.generate([messages, messages], params)
    for reply in replies:
        jsonschema.validate(json.loads(reply, strict=False), card_json_schema(list(labels), TINY_LIMITS))
        parsed = parse_card(reply, labels)
        assert parsed.card is not None, parsed
        assert parsed.card.evidence_ids() <= set(labels.values())  # real comment ids, not labels
        assert not parsed.card.evidence_ids() & set(labels)
