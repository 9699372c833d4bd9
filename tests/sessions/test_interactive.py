"""The interactive session through a real pseudo-terminal: streamed replies, /rec, a kill -9 mid-session,
resume, Ctrl-C, /end; and the same seed and words give the same replies as a replay."""

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest

from jedi_academy.cli import main
from jedi_academy.sessions import ScriptTurn, SessionOptions, replay_session, session_json
from tests.sessions.conftest import World, make_world

FIRST = "How has your week been?"
SECOND = "Try writing down three things you did each evening."
THIRD = "What stops you from calling your sister?"
PROMPT = "therapist> "


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path) -> World:
    return make_world(tmp_path_factory.mktemp("interactive"), tiny_dir)


def spawn(world: World, *args: str) -> pexpect.spawn:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    return pexpect.spawn(
        sys.executable,
        ["-m", "jedi_academy.cli", *world.cli, "session", *args],
        env=env,
        encoding="utf-8",
        timeout=120,
        dimensions=(50, 400),
    )


def patient_line(child: pexpect.spawn) -> str:
    child.expect("patient> ")
    child.expect("\r\n")
    return child.before


@pytest.mark.slow(reason="a terminal session killed mid-reply, then resumed and replayed in new processes")
def test_killed_session_keeps_its_turns_and_resumes(fresh: World, pool: Any, capsys) -> None:  # type: ignore[no-untyped-def]
    child = spawn(
        fresh, "start", "--case", fresh.case_id, "--seed", "21", "--max-tokens", "12", "--no-extract"
    )
    child.expect(r"session (s-[0-9a-f]+) ")
    session_id = child.match.group(1)
    child.expect(PROMPT)
    child.sendline(FIRST)
    first_reply = patient_line(child)
    child.expect(PROMPT)
    child.sendline(f"/rec {SECOND}")
    patient_line(child)
    child.expect(PROMPT)
    child.sendline("/rec")  # marks the last thing said, a second time, as its own recommendation
    child.expect("marked as a recommendation")
    child.expect(PROMPT)
    child.sendline(THIRD)
    child.expect("patient> ")  # shown once the words are stored; the reply is being generated: kill now
    os.kill(child.pid, signal.SIGKILL)
    child.expect(pexpect.EOF)
    child.close()

    stored = session_json(fresh.database, session_id)
    assert stored.status == "active"
    assert [t.therapist for t in stored.turns] == [FIRST, SECOND, THIRD]
    assert stored.turns[0].patient == first_reply.strip()
    assert stored.turns[1].patient is not None
    assert [(r.text, r.turn) for r in stored.recommendations] == [(SECOND, 1), (SECOND, 1)]

    child = spawn(fresh, "resume", session_id[:9])
    child.expect_exact(f"therapist> {FIRST}\r\n")
    child.expect_exact(f"therapist> {SECOND}\r\n")
    child.expect_exact(f"therapist> {THIRD}\r\n")
    patient_line(child)  # answered now when the kill came mid-reply, else the stored reply
    child.expect_exact(PROMPT)
    child.sendintr()  # Ctrl-C at the prompt pauses and keeps everything
    child.expect("paused with 3 finished turn")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130

    assert main([*fresh.cli, "session", "end", session_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "ended"
    ended = session_json(fresh.database, session_id)
    assert ended.status == "ended" and len(ended.turns) == 3
    for rec in ended.recommendations:  # the random tiny model answers neither Yes nor No: no decision
        assert rec.decision == "invalid_preference" and rec.accepted is None

    # the same seed, checkpoint and words, replayed: the same replies and decisions as the interrupted session
    script = [ScriptTurn(FIRST), ScriptTurn(SECOND, (SECOND, SECOND)), ScriptTurn(THIRD)]
    options = SessionOptions(max_tokens=12, extract=False)
    replayed = replay_session(fresh.database, pool, fresh.case_id, script, seed=21, options=options)
    assert [t.patient for t in replayed.turns] == [t.patient for t in ended.turns]

    def decided(rec: Any) -> tuple[Any, ...]:
        return (rec.p_accept, rec.u, rec.accepted, rec.decision, rec.preference_mass)

    assert [decided(r) for r in replayed.recommendations] == [decided(r) for r in ended.recommendations]


def test_unfinished_session_blocks_a_new_one_and_end_closes_it(fresh: World, capsys) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.sessions import ModelPool, SessionRunner

    runner = SessionRunner.start(
        fresh.database, ModelPool(fresh.settings), fresh.case_id, seed=1, options=SessionOptions(max_tokens=4)
    )
    assert main([*fresh.cli, "session", "start", "--case", fresh.case_id]) == 1
    assert f"unfinished session {runner.session_id}" in capsys.readouterr().err
    assert main([*fresh.cli, "session", "end", runner.session_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "ended"
    assert main([*fresh.cli, "session", "resume", runner.session_id]) == 1
    assert "has ended" in capsys.readouterr().err


def test_end_in_the_terminal_runs_the_same_sequence_as_session_end(fresh: World) -> None:
    """`/end` used to skip the teacher's MITI feedback that `academy session end` gives: both now run
    sessions.ending.end_session, whose hooks (the loop's) code and store the feedback."""
    from jedi_academy.feedback import load_feedback

    child = spawn(
        fresh, "start", "--case", fresh.case_id, "--seed", "5", "--max-tokens", "6", "--no-extract"
    )
    child.expect(r"session (s-[0-9a-f]+) ")
    session_id = child.match.group(1)
    child.expect(PROMPT)
    child.sendline(FIRST)
    patient_line(child)
    child.expect(PROMPT)
    child.sendline("/end")
    child.expect("the teacher codes the session for feedback")
    child.expect(f"session {session_id} ended")
    child.expect("Feedback on technique")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    assert session_json(fresh.database, session_id).status == "ended"
    feedback = load_feedback(fresh.database, session_id)
    assert feedback is not None and feedback.session_id == session_id
