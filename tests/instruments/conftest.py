"""Shared fixtures: a loopback E-utilities server replaying recorded replies, and a CLI runner."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Seen:
    endpoint: str
    params: dict[str, str]
    at: float
    method: str = "GET"


@dataclass
class EutilsReplay:
    """Replies per endpoint (``esearch.fcgi`` ...); a list is served in order, its last entry repeating."""

    base_url: str = ""
    replies: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def serve(self, endpoint: str, *replies: tuple[int, bytes] | str) -> None:
        self.replies[endpoint] = [
            (200, (FIXTURES / reply).read_bytes()) if isinstance(reply, str) else reply for reply in replies
        ]

    def calls(self, endpoint: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.endpoint == endpoint]


@pytest.fixture
def eutils() -> Iterator[EutilsReplay]:
    replay = EutilsReplay()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, query: str) -> None:
            endpoint = urlsplit(self.path).path.rsplit("/", 1)[-1]
            params = {key: values[0] for key, values in parse_qs(query).items()}
            replay.seen.append(Seen(endpoint, params, time.monotonic(), self.command))
            queue = replay.replies.get(endpoint)
            status, body = (
                (queue.pop(0) if len(queue) > 1 else queue[0]) if queue else (404, b"no such endpoint")
            )
            self.send_response(status)
            self.send_header("Content-Type", "text/xml; charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer(urlsplit(self.path).query)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            self._answer(self.rfile.read(length).decode())

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    replay.base_url = f"http://127.0.0.1:{server.server_address[1]}/entrez/eutils/"
    try:
        yield replay
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _no_ambient_ncbi_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # The root conftest clears ACADEMY_*; these NCBI conventions are read too.
    for name in ("NCBI_EMAIL", "NCBI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def academy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run ``academy --data-dir <tmp> ARGS`` in-process through the real entry point (``cli.main``)."""
    from jedi_academy.cli import main

    monkeypatch.chdir(tmp_path)
    data_dir = tmp_path / "data"

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main(["--data-dir", str(data_dir), *args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    run.data_dir = data_dir  # type: ignore[attr-defined]
    return run
