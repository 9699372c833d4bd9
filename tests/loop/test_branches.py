"""Returning to an earlier checkpoint: a branch from the case's first checkpoint, a session on it and its loop
give a sibling of the main line's child in `case tree`; `case show` has the trajectory, `case compare` both
branches, and the HTML report the trajectory plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jedi_academy.cli import main
from tests.loop.conftest import LOOP, SCRIPT_SEED, LoopWorld, context_for, copy_world


@pytest.mark.slow(reason="a second loop (expansion, fine-tune, reassessment) from an earlier checkpoint")
def test_branch_from_an_earlier_checkpoint_gives_a_sibling(
    looped: tuple[LoopWorld, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from jedi_academy.loop import LoopOptions, run_loop
    from jedi_academy.sessions import ModelPool, ScriptTurn, SessionOptions, replay_session

    reference, run = looped
    world = copy_world(reference, tmp_path / "copy")
    main_child = run["result"].checkpoint_id
    capsys.readouterr()
    assert main([*world.cli, "case", "branch", world.case_id, "--after-session", "7"]) == 1
    assert "has no session 7" in capsys.readouterr().err
    assert main([*world.cli, "case", "branch", world.case_id, "--at", "ck-nowhere"]) == 1
    assert "not one of" in capsys.readouterr().err

    assert main([*world.cli, "case", "branch", world.case_id, "--at", world.start_checkpoint, "--json"]) == 0
    branch = json.loads(capsys.readouterr().out)
    assert branch == {
        "case_id": world.case_id,
        "branch": "branch-2",
        "from_checkpoint_id": world.start_checkpoint,
        "after_session": None,
        "parent_branch": "main",
    }
    record = replay_session(
        world.database,
        ModelPool(world.settings),
        world.case_id,
        [ScriptTurn("Let's try something else today.", ("Write down three things you did each evening",))],
        seed=SCRIPT_SEED + 1,
        options=SessionOptions(max_tokens=8, extract=False),
    )
    assert record.branch == "branch-2" and record.checkpoint_id == world.start_checkpoint
    sibling = run_loop(context_for(world), record.session_id, LoopOptions(**LOOP))
    assert sibling.parent_checkpoint_id == world.start_checkpoint
    assert sibling.parent_dataset_id == world.start_dataset
    assert sibling.checkpoint_id not in (main_child, world.start_checkpoint)

    assert main([*world.cli, "case", "tree", world.case_id, "--json"]) == 0
    tree = json.loads(capsys.readouterr().out)
    root = tree["tree"]
    assert root["checkpoint_id"] == world.start_checkpoint and root["branches_start"] == ["branch-2"]
    children = {(c["branch"], c["session"], c["checkpoint_id"]) for c in root["children"]}
    assert children == {("main", 1, main_child), ("branch-2", 2, sibling.checkpoint_id)}
    assert main([*world.cli, "case", "tree", world.case_id]) == 0
    text = capsys.readouterr().out
    assert f"session 1 [main] -> {main_child}" in text
    assert f"session 2 [branch-2] -> {sibling.checkpoint_id}" in text

    assert main([*world.cli, "case", "show", world.case_id, "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert [b["name"] for b in view["branches"]] == ["main", "branch-2"]
    assert [c["checkpoint_id"] for c in view["checkpoints"]] == [
        world.start_checkpoint, main_child, sibling.checkpoint_id
    ]  # fmt: skip
    first, second = view["sessions"]
    assert (
        first["loop"]["checkpoint_id"] == main_child
        and second["loop"]["checkpoint_id"] == sibling.checkpoint_id
    )
    # session 2 ran on the start checkpoint loaded from disk (the random tiny model): it answers neither Yes
    # nor No, so its recommendation is no decision (session 1's planted patient decided: loop/conftest.py)
    assert second["invalid_preference_recommendations"] == ["Write down three things you did each evening"]
    assert second["accepted_recommendations"] + second["ignored_recommendations"] == []
    assert set(first["loop"]["scores"]["phq-9"]) >= {"total", "ci95", "valid", "sd"}
    assert "classification" in first["loop"]["change_vs_baseline"]["phq-9"]
    assert view["baseline"]["scores"]["phq-9"]["checkpoint_id"] == world.start_checkpoint

    assert (
        main(
            [
                *world.cli,
                "case",
                "compare",
                world.case_id,
                "--branches",
                "main",
                "--branches",
                "branch-2",
                "--json",
            ]
        )
        == 0
    )
    compared = json.loads(capsys.readouterr().out)
    assert [b["final_checkpoint_id"] for b in compared["branches"]] == [main_child, sibling.checkpoint_id]
    main_line, other = compared["branches"]
    assert main_line["recommendations_decided"] == 2 and main_line["recommendations_invalid_preference"] == 0
    assert other["recommendations_decided"] == 0 and other["recommendations_invalid_preference"] == 1
    assert other["acceptance_rate"] is None  # no decision, no rate
    difference = compared["difference"]["phq-9"]
    scores = [b["final_scores"]["phq-9"] for b in compared["branches"]]
    if all(s["valid"] for s in scores):
        assert difference["difference"] == pytest.approx(scores[1]["total"] - scores[0]["total"])
    assert "one simulated patient" in compared["cannot_conclude"]
    assert (
        main([*world.cli, "case", "compare", world.case_id, "--branches", "main", "--branches", "nope"]) == 1
    )
    assert "no branch 'nope'" in capsys.readouterr().err

    out = tmp_path / "case.html"
    assert main([*world.cli, "case", "report", world.case_id, "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert "<svg" in page and "Trajectory: phq-9" in page and "branch branch-2" in page
    assert "caseness cut-off" in page
    assert capsys.readouterr().out.strip() == f"wrote {out}"

    assert main([*world.cli, "case", "switch", world.case_id, "main", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["checkpoint_id"] == main_child
