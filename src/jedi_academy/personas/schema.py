"""The JSON schema a persona card is generated against (constrained decoding / ``response_format``).

It mirrors :class:`~jedi_academy.personas.card.PersonaCard` field for field, with two differences: every
``evidence`` item is an enum of the labels of the comments actually shown to the model, and every list
asks for at least one trait (a card with no history, coping, goals or resistances is a poor patient). Limits
can be tightened below the card's own (tests do, so the random tiny model writes short cards).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, get_args

from jedi_academy.personas.card import AgeBand, Context, PersonaCard, Severity, Trait

TRAIT_LISTS = ("presenting_problems", "symptoms", "history", "coping", "goals", "resistances")


def _field_max(model: type[Any], name: str, kind: str) -> int:
    """``max_length`` of a pydantic field (strings: characters, lists: items)."""
    for meta in model.model_fields[name].metadata:
        value = getattr(meta, kind, None)
        if value is not None:
            return int(value)
    raise LookupError(f"{model.__name__}.{name} has no {kind}")


@dataclass(frozen=True)
class CardLimits:
    """Upper bounds for generated cards; ``None`` keeps the card schema's own bound."""

    text_max_chars: int | None = None
    name_max_chars: int | None = None
    max_items: int | None = None  # per trait list
    max_evidence: int | None = None  # comment labels per trait

    def text(self) -> int:
        return _cap(_field_max(Trait, "text", "max_length"), self.text_max_chars)

    def name(self) -> int:
        return _cap(_field_max(PersonaCard, "name", "max_length"), self.name_max_chars)

    def items(self, field: str) -> int:
        return _cap(_field_max(PersonaCard, field, "max_length"), self.max_items)

    def evidence(self) -> int:
        return _cap(_field_max(Trait, "evidence", "max_length"), self.max_evidence)


def _cap(card_max: int, wanted: int | None) -> int:
    return card_max if wanted is None else max(1, min(card_max, wanted))


def card_json_schema(labels: Sequence[str], limits: CardLimits | None = None) -> dict[str, Any]:
    """The schema of a card whose evidence may only cite ``labels``."""
    if not labels:
        raise ValueError("a card schema needs at least one comment label")
    limits = limits or CardLimits()
    text_min = _field_min(Trait, "text")
    trait: dict[str, Any] = {
        "type": "object",
        "properties": {
            "text": {"type": "string", "minLength": text_min, "maxLength": max(text_min, limits.text())},
            "evidence": {
                "type": "array",
                "items": {"type": "string", "enum": list(labels)},
                "minItems": 1,
                "maxItems": limits.evidence(),
            },
        },
        "required": ["text", "evidence"],
        "additionalProperties": False,
    }
    symptom = {
        **trait,
        "properties": {
            **trait["properties"],
            "severity": {"type": "string", "enum": list(get_args(Severity))},
        },
        "required": ["text", "evidence", "severity"],
    }

    def trait_list(field: str, item: dict[str, Any]) -> dict[str, Any]:
        return {"type": "array", "items": item, "minItems": 1, "maxItems": limits.items(field)}

    name_min = _field_min(PersonaCard, "name")
    properties: dict[str, Any] = {
        "name": {"type": "string", "minLength": name_min, "maxLength": max(name_min, limits.name())},
        "presenting_problems": trait_list("presenting_problems", trait),
        "symptoms": trait_list("symptoms", symptom),
        "history": trait_list("history", trait),
        "context": {
            "type": "object",
            "properties": {
                "age_band": {"type": "string", "enum": list(get_args(AgeBand))},
                "occupation": trait,
                "relationships": trait,
            },
            "required": list(Context.model_fields),
            "additionalProperties": False,
        },
        "coping": trait_list("coping", trait),
        "speaking_style": trait,
        "goals": trait_list("goals", trait),
        "resistances": trait_list("resistances", trait),
    }
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _field_min(model: type[Any], name: str) -> int:
    for meta in model.model_fields[name].metadata:
        value = getattr(meta, "min_length", None)
        if value is not None:
            return int(value)
    return 0
