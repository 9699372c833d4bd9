"""Shared fixtures: an isolated data directory and one tiny model per test session."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's academy.toml or ACADEMY_* variables."""
    for name in list(os.environ):
        if name.startswith("ACADEMY_") and name != "ACADEMY_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    from jedi_academy.config import load_settings

    return load_settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from jedi_academy.llm.tiny import build_tiny_model

    torch.set_num_threads(1)
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_llm(tiny_dir: Path):  # type: ignore[no-untyped-def]
    from jedi_academy.llm.transformers_backend import TransformersLLM

    return TransformersLLM(tiny_dir, model_name="tiny", device="cpu", dtype="float32")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database of the test's own, created on the server that ``ACADEMY_TEST_POSTGRES_URL``
    names and dropped after the test: the database the URL names is never touched, so tests (and people)
    sharing that server do not clobber each other."""
    base = os.environ.get("ACADEMY_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("ACADEMY_TEST_POSTGRES_URL not set (.ci/run starts a server and sets it)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"academy_test_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:  # FORCE: a connection the test left open does not block it
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerThread:
    """Runs an ASGI app under uvicorn on a loopback port for the duration of a test."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def serve_app() -> Iterator:
    """``with serve_app(app) as server: server.url``"""
    yield ServerThread
