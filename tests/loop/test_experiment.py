"""The therapist experiment end to end on the must-show setting (two personas, one session): every arm starts
from one checkpoint with one budget and shared seeds, loop-only is the drift, the sessions add training data,
the tests are reported (and said to be underpowered), and a second run finds the finished work instead of
redoing it. Too few personas without --allow-underpowered is a usage error."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from jedi_academy.cli import main
from jedi_academy.store.models import LoopRun, TherapySession
from tests.loop.conftest import LoopWorld


def test_scripts_ship_for_every_specialization() -> None:
    from jedi_academy.loop.experiment import SCRIPTS, therapist_scripts
    from jedi_academy.specializations import load_specializations

    for specialization in load_specializations():
        scripts = therapist_scripts(specialization)
        assert set(scripts) == set(SCRIPTS)
        assert not any(t.recommendations for s in scripts["placebo"]["sessions"] for t in s)
        for name in ("skilled", "harmful"):
            assert any(t.recommendations for s in scripts[name]["sessions"] for t in s), (
                specialization,
                name,
            )


MUST_SHOW = ["-s", "depression", "--sessions", "1", "--personas", "2", "--allow-underpowered", "--json"]
TINY = ["--max-tokens", "8", "--seed", "3"]  # the smallest replies; the training budget stays the default


@pytest.mark.slow(reason="the whole therapists experiment: per persona three sessions, loops and fine-tunes")
def test_experiment_runs_end_to_end(world: LoopWorld, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main([*world.cli, "experiment", "therapists", *MUST_SHOW, *TINY]) == 0
    result = json.loads(capsys.readouterr().out)
    # one start, one budget, four arms (loop-only: the drift), two training-split personas
    assert result["start_checkpoint_id"] == world.start_checkpoint
    assert result["arms"] == ["skilled", "placebo", "harmful", "loop-only"]
    assert sorted(result["personas"]) == ["p-robin", "p-sam"]
    cases = result["cases"]
    assert sorted((c["arm"], c["persona_id"]) for c in cases) == sorted(
        (arm, persona) for arm in result["arms"] for persona in result["personas"]
    )
    assert {c["start_checkpoint_id"] for c in cases} == {world.start_checkpoint}
    assert all(c["sessions"][0]["parent_checkpoint_id"] == world.start_checkpoint for c in cases)
    assert {c["train_steps"] for c in cases} == {1} and {tuple(c["batch_size"]) for c in cases} == {(4,)}
    for case in cases:
        if case["arm"] == "loop-only":
            assert case["case_id"] is None and case["train_conversations_added"] == 0
        else:
            assert case["train_conversations_added"] > 0, case
    # common random numbers: one seed per persona and session, whatever the arm
    seeds = {(c["persona_id"], c["sessions"][0]["seed"]) for c in cases}
    assert len(seeds) == 2
    # the children of one persona differ by arm (the sessions' data), and no case grew on another's child
    children = [c["checkpoints"][0] for c in cases]
    assert len(set(children)) == len(children)
    assert result["underpowered"] and result["power"].startswith("underpowered: 2 persona(s)")
    assert {"test", "p", "verdict"} <= set(result["ordering"])
    assert [(r["a"], r["b"]) for r in result["comparisons"]] == [
        ("skilled", "placebo"), ("skilled", "harmful"), ("skilled", "loop-only"),
        ("placebo", "harmful"), ("placebo", "loop-only"), ("harmful", "loop-only"),
    ]  # fmt: skip
    assert all({"a", "b", "p", "p_holm", "verdict"} <= set(r) for r in result["comparisons"])
    if result["no_valid_measurements"] is not None:  # the tiny model's usual outcome
        assert result["no_valid_measurements"].startswith("no valid measurement: all 8 phq-9 measurements")
        assert result["acceptance"] is None and result["ordering"]["p"] is None
    else:
        assert result["ordering"]["verdict"].startswith(("underpowered", "not testable"))
    assert "tiny test model" in result["note"]
    record = world.settings.path("experiments", result["experiment"]["key"], "loop-only-p-robin-1.json")
    assert record.stat().st_mode & 0o777 == 0o600

    with world.database.session() as db:
        sessions = db.scalar(select(func.count()).select_from(TherapySession))
        loops = db.scalar(select(func.count()).select_from(LoopRun).where(LoopRun.status == "done"))
    assert loops == 6 and sessions == 7  # the template's own session plus one per session arm and persona

    assert main([*world.cli, "experiment", "therapists", *MUST_SHOW, *TINY]) == 0
    assert json.loads(capsys.readouterr().out) == result
    with world.database.session() as db:
        assert db.scalar(select(func.count()).select_from(TherapySession)) == sessions


def test_experiment_refuses_too_few_personas(world: LoopWorld, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*world.cli, "experiment", "therapists", "-s", "depression", "--personas", "2"]) == 2
    err = capsys.readouterr().err
    assert "--personas 2 is too few: the experiment needs at least 8 personas" in err
    assert "--allow-underpowered" in err and "Traceback" not in err


def test_experiment_needs_enough_personas(world: LoopWorld, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*world.cli, "experiment", "therapists", "-s", "depression", "--personas", "9"]) == 1
    err = capsys.readouterr().err
    assert "needs 9 'depression' personas" in err and "Traceback" not in err


def test_queued_experiment_records_its_start(world: LoopWorld, capsys: pytest.CaptureFixture[str]) -> None:
    """A queued experiment carries the start checkpoint resolved when it was queued, so the job (and a
    recovered re-run of it) starts there even if a newer fine-tune appears meanwhile."""
    capsys.readouterr()
    assert main([*world.cli, "experiment", "therapists", *MUST_SHOW, "--queue"]) == 0
    job = json.loads(capsys.readouterr().out)
    assert job["kind"] == "experiment" and job["status"] == "queued"
    assert job["args"]["start_checkpoint"] == world.start_checkpoint
    assert job["args"]["arms"] == ["skilled", "placebo", "harmful", "loop-only"]
    assert job["args"]["allow_underpowered"] is True
