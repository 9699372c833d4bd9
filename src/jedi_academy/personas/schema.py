"""The JSON schema a v2 persona card is generated against (constrained decoding / ``response_format``).

It mirrors :class:`~jedi_academy.personas.card.PersonaCard` with three differences: every ``evidence`` item is
an enum of the labels of the comments actually shown to the model; ``schema_version`` and
``conversational_style`` are left out (the generator sets them); and a field that may be "not stated" is
written as text + basis + evidence, normalised after parsing (basis ``not stated`` or no evidence: the
field becomes "not stated"). Lists may be empty, except presenting problems (at least one) and the
cognitive model's situations (at least two). Limits can be tightened below the card's own (tests do, so
the random tiny model writes short cards).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, get_args

from jedi_academy.personas.card import (
    AgeBand,
    BeliefFamily,
    CognitiveModel,
    Ideation,
    PersonaCard,
    ResistanceMove,
    Risk,
    SelfHarm,
    Severity,
    StageName,
    SubstanceUse,
    Trait,
)

LIST_FIELDS: dict[str, tuple[type[Any], str]] = {
    "presenting_problems": (PersonaCard, "presenting_problems"),
    "symptoms": (PersonaCard, "symptoms"),
    "resistances": (PersonaCard, "resistances"),
    "goals": (PersonaCard, "goals"),
    "relevant_history": (CognitiveModel, "relevant_history"),
    "core_beliefs": (CognitiveModel, "core_beliefs"),
    "intermediate_beliefs": (CognitiveModel, "intermediate_beliefs"),
    "coping_strategies": (CognitiveModel, "coping_strategies"),
    "situations": (CognitiveModel, "situations"),
    "protective_factors": (Risk, "protective_factors"),
}


def _field_bound(model: type[Any], name: str, kind: str) -> int | None:
    for meta in model.model_fields[name].metadata:
        value = getattr(meta, kind, None)
        if value is not None:
            return int(value)
    return None


def _field_max(model: type[Any], name: str, kind: str = "max_length") -> int:
    value = _field_bound(model, name, kind)
    if value is None:
        raise LookupError(f"{model.__name__}.{name} has no {kind}")
    return value


@dataclass(frozen=True)
class CardLimits:
    """Upper bounds for generated cards; ``None`` keeps the card schema's own bound."""

    text_max_chars: int | None = None
    name_max_chars: int | None = None
    max_items: int | None = None  # per trait list (never below a list's own minimum)
    max_evidence: int | None = None  # comment labels per trait

    def text(self) -> int:
        return _cap(_field_max(Trait, "text"), self.text_max_chars)

    def name(self) -> int:
        return _cap(_field_max(PersonaCard, "name"), self.name_max_chars)

    def items(self, field: str) -> int:
        model, name = LIST_FIELDS[field]
        return max(min_items(field), _cap(_field_max(model, name), self.max_items))

    def evidence(self) -> int:
        return _cap(_field_max(Trait, "evidence"), self.max_evidence)


def min_items(field: str) -> int:
    model, name = LIST_FIELDS[field]
    return _field_bound(model, name, "min_length") or 0


def _cap(card_max: int, wanted: int | None) -> int:
    return card_max if wanted is None else max(1, min(card_max, wanted))


def card_json_schema(labels: Sequence[str], limits: CardLimits | None = None) -> dict[str, Any]:
    """The schema of a v2 card whose evidence may only cite ``labels``."""
    if not labels:
        raise ValueError("a card schema needs at least one comment label")
    limits = limits or CardLimits()
    text_min = _field_bound(Trait, "text", "min_length") or 1
    text = {"type": "string", "minLength": text_min, "maxLength": max(text_min, limits.text())}

    def evidence(min_items: int) -> dict[str, Any]:
        return {
            "type": "array",
            "items": {"type": "string", "enum": list(labels)},
            "minItems": min_items,
            "maxItems": limits.evidence(),
        }

    def obj(properties: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": properties,
            "required": list(properties),
            "additionalProperties": False,
        }

    def enum(values: Any) -> dict[str, Any]:
        return {"type": "string", "enum": list(values)}

    basis = enum(("stated", "inferred"))
    maybe = enum(("stated", "inferred", "not stated"))

    def trait(**extra: Any) -> dict[str, Any]:
        return obj({"text": text, **extra, "basis": basis, "evidence": evidence(1)})

    def fact() -> dict[str, Any]:
        return obj({"text": text, "basis": maybe, "evidence": evidence(0)})

    def level(values: Any) -> dict[str, Any]:
        return obj({"level": enum(values), "basis": maybe, "evidence": evidence(0)})

    def trait_list(field: str, item: dict[str, Any]) -> dict[str, Any]:
        return {"type": "array", "items": item, "minItems": min_items(field), "maxItems": limits.items(field)}

    situation = obj(
        {
            "situation": text,
            "automatic_thought": text,
            "emotion": text,
            "behaviour": text,
            "basis": basis,
            "evidence": evidence(1),
        }
    )
    name_min = _field_bound(PersonaCard, "name", "min_length") or 1
    return obj(
        {
            "name": {"type": "string", "minLength": name_min, "maxLength": max(name_min, limits.name())},
            "presenting_problems": trait_list("presenting_problems", trait()),
            "symptoms": trait_list("symptoms", trait(severity=enum(get_args(Severity)))),
            "demographics": obj(
                {
                    "age_band": enum(get_args(AgeBand)),
                    "gender": fact(),
                    "occupation": fact(),
                    "relationships": fact(),
                    "living_situation": fact(),
                }
            ),
            "cognitive_model": obj(
                {
                    "relevant_history": trait_list("relevant_history", trait()),
                    "core_beliefs": trait_list("core_beliefs", trait(family=enum(get_args(BeliefFamily)))),
                    "intermediate_beliefs": trait_list("intermediate_beliefs", trait()),
                    "coping_strategies": trait_list("coping_strategies", trait()),
                    "situations": trait_list("situations", situation),
                }
            ),
            "stage_of_change": obj(
                {"stage": enum(get_args(StageName)), "basis": maybe, "evidence": evidence(0)}
            ),
            "resistances": trait_list("resistances", trait(move=enum(get_args(ResistanceMove)))),
            "goals": trait_list("goals", trait()),
            "speaking_style": fact(),
            "risk": obj(
                {
                    "suicidal_ideation": level(get_args(Ideation)),
                    "self_harm": level(get_args(SelfHarm)),
                    "substances": level(get_args(SubstanceUse)),
                    "protective_factors": trait_list("protective_factors", trait()),
                }
            ),
        }
    )
