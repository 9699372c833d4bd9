"""Grounded persona cards: the schema, the system prompt a patient model is given, and their generation from
ingested author bundles.

Public API (imported lazily, so the CLI stays fast)::

    PersonaCard (schema v2), read_card(data) -> PersonaCard | PersonaCardV1, system_prompt(card) -> str
    persona_system_prompt(database, persona_id) -> str      # by id or unique prefix
    load_card(database, persona_id) -> PersonaCard | PersonaCardV1
    public_card(card) -> dict                                # without evidence ids
    generate_personas(database, llm, specialization, bundles, options=None, *, guard=None, progress=None)
        -> PersonaReport
    PersonaOptions, PersonaReport
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jedi_academy.lazy import lazy_exports

if TYPE_CHECKING:
    from jedi_academy.personas.card import PersonaCard, read_card, system_prompt
    from jedi_academy.personas.card_v1 import PersonaCardV1
    from jedi_academy.personas.generate import PersonaOptions, PersonaReport, generate_personas
    from jedi_academy.personas.records import load_card, persona_system_prompt, public_card

_LAZY = {
    "PersonaCard": "card",
    "PersonaCardV1": "card_v1",
    "read_card": "card",
    "system_prompt": "card",
    "PersonaOptions": "generate",
    "PersonaReport": "generate",
    "generate_personas": "generate",
    "load_card": "records",
    "persona_system_prompt": "records",
    "public_card": "records",
}

__all__ = [
    "PersonaCard",
    "PersonaCardV1",
    "PersonaOptions",
    "PersonaReport",
    "generate_personas",
    "load_card",
    "persona_system_prompt",
    "public_card",
    "read_card",
    "system_prompt",
]


__getattr__ = lazy_exports(__name__, _LAZY)
