"""One branch model and the loop's state, through the web app (HTTP on loopback) and the command line: a
branch made in the browser is the command line's branch, every branch keeps its loop checkpoints on the case
page, and a loop whose process was killed is shown as interrupted with the command that resumes it."""

from __future__ import annotations

import html
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from jedi_academy.cli import main
from tests.conftest import ServerThread
from tests.loop.conftest import LOOP, LoopWorld, copy_world
from tests.processes import lock_held_elsewhere, same_code_env
from tests.web.conftest import PASSWORD, page_csrf, sign_in

EMAIL = "ada@example.org"


@contextmanager
def served(world: LoopWorld, tiny_llm: Any) -> Iterator[httpx.Client]:
    """The web app over the world's data, with Ada (the case's therapist) signed in."""
    from jedi_academy.sessions import ModelPool, ModelSpec, show_case
    from jedi_academy.web import accounts
    from jedi_academy.web.app import WebConfig, create_app

    therapist_id = show_case(world.database, world.case_id).therapist_id
    accounts.accept_invite(world.database, accounts.invite(world.database, therapist_id, EMAIL), PASSWORD)
    pool = ModelPool(world.settings)
    pool.share(ModelSpec("transformers", world.settings.model, None), tiny_llm)
    config = WebConfig(secret=b"loop-cases-secret-0123456789", max_tokens=8)
    with ServerThread(create_app(world.settings, world.database, pool, config)) as server:
        yield sign_in(server.url, EMAIL)


