"""The therapist's web app: FastAPI routes over the sessions API, server-rendered with Jinja2 and HTMX.

This module builds the app and the plumbing the routes share (``Routes``); the routes themselves live in
``web/routes/`` (accounts, cases, sessions, portfolio, jobs), one module per area, registered through the
``register_routes`` hook.

Every route that takes an id looks it up through the signed-in therapist (``owned_case``, ``owned_session``,
``owned_job``): another therapist's case, session or job answers 404, exactly like one that does not exist.
Every POST checks the CSRF token (the ``csrf`` dependency), sent as a form field or, from HTMX, as the
X-CSRF-Token header.

FastAPI resolves the dependency annotations of the routes at runtime, so this module does not use postponed
annotations; names imported only for type checking are quoted.
"""

import secrets
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from jedi_academy.errors import AcademyError
from jedi_academy.hooks import route_hook
from jedi_academy.limits import MAX_MESSAGE_CHARS
from jedi_academy.web import accounts, data
from jedi_academy.web.live import LiveReplies
from jedi_academy.web.model_queue import FairQueue, Ticket
from jedi_academy.web.security import (
    COOKIE,
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    CookieSigner,
    HeadAsGet,
    SecurityHeaders,
    StateCookie,
    same_token,
)

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.sessions import ModelPool
    from jedi_academy.store import Database
    from jedi_academy.store.models import Case, TherapySession
    from jedi_academy.web.jobs import Jobs, JobView

HERE = Path(__file__).parent


@dataclass
class WebConfig:
    secret: bytes
    allow_registration: bool = False
    secure_cookies: bool = False  # set behind HTTPS
    rate_limit: accounts.RateLimit = field(default_factory=accounts.RateLimit)
    max_tokens: int = 200  # the patient's reply length in the browser
    public_url: str = "http://127.0.0.1:8000"  # for invite links
    feedback: bool = True  # the teacher's MITI feedback when a session ends
    feedback_max_tokens: int = 64
    # Model calls at once: on the transformers backend, the replies generated as one padded batch; on an
    # OpenAI-compatible backend (vLLM, `academy serve`), the requests in flight, batched by the server
    batch_size: int = 8
    concurrency: int = 8
    # None: each session draws a fresh seed (stored with it, so it can be replayed); a number: every session
    # starts from that seed, so a test or a demo gets the same replies and decisions every run
    session_seed: int | None = None


@dataclass
class AppState:
    settings: "Settings"
    database: "Database"
    pool: "ModelPool"
    config: WebConfig
    jobs: "Jobs | None"
    signer: CookieSigner
    live: LiveReplies = field(default_factory=LiveReplies)
    # one model call at a time, therapists served in turn
    model_queue: FairQueue = field(default_factory=FairQueue)
    waiting: dict[str, Ticket] = field(default_factory=dict)  # session id -> its call in the queue
    load_lock: threading.Lock = field(default_factory=threading.Lock)
    session_locks: dict[str, threading.Lock] = field(default_factory=dict)
    locks_lock: threading.Lock = field(default_factory=threading.Lock)

    def session_lock(self, session_id: str) -> threading.Lock:
        with self.locks_lock:
            return self.session_locks.setdefault(session_id, threading.Lock())


@dataclass
class Visitor:
    """A signed-in therapist (``login`` from the database) or an anonymous browser, which has only the CSRF
    token of its signed cookie: anonymous visitors write nothing to the database."""

    login: accounts.LoginSession | None
    anonymous_csrf: str = ""
    name: str | None = None

    @property
    def therapist_id(self) -> str | None:
        return self.login.therapist_id if self.login is not None else None

    @property
    def csrf(self) -> str:
        return self.login.csrf_token if self.login is not None else self.anonymous_csrf


class NotSignedIn(Exception):
    pass


