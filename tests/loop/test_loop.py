"""One loop iteration on the tiny model: expansion with provenance, a dataset version whose parent is the
checkpoint's dataset, a child checkpoint of the session's checkpoint, a validity-gated assessment with change;
a re-run skips every step."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from jedi_academy.store.models import Case, Checkpoint, Conversation, DatasetMember, DatasetVersion
from tests.loop.conftest import LOOP, LoopWorld, context_for


def test_one_iteration_then_rerun_skips(world: LoopWorld, tiny_llm: Any) -> None:
    from jedi_academy.loop import LoopOptions, run_loop
    from jedi_academy.sessions import session_json

    options = LoopOptions(**LOOP)
    stages: list[tuple[str, str]] = []
    result = run_loop(
        context_for(world, tiny_llm),
        world.session_id,
        options,
        on_stage=lambda s, st, _m: stages.append((s, st)),
    )
    assert stages == [(s, st) for s in ("expand", "merge", "refine", "reassess") for st in ("start", "done")]
    assert result["status"] == "done"
    assert result["parent_checkpoint_id"] == world.start_checkpoint
    assert result["parent_dataset_id"] == world.start_dataset
    session = session_json(world.database, world.session_id)
    decided = [r for r in session["recommendations"] if r["accepted"] is not None]

    with world.database.session() as db:
        version = db.get(DatasetVersion, result["dataset_id"])
        assert version is not None and version.parent_id == world.start_dataset
        members = set(
            db.scalars(select(DatasetMember.conversation_id).where(DatasetMember.dataset_id == version.id))
        )
        parent_members = set(
            db.scalars(
                select(DatasetMember.conversation_id).where(DatasetMember.dataset_id == world.start_dataset)
            )
        )
        assert parent_members < members  # the parent's data is replayed
        new = [db.get(Conversation, c) for c in result["conversation_ids"]]
        assert set(result["conversation_ids"]) <= members
        origins = sorted(c.origin for c in new if c is not None)
        assert origins.count("session") == 1
        assert origins.count("expansion") == len(decided)
        for conversation in new:
            assert conversation is not None and conversation.persona_id == "p-robin"
            assert conversation.provenance["session_id"] == world.session_id
            assert conversation.provenance["contaminated"] is False
            if conversation.origin == "expansion":
                rec = next(r for r in decided if r["id"] == conversation.provenance["recommendation_id"])
                assert conversation.provenance["accepted"] == rec["accepted"]
                assert conversation.provenance["teacher"]["model"] == "tiny"
                assert conversation.provenance["prompt_version"].startswith("expansion-")
                assert rec["text"] in conversation.turns[0].question
                assert all(t.answer.strip() for t in conversation.turns)
        child = db.get(Checkpoint, result["checkpoint_id"])
        assert child is not None and child.parent_id == world.start_checkpoint
        assert child.dataset_id == result["dataset_id"]
        case = db.get(Case, world.case_id)
        assert case is not None and case.current_checkpoint_id == child.id  # the next session runs on it

    assert result["training"]["strategy"] == "continue"
    assessment = result["assessment"]
    assert set(assessment["scores"]) == {"phq-9"}
    score = assessment["scores"]["phq-9"]
    assert score["checkpoint_id"] == child.id
    if score["valid"]:
        assert 0 <= score["total"] <= 27 and score["ci95"][0] <= score["ci95"][1]
    else:
        assert score["total"] is None and score["problems"]
    change = assessment["change_vs_previous"]["phq-9"]
    assert change["classification"] in (
        None,
        "reliable improvement",
        "no reliable change",
        "reliable deterioration",
    )
    # the session's checkpoint is the case's baseline here, so both changes agree
    assert change == assessment["change_vs_baseline"]["phq-9"]

    again: list[tuple[str, str]] = []
    rerun = run_loop(
        context_for(world, tiny_llm), world.session_id, on_stage=lambda s, st, _m: again.append((s, st))
    )
    assert again == [(s, "skip") for s in ("expand", "merge", "refine", "reassess")]
    assert rerun == result
