"""Shared fixtures: an isolated data directory and one tiny model per test session.

Every test runs with a fixed pseudonymisation key (the ``pseudonym_key_file`` setting, through
``ACADEMY_PSEUDONYM_KEY_FILE``, which subprocesses inherit): the synthetic sample's authors then sort the
same way in every run, so the personas, conversations and fine-tunes of a tiny-model test are the same from
one run to the next. See tests/README.md.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
# typer reads TYPER_USE_RICH once, when it is first imported; `jedi_academy.cli` sets it, but a test module
# that imports typer first would switch the whole worker to rich help (and the CLI reference would differ by
# which file the worker ran first), so the suite sets it before any test module loads
os.environ["TYPER_USE_RICH"] = "0"
# `PYTHONPATH=src pytest` tests a worktree's code; tests chdir to a temporary folder, so a relative entry
# would make every `academy` subprocess import whatever package is installed instead: make them absolute.
if os.environ.get("PYTHONPATH"):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        str(Path(entry).resolve()) if entry else entry for entry in os.environ["PYTHONPATH"].split(os.pathsep)
    )

# 32 fixed bytes; ACADEMY_TEST_PSEUDONYM_KEY (64 hex characters) replaces them, to check that no test
# depends on the one key (tests/README.md)
TEST_PSEUDONYM_KEY = os.environ.get("ACADEMY_TEST_PSEUDONYM_KEY", "5e" * 32)
PSEUDONYM_KEY_ENV = "ACADEMY_PSEUDONYM_KEY_FILE"
KEPT_VARIABLES = ("ACADEMY_TEST_POSTGRES_URL", "ACADEMY_TEST_PSEUDONYM_KEY")  # the suite's own switches


# A suite started as a background job of a non-interactive shell inherits SIGINT ignored, and so would every
# process its tests start; the tests that press Ctrl-C need it delivered, as at a terminal. A handled signal
# is back to its default in a started program.
signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that must stay slow says why (tests/README.md): ``@pytest.mark.slow(reason="...")``."""
    for item in items:
        for mark in item.iter_markers("slow"):
            if not str(mark.kwargs.get("reason", "")).strip():
                raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.slow needs reason='why it must be'")


@pytest.fixture(scope="session")
def pseudonym_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite's fixed pseudonymisation key, private as the academy requires."""
    path = tmp_path_factory.mktemp("keys") / "pseudonym.key"
    path.write_text(TEST_PSEUDONYM_KEY + "\n", encoding="ascii")
    path.chmod(0o600)
    return path


def _isolate(monkeypatch: pytest.MonkeyPatch, key_file: Path) -> None:
    for name in list(os.environ):
        if name.startswith("ACADEMY_") and name not in KEPT_VARIABLES:
            monkeypatch.delenv(name)
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, str(key_file))


@pytest.fixture(scope="session", autouse=True)
def _isolated_session(pseudonym_key_file: Path) -> Iterator[None]:
    """The same isolation for session- and package-scoped fixtures, which run before any test's own."""
    with pytest.MonkeyPatch.context() as patch:
        _isolate(patch, pseudonym_key_file)
        yield


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pseudonym_key_file: Path) -> None:
    """No test reads the developer's academy.toml or ACADEMY_* variables; every test uses the fixed key."""
    _isolate(monkeypatch, pseudonym_key_file)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def key_per_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """For the tests of the key itself: the default, a random key created inside each data directory."""
    monkeypatch.delenv(PSEUDONYM_KEY_ENV)


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


@contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port where nothing listens, held for the block (bound, never listening: a connection is
    refused, and no other process can start listening there meanwhile, unlike a port closed again)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


class ServerThread:
    """Runs an ASGI app under uvicorn on a loopback port for the duration of a test. The socket is bound
    (port 0) before the server starts, so no other process can take the port in between."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

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
        self.sock.close()


@pytest.fixture
def serve_app() -> Iterator:
    """``with serve_app(app) as server: server.url``"""
    yield ServerThread
