"""Small builders for test data that later stages share (cards, personas, conversations)."""

from __future__ import annotations

from jedi_academy.personas import PersonaCard
from jedi_academy.store import Database
from jedi_academy.store.models import Conversation, Persona, Specialization, Turn


def make_card(name: str = "Robin", evidence: tuple[str, ...] = ("c1",)) -> PersonaCard:
    ev = list(evidence)
    return PersonaCard.model_validate(
        {
            "name": name,
            "presenting_problems": [{"text": "Low mood that has lasted for months", "evidence": ev}],
            "symptoms": [
                {"text": "Loss of interest in hobbies", "evidence": ev, "severity": "moderate"},
                {"text": "Poor sleep, waking early", "evidence": ev, "severity": "severe"},
            ],
            "history": [{"text": "A similar episode at university", "evidence": ev}],
            "context": {
                "age_band": "25-34",
                "occupation": {"text": "Works in a warehouse", "evidence": ev},
                "relationships": {"text": "Lives alone, close to a sister", "evidence": ev},
            },
            "coping": [{"text": "Long walks, sometimes drinking", "evidence": ev}],
            "speaking_style": {"text": "Short, flat sentences with dry humour", "evidence": ev},
            "goals": [{"text": "Enjoy weekends again", "evidence": ev}],
            "resistances": [{"text": "Doubts that talking helps", "evidence": ev}],
        }
    )


def ensure_specialization(database: Database, specialization: str) -> None:
    with database.session() as session:
        if session.get(Specialization, specialization) is None:
            session.add(
                Specialization(
                    id=specialization, display_name=specialization.title(), definition_sha256="0" * 64
                )
            )


def add_persona(
    database: Database, persona_id: str, specialization: str = "depression", name: str = "Robin"
) -> PersonaCard:
    ensure_specialization(database, specialization)
    card = make_card(name)
    with database.session() as session:
        session.add(
            Persona(
                id=persona_id,
                specialization_id=specialization,
                card=card.model_dump(),
                source_author_hash="h-" + persona_id,
                source_comment_ids=["c1"],
                backend="transformers",
                model="tiny",
                prompt_version="test",
            )
        )
    return card


def add_conversation(
    database: Database,
    conversation_id: str,
    persona_id: str,
    turns: list[tuple[str, str]],
    specialization: str = "depression",
    **provenance: object,
) -> None:
    with database.session() as session:
        conversation = Conversation(
            id=conversation_id,
            persona_id=persona_id,
            specialization_id=specialization,
            provenance=dict(provenance),
        )
        conversation.turns = [Turn(turn=i, question=q, answer=a) for i, (q, a) in enumerate(turns)]
        session.add(conversation)
