"""Persona rows: storing generated cards with provenance, finding them, and what other stages read.

The assessment stage calls :func:`persona_system_prompt`; therapist-facing views use :func:`public_card`,
which drops the evidence ids.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from jedi_academy.personas.card import AnyCard, PersonaCard, read_card, system_prompt
from jedi_academy.store.lookup import one_by_id_or_prefix
from jedi_academy.store.models import Persona

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from jedi_academy.store import Database


def persona_id_for(specialization: str, card: AnyCard) -> str:
    """Content-addressed: derived from the card, never from the author's pseudonym."""
    canonical = json.dumps([specialization, card.model_dump()], sort_keys=True, ensure_ascii=False)
    return "p-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def get_persona(session: Session, wanted: str) -> Persona:
    """A persona by id or unique id prefix."""
    return one_by_id_or_prefix(session, Persona, wanted, "persona", "see `academy personas list`")


def list_personas(database: Database, specialization: str | None = None) -> list[Persona]:
    with database.session() as session:
        query = select(Persona).order_by(Persona.specialization_id, Persona.created_at, Persona.id)
        query = query.where(Persona.erased_at.is_(None))  # erased: an empty row a case names
        if specialization is not None:
            query = query.where(Persona.specialization_id == specialization)
        return list(session.scalars(query))


def load_card(database: Database, persona_id: str) -> AnyCard:
    """The stored card, version 2 or (for personas stored before it) version 1."""
    with database.session() as session:
        return read_card(get_persona(session, persona_id).card)


def persona_system_prompt(database: Database, persona_id: str) -> str:
    """The system prompt that makes a model play this persona (no source ids, no provenance)."""
    return system_prompt(load_card(database, persona_id))


def public_card(card: AnyCard | dict[str, Any]) -> dict[str, Any]:
    """The card as JSON data without evidence ids."""
    data = card if isinstance(card, dict) else card.model_dump()
    return _drop_evidence(data)


def _drop_evidence(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_evidence(v) for k, v in value.items() if k != "evidence"}
    if isinstance(value, list):
        return [_drop_evidence(v) for v in value]
    return value


def used_authors(session: Session, specialization: str) -> set[str]:
    rows = session.scalars(
        select(Persona.source_author_hash).where(Persona.specialization_id == specialization)
    )
    return {row for row in rows if row}


def existing_cards(session: Session, specialization: str) -> dict[str, AnyCard]:
    rows = session.scalars(select(Persona).where(Persona.specialization_id == specialization))
    return {row.id: read_card(row.card) for row in rows}


def style_counts(session: Session, specialization: str) -> dict[str, int]:
    """How many v2 personas of the specialization have each conversational style."""
    counts: dict[str, int] = {}
    for card in existing_cards(session, specialization).values():
        if isinstance(card, PersonaCard):
            counts[card.conversational_style] = counts.get(card.conversational_style, 0) + 1
    return counts
