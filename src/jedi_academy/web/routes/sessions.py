"""A session in the browser: the transcript, a turn with its streamed reply, marking a recommendation, and
the end (the sequence `academy session end` runs).

FastAPI resolves the routes' annotations at runtime: no postponed annotations in this module."""

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from jedi_academy.errors import AcademyError
from jedi_academy.hooks import hookimpl
from jedi_academy.limits import MAX_MESSAGE_CHARS
from jedi_academy.llm.tiny import is_tiny_model
from jedi_academy.loop.session_feedback import feedback_view
from jedi_academy.sessions.ending import after_end
from jedi_academy.web.app import Visitor
from jedi_academy.web.model_queue import Cancelled

if TYPE_CHECKING:
    from jedi_academy.sessions import SessionRunner
    from jedi_academy.sessions.views import SessionView
    from jedi_academy.web.app import Routes

log = logging.getLogger("jedi_academy.web.app")
PIECE_INTERVAL_S = 0.05  # at most about twenty stream events a second per reply


@dataclass(frozen=True)
class SessionPage:
    """What ``session.html`` and ``_turn.html`` show: the session, the turns the therapist marked as a
    recommendation, whether a reply is streaming, and which models are the tiny test model (every word such
    a model wrote says so on the page)."""

    record: "SessionView"
    marked: frozenset[int]
    streaming: bool
    tiny_patient: bool
    tiny_teacher: bool

    def context(self) -> dict[str, Any]:
        """The template variables: each field as it is (the record stays an object)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _is_tiny(model: dict[str, Any] | None) -> bool:
    return is_tiny_model(str((model or {}).get("model") or ""))


@hookimpl
def register_routes(routes: "Routes") -> None:
    app = routes.app
    state = routes.state
    database = routes.database
    config = routes.config
    signed_in = routes.signed_in  # a page of the signed-in therapist
    signed_in_post = routes.signed_in_post  # a form it sends (with its CSRF token)
    page = routes.page
    redirect = routes.redirect
    owned_session = routes.owned_session

    def runner_for(session_id: str) -> "SessionRunner":
        from jedi_academy.sessions import SessionRunner

        return SessionRunner.open(database, state.pool, session_id)

    def session_view(session_id: str) -> SessionPage:
        from jedi_academy.sessions import session_json

        record = session_json(database, session_id)
        live = state.live.get(session_id)
        return SessionPage(
            record,
            marked=frozenset(r.turn for r in record.recommendations if r.source == "therapist"),
            streaming=live is not None and not live.done,
            tiny_patient=_is_tiny(record.patient_model),
            tiny_teacher=_is_tiny(record.teacher_model),
        )

    @app.get("/sessions/{session_id}", response_class=HTMLResponse)
    def session_page(request: Request, session_id: str, who: Annotated[Visitor, signed_in]) -> Response:
        row = owned_session(who, session_id)
        view = session_view(session_id)
        job = state.jobs.for_session(session_id) if state.jobs is not None else None
        feedback = feedback_view(database, session_id) if view.record.status == "ended" else None
        return page(
            request,
            "session.html",
            who,
            **view.context(),
            case_id=row.case_id,
            job=job,
            loop_available=state.jobs is not None,
            feedback=feedback,
        )

    @app.get("/sessions/{session_id}/export.{export_format}")
    def export_session(session_id: str, export_format: str, who: Annotated[Visitor, signed_in]) -> Response:
        """The transcript download: the same file as `academy session export`."""
        from jedi_academy.feedback import load_feedback
        from jedi_academy.sessions import session_json
        from jedi_academy.sessions.transcript_export import FORMATS, MEDIA_TYPES, render_transcript

        owned_session(who, session_id)
        if export_format not in FORMATS:
            raise HTTPException(404, "no such format")
        stored = load_feedback(database, session_id)
        codes = {turn.index: turn.codes for turn in stored.turns} if stored is not None else None
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
    def say(
        request: Request,
        session_id: str,
        who: Annotated[Visitor, signed_in_post],
        text: Annotated[str, Form()],
    ) -> Response:
        row = owned_session(who, session_id)
        if row.status != "active":
            raise HTTPException(409, f"this session is {row.status}")
        if not text.strip():
            raise HTTPException(400, "say something first")
        if len(text) > MAX_MESSAGE_CHARS:  # refused before anything is stored or sent to the model
            raise HTTPException(
                413, f"the message is {len(text):,} characters; a turn holds at most {MAX_MESSAGE_CHARS:,}"
            )
        lock = state.session_lock(session_id)
        if not lock.acquire(blocking=False):
            raise HTTPException(409, "the patient is still answering")
        try:
            runner = runner_for(session_id)
            turns = runner.turns()
        except BaseException as exc:  # the session is free again whatever went wrong
            lock.release()
            if isinstance(exc, AcademyError):
                raise HTTPException(400, exc.message) from exc
            raise
        leftover = bool(turns) and turns[-1][2] is None  # a reply lost in a crash: answered first
        index = len(turns)
        stored = threading.Event()
        failure: list[str] = []
        live = state.live.begin(session_id, index)

        def push(piece: str) -> None:
            if state.model_queue.stopping.is_set():  # the server is stopping: end this reply now
                raise Cancelled("the server is stopping")
            live.push(piece)

        def work() -> None:
            try:
                if not leftover:
                    runner.store_turn(text)  # the therapist's words are kept before any wait
                    stored.set()
                ticket = state.model_queue.admit(who.therapist_id or "")
                state.waiting[session_id] = ticket
                with state.model_queue.turn(ticket, on_position=live.waiting):
                    state.waiting.pop(session_id, None)
                    if leftover:
                        runner.finish_pending()
                        runner.store_turn(text)
                        stored.set()
                    result = runner.finish_pending(on_text=push)
                assert result is not None
                live.finish(result.patient)
            except Cancelled as exc:
                live.withdrawn = runner.withdraw_pending()
                failure.append(exc.message)
                live.finish(None, exc.message)
            except Exception as exc:  # the browser is told; the stored turn stays for a retry
                message = exc.message if isinstance(exc, AcademyError) else "the patient model failed"
                failure.append(message)
                live.finish(None, message)
            finally:
                state.waiting.pop(session_id, None)
                stored.set()
                lock.release()

        worker = threading.Thread(target=work, name=f"reply-{session_id}", daemon=True)
        worker.start()
        stored.wait()
        if failure and not live.pieces and live.done and not session_view(session_id).record.turns[index:]:
            raise HTTPException(400, failure[0])
        if not request.headers.get("hx-request"):
            worker.join()  # without JavaScript: answer with the whole page once the reply is in
            return RedirectResponse(f"/sessions/{session_id}", status_code=303)
        view = session_view(session_id)
        return page(request, "_turn.html", who, **view.context(), turn=view.record.turns[index], live=True)

    @app.get("/sessions/{session_id}/stream")
    async def stream(
        request: Request, session_id: str, who: Annotated[Visitor, signed_in]
    ) -> StreamingResponse:
        await asyncio.to_thread(owned_session, who, session_id)

        async def events() -> AsyncIterator[str]:
            live = state.live.get(session_id)
            if live is None:
                view = await asyncio.to_thread(session_view, session_id)
                turns = view.record.turns
                final = turns[-1].patient if turns else None
                yield f"event: done\ndata: {json.dumps({'text': final})}\n\n"
                return
            seen, position = 0, None
            while True:
                pieces, done = await asyncio.to_thread(live.wait, seen, 1.0, position)
                seen += len(pieces)
                if live.position != position and not done:
                    position = live.position
                    if position is not None:  # 1: next once the running call ends
                        yield f"event: waiting\ndata: {json.dumps({'position': position})}\n\n"
                if pieces:
                    yield f"event: piece\ndata: {json.dumps({'text': ''.join(pieces)})}\n\n"
                    # the first piece goes at once; later ones are gathered for a moment, so a reply costs the
                    # server a few events, not one wake-up per token for every therapist streaming at once
                    await asyncio.sleep(PIECE_INTERVAL_S)
                if done:
                    payload = {
                        "text": live.final,
                        "error": live.error,
                        "turn": live.turn,
                        "withdrawn": live.withdrawn,
                    }
                    yield f"event: done\ndata: {json.dumps(payload)}\n\n"
                    return
                if not pieces and await request.is_disconnected():  # only when idle: it is not cheap
                    return

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"cache-control": "no-store"}
        )

    @app.post("/sessions/{session_id}/cancel")
    def cancel(request: Request, session_id: str, who: Annotated[Visitor, signed_in_post]) -> Response:
        """Stop waiting for the model: the message that waited is withdrawn (given back to the text box)."""
        owned_session(who, session_id)
        ticket = state.waiting.get(session_id)
        if ticket is None:
            raise HTTPException(409, "nothing is waiting for the patient")
        state.model_queue.cancel(ticket)
        return redirect(request, f"/sessions/{session_id}")

    @app.post("/sessions/{session_id}/turns/{turn}/mark")
    def mark(
        request: Request, session_id: str, turn: int, who: Annotated[Visitor, signed_in_post]
    ) -> Response:
        owned_session(who, session_id)
        view = session_view(session_id)
        if not any(t.index == turn for t in view.record.turns):
            raise HTTPException(404, "no such turn")
        if turn not in view.marked:
            runner_for(session_id).mark(turn=turn)
        if not request.headers.get("hx-request"):
            return RedirectResponse(f"/sessions/{session_id}#turn-{turn}", status_code=303)
        view = session_view(session_id)
        return page(request, "_turn.html", who, **view.context(), turn=view.record.turns[turn], live=False)

    @app.post("/sessions/{session_id}/end")
    def end(request: Request, session_id: str, who: Annotated[Visitor, signed_in_post]) -> Response:
        owned_session(who, session_id)
        if state.live.busy(session_id):
            raise HTTPException(409, "the patient is still answering")
        ticket = state.model_queue.admit(who.therapist_id or "")
        try:
            with state.session_lock(session_id), state.model_queue.turn(ticket):
                # the one end-of-session sequence (`academy session end`'s); the loop's hook codes feedback
                options = {
                    "no_feedback": not config.feedback,
                    "feedback_max_tokens": config.feedback_max_tokens,
                }
                record = runner_for(session_id).end()
                try:
                    after_end(database, state.pool, record, options=options)
                except AcademyError as exc:  # the session has ended; its page says no feedback was stored
                    log.warning("after ending session %s: %s", session_id, exc.message)
        except Cancelled as exc:
            raise HTTPException(503, exc.message) from exc
        if state.jobs is not None and state.jobs.for_session(session_id) is None:
            state.jobs.start_loop(session_id)
        return redirect(request, f"/sessions/{session_id}")
