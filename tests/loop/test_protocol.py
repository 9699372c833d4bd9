"""Issue 26 points 1 and 2: the case's measurement protocol (fixed at `case open`, with the baseline measured
then; every view reads protocol runs only, other runs apart) and a case's sessions always training the case's
child (whatever the persona's split; nothing new is refused)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from jedi_academy.assessment.protocol import NO_PROTOCOL, Protocol, make_protocol
from jedi_academy.cli import main
from jedi_academy.errors import AcademyError
from jedi_academy.store.models import AssessmentRun, Case, DatasetMember, LoopRun
from tests.factories import add_conversation, add_persona
from tests.loop.conftest import LoopWorld, copy_world

TURNS = [("How have you been?", "Tired, most days."), ("What helps?", "Walking, a little.")]


def _run(**changes: Any) -> AssessmentRun:
    protocol = make_protocol("p-1", ["phq-9"], mode="logprob", seed=3)
    fields: dict[str, Any] = {
        "persona_id": "p-1", "instrument_id": "phq-9", "mode": "logprob", "seed": 3,
        "prompt_version": protocol.prompt_version,
        "result": {"attention": {"version": protocol.attention_version}, "sample_options": None},
    }  # fmt: skip
    fields.update(changes)
    return AssessmentRun(**fields)


def test_a_run_follows_the_protocol_only_when_everything_that_decides_it_matches() -> None:
    protocol = make_protocol("p-1", ["phq-9"], mode="logprob", seed=3)
    assert Protocol.from_dict(json.loads(json.dumps(protocol.as_dict()))) == protocol
    assert protocol.samples is None and protocol.follows(_run())
    assert protocol.follows(_run(result={"attention": None}))  # no attention family fits this scale
    for different in (
        {"seed": 4},
        {"mode": "sample"},
        {"persona_id": "p-2"},
        {"instrument_id": "gad-7"},
        {"prompt_version": "assess-2"},
        {"result": {"attention": {"version": "attention-0"}}},
    ):
        assert not protocol.follows(_run(**different)), different
    sampled = make_protocol("p-1", ["phq-9"], mode="sample", seed=3, samples=5)
    attention = {"version": sampled.attention_version}
    for samples, follows in ((5, True), (20, False)):
        result = {"attention": attention, "sample_options": {"samples": samples}}
        sampled_run = _run(mode="sample", result=result)
        assert sampled.follows(sampled_run) is follows
    with pytest.raises(AcademyError, match="unknown assessment mode"):
        make_protocol("p-1", ["phq-9"], mode="vibes")


def test_case_open_fixes_the_protocol_and_only_protocol_runs_count(
    looped: tuple[LoopWorld, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from jedi_academy.loop.trajectory import case_trajectory, trajectory_chart
    from jedi_academy.portfolio.source import portfolio_request

    template, run = looped
    world = copy_world(template, tmp_path)
    result = run["result"]

    # the world's case was opened by the service `academy case open` and the web app call: its protocol and
    # its baseline, measured at opening (conftest), under which the loop measured the child and the parent
    with world.database.session() as db:
        case = db.get(Case, world.case_id)
        assert case is not None and case.protocol and case.baseline_runs
        case_baseline = case.baseline_runs["phq-9"]
        protocol = Protocol.from_dict(case.protocol)
        baseline = db.get(AssessmentRun, case_baseline)
        assert baseline is not None and baseline.checkpoint_id == world.start_checkpoint
        assert protocol.follows(baseline) and protocol.persona_id == "p-robin"
    assert protocol.instruments == ("phq-9",) and (protocol.mode, protocol.seed) == ("logprob", 0)

    # `academy case open --json` returns the protocol and the baseline run id (the same persona on the same
    # checkpoint under the same protocol: the stored run is reused, not measured again)
    open_args = ["case", "open", "--therapist", "Ada Lovelace", "-s", "depression", "--persona", "p-robin"]
    assert main([*world.cli, *open_args, "--checkpoint", world.start_checkpoint, "--json"]) == 0
    opened = json.loads(capsys.readouterr().out)
    assert opened["protocol"] == case.protocol and opened["baseline_run_ids"] == {"phq-9": case_baseline}
    assert opened["id"] != world.case_id and opened["baseline"]["phq-9"]["run_id"] == case_baseline
    assessment = result.assessment
    assert assessment["protocol"] == case.protocol
    assert assessment["baseline_scores"]["phq-9"]["run_id"] == case_baseline
    assert (assessment["mode"], assessment["seed"]) == (case.protocol["mode"], case.protocol["seed"])
    child_run = assessment["scores"]["phq-9"]["run_id"]

    # another run on the child (another seed, a better total): listed apart, never in the protocol run's place
    with world.database.session() as db:
        measured = db.get(AssessmentRun, child_run)
        assert measured is not None
        rerun = AssessmentRun(
            checkpoint_id=measured.checkpoint_id, model=measured.model, backend=measured.backend,
            persona_id="p-robin", instrument_id="phq-9", instrument_version=measured.instrument_version,
            prompt_version=measured.prompt_version, mode="logprob", seed=99,
            total=0.0, ci_low=0.0, ci_high=1.0,
            result={**measured.result, "validity": {"valid": True, "reasons": []}},
        )  # fmt: skip
        db.add(rerun)
        db.flush()
        other = rerun.id
    view = case_trajectory(world.database, world.case_id)
    assert view["protocol"] == case.protocol
    assert view["baseline"]["scores"]["phq-9"]["run_id"] == case_baseline
    assert [(r["run_id"], r["total"], r["valid"]) for r in view["other_runs"]] == [(other, 0.0, True)]
    assert view["sessions"][0]["loop"]["scores"]["phq-9"]["run_id"] == child_run
    with world.database.session() as db:
        protocol_child = db.get(AssessmentRun, child_run)
        assert protocol_child is not None
        last = trajectory_chart(world.database, world.case_id).branches[0].points[-1]
        assert last.checkpoint_id == result.checkpoint_id
        assert last.total == (protocol_child.total if last.invalid is None else None)
    request = portfolio_request(world.database, "Ada Lovelace")
    mine = next(c for c in request.cases if c.case_id == world.case_id)
    assert mine.baseline_run_id == case_baseline and mine.sessions[0].run_id == child_run

    assert main([*world.cli, "case", "show", world.case_id]) == 0
    shown = capsys.readouterr().out
    assert "protocol: phq-9 as p-robin, logprob mode" in shown
    assert "other runs (not the case's protocol):" in shown and f"run {other} phq-9" in shown
    report = tmp_path / "case.html"
    assert main([*world.cli, "case", "report", world.case_id, "--out", str(report)]) == 0
    assert "Other runs (not the case" in report.read_text(encoding="utf-8")


def test_a_case_opened_before_protocols_still_loads(
    world: LoopWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from jedi_academy.loop.protocol import case_protocol

    with world.database.session() as db:  # as migration 0019 leaves an older case
        case = db.get(Case, world.case_id)
        assert case is not None
        case.protocol, case.baseline_runs = None, None
    assert case_protocol(world.database, world.case_id) is None
    assert main([*world.cli, "case", "show", world.case_id, "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["protocol"] is None and view["protocol_note"] == NO_PROTOCOL
    assert main([*world.cli, "case", "show", world.case_id]) == 0
    assert NO_PROTOCOL in capsys.readouterr().out
    assert main([*world.cli, "case", "report", world.case_id, "--out", str(tmp_path / "r.html")]) == 0
    assert "no protocol (opened before protocols)" in (tmp_path / "r.html").read_text(encoding="utf-8")


# ---------------------------------------------------------------- point 2: the case's sessions always train


def test_case_conversations_train_whatever_the_split(settings: Any) -> None:
    from jedi_academy.datasets.versions import build_dataset
    from jedi_academy.loop.merge import merge_conversations
    from jedi_academy.store import ArtifactStore, open_database

    database = open_database(settings)
    store = ArtifactStore(settings.data_dir)
    for persona in ("p-a", "p-b"):
        add_persona(database, persona)
        add_conversation(database, f"c-{persona}", persona, TURNS)
    parent, _ = build_dataset(database, store, ["depression"], validation_fraction=0.5)
    with database.session() as db:
        splits = dict(db.execute(select(DatasetMember.conversation_id, DatasetMember.split)).all())
    held_out = next(c.removeprefix("c-") for c, split in splits.items() if split == "validation")
    add_conversation(database, "c-case", held_out, TURNS, case_id="case-1", session_id="s-1")

    merged = merge_conversations(database, store, "depression", parent.id, ["c-case"], held_out)
    assert merged["persona_split"] == ["train"] and merged["train_conversations_added"] == 1
    with database.session() as db:
        child = dict(
            db.execute(
                select(DatasetMember.conversation_id, DatasetMember.split).where(
                    DatasetMember.dataset_id == merged["dataset_id"]
                )
            ).all()
        )
    # the persona's own conversations keep guarding the held-out evaluation; its case data trains
    assert child[f"c-{held_out}"] == "validation" and child["c-case"] == "train"
    with pytest.raises(AcademyError, match="nothing new to refine on"):
        merge_conversations(database, store, "depression", merged["dataset_id"], ["c-case"], held_out)


def test_the_loop_counts_what_it_adds_and_refuses_nothing_new(
    looped: tuple[LoopWorld, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template, run = looped
    result = run["result"]
    assert result.train_conversations_added == len(result.conversation_ids) > 0
    assert result.expansion["merge"]["persona_split"] == ["train"]

    world = copy_world(template, tmp_path)
    with world.database.session() as db:  # the same session merged again onto the child's own data
        loop = db.scalars(select(LoopRun).where(LoopRun.session_id == world.session_id)).one()
        loop.parent_dataset_id = result.dataset_id
        loop.steps = {"expand": loop.steps["expand"]}
        loop.status = "failed"
    assert main([*world.cli, "loop", "--session", world.session_id]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: nothing new to refine on"), captured.err
    assert "Traceback" not in captured.err
