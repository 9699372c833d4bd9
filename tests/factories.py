"""Small builders for test data that later stages share (cards, personas, conversations)."""

from __future__ import annotations

from jedi_academy.personas import PersonaCard, PersonaCardV1
from jedi_academy.store import Database
from jedi_academy.store.models import Conversation, Persona, Specialization, Turn


def make_card(
    name: str = "Robin", evidence: tuple[str, ...] = ("c1",), style: str = "plain", **changes: object
) -> PersonaCard:
    """A valid version-2 card; ``changes`` replace top-level fields."""
    ev = list(evidence)

    def trait(text: str, basis: str = "stated", **extra: object) -> dict[str, object]:
        return {"text": text, **extra, "basis": basis, "evidence": ev}

    not_stated = {"text": "not stated", "basis": "not stated", "evidence": []}
    data: dict[str, object] = {
        "schema_version": 2,
        "name": name,
        "conversational_style": style,
        "presenting_problems": [trait("Low mood that has lasted for months")],
        "symptoms": [
            trait("Loss of interest in hobbies", severity="moderate"),
            trait("Poor sleep, waking early", severity="severe"),
        ],
        "demographics": {
            "age_band": "25-34",
            "gender": not_stated,
            "occupation": trait("Works in a warehouse"),
            "relationships": trait("Lives alone, close to a sister"),
            "living_situation": not_stated,
        },
        "cognitive_model": {
            "relevant_history": [trait("A similar episode at university")],
            "core_beliefs": [trait("I am a burden to people", "inferred", family="worthless")],
            "intermediate_beliefs": [trait("If I ask for help, people will see I am weak", "inferred")],
            "coping_strategies": [trait("Long walks, sometimes drinking")],
            "situations": [
                {
                    "situation": "A friend texts about meeting up",
                    "automatic_thought": "They only ask out of pity",
                    "emotion": "shame",
                    "behaviour": "Leaves the message unanswered",
                    "basis": "inferred",
                    "evidence": ev,
                },
                {
                    "situation": "Awake before dawn again",
                    "automatic_thought": "Another day I will waste",
                    "emotion": "dread",
                    "behaviour": "Stays in bed until noon",
                    "basis": "stated",
                    "evidence": ev,
                },
            ],
        },
        "stage_of_change": {"stage": "contemplation", "basis": "inferred", "evidence": ev},
        "resistances": [trait("Doubts that talking helps", move="downplay")],
        "goals": [trait("Enjoy weekends again")],
        "speaking_style": trait("Short, flat sentences with dry humour"),
        "risk": {
            "suicidal_ideation": {"level": "passive", "basis": "stated", "evidence": ev},
            "self_harm": {"level": "not stated", "basis": "not stated", "evidence": []},
            "substances": {"level": "some", "basis": "stated", "evidence": ev},
            "protective_factors": [trait("Close to a sister")],
        },
    }
    data.update(changes)
    return PersonaCard.model_validate(data)


def make_card_v1(name: str = "Robin", evidence: tuple[str, ...] = ("c1",)) -> PersonaCardV1:
    """A card of schema version 1, as stored before version 2."""
    ev = list(evidence)
    return PersonaCardV1.model_validate(
        {
            "name": name,
            "presenting_problems": [{"text": "Low mood that has lasted for months", "evidence": ev}],
            "symptoms": [{"text": "Loss of interest in hobbies", "evidence": ev, "severity": "moderate"}],
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
    database: Database,
    persona_id: str,
    specialization: str = "depression",
    name: str = "Robin",
    *,
    card: PersonaCard | PersonaCardV1 | None = None,
    author: str | None = None,
) -> PersonaCard | PersonaCardV1:
    ensure_specialization(database, specialization)
    card = card or make_card(name)
    with database.session() as session:
        session.add(
            Persona(
                id=persona_id,
                specialization_id=specialization,
                card=card.model_dump(),
                source_author_hash=author or "h-" + persona_id,
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


def add_protocol_runs(database: Database, checkpoint: str, personas: list[str]) -> dict[str, int]:
    """Stored PHQ-9 runs (invalid, as the tiny model's are) under the default protocol (logprob, seed 0, the
    current prompt and attention items): `case open` then finds its baseline stored instead of measuring it,
    for tests about something else than the measurement."""
    from jedi_academy.assessment.protocol import make_protocol
    from jedi_academy.store.models import AssessmentRun

    planted = {}
    with database.session() as session:
        for persona in personas:
            protocol = make_protocol(persona, ["phq-9"])
            run = AssessmentRun(
                checkpoint_id=checkpoint, model="tiny", backend="transformers", persona_id=persona,
                instrument_id="phq-9", instrument_version="1", prompt_version=protocol.prompt_version,
                mode="logprob", seed=0, total=None, ci_low=None, ci_high=None,
                result={"attention": {"version": protocol.attention_version}, "validity": {"valid": False}},
            )  # fmt: skip
            session.add(run)
            session.flush()
            planted[persona] = run.id
    return planted
