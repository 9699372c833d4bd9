"""The no-therapist control (issue 26 point 3): the effect arithmetic and its interval as pure functions, and
one loop iteration on the tiny model with its control child (same parent, budget and seed; neutral
conversations; a control checkpoint no case may run on; the therapist effect in the record and the CLI)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from sqlalchemy import select

from jedi_academy.cli import main
from jedi_academy.errors import AcademyError
from jedi_academy.instruments.effect import (
    BETTER,
    NO_DIFFERENCE,
    NO_INTERVAL,
    WORSE,
    Z95,
    case_effect,
    effect_text,
    session_effect,
)
from jedi_academy.store.models import Checkpoint, Conversation, DatasetVersion
from tests.loop.conftest import LoopWorld


def _m(total: float | None, se: float | None = 0.3, valid: bool = True) -> dict[str, Any]:
    problems = [] if valid else ["option mass 0.02 below 0.5"]
    return {"valid": valid, "total": total if valid else None, "standard_error": se, "problems": problems}


def test_effect_is_the_difference_of_changes_with_both_standard_errors() -> None:
    effect = session_effect(_m(9.0, 0.3), _m(12.0, 0.4), _m(11.0, 0.2))
    assert effect["therapist_change"] == pytest.approx(-2.0)
    assert effect["control_change"] == pytest.approx(1.0)
    assert effect["effect"] == pytest.approx(-3.0)  # (9 - 11) - (12 - 11): the parent cancels
    assert effect["standard_error"] == pytest.approx(0.5)  # sqrt(0.3^2 + 0.4^2)
    assert effect["ci95"] == pytest.approx([-3.0 - Z95 * 0.5, -3.0 + Z95 * 0.5])
    assert effect["classification"] == BETTER  # lower is better on a symptom scale
    assert session_effect(_m(9.0), _m(12.0), higher_is_worse=False)["classification"] == WORSE
    assert session_effect(_m(12.0), _m(9.0))["classification"] == WORSE
    assert session_effect(_m(11.5, 0.3), _m(12.0, 0.4))["classification"] == NO_DIFFERENCE
    assert "-3.00 [" in effect_text(effect) and BETTER in effect_text(effect)


def test_no_effect_when_either_child_is_invalid_and_no_interval_without_errors() -> None:
    for therapist, control, side in ((_m(None, valid=False), _m(9.0), "therapist"),
                                     (_m(9.0), _m(None, valid=False), "control")):  # fmt: skip
        effect = session_effect(therapist, control, _m(10.0))
        assert effect["effect"] is None and effect["ci95"] is None
        assert f"the {side} child's measurement is invalid (option mass" in effect["reason"]
    # an invalid parent does not matter to the effect (it cancels), only to the raw changes shown beside it
    effect = session_effect(_m(9.0), _m(10.0), _m(None, valid=False))
    assert effect["effect"] == pytest.approx(-1.0) and effect["therapist_change"] is None
    unsure = session_effect(_m(9.0, None), _m(10.0))
    assert unsure["effect"] == pytest.approx(-1.0)
    assert unsure["ci95"] is None and unsure["classification"] == NO_INTERVAL


def test_case_effect_adds_sessions_and_variances_or_names_the_missing_session() -> None:
    first, second = session_effect(_m(9.0, 0.3), _m(10.0, 0.4)), session_effect(_m(8.0, 1.2), _m(7.0, 0.5))
    total = case_effect([(1, first), (2, second)])
    assert total["effect"] == pytest.approx(0.0)
    assert total["standard_error"] == pytest.approx(math.sqrt(0.25 + 1.69))
    assert total["classification"] == NO_DIFFERENCE and total["sessions"] == [1, 2]
    invalid = session_effect(_m(9.0), _m(None, valid=False))
    assert case_effect([(1, first), (2, invalid)])["reason"].startswith("session 2: the control child's")
    assert case_effect([(1, first), (2, None)])["reason"] == "session 2 has no loop result"
    assert case_effect([])["effect"] is None


def test_effect_fields_say_why_a_loop_has_no_effect_and_name_what_is_missing() -> None:
    """The loop record's four therapist-effect fields (a TherapistEffect) for each state of the control."""
    from jedi_academy.loop.control import UNCONTROLLED_REASON, effect_fields, uncontrolled

    assert effect_fields(None).as_dict() == {
        "therapist_effect": None, "therapist_effect_reason": "the control arm has not run yet",
        "control_checkpoint_id": None, "uncontrolled": False,
    }  # fmt: skip
    off = effect_fields(uncontrolled())
    assert off.uncontrolled and off.therapist_effect is None
    assert off.therapist_effect_reason == UNCONTROLLED_REASON
    running = effect_fields({"status": "running", "checkpoint_id": "ck-control"})
    assert running.therapist_effect is None and running.control_checkpoint_id == "ck-control"
    assert running.therapist_effect_reason == "the control arm has not finished" and not running.uncontrolled
    measured = session_effect(_m(9.0), _m(10.0), _m(11.0))
    missing = session_effect(_m(9.0), _m(None, valid=False))
    effect = {"phq-9": measured, "gad-7": missing}
    done = effect_fields({"status": "done", "checkpoint_id": "ck-control", "therapist_effect": effect})
    assert done.therapist_effect == effect and done.control_checkpoint_id == "ck-control"
    assert done.therapist_effect_reason == f"gad-7: {missing['reason']}"
    complete = {"status": "done", "checkpoint_id": "ck-c", "therapist_effect": {"phq-9": measured}}
    assert effect_fields(complete).therapist_effect_reason is None


