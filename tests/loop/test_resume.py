"""Crash safety: workers killed inside a queued loop job (after the expansion, and inside training) leave the
job resumable, and it finishes with the same dataset, checkpoint and scores as an uninterrupted loop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from jedi_academy.cli import main
from tests.loop.conftest import LOOP, LoopWorld, same_outcome

pytestmark = pytest.mark.slow(reason="worker processes killed inside a loop job, which three runs finish")


def _academy(world: LoopWorld, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "jedi_academy.cli", *world.cli, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_when(process: subprocess.Popen[str], ready: Callable[[], bool], timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if process.poll() is not None:
            raise AssertionError(f"finished before the kill point: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the kill point never came")
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()


def _query(world: LoopWorld, sql: str) -> list[Any]:
    engine = create_engine(world.settings.resolved_database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(sql)))
    finally:
        engine.dispose()


def _loop_steps(world: LoopWorld) -> dict[str, Any]:
    rows = _query(world, "SELECT steps FROM loop_runs")
    if not rows:
        return {}
    value = rows[0][0]
    return json.loads(value) if isinstance(value, str) else value


def _training_state_saved(world: LoopWorld) -> bool:
    runs = world.settings.path("runs", "finetune")
    return runs.is_dir() and any(p.name != "tmp" for p in runs.rglob("*") if p.is_file())


def test_killed_workers_leave_the_loop_job_resumable_to_the_same_result(
    world: LoopWorld, looped: tuple[LoopWorld, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """`session end --refine` queues the loop; a worker is killed after the expansion was committed, the next
    one (which picks the orphaned job up again) inside training; a third finishes the job with the dataset,
    checkpoint and scores of an uninterrupted loop."""
    from jedi_academy.loop.jobs import run_worker
    from jedi_academy.loop.run import STEPS

    assert main([*world.cli, "session", "end", world.session_id, "--refine", "--json"]) == 0
    job = json.loads(capsys.readouterr().out)["job"]
    assert job["status"] == "queued" and job["kind"] == "loop"
    assert job["args"]["session_id"] == world.session_id
    engine = create_engine(world.settings.resolved_database_url)
    with engine.begin() as connection:  # the loop's small settings for the tiny model
        args = json.dumps({"session_id": world.session_id, "options": LOOP})
        connection.execute(text("UPDATE jobs SET args = :args"), {"args": args})
    engine.dispose()

    first = _academy(world, "worker", "--burst", "--poll", "0.1")
    _kill_when(first, lambda: "expand" in _loop_steps(world))
    assert _query(world, "SELECT status FROM jobs") == [("running",)]  # the dead worker still holds it
    assert set(_loop_steps(world)) == {"expand"}

    capsys.readouterr()
    assert main([*world.cli, "jobs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [j["id"] for j in listed] == [job["id"]]
    progress = listed[0]["progress"]
    assert progress["total"] == len(STEPS) and progress["step"] in ("expand", "merge")

    second = _academy(world, "worker", "--burst", "--poll", "0.1")
    _kill_when(second, lambda: "merge" in _loop_steps(world) and _training_state_saved(world))
    assert set(_loop_steps(world)) == {"expand", "merge"}  # killed inside refine: nothing of it committed
    assert _query(world, "SELECT status, checkpoint_id FROM loop_runs") == [("running", None)]

    ran = run_worker(world.settings, burst=True, poll_s=0.05, echo=lambda _line: None)
    assert ran == 1
    assert main([*world.cli, "jobs", "--json"]) == 0
    finished = json.loads(capsys.readouterr().out)[0]
    assert finished["status"] == "done" and finished["attempts"] == 3
    assert finished["progress"]["done"] == finished["progress"]["total"] == len(STEPS)  # the control too
    same_outcome(finished["result"], looped[1]["result"])

    # the foreground command now finds every step done
    assert main([*world.cli, "loop", "--session", world.session_id, "--json"]) == 0
    out = capsys.readouterr()
    assert out.err.count("done earlier, skipped") == len(STEPS)
    same_outcome(json.loads(out.out), looped[1]["result"])
