"""Persona generation end to end on the tiny model, and the retry logic on scripted invalid replies."""

import json

import pytest
from sqlalchemy import select

from jedi_academy.errors import AcademyError
from jedi_academy.guard.contamination import guard_for_specialization
from jedi_academy.personas import persona_system_prompt
from jedi_academy.personas.generate import generate_personas
from jedi_academy.personas.prompt import GENERATION_PROMPT_VERSION
from jedi_academy.personas.service import require_generated
from jedi_academy.specializations import get_specialization, sync_specializations
from jedi_academy.store import open_database
from jedi_academy.store.models import Persona
from tests.factories import make_card
from tests.personas.helpers import ScriptedLLM, make_bundle, tiny_options


@pytest.fixture
def database(settings):  # type: ignore[no-untyped-def]
    db = open_database(settings)
    sync_specializations(db, [get_specialization("depression")])
    return db


def stored(database) -> list[Persona]:  # type: ignore[no-untyped-def]
    with database.session() as session:
        return list(session.scalars(select(Persona).order_by(Persona.created_at)))


def test_tiny_model_personas_are_stored_with_provenance_one_per_author(database, tiny_llm) -> None:  # type: ignore[no-untyped-def]
    spec = get_specialization("depression")
    bundles = [make_bundle(name) for name in ("alice", "bob", "carol")]
    bundles.append(make_bundle("dora", ["too short", "far too short", "still short"]))
    guard = guard_for_specialization("depression")
    report = generate_personas(database, tiny_llm, spec, bundles, tiny_options(n=2, seed=11), guard=guard)
    assert report.generated == 2 and report.eligible == 3 and report.tried == 2
    assert report.skipped == {} and report.near_duplicates == 0

    rows = stored(database)
    assert sorted(r.id for r in rows) == sorted(report.persona_ids)
    by_author = {b.author: b for b in bundles}
    for row in rows:
        bundle = by_author[row.source_author_hash]
        assert set(row.source_comment_ids) <= set(bundle.comment_ids)
        card = make_card().model_validate(row.card)
        assert card.evidence_ids() <= set(row.source_comment_ids)
        assert (row.backend, row.model, row.prompt_version) == (
            "transformers",
            "tiny",
            GENERATION_PROMPT_VERSION,
        )
        assert row.seed == 11 and row.metrics["attempts"] == 1
        assert row.metrics["privacy"]["longest_common_run"] <= 7
        prompt = persona_system_prompt(database, row.id[:8])
        assert prompt.startswith(f"You are {card.name}") and not any(c in prompt for c in bundle.comment_ids)

    again = generate_personas(database, tiny_llm, spec, bundles, tiny_options(n=2, seed=11), guard=guard)
    assert again.already_used == 2 and again.tried == 1 and again.generated == 1
    assert len({r.source_author_hash for r in stored(database)}) == 3

    exhausted = generate_personas(database, tiny_llm, spec, bundles, tiny_options(n=1))
    assert exhausted.tried == 0
    with pytest.raises(AcademyError, match="already have a persona"):
        require_generated(exhausted, tiny_options(n=1))


def test_near_duplicates_are_dropped_and_counted(database, tiny_llm) -> None:  # type: ignore[no-untyped-def]
    spec = get_specialization("depression")
    bundles = [make_bundle(name) for name in ("alice", "bob")]
    # threshold 0: any card is "as similar as" the first one kept, so only the first survives
    report = generate_personas(database, tiny_llm, spec, bundles, tiny_options(n=2, duplicate_threshold=0.0))
    assert report.generated == 1 and report.near_duplicates == 1 and report.tried == 2
    assert len(stored(database)) == 1


def card_reply(evidence: str = "C1", person: str = "", **text_changes: str) -> str:
    """A valid card citing ``evidence``; ``person`` makes every trait text its own (no near-duplicates)."""
    data = make_card(evidence=(evidence,)).model_dump()
    if person:
        for number, trait in enumerate(_traits(data)):
            trait["text"] = f"{person} trait {number} about {person.lower()} life"
        for number, situation in enumerate(data["cognitive_model"]["situations"]):
            for key in ("situation", "automatic_thought", "behaviour"):
                situation[key] = f"{person} {key} {number} of {person.lower()} days"
    for field, text in text_changes.items():
        (data[field] if field in data else data["cognitive_model"][field])[0]["text"] = text
    return json.dumps(data)


def _traits(data: dict) -> list[dict]:  # type: ignore[type-arg]
    model = data["cognitive_model"]
    top = ("presenting_problems", "symptoms", "goals", "resistances")
    nested = ("relevant_history", "core_beliefs", "intermediate_beliefs", "coping_strategies")
    return (
        [t for f in top for t in data[f]]
        + [t for f in nested for t in model[f]]
        + [
            data["demographics"]["occupation"],
            data["demographics"]["relationships"],
            data["speaking_style"],
            *data["risk"]["protective_factors"],
        ]
    )


def test_invalid_replies_are_retried_then_the_author_is_skipped(database) -> None:  # type: ignore[no-untyped-def]
    """Scripted replies (not the real decoding path): only the retry and counting logic is under test."""
    spec = get_specialization("depression")
    bundles = [make_bundle("alice"), make_bundle("bob"), make_bundle("carol")]
    copied = bundles[1].comments[0].body.split("(")[0]  # a whole source comment, word for word
    llm = ScriptedLLM(
        {
            "(alice)": [card_reply("C9"), card_reply("C2")],  # invalid evidence, then valid
            "(bob)": ['{"name": "Bo', "not json", card_reply(coping_strategies=copied)],  # never valid
            "(carol)": [
                card_reply(person="Maple", coping_strategies="Little interest or pleasure in doing things"),
                card_reply("C1", person="Maple"),
            ],
        }
    )
    options = tiny_options(n=3, max_attempts=3, seed=40)
    report = generate_personas(
        database, llm, spec, bundles, options, guard=guard_for_specialization("depression")
    )

    assert report.generated == 2 and report.replies == 7
    assert report.rejected == {"invalid_evidence": 1, "truncated": 1, "invalid_json": 1, "copied_wording": 1,
                               "instrument_wording": 1}  # fmt: skip
    assert report.skipped == {"copied_wording": 1}
    rows = {r.source_author_hash: r for r in stored(database)}
    assert set(rows) == {"alice", "carol"}
    assert rows["alice"].seed == 41 and rows["alice"].metrics["attempts"] == 2
    assert make_card().model_validate(rows["alice"].card).evidence_ids() == {"alicex1"}
    # every call asked for the card schema with evidence limited to the labels shown
    for params in llm.calls:
        enum = params.json_schema["properties"]["goals"]["items"]["properties"]["evidence"]["items"]["enum"]
        assert enum == ["C1", "C2", "C3", "C4"]


def test_a_run_that_stores_nothing_says_why(database) -> None:  # type: ignore[no-untyped-def]
    spec = get_specialization("depression")
    llm = ScriptedLLM({"(alice)": ["not json"]})
    options = tiny_options(n=1, max_attempts=2)
    report = generate_personas(database, llm, spec, [make_bundle("alice")], options)
    assert report.generated == 0 and report.skipped == {"invalid_json": 1}
    with pytest.raises(AcademyError, match=r"no persona was stored: 1 author\(s\) tried.*invalid_json 2"):
        require_generated(report, options)
    with pytest.raises(AcademyError, match="none of the 1 authors"):
        empty = generate_personas(database, llm, spec, [make_bundle("x", ["tiny", "tiny", "tiny"])], options)
        require_generated(empty, options)
