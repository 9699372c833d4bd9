"""One loop iteration on the tiny model: expansion with provenance, a dataset version whose parent is the
checkpoint's dataset, a child checkpoint of the session's checkpoint, a validity-gated assessment with change;
a re-run skips every step; the CLI prints the same record."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from jedi_academy.cli import main
from jedi_academy.store.models import Case, Checkpoint, Conversation, DatasetMember, DatasetVersion
from tests.loop.conftest import LoopWorld, context_for

STEPS = ("expand", "merge", "refine", "reassess", "control")


def _members(db: Any, dataset: str) -> set[str]:
    return set(db.scalars(select(DatasetMember.conversation_id).where(DatasetMember.dataset_id == dataset)))


def test_one_iteration(looped: tuple[LoopWorld, Any]) -> None:
    from jedi_academy.sessions import session_json

    world, run = looped
    result = run["result"]
    assert run["stages"] == [(s, st) for s in STEPS for st in ("start", "done")]
    assert result.status == "done"
    assert result.parent_checkpoint_id == world.start_checkpoint
    assert result.parent_dataset_id == world.start_dataset
    session = session_json(world.database, world.session_id)
    decided = [r for r in session.recommendations if r.accepted is not None]
    assert decided and all((r.preference_mass or 0) >= 0.5 for r in decided)  # the planted patient decides

    with world.database.session() as db:
        version = db.get(DatasetVersion, result.dataset_id)
        assert version is not None and version.parent_id == world.start_dataset
        members = _members(db, version.id)
        assert _members(db, world.start_dataset) < members  # the parent's data is replayed
        assert set(result.conversation_ids) <= members
        new = [db.get(Conversation, c) for c in result.conversation_ids]
        origins = sorted(c.origin for c in new if c is not None)
        assert origins.count("session") == 1
        assert origins.count("expansion") == len(decided)
        for conversation in new:
            assert conversation is not None and conversation.persona_id == "p-robin"
            assert conversation.provenance["session_id"] == world.session_id
            assert conversation.provenance["contaminated"] is False
            assert conversation.provenance["guards"]["contamination"]["instruments"]
            if conversation.origin == "session":
                kept = [t.therapist for t in session.turns if t.patient and t.index != 3]
                assert [t.question for t in conversation.turns] == kept  # turn 3 reads out PHQ-9 item 9
                continue
            rec = next(r for r in decided if r.id == conversation.provenance["recommendation_id"])
            assert conversation.provenance["accepted"] == rec.accepted
            assert (conversation.provenance["outcome"] == "not tried") == (not rec.accepted)
            drawn = conversation.provenance["outcome_draw"]
            if rec.accepted:  # the planted teacher's "Yes"/"No" is no judgement: the neutral row, said so
                assert rec.advice is not None and rec.advice["judgement"] == "unjudged"
                assert drawn["judgement"] == "unjudged" and drawn["row"] == "neutral"
                assert drawn["outcome"] == conversation.provenance["outcome"] and 0 <= drawn["u"] < 1
                assert "drawn from the neutral row" in drawn["judgement_reason"]
            else:
                assert drawn is None
            assert conversation.provenance["teacher"]["model"] == world.settings.model
            assert conversation.provenance["prompt_version"].startswith("expansion-")
            assert isinstance(conversation.provenance["seed"], int)
            assert rec.text in conversation.turns[0].question
            assert all(t.answer.strip() for t in conversation.turns)
        child = db.get(Checkpoint, result.checkpoint_id)
        assert child is not None and child.parent_id == world.start_checkpoint
        assert child.dataset_id == result.dataset_id
        case = db.get(Case, world.case_id)
        assert case is not None and case.current_checkpoint_id == child.id  # the next session runs on it

    assert result.training["strategy"] == "continue"
    assert result.training["config"]["max_steps"] == 2
    assessment = result.assessment
    assert set(assessment["scores"]) == {"phq-9"}
    score = assessment["scores"]["phq-9"]
    assert score["checkpoint_id"] == child.id
    if score["valid"]:
        assert 0 <= score["total"] <= 27 and score["ci95"][0] <= score["ci95"][1]
    else:
        assert score["total"] is None and score["problems"]
    change = assessment["change_vs_previous"]["phq-9"]
    assert change["classification"] in (
        None, "reliable improvement", "no reliable change", "reliable deterioration"
    )  # fmt: skip
    if change["classification"] is not None:
        previous = assessment["previous_scores"]["phq-9"]["total"]
        assert change["change"] == pytest.approx(score["total"] - previous)
    # the session ran on the case's first checkpoint, so previous and baseline are the same measurement
    assert change == assessment["change_vs_baseline"]["phq-9"]


def test_rerun_skips_every_step(looped: tuple[LoopWorld, Any], capsys: pytest.CaptureFixture[str]) -> None:
    from jedi_academy.loop import run_loop

    world, run = looped
    again: list[tuple[str, str]] = []
    rerun = run_loop(context_for(world), world.session_id, on_stage=lambda s, st, _m: again.append((s, st)))
    assert again == [(s, "skip") for s in STEPS]
    assert rerun == run["result"]

    capsys.readouterr()
    assert main([*world.cli, "loop", "--session", world.session_id[:6], "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == run["result"].as_dict()  # `--json` is the result's own serialisation, key for key
    assert set(printed["assessment"]) >= {"scores", "change_vs_previous", "change_vs_baseline", "valid"}


def test_loop_refuses_an_unfinished_session(world: LoopWorld, capsys: pytest.CaptureFixture[str]) -> None:
    from jedi_academy.sessions import ModelPool, SessionRunner

    runner = SessionRunner.start(world.database, ModelPool(world.settings), world.case_id, seed=1)
    assert main([*world.cli, "loop", "--session", runner.session_id]) == 1
    err = capsys.readouterr().err
    assert "has not ended" in err and "academy session end" in err and "Traceback" not in err
