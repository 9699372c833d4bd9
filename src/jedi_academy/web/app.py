"""The therapist's web app: FastAPI routes over the sessions API, server-rendered with Jinja2 and HTMX.

Every route that takes an id looks it up through the signed-in therapist (``owned_case``, ``owned_session``,
``owned_job``): another therapist's case, session or job answers 404, exactly like one that does not exist.
Every POST checks the CSRF token (the ``csrf`` dependency), sent as a form field or, from HTMX, as the
X-CSRF-Token header.

FastAPI resolves the dependency annotations of the routes at runtime, so this module does not use postponed
annotations; names imported only for type checking are quoted.
"""

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from jedi_academy.errors import AcademyError
from jedi_academy.store.models import Case, Checkpoint, Persona, Specialization, TherapySession
from jedi_academy.web import accounts
from jedi_academy.web.charts import sparkline_svg, trajectory_svg
from jedi_academy.web.live import LiveReplies
from jedi_academy.web.security import (
    COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    CookieSigner,
    SecurityHeaders,
    same_token,
)
from jedi_academy.web.trajectory import case_trajectory, checkpoint_tree

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.sessions import ModelPool
    from jedi_academy.store import Database
    from jedi_academy.web.jobs import Jobs

HERE = Path(__file__).parent
log = logging.getLogger(__name__)


def session_feedback() -> Any:
    """The loop's session-feedback module (it calls the feedback stage), or None without the loop package."""
    try:
        from jedi_academy.loop import session_feedback as module
    except ImportError:
        return None
    return module


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


@dataclass
class AppState:
    settings: "Settings"
    database: "Database"
    pool: "ModelPool"
    config: WebConfig
    jobs: "Jobs | None"
    signer: CookieSigner
    live: LiveReplies = field(default_factory=LiveReplies)
    model_lock: threading.Lock = field(default_factory=threading.Lock)  # one generation at a time
    session_locks: dict[str, threading.Lock] = field(default_factory=dict)
    locks_lock: threading.Lock = field(default_factory=threading.Lock)

    def session_lock(self, session_id: str) -> threading.Lock:
        with self.locks_lock:
            return self.session_locks.setdefault(session_id, threading.Lock())


@dataclass
class Visitor:
    login: accounts.LoginSession
    name: str | None = None

    @property
    def therapist_id(self) -> str | None:
        return self.login.therapist_id

    @property
    def csrf(self) -> str:
        return self.login.csrf_token


class NotSignedIn(Exception):
    pass


