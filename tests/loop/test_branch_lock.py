"""`academy case branch` and `case switch` move the case: they take its writer lock, as `session end` and the
loop do, and a second process holding it refuses them with one line and exit 1."""

from __future__ import annotations

import json

import pytest

from jedi_academy.cli import main
from tests.loop.conftest import LoopWorld
from tests.processes import lock_held_elsewhere


def _one_error_line(err: str, holder: str) -> str:
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert [line for line in err.splitlines() if not line.startswith(("error:", "hint:"))] == [], err
    assert f"is in use by `academy {holder}`" in errors[0]
    return errors[0]


def test_branch_and_switch_are_refused_while_another_process_holds_the_case_lock(
    world: LoopWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    with lock_held_elsewhere(world.settings.data_dir, "session end", case_id=world.case_id):
        assert main([*world.cli, "case", "branch", world.case_id, "--at", world.start_checkpoint]) == 1
        assert f"case {world.case_id}" in _one_error_line(capsys.readouterr().err, "session end")
        assert main([*world.cli, "case", "switch", world.case_id, "main"]) == 1
        assert f"case {world.case_id}" in _one_error_line(capsys.readouterr().err, "session end")
    # nothing was written while refused: the case has its main branch only, and a switch to it now works
    assert main([*world.cli, "case", "switch", world.case_id, "main", "--json"]) == 0
    switched = json.loads(capsys.readouterr().out)
    assert switched == {"case_id": world.case_id, "branch": "main", "checkpoint_id": world.start_checkpoint}
    assert main([*world.cli, "case", "tree", world.case_id, "--json"]) == 0
    assert "branch-2" not in capsys.readouterr().out


def test_the_typed_results_serialise_to_the_json_the_commands_printed() -> None:
    from jedi_academy.loop.branches import BranchMade, BranchSwitched

    made = BranchMade("case-1", "branch-2", "ck-a", None, "main").as_dict()
    assert list(made.items()) == [
        ("case_id", "case-1"), ("branch", "branch-2"), ("from_checkpoint_id", "ck-a"),
        ("after_session", None), ("parent_branch", "main"),
    ]  # fmt: skip
    switched = BranchSwitched("case-1", "main", "ck-b").as_dict()
    assert list(switched.items()) == [("case_id", "case-1"), ("branch", "main"), ("checkpoint_id", "ck-b")]
