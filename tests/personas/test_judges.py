"""The first-person filter, the grounding judge and style balance: on the tiny model (the real constrained
path) and on scripted verdicts (the dropping and retry logic)."""

import json
from collections import Counter

import pytest
from sqlalchemy import select

from jedi_academy.personas.card import NOT_STATED, STYLES, PersonaCard
from jedi_academy.personas.generate import generate_personas, next_style
from jedi_academy.personas.judge import apply_verdicts, drop_elements, first_person_heuristic
from jedi_academy.specializations import get_specialization, sync_specializations
from jedi_academy.store import open_database
from jedi_academy.store.models import Persona
from tests.factories import make_card
from tests.personas.helpers import ScriptedLLM, make_bundle, tiny_options

PARENT = [
    "My son was diagnosed last spring and the school still does not understand what he needs at all.",
    "My son melts down after every school day and we spend the evening calming him down again.",
    "Our paediatrician keeps telling us my son will grow out of it, which is not how autism works.",
    "My son finally has a teacher who gets him, and he came home smiling for the first time.",
]


@pytest.fixture
def database(settings):  # type: ignore[no-untyped-def]
    db = open_database(settings)
    sync_specializations(db, [get_specialization("depression")])
    return db


def test_first_person_heuristic_keeps_writers_about_themselves() -> None:
    assert first_person_heuristic([c.body for c in make_bundle("alice").comments])
    assert not first_person_heuristic(PARENT)
    assert not first_person_heuristic(["The weather is grey.", "Traffic was bad.", "Rain again."])


def test_a_parent_writing_about_a_child_does_not_become_a_persona(database) -> None:  # type: ignore[no-untyped-def]
    spec = get_specialization("depression")
    llm = ScriptedLLM({"You write persona cards": [_reply()]})
    bundles = [make_bundle("parent", PARENT), make_bundle("alice")]
    report = generate_personas(database, llm, spec, bundles, tiny_options(n=2))
    assert report.not_first_person == 1 and report.generated == 1 and report.tried == 2
    with database.session() as session:
        assert [p.source_author_hash for p in session.scalars(select(Persona))] == ["alice"]


def _reply(person: str = "") -> str:
    data = make_card(evidence=("C1",)).model_dump()
    for key in ("schema_version", "conversational_style"):
        data.pop(key)
    if person:
        data["presenting_problems"][0]["text"] = f"{person} cannot get going in the morning"
    return json.dumps(data)


def _verdicts(unsupported: set[int]) -> str:
    claims = len(list(make_card().grounded()))
    return json.dumps(
        {f"t{n}": "unsupported" if n in unsupported else "supported" for n in range(1, claims + 1)}
    )


def test_unsupported_traits_are_dropped_and_a_card_without_its_core_is_regenerated(database) -> None:  # type: ignore[no-untyped-def]
    """Scripted verdicts (not the real decoding path): only the dropping and retry logic is under test."""
    spec = get_specialization("depression")
    paths = [path for path, _, _ in make_card().grounded()]
    symptom = paths.index("symptoms.1") + 1
    occupation = paths.index("demographics.occupation") + 1
    llm = ScriptedLLM(
        {
            "You screen forum comments": ['{"writes_about": "own experience"}'],
            "You check a persona card": [_verdicts({1}), _verdicts({symptom, occupation})],
            "You write persona cards": [_reply()],
        }
    )
    report = generate_personas(database, llm, spec, [make_bundle("alice")],
                               tiny_options(n=1, grounding=True, first_person="judge"))  # fmt: skip
    assert report.generated == 1 and report.rejected == {"ungrounded": 1}
    claims = len(paths)
    assert report.grounding == {"cards": 2, "checked": 2 * claims, "supported": 2 * claims - 3, "dropped": 3,
                                "judge_failed": 0}  # fmt: skip
    with database.session() as session:
        row = session.scalars(select(Persona)).one()
    card = PersonaCard.model_validate(row.card)
    assert [s.text for s in card.symptoms] == ["Loss of interest in hobbies"]
    assert card.demographics.occupation.text == NOT_STATED
    assert row.metrics["grounding"]["dropped"] == ["symptoms.1", "demographics.occupation"]
    assert row.metrics["grounding"]["support_rate"] == round((claims - 2) / claims, 4)


def test_dropping_keeps_the_card_valid_or_says_it_cannot() -> None:
    card = make_card()
    assert drop_elements(card, ["presenting_problems.0"]) is None  # a card needs a presenting problem
    assert drop_elements(card, ["cognitive_model.situations.0"]) is None  # and two situation chains
    lighter = drop_elements(card, ["risk.suicidal_ideation", "stage_of_change", "goals.0"])
    assert lighter is not None and lighter.risk.suicidal_ideation.level == NOT_STATED
    assert lighter.stage_of_change.stage == NOT_STATED and lighter.goals == []
    assert apply_verdicts(card, None, 3).judge_failed  # an unreadable verdict changes nothing


def test_tiny_model_grounding_and_first_person_judges_store_their_rates(database, tiny_llm) -> None:  # type: ignore[no-untyped-def]
    spec = get_specialization("depression")
    bundles = [make_bundle(name) for name in ("alice", "bob")]
    options = tiny_options(n=2, grounding=True, first_person="judge", max_attempts=1, seed=3)
    report = generate_personas(database, tiny_llm, spec, bundles, options)
    accounted = (
        report.generated + report.not_first_person + sum(report.skipped.values()) + report.near_duplicates
    )
    assert accounted == report.tried
    g = report.grounding
    assert g["cards"] > 0 and g["checked"] + g["judge_failed"] > 0
    assert g["supported"] + g["dropped"] == g["checked"]
    with database.session() as session:
        rows = list(session.scalars(select(Persona)))
    for row in rows:
        grounding = row.metrics["grounding"]
        assert grounding["checked"] == grounding["supported"] + len(grounding["dropped"])
        card = PersonaCard.model_validate(row.card)
        assert len(list(card.grounded())) == grounding["supported"]  # only supported elements are left
    assert len({PersonaCard.model_validate(r.card).conversational_style for r in rows}) == len(rows)


def test_styles_are_balanced_across_a_specialization() -> None:
    counts: Counter[str] = Counter()
    for _ in range(12):
        counts[next_style(counts, seed=5)] += 1
    assert counts == Counter({style: 2 for style in STYLES})
    assert next_style(Counter({s: 1 for s in STYLES if s != "tangent"}), seed=0) == "tangent"
