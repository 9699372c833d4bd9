"""Writers under the lock, jobs exactly once: real concurrent processes against one data directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from jedi_academy.loop.run import STEPS
from tests.loop.conftest import LOOP, LoopWorld, copy_world
from tests.processes import lock_held_elsewhere, same_code_env


def _academy(world: LoopWorld, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "jedi_academy.cli", *world.cli, *args],
        env={**same_code_env(), "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=600)
    return process.returncode, out, err


def _query(world: LoopWorld, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(world.settings.resolved_database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(sql), params))
    finally:
        engine.dispose()


def _refused_in_one_line(err: str, what: str) -> None:
    """The error boundary's one ``error:`` line (and its hint), never a traceback."""
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert errors[0].startswith(f"error: {what} is in use by `academy "), errors[0]
    assert [line for line in err.splitlines() if not line.startswith(("error:", "hint:"))] == [], err


def test_loop_is_refused_while_another_process_holds_the_writer_lock(world: LoopWorld) -> None:
    with lock_held_elsewhere(world.settings.data_dir, "ingest"):
        code, out, err = _finish(_academy(world, "loop", "--session", world.session_id))
    assert code == 1
    assert out == ""
    _refused_in_one_line(err, f"data directory {world.settings.data_dir}")
    assert "`academy ingest`" in err
    assert _query(world, "SELECT count(*) FROM loop_runs") == [(0,)]  # refused before writing anything

    # a session of the case ending holds the case's lock: the loop of that case is refused as well
    with lock_held_elsewhere(world.settings.data_dir, "session end", case_id=world.case_id):
        code, out, err = _finish(_academy(world, "loop", "--session", world.session_id))
    assert code == 1
    _refused_in_one_line(err, f"case {world.case_id}")
    assert _query(world, "SELECT count(*) FROM loop_runs") == [(0,)]


def _open_session(world: LoopWorld) -> str:
    from jedi_academy.sessions import ModelPool, SessionOptions
    from jedi_academy.sessions.runner import SessionRunner

    runner = SessionRunner.start(
        world.database,
        ModelPool(world.settings),
        world.case_id,
        seed=11,
        options=SessionOptions(max_tokens=8, extract=False),
    )
    runner.say("Could you try a walk tomorrow?", recommendations=["Take a walk tomorrow"])
    return runner.session_id


def _ledger_entries(world: LoopWorld, session_id: str) -> int:
    [(count,)] = _query(
        world, "SELECT count(*) FROM ledger WHERE kind = 'session' AND subject_id = :id", id=session_id
    )
    return int(count)


def test_two_concurrent_session_ends_write_one_ledger_entry(world: LoopWorld) -> None:
    session_id = _open_session(world)
    end = ("session", "end", session_id, "--no-feedback", "--json")

    with lock_held_elsewhere(world.settings.data_dir, "session end", case_id=world.case_id):
        code, _out, err = _finish(_academy(world, *end))
    assert code == 1
    _refused_in_one_line(err, f"case {world.case_id}")
    assert _query(world, "SELECT status FROM therapy_sessions WHERE id = :id", id=session_id) == [("active",)]

    first, second = _academy(world, *end), _academy(world, *end)
    results = [_finish(first), _finish(second)]
    for code, _out, err in results:
        assert "Traceback" not in err
        if code != 0:  # the loser is refused in one line while the winner ends it
            assert code == 1
            _refused_in_one_line(err, f"case {world.case_id}")
    ended = [json.loads(out) for code, out, _err in results if code == 0]
    assert ended and all(record["status"] == "ended" for record in ended)
    assert _ledger_entries(world, session_id) == 1


def test_two_burst_workers_run_one_queued_job_once(
    looped: tuple[LoopWorld, Any], tmp_path: Path
) -> None:
    from jedi_academy.loop.jobs import enqueue_loop, job_json

    world = copy_world(looped[0], tmp_path)
    runs_before = _query(world, "SELECT count(*) FROM assessment_runs")
    job = enqueue_loop(world.settings, world.session_id, dict(LOOP))

    first = _academy(world, "worker", "--burst", "--poll", "0.1")
    second = _academy(world, "worker", "--burst", "--poll", "0.1")
    results = [_finish(first), _finish(second)]

    for code, out, err in results:
        assert code == 0, err
        assert "Traceback" not in out + err and "IntegrityError" not in out + err
    started = [line for _code, out, _err in results for line in out.splitlines() if "started" in line]
    assert started == [f"job {job.id}: started"]
    # between start and end the worker shows each loop stage (here all done earlier by the looped fixture)
    prefix = f"job {job.id}: ["
    stages = [line for _code, out, _err in results for line in out.splitlines() if prefix in line]
    assert len(stages) == len(STEPS) and all("done earlier, skipped" in line for line in stages)
    finished = job_json(world.database, job.id)
    assert finished.status == "done" and finished.attempts == 1
    assert _query(world, "SELECT count(*) FROM loop_runs") == [(1,)]
    assert _query(world, "SELECT count(*) FROM assessment_runs") == runs_before
