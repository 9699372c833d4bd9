"""Running the app: a socket bound before serving, and uvicorn with a shutdown that ends generation in
progress instead of waiting for it."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from jedi_academy.errors import AcademyError


def bind_listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound before serving: port 0 takes a free port that nobody can take in between
    (its number is then ``getsockname()[1]``); a port in use is a clear error instead of uvicorn's exit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise AcademyError(
            f"cannot listen on {host}:{port}: {exc.strerror}", "choose another --port (0 picks a free one)"
        ) from exc
    sock.set_inheritable(True)
    return sock


def run_server(
    app: FastAPI,
    host: str,
    port: int,
    *,
    graceful_s: int = 30,
    log_level: str = "warning",
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM. The signal stops new requests, ends generation in progress within a
    token (its clients get a "shutting down" error), waits up to ``graceful_s`` for replies, then exits.
    ``on_listening`` gets the URL (with the port actually bound) once the socket is bound."""
    import uvicorn

    server = app.state.server

    class _Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            if not server.stopping.is_set():
                busy = server.in_flight
                print(f"academy serve: stopping ({busy} request(s) in flight)", file=sys.stderr, flush=True)
            server.stopping.set()
            super().handle_exit(sig, frame)

    sock = bind_listening_socket(host, port)
    bound = sock.getsockname()[1]
    config = uvicorn.Config(
        app, host=host, port=bound, log_level=log_level, timeout_graceful_shutdown=graceful_s
    )
    if on_listening is not None:
        on_listening(f"http://{f'[{host}]' if ':' in host else host}:{bound}")
    with sock:
        _Server(config).run(sockets=[sock])
