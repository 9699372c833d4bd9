"""Cookies, CSRF tokens, security headers and a request log that carries no secrets."""

from __future__ import annotations

import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from itsdangerous import BadSignature, Signer

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "academy_session"
CSRF_COOKIE = "academy_csrf"  # an anonymous visitor's CSRF token, signed; nothing is stored for it
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),  # invite links carry a token: never send it onwards
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]

log = logging.getLogger("jedi_academy.web")


def load_secret(data_dir: Path) -> bytes:
    """The cookie-signing key: <data_dir>/web/secret-key (0600), made on first use."""
    folder = data_dir / "web"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / "secret-key"
    if not path.exists():
        temporary = folder / f".secret-key.{secrets.token_hex(4)}"
        temporary.write_text(secrets.token_hex(32))
        temporary.chmod(0o600)
        try:
            os.link(temporary, path)  # atomic, and never replaces a key another process wrote first
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text().strip().encode()


@dataclass(frozen=True)
class CookieSigner:
    secret: bytes

    def sign(self, token: str, salt: str = "academy-session") -> str:
        return Signer(self.secret, salt=salt).sign(token).decode()

    def unsign(self, value: str, salt: str = "academy-session") -> str | None:
        try:
            return Signer(self.secret, salt=salt).unsign(value).decode()
        except (BadSignature, UnicodeDecodeError):
            return None


def same_token(expected: str, given: str | None) -> bool:
    return given is not None and secrets.compare_digest(expected.encode(), given.encode())


class SecurityHeaders:
    """Adds the security headers to every response, and logs each request by its route template (never the
    raw path, which may hold an invite token, nor cookies or form fields)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 0

        async def with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in dict(HEADERS)]
                message["headers"] = headers + HEADERS
            await send(message)

        try:
            await self.app(scope, receive, with_headers)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or ("/static" if scope["path"].startswith("/static") else "?")
            log.info("%s %s %s %.0fms", scope["method"], path, status, (time.monotonic() - started) * 1000)


class StateCookie:
    """Adds the cookie a handler asked for (``request.state.<attribute>``, see ``app.visitor``) to its
    response, unless the response sets cookie ``unless`` itself (a sign-in). Plain ASGI rather than an
    ``@app.middleware("http")`` function: Starlette's ``BaseHTTPMiddleware`` relays a streamed reply through a
    task group and memory streams per chunk, which was a large part of the web app's CPU under load."""

    def __init__(self, app: ASGIApp, attribute: str, header: Callable[[str], bytes], unless: str) -> None:
        self.app = app
        self.attribute = attribute
        self.header = header
        self.unless = f"{unless}=".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})  # what request.state writes to

        async def with_cookie(message: Message) -> None:
            value = state.get(self.attribute) if message["type"] == "http.response.start" else None
            if value is not None:
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"set-cookie" and v.startswith(self.unless) for k, v in headers):
                    message = {**message, "headers": [*headers, (b"set-cookie", self.header(value))]}
            await send(message)

        await self.app(scope, receive, with_cookie)


class HeadAsGet:
    """HEAD answered wherever GET is (FastAPI's routes take only the methods they name): the request runs as
    GET and the body is dropped, so the status and headers, Content-Length included, are GET's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body"):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)
