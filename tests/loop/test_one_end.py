"""Issue 26 point 7: one end of a session. The interactive `/end` runs the sequence `session end` runs, with
the same options (MITI feedback stored, `--refine` queues the loop), and no session starts on a case whose
previous loop has not finished: one line, exit 1, saying how to wait or branch. (The web app's side, and an
interrupted or running loop, are in test_faces.py's killed-loop test.)"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from jedi_academy.cli import main
from tests.loop.conftest import LoopWorld


def test_interactive_end_stores_feedback_queues_the_loop_and_blocks_the_next_session(
    world: LoopWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from jedi_academy.feedback import load_feedback
    from jedi_academy.loop.jobs import list_jobs
    from jedi_academy.sessions import ModelPool, SessionOptions, SessionRunner
    from jedi_academy.sessions.interactive import Terminal, run_interactive
    from jedi_academy.sessions.loop_gate import session_blocked

    runner = SessionRunner.start(
        world.database, ModelPool(world.settings), world.case_id, seed=3,
        options=SessionOptions(max_tokens=8, extract=False),
    )  # fmt: skip
    typed = iter(["How was your week?", "/rec Take a short walk after breakfast", "/end"])
    out = io.StringIO()
    code = run_interactive(
        runner,
        Terminal(out=out, read=lambda _prompt: next(typed)),
        end_options={"refine": True, "feedback_max_tokens": 32},  # what `session start --refine` passes
    )
    assert code == 0
    printed = out.getvalue()
    assert "the teacher codes the session for feedback" in printed and "queued the loop as job" in printed
    feedback = load_feedback(world.database, runner.session_id)
    assert feedback is not None and feedback.session_id == runner.session_id
    [job] = [j for j in list_jobs(world.database) if j.args.get("session_id") == runner.session_id]
    assert job.kind == "loop" and job.status == "queued"

    # the next session would run on the checkpoint the queued loop is replacing: refused, at once, in one line
    capsys.readouterr()
    assert main([*world.cli, "session", "start", "--case", world.case_id]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"the loop after session 2 ({runner.session_id}) is queued" in err
    assert f"`academy loop --session {runner.session_id}`" in err and "`academy worker`" in err
    assert f"`academy case branch {world.case_id} --at {world.start_checkpoint}`" in err
    script = tmp_path / "turns.jsonl"
    script.write_text('{"therapist": "Hello again."}\n', encoding="utf-8")
    replay = ["session", "replay", "--case", world.case_id, "--script", str(script), "--seed", "1"]
    assert main([*world.cli, *replay]) == 1
    assert "is queued" in capsys.readouterr().err

    # branching from here is the other way on; the queued loop still grows main
    assert main([*world.cli, "case", "branch", world.case_id, "--at", world.start_checkpoint]) == 0
    assert session_blocked(world.database, world.case_id, world.settings.data_dir) is None


def test_every_terminal_face_of_ending_takes_the_same_options(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("start", "resume", "end", "replay"):
        capsys.readouterr()
        assert main(["session", command, "--help"]) == 0
        shown = capsys.readouterr().out
        assert all(o in shown for o in ("--refine", "--no-feedback", "--feedback-max-tokens")), command
