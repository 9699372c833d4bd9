"""Reading stored conversations for ``list`` and ``show``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from jedi_academy.store.lookup import one_by_id_or_prefix
from jedi_academy.store.models import Conversation, Persona, Turn

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from jedi_academy.store import Database


def get_conversation(session: Session, wanted: str) -> Conversation:
    """A conversation by id or unique id prefix."""
    return one_by_id_or_prefix(
        session, Conversation, wanted, "conversation", "see `academy conversations list`"
    )


def conversation_rows(
    database: Database, specialization: str | None = None, persona: str | None = None
) -> list[dict[str, object]]:
    """One summary per conversation: id, persona, persona name, specialization, turns, status, model."""
    with database.session() as session:
        turn_counts = (
            select(Turn.conversation_id, func.count(Turn.id).label("turns"))
            .group_by(Turn.conversation_id)
            .subquery()
        )
        query = (
            select(Conversation, Persona.card, turn_counts.c.turns)
            .join(Persona, Persona.id == Conversation.persona_id)
            .outerjoin(turn_counts, turn_counts.c.conversation_id == Conversation.id)
            .order_by(Conversation.specialization_id, Conversation.persona_id, Conversation.created_at)
        )
        if specialization is not None:
            query = query.where(Conversation.specialization_id == specialization)
        if persona is not None:
            query = query.where(Conversation.persona_id.startswith(persona))
        return [
            {
                "id": conversation.id,
                "persona_id": conversation.persona_id,
                "persona_name": card.get("name"),
                "specialization": conversation.specialization_id,
                "origin": conversation.origin,
                "turns": turns or 0,
                "complete": conversation.provenance.get("complete", True),
                "backend": conversation.provenance.get("backend"),
                "model": conversation.provenance.get("model"),
                "created_at": conversation.created_at.isoformat(),
            }
            for conversation, card, turns in session.execute(query)
        ]
