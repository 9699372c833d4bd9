"""The v2 card schema, "not stated", v1 cards still readable, and constrained decoding on the tiny model."""

import json

import jsonschema
import pytest
from pydantic import ValidationError

from jedi_academy.llm import GenerationParams
from jedi_academy.personas.card import (
    NOT_STATED,
    PersonaCard,
    intake_facts,
    read_card,
    render_card,
    system_prompt,
)
from jedi_academy.personas.card_v1 import PersonaCardV1
from jedi_academy.personas.parsing import parse_card
from jedi_academy.personas.prompt import persona_messages
from jedi_academy.personas.schema import CardLimits, card_json_schema
from jedi_academy.personas.selection import SelectionRules, to_candidate
from tests.factories import make_card, make_card_v1
from tests.personas.helpers import TINY_LIMITS, TINY_TOKENS, make_bundle

GENERATED = [f for f in PersonaCard.model_fields if f not in ("schema_version", "conversational_style")]


def test_schema_mirrors_the_card_and_constrains_evidence_to_the_labels() -> None:
    schema = card_json_schema(["C1", "C2"])
    assert list(schema["properties"]) == GENERATED and schema["required"] == GENERATED
    good = make_card(evidence=("C1", "C2")).model_dump()
    generated = {k: v for k, v in good.items() if k in GENERATED}
    jsonschema.validate(generated, schema)
    bad = {k: v for k, v in make_card(evidence=("C3",)).model_dump().items() if k in GENERATED}
    with pytest.raises(jsonschema.ValidationError, match="C3"):
        jsonschema.validate(bad, schema)
    # lists may be empty, except presenting problems and the (at least two) situation chains
    empty = {**generated, "symptoms": [], "goals": [], "resistances": []}
    jsonschema.validate(empty, schema)
    PersonaCard.model_validate({**good, "symptoms": [], "goals": [], "resistances": []})
    one_situation = json.loads(json.dumps(generated))
    one_situation["cognitive_model"]["situations"] = one_situation["cognitive_model"]["situations"][:1]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(one_situation, schema)


def test_v2_cards_allow_not_stated_and_refuse_ungrounded_claims() -> None:
    card = make_card()
    assert card.demographics.gender.text == NOT_STATED and card.risk.self_harm.level == NOT_STATED
    assert card.bases() == {"stated": 14, "inferred": 4, NOT_STATED: 3}
    data = card.model_dump()
    data["demographics"]["occupation"] = {"text": "Nurse", "basis": "stated", "evidence": []}
    with pytest.raises(ValidationError, match="at least one comment"):
        PersonaCard.model_validate(data)
    data["demographics"]["occupation"] = {"text": "not stated", "basis": "stated", "evidence": ["c1"]}
    with pytest.raises(ValidationError, match="not stated"):
        PersonaCard.model_validate(data)
    data["demographics"]["occupation"] = {"text": "Nurse", "basis": "not stated", "evidence": []}
    with pytest.raises(ValidationError, match="not stated"):
        PersonaCard.model_validate(data)
    # a generated reply whose detail cites nothing becomes "not stated" on parsing
    reply = {k: v for k, v in make_card(evidence=("C1",)).model_dump().items() if k in GENERATED}
    reply["demographics"]["occupation"] = {"text": "Nurse", "basis": "stated", "evidence": []}
    reply["risk"]["substances"] = {"level": "none", "basis": "not stated", "evidence": ["C1"]}
    parsed = parse_card(json.dumps(reply), {"C1": "real-1"})
    assert parsed.card is not None and parsed.card.demographics.occupation.text == NOT_STATED
    assert parsed.card.risk.substances.level == NOT_STATED and parsed.card.evidence_ids() == {"real-1"}


def test_prompt_and_views_render_v2_without_evidence_and_v1_cards_stay_readable() -> None:
    card = make_card(evidence=("secret-id",), style="reserved")
    prompt = system_prompt(card)
    assert prompt.startswith("You are Robin") and "secret-id" not in prompt
    assert "I am a burden to people" in prompt and "one or two short sentences" in prompt
    assert "Gender" not in prompt  # "not stated" fields are left out, not rendered as facts
    assert "Persona: Robin (card v2)" in render_card(card)
    intake = intake_facts(card)
    assert intake["presenting_problems"] == ["Low mood that has lasted for months"]
    assert intake["risk"]["suicidal_ideation"] == "passive" and "cognitive_model" not in intake

    old = make_card_v1().model_dump()
    read = read_card(old)
    assert isinstance(read, PersonaCardV1) and system_prompt(read).startswith("You are Robin")
    assert isinstance(read_card(card.model_dump()), PersonaCard)


def test_limits_tighten_but_never_loosen_the_card() -> None:
    tight = card_json_schema(["C1"], CardLimits(text_max_chars=12, max_items=1, max_evidence=1))
    trait = tight["properties"]["presenting_problems"]["items"]
    assert trait["properties"]["text"]["maxLength"] == 12
    assert trait["properties"]["evidence"]["maxItems"] == 1
    assert tight["properties"]["symptoms"]["maxItems"] == 1
    assert tight["properties"]["cognitive_model"]["properties"]["situations"]["maxItems"] == 2  # its minimum
    loose = card_json_schema(["C1"], CardLimits(text_max_chars=10_000, max_items=99))
    assert loose["properties"]["presenting_problems"]["items"]["properties"]["text"]["maxLength"] == 240
    assert loose["properties"]["symptoms"]["maxItems"] == 6
    with pytest.raises(ValueError):
        card_json_schema([])


def test_tiny_model_writes_valid_v2_cards_under_constrained_decoding(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    candidate = to_candidate(make_bundle("alice"), SelectionRules())
    labels = candidate.labels
    messages = persona_messages("Depression", "Low mood.", "Be specific.", candidate.comments)
    schema = card_json_schema(list(labels), TINY_LIMITS)
    params = GenerationParams(temperature=1.0, max_tokens=TINY_TOKENS, seed=5, json_schema=schema)
    replies = tiny_llm.generate([messages, messages], params)
    for reply in replies:
        jsonschema.validate(json.loads(reply, strict=False), schema)
        parsed = parse_card(reply, labels)
        assert parsed.card is not None, parsed
        assert parsed.card.schema_version == 2
        assert parsed.card.evidence_ids() <= set(labels.values())  # real comment ids, not labels
        assert not parsed.card.evidence_ids() & set(labels)
