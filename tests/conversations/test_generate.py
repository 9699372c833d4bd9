"""Responsive conversation generation on the tiny model, and the retry, risk and judge logic on scripted
replies."""

import pytest
from sqlalchemy import select

from jedi_academy.conversations.generate import (
    ConversationOptions,
    PersonaInput,
    _Draft,
    conversation_id_for,
    generate_conversations,
    next_therapist_turns,
)
from jedi_academy.conversations.plans import load_plans
from jedi_academy.conversations.prompt import CONVERSATION_PROMPT_VERSION
from jedi_academy.conversations.questions import load_question_bank
from jedi_academy.conversations.service import personas_for, require_generated
from jedi_academy.errors import AcademyError
from jedi_academy.guard.contamination import ContaminationGuard, Phrase, guard_for_all_instruments
from jedi_academy.store import open_database
from jedi_academy.store.models import Conversation
from tests.factories import add_persona, make_card
from tests.personas.helpers import ScriptedLLM

GUIDANCE = "Portray low mood through specifics."
THERAPIST = "You are a psychotherapist"
JUDGES = {  # scripted judges that find nothing wrong (they come first: their prompts quote the card)
    "simulated therapy client's reply": ['{"claims_recovery": "no"}'],
    "Judge whether what they said": ['{"consistent": "yes", "in_style": "yes"}'],
}


@pytest.fixture
def database(settings):  # type: ignore[no-untyped-def]
    db = open_database(settings)
    add_persona(db, "p-one", name="Robin")
    add_persona(db, "p-two", name="Sasha", card=make_card("Sasha", style="verbose"))
    return db


def run(database, llm, options, guard=None, bank=None, sources=None):  # type: ignore[no-untyped-def]
    return generate_conversations(
        database,
        llm,
        "depression",
        personas_for(database, "depression", sources=sources),
        bank or load_question_bank("depression"),
        guard or guard_for_all_instruments(),
        GUIDANCE,
        options,
    )


def conversations(database) -> list[Conversation]:  # type: ignore[no-untyped-def]
    with database.session() as session:
        rows = list(session.scalars(select(Conversation).order_by(Conversation.id)))
        for row in rows:
            _ = row.turns
        return rows


def test_tiny_model_conversations_follow_plans_with_tagged_techniques_at_the_unhelpful_share(
    database, tiny_llm
) -> None:  # type: ignore[no-untyped-def]
    options = ConversationOptions(
        per_persona=3,
        turns=4,
        seed=9,
        max_tokens=12,
        keep_truncated=True,
        therapist_max_tokens=12,
        unhelpful_share=0.34,
        consistency_sample=1.0,
    )
    report = run(database, tiny_llm, options)
    assert report.generated == 6 and report.complete == 6 and report.turns == 24
    assert report.therapist_turns == 24 and report.unhelpful_turns == round(0.34 * 6 * 3)  # openings excluded
    assert {"phq-9", "gad-7", "pcl-5"} <= set(report.instruments_checked)
    assert sum(report.approaches.values()) == 6 and len(report.approaches) == 5  # rotated across the run
    assert sum(report.consistency.values()) in (6, 12)  # every sampled conversation got a verdict

    library = load_plans()
    rows = conversations(database)
    for row in rows:
        assert [t.turn for t in row.turns] == [0, 1, 2, 3] and all(t.answer.strip() for t in row.turns)
        assert all(t.question.strip() for t in row.turns)
        provenance = row.provenance
        assert (provenance["backend"], provenance["model"], provenance["seed"]) == ("transformers", "tiny", 9)
        assert provenance["prompt_version"] == CONVERSATION_PROMPT_VERSION and provenance["plans"]
        assert provenance["guard"]["instruments"]["phq-9"] and provenance["approach"] in library.approaches
        techniques = [t["technique"] for t in provenance["turns"]]
        assert techniques[0] == library.approaches[provenance["approach"]].opening
        assert all(t["helpful"] == library.technique(t["technique"]).helpful for t in provenance["turns"])
    unhelpful = sum(not t["helpful"] for r in rows for t in r.provenance["turns"])
    assert unhelpful == report.unhelpful_turns
    assert {r.provenance["style"] for r in rows} == {"plain", "verbose"}

    again = run(database, tiny_llm, options)
    assert again.existing == 6 and again.generated == 0
    require_generated(again)  # nothing new to do is not an error
    # a new guard (other instruments) is a new conversation key
    narrower = ContaminationGuard([Phrase("x", "item", "item 1", "alpha beta gamma delta epsilon")])
    assert (
        run(
            database, tiny_llm, ConversationOptions(**{**options.__dict__, "per_persona": 1}), guard=narrower
        ).existing
        == 0
    )