def test_loop_trains_and_measures_a_control_child(
    looped: tuple[LoopWorld, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from jedi_academy.sessions import open_case, set_case_checkpoint

    world, run = looped
    result = run["result"]
    control = result.control
    assert control["status"] == "done" and result.uncontrolled is False
    assert result.control_checkpoint_id == control["checkpoint_id"] != result.checkpoint_id
    # the same budget: the training configuration (steps, batch, learning rate, seed, LoRA) is identical
    assert control["training"]["config"] == result.training["config"]
    assert control["training"]["strategy"] == result.training["strategy"]
    # as many conversations as the therapist's loop added, neutral ones for the same persona
    assert len(control["conversation_ids"]) == len(result.conversation_ids)
    with world.database.session() as db:
        for conversation_id in control["conversation_ids"]:
            conversation = db.get(Conversation, conversation_id)
            assert conversation is not None and conversation.origin == "control"
            assert conversation.persona_id == "p-robin"
            assert conversation.provenance["script"].startswith("placebo/")
            assert "recommendation" not in conversation.provenance
            assert all(t.answer.strip() for t in conversation.turns)
        dataset = db.get(DatasetVersion, control["dataset_id"])
        assert dataset is not None and dataset.parent_id == result.parent_dataset_id
        checkpoint = db.get(Checkpoint, control["checkpoint_id"])
        assert checkpoint is not None and checkpoint.role == "control"
        assert checkpoint.parent_id == result.parent_checkpoint_id
        therapist_child = db.get(Checkpoint, result.checkpoint_id)
        assert therapist_child is not None and therapist_child.role == "patient"
        patients = db.scalars(select(Checkpoint.id).where(Checkpoint.role == "patient")).all()
        assert control["checkpoint_id"] not in patients
    # measured like the therapist child: same persona, mode, seed; previous is the same parent run
    mine, theirs = control["assessment"], result.assessment
    for key in ("persona_id", "mode", "seed", "previous_checkpoint_id", "baseline_checkpoint_id"):
        assert mine[key] == theirs[key], key
    assert mine["previous_scores"] == theirs["previous_scores"]
    effect = result.therapist_effect["phq-9"]
    therapist, other = theirs["scores"]["phq-9"], mine["scores"]["phq-9"]
    if therapist["valid"] and other["valid"]:
        assert effect["effect"] == pytest.approx(therapist["total"] - other["total"])
        assert result.therapist_effect_reason is None
    else:
        assert effect["effect"] is None and "measurement is invalid" in effect["reason"]
        assert result.therapist_effect_reason == f"phq-9: {effect['reason']}"

    # a control checkpoint is never a case's patient, nor offered for a new case
    with pytest.raises(AcademyError, match="no-therapist control"):
        set_case_checkpoint(world.database, world.case_id, control["checkpoint_id"])
    with pytest.raises(AcademyError, match="no-therapist control"):
        open_case(world.database, "Ada Lovelace", "depression", checkpoint=control["checkpoint_id"])
    capsys.readouterr()
    assert main([*world.cli, "loop", "--session", world.session_id, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["control_checkpoint_id"] == control["checkpoint_id"]
    assert printed["therapist_effect"] == result.therapist_effect
    assert "therapist_effect_reason" in printed


def test_case_views_show_the_control_and_the_effect(
    looped: tuple[LoopWorld, Any], tmp_path: Any, tiny_llm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from jedi_academy.loop.report import write_case_report
    from jedi_academy.loop.trajectory import trajectory_chart
    from jedi_academy.web.charts import trajectory_svg
    from tests.loop.conftest import copy_world
    from tests.loop.test_faces import served

    world, run = looped
    result = run["result"]
    capsys.readouterr()
    assert main([*world.cli, "case", "show", world.case_id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    loop = shown["sessions"][0]["loop"]
    assert loop["control_checkpoint_id"] == result.control_checkpoint_id
    assert loop["control"]["scores"] == result.control["assessment"]["scores"]
    assert loop["therapist_effect"] == result.therapist_effect
    case_effect = shown["therapist_effect"]["phq-9"]
    # one session: the case's effect is that session's
    assert case_effect["effect"] == result.therapist_effect["phq-9"]["effect"]
    if case_effect["effect"] is None:
        assert case_effect["reason"].startswith("session 1: the ")
    assert main([*world.cli, "case", "show", world.case_id]) == 0
    text = capsys.readouterr().out
    assert "therapist effect (therapist child minus no-therapist control child" in text
    assert f"(control {result.control_checkpoint_id})" in text

    chart = trajectory_chart(world.database, world.case_id, world.settings)
    [control] = chart.controls
    assert control.control_of == "main"
    expected = [world.start_checkpoint, result.control_checkpoint_id]
    assert [p.checkpoint_id for p in control.points] == expected
    assert result.control_checkpoint_id not in [p.checkpoint_id for b in chart.branches for p in b.points]
    assert "main: no-therapist control" in trajectory_svg(chart)

    page = write_case_report(world.database, world.case_id, tmp_path / "case.html").read_text()
    assert "Therapist effect" in page and "no-therapist control child" in page

    with served(copy_world(world, tmp_path / "web"), tiny_llm) as ada:  # the web app's case page
        page = ada.get(f"/cases/{world.case_id}").text
    assert 'id="therapist-effect"' in page and "main: no-therapist control" in page
    assert "<th>Therapist effect</th>" in page

    # the closure (`case close`) states the same effect, or the same reason there is none
    from jedi_academy.loop.closing import closure_effect

    closure = closure_effect(world.database, world.case_id)
    effect, note = closure.therapist_effect, closure.therapist_effect_note
    if case_effect["effect"] is None:
        assert effect is None and f"phq-9: {case_effect['reason']}" in note
    else:
        assert effect is not None and effect["phq-9"] == case_effect
        assert "minus the no-therapist control's" in note


def test_the_portfolio_reports_the_effect_and_counts_an_uncontrolled_case(
    looped: tuple[LoopWorld, Any], tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from jedi_academy.datasets.versions import build_dataset
    from jedi_academy.portfolio import build_portfolio, portfolio_request
    from jedi_academy.portfolio.build import selection_block
    from jedi_academy.store import ArtifactStore
    from jedi_academy.store.models import DatasetMember, LoopRun
    from tests.loop.conftest import copy_world

    template, run = looped
    result = run["result"]
    world = copy_world(template, tmp_path / "world")
    request = portfolio_request(world.database, "Ada Lovelace")
    [session] = request.cases[0].sessions
    assert session.control_run_id == result.control["assessment"]["scores"]["phq-9"]["run_id"]
    body = build_portfolio(world.database, world.settings.data_dir, request, tmp_path / "portfolio").body
    figures = body["cases"][0]["figures"]
    assert figures["sessions"][0]["effect"]["effect"] == result.therapist_effect["phq-9"]["effect"]
    assert figures["effect"]["effect"] == result.therapist_effect["phq-9"]["effect"]
    assert set(body["aggregate"][0]) >= {"mean_effect", "mean_effect_ci95", "therapist_better_than_control"}
    assert "Summary: the therapist effect" in (tmp_path / "portfolio" / "index.html").read_text()
    # the neutral conversations train the control child only: a fresh dataset build leaves them out
    fresh, _new = build_dataset(world.database, ArtifactStore(world.settings.data_dir), ["depression"])
    with world.database.session() as db:
        query = select(DatasetMember.conversation_id).where(DatasetMember.dataset_id == fresh.id)
        members = set(db.scalars(query))
    assert members and not members & set(result.control["conversation_ids"])

    # the same loop as if first run with --no-control: only its control step runs again, and says so
    with world.database.session() as db:
        loop = db.scalars(select(LoopRun).where(LoopRun.session_id == world.session_id)).one()
        loop.options = {**loop.options, "control": False}
        loop.control = None
        loop.steps = {k: v for k, v in loop.steps.items() if k != "control"}
    capsys.readouterr()
    assert main([*world.cli, "loop", "--session", world.session_id, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["uncontrolled"] is True and printed["control"]["status"] == "uncontrolled"
    assert printed["therapist_effect"] is None and printed["control_checkpoint_id"] is None
    assert printed["therapist_effect_reason"].startswith("uncontrolled: the loop ran with --no-control")
    request = portfolio_request(world.database, "Ada Lovelace")
    assert request.cases == [] and request.left_out == [(world.case_id, "uncontrolled")]
    with pytest.raises(AcademyError, match=rf"no case to publish \({world.case_id}: uncontrolled\)"):
        build_portfolio(world.database, world.settings.data_dir, request, tmp_path / "none")
    assert selection_block(0, 1, [{"reason": "uncontrolled"}])["left_out_counts"]["uncontrolled"] == 1