def create_app(
    settings: "Settings",
    database: "Database",
    pool: "ModelPool",
    config: WebConfig,
    jobs: "Jobs | None" = None,
) -> FastAPI:
    app = FastAPI(title="Jedi Academy", docs_url=None, redoc_url=None, openapi_url=None)
    state = AppState(settings, database, pool, config, jobs, CookieSigner(config.secret))
    app.state.academy = state
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_middleware(SecurityHeaders)

    # ------------------------------------------------------------ plumbing

    def visitor(request: Request) -> Visitor:
        """The browser's login session; an anonymous one is made (and its cookie set) on first contact."""
        raw = request.cookies.get(COOKIE)
        token = state.signer.unsign(raw) if raw else None
        login = accounts.load_session(database, token) if token else None
        if login is None:
            login = accounts.new_session(database)
            request.state.set_cookie = login.token
        name = accounts.therapist_name(database, login.therapist_id) if login.therapist_id else None
        return Visitor(login, name)

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

    Me = Annotated[Visitor, Depends(therapist)]
    Post = Annotated[Visitor, Depends(signed_in_csrf)]

    def set_login_cookie(response: Response, token: str) -> None:
        response.set_cookie(
            COOKIE,
            state.signer.sign(token),
            max_age=accounts.SESSION_DAYS * 86400,
            httponly=True,
            samesite="strict",
            secure=config.secure_cookies,
            path="/",
        )

    @app.middleware("http")
    async def anonymous_cookie(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        token = getattr(request.state, "set_cookie", None)
        if token is not None and COOKIE not in response.headers.get("set-cookie", ""):
            set_login_cookie(response, token)
        return response

    def page(
        request: Request, template: str, who: Visitor, status: int = 200, **context: Any
    ) -> HTMLResponse:
        response = templates.TemplateResponse(
            request,
            template,
            {"me": who, "csrf": who.csrf, "registration": config.allow_registration, **context},
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
        response = RedirectResponse("/login", status_code=303)
        token = getattr(request.state, "set_cookie", None)
        if token is not None:
            set_login_cookie(response, token)
        return response

    @app.exception_handler(AcademyError)
    async def academy_error(request: Request, exc: AcademyError) -> Response:
        return Response(str(exc), status_code=400, media_type="text/plain")

    # ------------------------------------------------------------ ownership

    def owned_case(who: Visitor, case_id: str) -> Case:
        with database.session() as session:
            case = session.get(Case, case_id)
            if case is None or case.therapist_id != who.therapist_id:
                raise HTTPException(404, "no such case")
            session.expunge(case)
            return case

    def owned_session(who: Visitor, session_id: str) -> TherapySession:
        with database.session() as session:
            row = session.get(TherapySession, session_id)
            case = session.get(Case, row.case_id) if row is not None else None
            if row is None or case is None or case.therapist_id != who.therapist_id:
                raise HTTPException(404, "no such session")
            session.expunge(row)
            return row

    def owned_job(who: Visitor, job_id: str) -> Any:
        if state.jobs is None:
            raise HTTPException(404, "no such job")
        job = state.jobs.get(job_id)
        if job is None or job.session_id is None:
            raise HTTPException(404, "no such job")
        owned_session(who, job.session_id)
        return job

    # ------------------------------------------------------------ accounts

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, who: Annotated[Visitor, Depends(visitor)]) -> Response:
        if who.therapist_id is not None:
            return RedirectResponse("/", status_code=303)
        return page(request, "login.html", who)

    @app.post("/login")
    def login(
        request: Request,
        who: Annotated[Visitor, Depends(csrf)],
        email: Annotated[str, Form()],
        password: Annotated[str, Form()],
    ) -> Response:
        address = request.client.host if request.client else "?"
        if accounts.login_blocked(database, email, address, config.rate_limit):
            return page(
                request,
                "login.html",
                who,
                status=429,
                error="Too many failed sign-ins. Wait 15 minutes and try again.",
            )
        therapist_id = accounts.authenticate(database, email, password)
        accounts.record_login(database, email, address, therapist_id is not None, config.rate_limit)
        if therapist_id is None:
            return page(request, "login.html", who, status=401, error="Wrong email or password.", email=email)
        # a new session id at login: a session id planted before sign-in is worth nothing afterwards
        accounts.drop_session(database, who.login.token)
        fresh = accounts.new_session(database, therapist_id)
        response = RedirectResponse("/", status_code=303)
        set_login_cookie(response, fresh.token)
        return response

    @app.post("/logout")
    def logout(request: Request, who: Annotated[Visitor, Depends(csrf)]) -> Response:
        accounts.drop_session(database, who.login.token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.get("/invite/{token}", response_class=HTMLResponse)
    def invite_form(request: Request, token: str, who: Annotated[Visitor, Depends(visitor)]) -> Response:
        found = accounts.invited_account(database, token)
        if found is None:
            return page(
                request,
                "message.html",
                who,
                status=404,
                title="Invite not valid",
                text="This invite link is invalid, used or expired; ask your operator for a new one.",
            )
        return page(request, "invite.html", who, name=found[0], email=found[1], token=token)

    @app.post("/invite/{token}")
    def accept_invite(
        request: Request,
        token: str,
        who: Annotated[Visitor, Depends(csrf)],
        password: Annotated[str, Form()],
        password_again: Annotated[str, Form()],
    ) -> Response:
        found = accounts.invited_account(database, token)
        if found is None:
            raise HTTPException(404, "this invite link is invalid, used or expired")
        if password != password_again:
            return page(
                request,
                "invite.html",
                who,
                status=400,
                name=found[0],
                email=found[1],
                token=token,
                error="The two passwords differ.",
            )
        try:
            therapist_id = accounts.accept_invite(database, token, password)
        except AcademyError as exc:
            return page(
                request,
                "invite.html",
                who,
                status=400,
                name=found[0],
                email=found[1],
                token=token,
                error=exc.message,
            )
        accounts.drop_session(database, who.login.token)
        fresh = accounts.new_session(database, therapist_id)
        accounts.drop_other_sessions(database, therapist_id, fresh.token)  # an invite also resets a password
        response = RedirectResponse("/", status_code=303)
        set_login_cookie(response, fresh.token)
        return response

    @app.get("/register", response_class=HTMLResponse)
    def register_form(request: Request, who: Annotated[Visitor, Depends(visitor)]) -> Response:
        if not config.allow_registration:
            raise HTTPException(404, "self-registration is off on this server")
        return page(request, "register.html", who)

    @app.post("/register")
    def register(
        request: Request,
        who: Annotated[Visitor, Depends(csrf)],
        name: Annotated[str, Form()],
        email: Annotated[str, Form()],
        password: Annotated[str, Form()],
    ) -> Response:
        if not config.allow_registration:
            raise HTTPException(404, "self-registration is off on this server")
        try:
            therapist_id = accounts.register(database, name, email, password)
        except AcademyError as exc:
            return page(request, "register.html", who, status=400, error=exc.message, name=name, email=email)
        accounts.drop_session(database, who.login.token)
        fresh = accounts.new_session(database, therapist_id)
        response = RedirectResponse("/", status_code=303)
        set_login_cookie(response, fresh.token)
        return response

    @app.get("/account", response_class=HTMLResponse)
    def account(request: Request, who: Me) -> Response:
        return page(request, "account.html", who)

    @app.post("/account/password")
    def change_password(
        request: Request,
        who: Post,
        current: Annotated[str, Form()],
        new: Annotated[str, Form()],
        new_again: Annotated[str, Form()],
    ) -> Response:
        if new != new_again:
            return page(request, "account.html", who, status=400, error="The two new passwords differ.")
        try:
            accounts.change_password(database, who.therapist_id or "", current, new)
        except AcademyError as exc:
            return page(request, "account.html", who, status=400, error=exc.message)
        accounts.drop_other_sessions(database, who.therapist_id or "", who.login.token)
        return page(request, "account.html", who, notice="Password changed; other browsers were signed out.")

    # ------------------------------------------------------------ dashboard and cases

    def open_specializations() -> list[dict[str, str]]:
        """Specializations a case can be opened in: with personas and a patient checkpoint."""
        with database.session() as session:
            rows = session.scalars(select(Specialization).order_by(Specialization.display_name)).all()
            out = []
            for row in rows:
                has_persona = session.scalars(
                    select(Persona.id).where(Persona.specialization_id == row.id).limit(1)
                ).first()
                if has_persona and patient_checkpoint(session, row.id) is not None:
                    out.append({"id": row.id, "name": row.display_name})
            return out

    def patient_checkpoint(session: Any, specialization: str) -> str | None:
        """The specialization's newest fine-tuned checkpoint, else its newest base checkpoint (a deployment
        that has not fine-tuned yet still lets therapists practise; the case page shows the kind)."""
        for fine_tuned in (True, False):
            query = select(Checkpoint.id).where(Checkpoint.specialization_id == specialization)
            query = query.where((Checkpoint.kind != "base") if fine_tuned else (Checkpoint.kind == "base"))
            found = session.scalars(query.order_by(Checkpoint.created_at.desc(), Checkpoint.id)).first()
            if found is not None:
                return found
        return None

    @app.get("/", response_class=HTMLResponse)
    def dashboard(request: Request, who: Me) -> Response:
        from jedi_academy.sessions import list_cases

        cases = list_cases(database, who.therapist_id)
        for case in cases:
            case["spark"] = sparkline_svg(case_trajectory(database, case["id"], settings))
        return page(request, "dashboard.html", who, cases=cases, specializations=open_specializations())

    @app.post("/cases")
    def new_case(request: Request, who: Post, specialization: Annotated[str, Form()]) -> Response:
        from jedi_academy.sessions import open_case

        if specialization not in {s["id"] for s in open_specializations()}:
            raise HTTPException(400, "no cases can be opened in this specialization yet")
        with database.session() as session:
            checkpoint = patient_checkpoint(session, specialization)
        case = open_case(database, who.therapist_id or "", specialization, checkpoint=checkpoint)
        return redirect(request, f"/cases/{case['id']}")

    @app.get("/cases/{case_id}", response_class=HTMLResponse)
    def case_page(request: Request, case_id: str, who: Me) -> Response:
        from jedi_academy.sessions import show_case

        owned_case(who, case_id)
        case = show_case(database, case_id)
        trajectory = case_trajectory(database, case_id, settings)
        return page(
            request,
            "case.html",
            who,
            case=case,
            trajectory=trajectory,
            chart=trajectory_svg(trajectory),
            tree=checkpoint_tree(database, case_id),
            active=next((s for s in case["sessions"] if s["status"] != "ended"), None),
        )

    @app.post("/cases/{case_id}/sessions")
    def start_session(request: Request, case_id: str, who: Post) -> Response:
        import secrets

        from jedi_academy.sessions import SessionOptions, SessionRunner

        owned_case(who, case_id)
        options = SessionOptions(max_tokens=config.max_tokens)
        seed = secrets.randbelow(2**31)
        with state.model_lock:
            runner = SessionRunner.start(database, state.pool, case_id, seed=seed, options=options)
        return redirect(request, f"/sessions/{runner.session_id}")

    @app.post("/cases/{case_id}/branch")
    def branch(request: Request, case_id: str, who: Post, checkpoint: Annotated[str, Form()]) -> Response:
        from jedi_academy.sessions import set_case_checkpoint

        case = owned_case(who, case_id)
        if checkpoint not in {node["id"] for node in checkpoint_tree(database, case_id)}:
            raise HTTPException(404, "no such checkpoint in this case")
        with database.session() as session:
            unfinished = session.scalars(
                select(TherapySession.id).where(
                    TherapySession.case_id == case.id, TherapySession.status != "ended"
                )
            ).first()
            taken = set(
                session.scalars(select(TherapySession.branch).where(TherapySession.case_id == case.id))
            ) | {case.current_branch}
        if unfinished is not None:
            raise HTTPException(409, "end the unfinished session before branching")
        number = 2
        while f"branch-{number}" in taken:
            number += 1
        set_case_checkpoint(database, case_id, checkpoint, branch=f"branch-{number}")
        return redirect(request, f"/cases/{case_id}")

    # ------------------------------------------------------------ sessions

    def runner_for(session_id: str) -> Any:
        from jedi_academy.sessions import SessionRunner

        return SessionRunner.open(database, state.pool, session_id)

    def session_view(session_id: str) -> dict[str, Any]:
        from jedi_academy.sessions import session_json

        record = session_json(database, session_id)
        marked = {r["turn"] for r in record["recommendations"] if r["source"] == "therapist"}
        for turn in record["turns"]:
            turn["marked"] = turn["index"] in marked
        live = state.live.get(session_id)
        record["streaming"] = live is not None and not live.done
        return record

    @app.get("/sessions/{session_id}", response_class=HTMLResponse)
    def session_page(request: Request, session_id: str, who: Me) -> Response:
        row = owned_session(who, session_id)
        record = session_view(session_id)
        job = state.jobs.for_session(session_id) if state.jobs is not None else None
        feedback_module = session_feedback()
        feedback = (
            feedback_module.feedback_view(database, session_id)
            if feedback_module is not None and record["status"] == "ended"
            else None
        )
        return page(
            request,
            "session.html",
            who,
            record=record,
            case_id=row.case_id,
            job=job,
            loop_available=state.jobs is not None,
            feedback=feedback,
        )

    @app.get("/sessions/{session_id}/export.{export_format}")
    def export_session(session_id: str, export_format: str, who: Me) -> Response:
        """The transcript download: the same file as `academy session export`."""
        from jedi_academy.sessions import session_json
        from jedi_academy.sessions.transcript_export import FORMATS, MEDIA_TYPES, render_transcript

        owned_session(who, session_id)
        if export_format not in FORMATS:
            raise HTTPException(404, "no such format")
        codes = None
        try:
            from jedi_academy.feedback import load_feedback
        except ImportError:  # without the feedback stage, a transcript without codes
            load_feedback = None
        stored = load_feedback(database, session_id) if load_feedback is not None else None
        if stored is not None:
            codes = {turn.index: turn.codes for turn in stored.turns}
        text = render_transcript(session_json(database, session_id), export_format, codes)
        return Response(
            text,
            media_type=f"{MEDIA_TYPES[export_format]}; charset=utf-8",
            headers={
                "content-disposition": f'attachment; filename="session-{session_id}.{export_format}"',
                "cache-control": "no-store",
            },
        )

    @app.post("/sessions/{session_id}/say")
    def say(request: Request, session_id: str, who: Post, text: Annotated[str, Form()]) -> Response:
        row = owned_session(who, session_id)
        if row.status != "active":
            raise HTTPException(409, f"this session is {row.status}")
        if not text.strip():
            raise HTTPException(400, "say something first")
        lock = state.session_lock(session_id)
        if not lock.acquire(blocking=False):
            raise HTTPException(409, "the patient is still answering")
        stored = threading.Event()
        failure: list[str] = []
        index = len(session_view(session_id)["turns"])
        live = state.live.begin(session_id, index)

        def work() -> None:
            try:
                runner = runner_for(session_id)
                with state.model_lock:
                    result = runner.say(text, on_text=live.push, on_stored=stored.set)
                live.finish(result.patient)
            except Exception as exc:  # the browser is told; the stored turn stays for a retry
                message = exc.message if isinstance(exc, AcademyError) else "the patient model failed"
                failure.append(message)
                live.finish(None, message)
            finally:
                stored.set()
                lock.release()

        worker = threading.Thread(target=work, name=f"reply-{session_id}", daemon=True)
        worker.start()
        stored.wait()
        if failure and not live.pieces:
            raise HTTPException(400, failure[0])
        if not request.headers.get("hx-request"):
            worker.join()  # without JavaScript: answer with the whole page once the reply is in
            return RedirectResponse(f"/sessions/{session_id}", status_code=303)
        record = session_view(session_id)
        return page(request, "_turn.html", who, record=record, turn=record["turns"][index], live=True)

    @app.get("/sessions/{session_id}/stream")
    async def stream(request: Request, session_id: str, who: Me) -> StreamingResponse:
        await asyncio.to_thread(owned_session, who, session_id)

        async def events() -> AsyncIterator[str]:
            live = state.live.get(session_id)
            if live is None:
                record = await asyncio.to_thread(session_view, session_id)
                last = record["turns"][-1] if record["turns"] else None
                final = last["patient"] if last else None
                yield f"event: done\ndata: {json.dumps({'text': final})}\n\n"
                return
            seen = 0
            while True:
                pieces, done = await asyncio.to_thread(live.wait, seen, 1.0)
                seen += len(pieces)
                if pieces:
                    yield f"event: piece\ndata: {json.dumps({'text': ''.join(pieces)})}\n\n"
                if done:
                    payload = {"text": live.final, "error": live.error, "turn": live.turn}
                    yield f"event: done\ndata: {json.dumps(payload)}\n\n"
                    return
                if await request.is_disconnected():
                    return

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"cache-control": "no-store"}
        )

    @app.post("/sessions/{session_id}/turns/{turn}/mark")
    def mark(request: Request, session_id: str, turn: int, who: Post) -> Response:
        owned_session(who, session_id)
        record = session_view(session_id)
        if not any(t["index"] == turn for t in record["turns"]):
            raise HTTPException(404, "no such turn")
        if not next(t for t in record["turns"] if t["index"] == turn)["marked"]:
            runner_for(session_id).mark(turn=turn)
        if not request.headers.get("hx-request"):
            return RedirectResponse(f"/sessions/{session_id}#turn-{turn}", status_code=303)
        record = session_view(session_id)
        return page(request, "_turn.html", who, record=record, turn=record["turns"][turn], live=False)

    @app.post("/sessions/{session_id}/end")
    def end(request: Request, session_id: str, who: Post) -> Response:
        owned_session(who, session_id)
        if state.live.busy(session_id):
            raise HTTPException(409, "the patient is still answering")
        with state.session_lock(session_id), state.model_lock:
            runner_for(session_id).end()
            feedback_module = session_feedback() if config.feedback else None
            if feedback_module is not None:
                try:
                    feedback_module.code_ended_session(
                        database, state.pool, session_id, max_tokens=config.feedback_max_tokens
                    )
                except AcademyError as exc:  # the session has ended; its page says no feedback was stored
                    log.warning("feedback on session %s failed: %s", session_id, exc.message)
        if state.jobs is not None and state.jobs.for_session(session_id) is None:
            state.jobs.start_loop(session_id)
        return redirect(request, f"/sessions/{session_id}")

    # ------------------------------------------------------------ portfolio (the signed-in therapist's own)

    @app.get("/portfolio", response_class=HTMLResponse)
    def portfolio_page(request: Request, who: Me) -> Response:
        from jedi_academy.sessions import list_cases
        from jedi_academy.web.portfolio import bundle_summary, current_bundle

        bundle = current_bundle(settings, who.therapist_id or "")
        built = bundle_summary(bundle) if bundle is not None else None
        feedback_module = session_feedback()
        feedback = (
            [
                feedback_module.case_feedback(database, case["id"])
                for case in list_cases(database, who.therapist_id)
            ]
            if feedback_module is not None
            else []
        )
        return page(request, "portfolio.html", who, built=built, feedback=feedback)

    @app.post("/portfolio")
    def build_portfolio(request: Request, who: Post) -> Response:
        from jedi_academy.web.portfolio import build_for

        try:
            build_for(settings, database, who.therapist_id or "")
        except AcademyError as exc:
            return page(request, "portfolio.html", who, status=400, built=None, feedback=[], error=str(exc))
        return redirect(request, "/portfolio")

    def own_bundle(who: Visitor) -> Path:
        from jedi_academy.web.portfolio import current_bundle

        bundle = current_bundle(settings, who.therapist_id or "")
        if bundle is None:
            raise HTTPException(404, "no portfolio built yet")
        return bundle

    @app.get("/portfolio/view", response_class=HTMLResponse)
    def view_portfolio(who: Me) -> Response:
        html = (own_bundle(who) / "index.html").read_text(encoding="utf-8")
        return HTMLResponse(html, headers={"cache-control": "no-store"})

    @app.get("/portfolio/download")
    def download_portfolio(who: Me) -> Response:
        from jedi_academy.web.portfolio import bundle_zip

        bundle = own_bundle(who)
        top = f"portfolio-{who.therapist_id}"
        return Response(
            bundle_zip(bundle, top),
            media_type="application/zip",
            headers={
                "content-disposition": f'attachment; filename="{top}.zip"',
                "cache-control": "no-store",
            },
        )

    # ------------------------------------------------------------ jobs

    @app.get("/jobs/{job_id}", response_class=HTMLResponse)
    def job_page(request: Request, job_id: str, who: Me) -> Response:
        job = owned_job(who, job_id)
        case_id = owned_session(who, job.session_id).case_id
        return page(request, "job.html", who, job=job, case_id=case_id)

    @app.get("/jobs/{job_id}/stream")
    async def job_stream(request: Request, job_id: str, who: Me) -> StreamingResponse:
        job = await asyncio.to_thread(owned_job, who, job_id)
        jobs = state.jobs
        assert jobs is not None

        async def events() -> AsyncIterator[str]:
            last = None
            current = job
            while True:
                view = {
                    "status": current.status,
                    "stage": current.stage,
                    "progress": current.progress,
                    "message": current.message,
                    "error": current.error,
                }
                if view != last:
                    yield f"event: progress\ndata: {json.dumps(view)}\n\n"
                    last = view
                if current.finished:
                    yield f"event: done\ndata: {json.dumps(view)}\n\n"
                    return
                await asyncio.sleep(0.5)
                if await request.is_disconnected():
                    return
                current = await asyncio.to_thread(jobs.get, job_id) or current

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"cache-control": "no-store"}
        )

    return app
