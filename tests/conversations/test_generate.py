"""Conversation generation on the tiny model, and the retry logic on scripted invalid replies."""

import pytest
from sqlalchemy import select

from jedi_academy.conversations.generate import ConversationOptions, generate_conversations
from jedi_academy.conversations.prompt import CONVERSATION_PROMPT_VERSION
from jedi_academy.conversations.questions import load_question_bank
from jedi_academy.conversations.service import personas_for, require_generated
from jedi_academy.errors import AcademyError
from jedi_academy.guard.contamination import ContaminationGuard, Phrase, guard_for_specialization
from jedi_academy.store import open_database
from jedi_academy.store.models import Conversation
from tests.factories import add_persona
from tests.personas.helpers import ScriptedLLM

GUIDANCE = "Portray low mood through specifics."


@pytest.fixture
def database(settings):  # type: ignore[no-untyped-def]
    db = open_database(settings)
    add_persona(db, "p-one", name="Robin")
    add_persona(db, "p-two", name="Sasha")
    return db


def run(database, llm, options, guard=None, bank=None):  # type: ignore[no-untyped-def]
    return generate_conversations(
        database,
        llm,
        "depression",
        personas_for(database, "depression"),
        bank or load_question_bank("depression"),
        guard or guard_for_specialization("depression"),
        GUIDANCE,
        options,
    )


def conversations(database) -> list[Conversation]:  # type: ignore[no-untyped-def]
    with database.session() as session:
        rows = list(session.scalars(select(Conversation).order_by(Conversation.id)))
        for row in rows:
            _ = row.turns
        return rows


def test_tiny_model_conversations_are_stored_turn_by_turn_with_provenance(database, tiny_llm) -> None:  # type: ignore[no-untyped-def]
    options = ConversationOptions(per_persona=2, turns=3, seed=9, max_tokens=12, keep_truncated=True)
    report = run(database, tiny_llm, options)
    assert report.generated == 4 and report.complete == 4 and report.turns == 12
    assert report.kept_truncated + report.trimmed == 12 and report.instruments_checked == ["phq-9"]

    rows = conversations(database)
    assert {r.persona_id for r in rows} == {"p-one", "p-two"}
    for row in rows:
        assert row.specialization_id == "depression" and row.origin == "generated"
        assert [t.turn for t in row.turns] == [0, 1, 2] and all(t.answer.strip() for t in row.turns)
        assert row.turns[0].question.split(",")[0] != "{name}"
        provenance = row.provenance
        assert (provenance["backend"], provenance["model"], provenance["seed"]) == ("transformers", "tiny", 9)
        assert provenance["prompt_version"] == CONVERSATION_PROMPT_VERSION
        assert provenance["contaminated"] is False and provenance["complete"] is True
        assert [t["question"].split(":")[1] for t in provenance["turns"]][:1] == ["intake"]
    assert len({tuple(t.question for t in r.turns) for r in rows}) > 1  # questions vary between conversations

    again = run(database, tiny_llm, options)
    assert again.existing == 4 and again.generated == 0
    require_generated(again)  # nothing new to do is not an error


def test_truncated_answers_are_retried_and_a_run_with_nothing_usable_fails_clearly(
    database, tiny_llm
) -> None:  # type: ignore[no-untyped-def]
    options = ConversationOptions(per_persona=1, turns=2, max_tokens=6, max_attempts=2)
    report = run(database, tiny_llm, options)
    assert report.generated == 0 and report.rejected["truncated"] >= 2
    assert sum(report.dropped.values()) == 2
    with pytest.raises(AcademyError, match="no conversation was stored") as caught:
        require_generated(report)
    assert "--keep-truncated" in (caught.value.hint or "")


def test_contaminated_and_empty_answers_are_regenerated_and_never_stored(database) -> None:  # type: ignore[no-untyped-def]
    """Scripted replies (not the real decoding path): only the retry and counting logic is under test."""
    leaked = "Feeling down, depressed, or hopeless, I suppose."
    llm = ScriptedLLM(
        {
            "You are Robin": [leaked, "  ", "I'm tired, mostly.", "Work is hard."],
            "You are Sasha": [leaked],
        }
    )
    options = ConversationOptions(per_persona=1, turns=2, max_attempts=3)
    report = run(database, llm, options)
    assert report.rejected == {"contaminated": 4, "empty": 1}
    assert report.generated == 1 and report.dropped == {"contaminated": 1}
    (row,) = conversations(database)
    assert row.persona_id == "p-one" and [t.answer for t in row.turns] == [
        "I'm tired, mostly.",
        "Work is hard.",
    ]
    assert row.provenance["turns"][0]["attempts"] == 3
    assert [params.seed for params in llm.calls] == [0, 1, 2, 3]


def test_sudden_recovery_is_regenerated(database) -> None:  # type: ignore[no-untyped-def]
    llm = ScriptedLLM({"You are": ["Honestly, you've fixed me. I feel so much better!", "It's still hard."]})
    report = run(database, llm, ConversationOptions(per_persona=1, turns=2))
    assert report.rejected == {"self_cure": 1} and report.generated == 2  # one script shared by both personas
    assert {t.answer for r in conversations(database) for t in r.turns} == {"It's still hard."}


def test_conversation_that_fails_late_is_kept_as_incomplete(database) -> None:  # type: ignore[no-untyped-def]
    llm = ScriptedLLM({"You are Robin": ["Fine.", "Okay.", ""], "You are Sasha": ["Fine.", "Okay.", ""]})
    report = run(database, llm, ConversationOptions(per_persona=1, turns=4, max_attempts=2))
    assert report.generated == 2 and report.incomplete == 2 and report.ended_early == {"empty": 2}
    assert all(len(r.turns) == 2 and r.provenance["complete"] is False for r in conversations(database))


def test_bank_questions_with_instrument_wording_are_never_asked(database) -> None:  # type: ignore[no-untyped-def]
    bank = load_question_bank("depression")
    banned = bank.phase("intake")[0].text.replace("{name}", "X")
    guard = ContaminationGuard([Phrase("fake", "item", "item 1", banned.split(",", 1)[1])])
    llm = ScriptedLLM({"You are": ["Fine, I guess."]})
    report = run(database, llm, ConversationOptions(per_persona=3, turns=2), guard=guard, bank=bank)
    assert report.questions_excluded == 1 and report.generated == 6
    asked = {t.question for r in conversations(database) for t in r.turns}
    assert not any(guard.is_contaminated(q) for q in asked)