@dataclass
class Routes:
    """What ``create_app`` hands to the route modules (``register_routes``): the app, its state, and the
    plumbing every route shares — the sign-in and CSRF dependencies (``who: Annotated[Visitor,
    routes.signed_in]`` for a page of the signed-in therapist, ``routes.signed_in_post`` for a form it sends),
    page rendering, and the ownership checks that answer 404 for
    another therapist's case, session or job."""

    app: FastAPI
    state: AppState
    database: "Database"
    settings: "Settings"
    config: WebConfig
    templates: Jinja2Templates
    visitor: Callable[..., Visitor]
    csrf: Callable[..., Any]
    # dependencies as ``Annotated`` metadata, which mypy reads (it cannot read a variable used as a type)
    signed_in: Any
    signed_in_post: Any
    page: Callable[..., HTMLResponse]
    redirect: Callable[[Request, str], Response]
    set_login_cookie: Callable[[Response, str], None]
    owned_case: Callable[[Visitor, str], "Case"]
    owned_session: Callable[[Visitor, str], "TherapySession"]
    owned_job: Callable[[Visitor, str], "JobView"]


def model_slots(backend: str, config: WebConfig) -> int:
    """How many model calls the queue lets run at once for ``backend``."""
    return config.batch_size if backend == "transformers" else config.concurrency