def _cli_json(world: LoopWorld, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert main([*world.cli, *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _charted(page: str) -> set[str]:
    # a scored point is a circle; an invalid run (every tiny-model run) a labelled cross, also "point"
    return set(re.findall(r'<(?:circle|g) class="point[^"]*" data-checkpoint="([^"]+)"', page))


def test_a_branch_made_in_the_browser_is_the_command_lines_branch(
    looped: tuple[LoopWorld, Any], tmp_path: Path, tiny_llm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    world = copy_world(looped[0], tmp_path)
    child = looped[1]["result"].checkpoint_id
    start = world.start_checkpoint
    case = f"/cases/{world.case_id}"
    with served(world, tiny_llm) as ada:
        assert _charted(ada.get(case).text) == {start, child}
        token = page_csrf(ada, case)
        made = ada.post(f"{case}/branch", data={"csrf_token": token, "checkpoint": start})
        assert made.status_code == 303

        # the command line sees the branch the browser made: listed, with its row, and switchable
        view = _cli_json(world, capsys, "case", "show", world.case_id)
        assert view["branch"] == "branch-2" and view["checkpoint_id"] == start
        assert [(b["name"], b["from_checkpoint_id"]) for b in view["branches"]] == [
            ("main", start),
            ("branch-2", start),
        ]
        tree = _cli_json(world, capsys, "case", "tree", world.case_id)
        assert tree["current_branch"] == "branch-2" and tree["tree"]["branches_start"] == ["branch-2"]
        capsys.readouterr()
        assert main([*world.cli, "case", "tree", world.case_id]) == 0
        assert "branch-2 start(s) here" in capsys.readouterr().out
        assert _cli_json(world, capsys, "case", "switch", world.case_id, "main")["checkpoint_id"] == child
        assert _cli_json(world, capsys, "case", "switch", world.case_id, "branch-2")["checkpoint_id"] == start
        # one naming rule: the command line's next branch is branch-3, not a second branch-2
        made = _cli_json(world, capsys, "case", "branch", world.case_id, "--at", start)
        assert made["branch"] == "branch-3" and made["parent_branch"] == "branch-2"

        # every branch keeps its checkpoints on the case page: main's loop checkpoint stays on the chart
        page = ada.get(case).text
        assert _charted(page) == {start, child}
        branches = re.search(r'<table class="branches">.*?</table>', page, re.S)
        assert branches is not None
        assert re.findall(r"<tr><td>([^<]+)</td>", branches.group(0)) == ["main", "branch-2", "branch-3"]
        main_series = re.findall(r'class="point[^"]*series-0" data-checkpoint="([^"]+)"', page)
        assert main_series == [start, child]
        # the browser's next branch follows the same rule
        assert ada.post(f"{case}/branch", data={"csrf_token": token, "checkpoint": child}).status_code == 303
        assert _cli_json(world, capsys, "case", "show", world.case_id)["branch"] == "branch-4"


def _loop_steps(world: LoopWorld) -> dict[str, Any]:
    from sqlalchemy import create_engine, text

    engine = create_engine(world.settings.resolved_database_url)
    try:
        with engine.connect() as connection:
            rows = list(connection.execute(text("SELECT steps FROM loop_runs")))
    finally:
        engine.dispose()
    if not rows:
        return {}
    value = rows[0][0]
    return json.loads(value) if isinstance(value, str) else value


def test_a_killed_loop_is_shown_interrupted_with_the_command_that_resumes_it(
    world: LoopWorld, tiny_llm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["loop", "--session", world.session_id, "--max-tokens", str(LOOP["max_tokens"])]
    loop = subprocess.Popen(
        [sys.executable, "-m", "jedi_academy.cli", *world.cli, *args, "--steps", str(LOOP["steps"])],
        env={**same_code_env(), "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while "expand" not in _loop_steps(world):  # killed once the expansion is committed
        assert loop.poll() is None, "the loop ended before the kill point"
        assert time.monotonic() < deadline, "the expansion never finished"
        time.sleep(0.1)
    loop.send_signal(signal.SIGKILL)
    loop.wait()

    resume = f"academy loop --session {world.session_id}"
    [row] = _cli_json(world, capsys, "case", "show", world.case_id)["sessions"]
    assert row["loop"]["status"] == "interrupted" and row["loop"]["resume"] == resume
    assert row["loop"]["stopped_at"] in ("merge", "refine")  # the kill may land after the merge's commit
    capsys.readouterr()
    assert main([*world.cli, "case", "show", world.case_id]) == 0
    assert f"interrupted at {row['loop']['stopped_at']}: resume with `{resume}`" in capsys.readouterr().out

    # no session starts on the checkpoint the unfinished loop replaces (issue 26 point 7): one line, exit 1
    assert main([*world.cli, "session", "start", "--case", world.case_id]) == 1
    refused = capsys.readouterr().err.strip()
    assert len(refused.splitlines()) == 1 and "is interrupted" in refused and f"`{resume}`" in refused
    assert f"`academy case branch {world.case_id} --at {world.start_checkpoint}`" in refused
    message = refused.removeprefix("error: ")

    case = f"/cases/{world.case_id}"
    with served(world, tiny_llm) as ada:
        page = ada.get(case).text
        assert "<strong>interrupted</strong>" in page and f"<code>{resume}</code>" in page
        # the web app says what the command line says, in place of the start button, and refuses the start
        assert 'id="start-session"' not in page and html.escape(message) in page
        started = ada.post(f"{case}/sessions", data={"csrf_token": page_csrf(ada, case)})
        assert started.status_code == 409 and html.escape(message[1:]) in started.text  # capitalised
        # while a process runs the case's loop (holds the case's lock as `loop`), it is running, not resumable
        with lock_held_elsewhere(world.settings.data_dir, "loop", case_id=world.case_id):
            page = ada.get(case).text
            [shown] = _cli_json(world, capsys, "case", "show", world.case_id)["sessions"]
            capsys.readouterr()
            assert main([*world.cli, "session", "start", "--case", world.case_id]) == 1
            assert "is running" in capsys.readouterr().err
        assert "interrupted" not in page and resume not in page
        assert shown["loop"]["status"] == "running" and shown["loop"]["resume"] is None


@pytest.mark.parametrize("backend", ["transformers", "openai"])
def test_one_checkpoint_resolver_serves_sessions_assessment_and_chat(
    world: LoopWorld, tiny_llm: Any, backend: str
) -> None:
    """Sessions, assessment and `academy chat` load a checkpoint through one resolver: the same backend,
    model, adapter argument and server URL (a local adapter folder, or the served name on a server)."""
    from jedi_academy.assessment.runner import checkpoint_target
    from jedi_academy.cli import _checkpoint_target
    from jedi_academy.llm.targets import resolve_checkpoint
    from jedi_academy.sessions import ModelPool, ModelSpec

    url = "http://127.0.0.1:9/v1" if backend == "openai" else None
    settings = world.settings.model_copy(update={"backend": backend, "base_url": url})
    with world.database.session() as session:
        found = resolve_checkpoint(session, settings, world.start_checkpoint[:8])  # a prefix names it too
    assert found.checkpoint_id == world.start_checkpoint and found.kind == "lora"
    assert (found.backend, found.base_url) == (backend, url)
    assert found.adapter is not None
    if backend == "openai":
        assert found.adapter == world.start_checkpoint  # the server serves it under the checkpoint's id
    else:
        assert Path(found.adapter, "adapter_config.json").is_file()

    pool = ModelPool(settings)
    pool.share(ModelSpec(backend, found.model, url), tiny_llm)  # the loaded tiny model serves the spec
    patient = pool.patient(world.database, world.start_checkpoint)
    assert patient.adapter == found.adapter and patient.llm is tiny_llm
    assert (patient.record["backend"], patient.record["model"], patient.record["base_url"]) == (
        backend, found.model, url,
    )  # fmt: skip
    loaded = {(backend, found.model): tiny_llm}
    target = checkpoint_target(settings, world.database, world.start_checkpoint, loaded)
    assert (target.backend, target.model, target.adapter) == (backend, found.model, found.adapter)
    chat_settings, chat_adapter = _checkpoint_target(settings, world.start_checkpoint)
    assert (chat_settings.backend, chat_settings.model, chat_settings.base_url) == (backend, found.model, url)
    assert chat_adapter == found.adapter
