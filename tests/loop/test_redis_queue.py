"""The Redis queue path (huey's RedisHuey) against a real ``redis-server`` that the test starts on a Unix
socket in its own folder (no TCP port to collide with) and stops afterwards (.ci/run installs the package)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.loop.conftest import LOOP, LoopWorld, copy_world
from tests.processes import same_code_env


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:  # a missing part is an error, not a skip
        pytest.fail("redis-server is not installed (Debian package redis-server; .ci/run installs it)")
    import redis

    folder = tmp_path / "redis"
    folder.mkdir()
    socket_path = folder / "redis.sock"
    process = subprocess.Popen(
        [server, "--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700",
         "--dir", str(folder), "--save", "", "--appendonly", "no", "--daemonize", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"unix://{socket_path}?db=0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 30
        while True:
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"redis-server did not start on {socket_path}") from None
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _worker(world: LoopWorld, url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "jedi_academy.cli", *world.cli, "worker", "--burst", "--poll", "0.1"],
        env={**same_code_env(), "OMP_NUM_THREADS": "1", "ACADEMY_QUEUE_URL": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_loop_job_on_the_redis_queue_runs_once_under_two_workers(
    looped: tuple[LoopWorld, Any], tmp_path: Path, redis_url: str
) -> None:
    from jedi_academy.loop.jobs import enqueue_loop, job_json, open_queue

    world = copy_world(looped[0], tmp_path)
    settings = world.settings.model_copy(update={"queue_url": redis_url})
    job = enqueue_loop(settings, world.session_id, dict(LOOP))

    queue = open_queue(settings)
    assert type(queue.huey).__name__ == "RedisHuey"
    assert [task.args[0] for task in queue.huey.pending()] == [job["id"]]  # on Redis, not the SQLite file
    assert not settings.path("queue", "jobs.db").exists()

    first, second = _worker(world, redis_url), _worker(world, redis_url)
    outputs = [first.communicate(timeout=600), second.communicate(timeout=600)]
    for process, (out, err) in zip((first, second), outputs, strict=True):
        assert process.returncode == 0, err
        assert "Traceback" not in out + err
    started = [line for out, _err in outputs for line in out.splitlines() if "started" in line]
    assert started == [f"job {job['id']}: started"]
    finished = job_json(world.database, job["id"])
    assert finished["status"] == "done" and finished["attempts"] == 1
    assert finished["result"]["checkpoint_id"] == looped[1]["result"].checkpoint_id
    assert queue.huey.pending() == []
