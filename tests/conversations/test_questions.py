"""Question banks and the plan of a conversation."""

import random

from jedi_academy.conversations.questions import load_question_bank, phase_plan, plan_questions


def test_plan_opens_with_intake_ends_with_goals_and_explores_in_between() -> None:
    assert phase_plan(1) == ["intake"]
    assert phase_plan(3) == ["intake", "symptoms", "situations"]
    plan = phase_plan(8)
    assert plan[0] == "intake" and plan[-1] == "goals" and len(plan) == 8
    assert {"symptoms", "situations", "history"} <= set(plan)


def test_questions_are_distinct_seeded_and_addressed_to_the_persona() -> None:
    bank = load_question_bank("depression")
    first = plan_questions(bank, 10, random.Random("s:1"), "Robin")
    assert len({q.id for q in first}) == 10
    assert "{name}" not in first[0].text and "Robin" in first[0].text
    assert first == plan_questions(bank, 10, random.Random("s:1"), "Robin")
    assert first != plan_questions(bank, 10, random.Random("s:2"), "Robin")
    assert [q.phase for q in first][:2] == ["intake", "symptoms"]


def test_plan_stops_when_the_bank_runs_dry_and_unknown_specializations_use_shared_questions() -> None:
    generic = load_question_bank("not-a-specialization")
    assert not generic.specific and generic.phase("situations") == []
    plan = plan_questions(generic, 500, random.Random(0), "Sam")
    exploration = sum(len(generic.phase(p)) for p in ("symptoms", "situations", "follow_up", "history"))
    assert len(plan) == 1 + exploration + 1 and len({q.id for q in plan}) == len(plan)
    assert load_question_bank("depression").version != generic.version