def create_app(
    settings: "Settings",
    database: "Database",
    pool: "ModelPool",
    config: WebConfig,
    jobs: "Jobs | None" = None,
) -> FastAPI:
    state = AppState(settings, database, pool, config, jobs, CookieSigner(config.secret))
    state.model_queue = FairQueue(model_slots(settings.backend, config))
    if settings.backend == "transformers":
        from jedi_academy.llm.batching import batch_replies

        pool.wrap = batch_replies(config.batch_size)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        state.model_queue.close()  # waiting calls end, a reply being written stops at its next token

    app = FastAPI(title="Jedi Academy", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.academy = state
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_middleware(SecurityHeaders)
    app.add_middleware(HeadAsGet)

    # ------------------------------------------------------------ plumbing

    def visitor(request: Request) -> Visitor:
        """The browser's login session, or an anonymous visitor with a stateless CSRF token (a signed cookie,
        set on first contact). An unknown or expired session cookie is left alone, never overwritten."""
        raw = request.cookies.get(COOKIE)
        token = state.signer.unsign(raw) if raw else None
        login = accounts.load_session(database, token) if token else None
        if login is not None and login.therapist_id is not None:
            return Visitor(login, name=accounts.therapist_name(database, login.therapist_id))
        signed = request.cookies.get(CSRF_COOKIE)
        anonymous = state.signer.unsign(signed, salt=CSRF_COOKIE) if signed else None
        if anonymous is None:
            anonymous = secrets.token_urlsafe(32)
            request.state.set_csrf_cookie = anonymous
        return Visitor(None, anonymous_csrf=anonymous)

    def therapist(who: Annotated[Visitor, Depends(visitor)]) -> Visitor:
        if who.therapist_id is None:
            raise NotSignedIn
        return who

    async def csrf(request: Request, who: Annotated[Visitor, Depends(visitor)]) -> Visitor:
        given = request.headers.get(CSRF_HEADER)
        if given is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            given = (await request.form()).get(CSRF_FIELD)  # type: ignore[assignment]
        if not same_token(who.csrf, given if isinstance(given, str) else None):
            raise HTTPException(
                403, "the form was stale or forged (CSRF token missing or wrong); reload the page"
            )
        return who

    def signed_in_csrf(
        who: Annotated[Visitor, Depends(csrf)], _: Annotated[Visitor, Depends(therapist)]
    ) -> Visitor:
        return who

    def set_login_cookie(response: Response, token: str) -> None:
        # Lax: a therapist who follows a link to the app from elsewhere arrives signed in; every POST still
        # needs its CSRF token
        response.set_cookie(
            COOKIE,
            state.signer.sign(token),
            max_age=accounts.SESSION_DAYS * 86400,
            httponly=True,
            samesite="lax",
            secure=config.secure_cookies,
            path="/",
        )
        response.delete_cookie(CSRF_COOKIE, path="/")

    def anonymous_cookie(token: str) -> bytes:
        """The Set-Cookie header of an anonymous visitor's signed CSRF token (see ``visitor``)."""
        response = Response()
        response.set_cookie(
            CSRF_COOKIE,
            state.signer.sign(token, salt=CSRF_COOKIE),
            max_age=accounts.ANONYMOUS_HOURS * 3600,
            httponly=True,
            samesite="lax",
            secure=config.secure_cookies,
            path="/",
        )
        return next(value for key, value in response.raw_headers if key == b"set-cookie")

    # set after the handler, unless the response signs the visitor in (its session cookie replaces it)
    app.add_middleware(StateCookie, attribute="set_csrf_cookie", header=anonymous_cookie, unless=COOKIE)

    def page(
        request: Request, template: str, who: Visitor, status: int = 200, **context: Any
    ) -> HTMLResponse:
        response = templates.TemplateResponse(
            request,
            template,
            {
                "me": who,
                "csrf": who.csrf,
                "registration": config.allow_registration,
                "max_message_chars": MAX_MESSAGE_CHARS,
                **context,
            },
            status_code=status,
        )
        response.headers["cache-control"] = "no-store"
        return response

    def redirect(request: Request, url: str) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)

    @app.exception_handler(NotSignedIn)
    async def to_login(request: Request, _exc: NotSignedIn) -> Response:
        if request.method != "GET" or request.headers.get("hx-request") or "/stream" in request.url.path:
            return Response("sign in first", status_code=401, media_type="text/plain")
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?{urlencode({'next': wanted})}" if wanted != "/" else "/login", 303)

    def error_page(request: Request, status: int, message: str) -> Response:
        """An error as its client can show it: plain text for HTMX (app.js puts it next to the control that
        sent the request), JSON for a JSON client, otherwise a page in the app's layout."""
        if request.headers.get("hx-request"):
            return Response(message, status_code=status, media_type="text/plain")
        accept = request.headers.get("accept", "")
        if "application/json" in accept and "text/html" not in accept:
            return JSONResponse({"error": message}, status_code=status)
        title = {403: "Not allowed", 404: "Not found", 409: "Not now", 413: "Too long", 429: "Slow down"}
        return page(
            request,
            "message.html",
            Visitor(None),
            status=status,
            title=title.get(status, "Something went wrong"),
            text=message[:1].upper() + message[1:] + ("" if message.endswith(".") else "."),
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_page(request, exc.status_code, str(exc.detail))

    @app.exception_handler(AcademyError)
    async def academy_error(request: Request, exc: AcademyError) -> Response:
        return error_page(request, 400, str(exc))

    # ------------------------------------------------------------ ownership

    def owned_case(who: Visitor, case_id: str) -> "Case":
        case = data.owned_case(database, who.therapist_id, case_id)
        if case is None:
            raise HTTPException(404, "no such case")
        return case

    def owned_session(who: Visitor, session_id: str) -> "TherapySession":
        row = data.owned_session(database, who.therapist_id, session_id)
        if row is None:
            raise HTTPException(404, "no such session")
        return row

    def owned_job(who: Visitor, job_id: str) -> "JobView":
        if state.jobs is None:
            raise HTTPException(404, "no such job")
        job = state.jobs.get(job_id)
        if job is None or job.session_id is None:
            raise HTTPException(404, "no such job")
        owned_session(who, job.session_id)
        return job

    # ------------------------------------------------------------ the routes, one module per area

    routes = Routes(
        app=app, state=state, database=database, settings=settings, config=config, templates=templates,
        visitor=visitor, csrf=csrf, signed_in=Depends(therapist),
        signed_in_post=Depends(signed_in_csrf), page=page, redirect=redirect,
        set_login_cookie=set_login_cookie, owned_case=owned_case, owned_session=owned_session,
        owned_job=owned_job,
    )  # fmt: skip
    route_hook().register_routes(routes=routes)

    return app