def test_the_therapist_turn_answers_the_previous_patient_turn(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    library = load_plans()
    persona = PersonaInput("p", make_card(), "test")
    plan = ["open_question", "complex_reflection"]
    first = _Draft("a", persona, 0, "supportive", list(plan), [], turns=[("Hi.", "I can't sleep at all.")])
    second = _Draft("b", persona, 0, "supportive", list(plan), [], turns=[("Hi.", "My boss shouted at me.")])
    options = ConversationOptions(therapist_max_tokens=16, therapist_temperature=0.0)
    same_a, same_b = next_therapist_turns(tiny_llm, [first, first], library, options, seed=3)
    assert same_a == same_b  # same plan, same answer, same seed: the same turn
    one, other = next_therapist_turns(tiny_llm, [first, second], library, options, seed=3)
    assert one != other  # only the patient's answer differs


def test_a_risk_disclosure_is_kept_flagged_and_followed_by_risk_assessment(database) -> None:  # type: ignore[no-untyped-def]
    llm = ScriptedLLM(
        {
            **JUDGES,
            THERAPIST: ["How have things been?"],
            "You are Robin": [
                "Sometimes I think I would be better off dead.",
                "Not really, no.",
                "My sister.",
            ],
            "You are Sasha": ["Work is hard.", "I cope.", "Walks help."],
        }
    )
    report = run(database, llm, ConversationOptions(per_persona=1, turns=4, unhelpful_share=0.0))
    assert report.risk_followups == 1 and report.disclosures_flagged == 1 and report.generated == 2
    robin = next(r for r in conversations(database) if r.persona_id == "p-one")
    assert robin.turns[0].answer == "Sometimes I think I would be better off dead."
    details = robin.provenance["turns"]
    assert details[0]["flags"] == [{"instrument": "phq-9", "where": "item 9", "kind": "disclosure"}]
    assert [d["technique"] for d in details[1:3]] == ["risk_ideation", "risk_safety"]
    sasha = next(r for r in conversations(database) if r.persona_id == "p-two")
    assert not {"risk_ideation", "risk_safety"} & {d["technique"] for d in sasha.provenance["turns"]}


def test_contaminated_empty_and_copied_answers_are_regenerated_and_never_stored(database) -> None:  # type: ignore[no-untyped-def]
    """Scripted replies (not the real decoding path): only the retry and counting logic is under test."""
    leaked = "Feeling down, depressed, or hopeless, I suppose."
    source = "the worst bit is waking at four in the morning with my heart racing for no reason"
    copied = "Honestly the worst bit is waking at four in the morning with my heart racing."
    llm = ScriptedLLM(
        {
            **JUDGES,
            THERAPIST: ["What brings you here?"],
            "You are Robin": [leaked, "  ", copied, "I'm tired, mostly.", "Work is hard."],
            "You are Sasha": [leaked],
        }
    )
    options = ConversationOptions(per_persona=1, turns=2, max_attempts=4, unhelpful_share=0.0)
    report = run(database, llm, options, sources={"h-p-one": [_Comment("c1", source)]})
    assert report.rejected == {"contaminated": 5, "empty": 1, "copied_wording": 1}
    assert report.generated == 1 and report.dropped == {"contaminated": 1} and report.leak_checked >= 2
    (row,) = conversations(database)
    assert row.persona_id == "p-one" and [t.answer for t in row.turns] == [
        "I'm tired, mostly.",
        "Work is hard.",
    ]
    assert row.provenance["turns"][0]["attempts"] == 4


class _Comment:
    def __init__(self, comment_id: str, body: str) -> None:
        self.id, self.body = comment_id, body


def test_the_self_cure_judge_rejects_claimed_recovery_but_not_masking(database) -> None:  # type: ignore[no-untyped-def]
    cured = "You've helped me so much, I think I'm okay now."
    masking = "I'm much better at pretending I'm fine at work."
    llm = ScriptedLLM(
        {
            f"Client: {cured}": ['{"claims_recovery": "yes"}'],
            f"Client: {masking}": ['{"claims_recovery": "no"}'],
            **JUDGES,
            THERAPIST: ["How are you?"],
            "You are": [cured, masking],
        }
    )
    report = run(database, llm, ConversationOptions(per_persona=1, turns=1, unhelpful_share=0.0))
    assert report.rejected == {"self_cure": 1} and report.self_cure_judged == 3 and report.generated == 2
    assert {t.answer for r in conversations(database) for t in r.turns} == {masking}


def test_conversation_that_fails_late_is_kept_as_incomplete(database) -> None:  # type: ignore[no-untyped-def]
    llm = ScriptedLLM(
        {
            **JUDGES,
            THERAPIST: ["Go on."],
            "You are Robin": ["Fine.", "Okay.", ""],
            "You are Sasha": ["Fine.", "Okay.", ""],
        }
    )
    options = ConversationOptions(per_persona=1, turns=4, max_attempts=2, self_cure_judge=False)
    report = run(database, llm, options)
    assert report.generated == 2 and report.incomplete == 2 and report.ended_early == {"empty": 2}
    assert all(len(r.turns) == 2 and r.provenance["complete"] is False for r in conversations(database))


def test_bank_questions_with_instrument_wording_are_never_offered(database) -> None:  # type: ignore[no-untyped-def]
    bank = load_question_bank("depression")
    banned = bank.phase("intake")[0].text.replace("{name}", "X")
    guard = ContaminationGuard([Phrase("fake", "item", "item 1", banned.split(",", 1)[1])])
    llm = ScriptedLLM({**JUDGES, THERAPIST: ["Tell me more."], "You are": ["Fine, I guess."]})
    report = run(
        database,
        llm,
        ConversationOptions(per_persona=3, turns=2, self_cure_judge=False),
        guard=guard,
        bank=bank,
    )
    assert report.questions_excluded == 1 and report.generated == 6


def test_the_conversation_key_covers_bank_plan_and_guard_versions(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    options = ConversationOptions()
    base = conversation_id_for("p", 0, tiny_llm, options, bank="b1", plans="x", guard="g1")
    assert base != conversation_id_for("p", 0, tiny_llm, options, bank="b2", plans="x", guard="g1")
    assert base != conversation_id_for("p", 0, tiny_llm, options, bank="b1", plans="y", guard="g1")
    assert base != conversation_id_for("p", 0, tiny_llm, options, bank="b1", plans="x", guard="g2")
    other = ConversationOptions(unhelpful_share=0.5)
    assert base != conversation_id_for("p", 0, tiny_llm, other, bank="b1", plans="x", guard="g1")
    with pytest.raises(ValueError):
        ConversationOptions(approaches=("hypnosis",))
    with pytest.raises(AcademyError):
        require_generated(run_nothing())


def run_nothing():  # type: ignore[no-untyped-def]
    from jedi_academy.conversations.generate import ConversationReport

    return ConversationReport("depression", "x", "y", "v", 0, requested=2, replies=2)
