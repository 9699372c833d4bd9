"""Loopback HTTP servers for tests that play a remote API (Mistral, OpenAI-style servers)."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


class JSONHandler(BaseHTTPRequestHandler):
    def reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def raw_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def json_body(self) -> Any:
        return json.loads(self.raw_body())

    def log_message(self, *args: object) -> None:
        pass


class LoopbackServer:
    """``with LoopbackServer(Handler) as server: server.url`` on 127.0.0.1, a free port."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> LoopbackServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class ServedProcess:
    """``academy ... serve --port 0`` as a process: the port is the one the server bound and printed (never a
    guess that another process may take first), and the test goes on once /health answers, polled against a
    deadline. ``log()`` is stderr once the process has ended."""

    ANNOUNCED = re.compile(r"serving .* on (http://\S+)/v1 ")

    def __init__(self, command: list[str], *, start_s: float = 120) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen(
            [*command, "--port", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self.url = self._wait_for_url(time.monotonic() + start_s)
            self._wait_for_health(time.monotonic() + start_s)
        except BaseException:
            self.stop()
            raise

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._lines.put(line)
        self._lines.put(None)

    def _wait_for_url(self, deadline: float) -> str:
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                said = "".join(self._seen)
                raise AssertionError(f"the server never said where it listens: {said}") from None
            if line is None:
                raise AssertionError(f"the server exited ({self.process.wait()}): {''.join(self._seen)}")
            self._seen.append(line)
            if match := self.ANNOUNCED.search(line):
                return match.group(1)

    def _wait_for_health(self, deadline: float) -> None:
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.process.poll() is None, "the server exited before it answered /health"
            assert time.monotonic() < deadline, "the server never answered /health"
            time.sleep(0.1)

    def log(self) -> str:
        """All of stderr; call once the process has ended."""
        self._reader.join(timeout=30)
        while (line := self._lines.get_nowait() if not self._lines.empty() else None) is not None:
            self._seen.append(line)
        return "".join(self._seen)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=20)
