"""A loop job's page and its progress stream.

FastAPI resolves the routes' annotations at runtime: no postponed annotations in this module."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated

from fastapi import Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from jedi_academy.hooks import hookimpl
from jedi_academy.web.app import Visitor

if TYPE_CHECKING:
    from jedi_academy.web.app import Routes


@hookimpl
def register_routes(routes: "Routes") -> None:
    app = routes.app
    state = routes.state
    signed_in = routes.signed_in  # a page of the signed-in therapist
    page = routes.page
    owned_session = routes.owned_session
    owned_job = routes.owned_job

    @app.get("/jobs/{job_id}", response_class=HTMLResponse)
    def job_page(request: Request, job_id: str, who: Annotated[Visitor, signed_in]) -> Response:
        job = owned_job(who, job_id)
        case_id = owned_session(who, job.session_id or "").case_id  # owned_job: a job of a session
        return page(request, "job.html", who, job=job, case_id=case_id)

    @app.get("/jobs/{job_id}/stream")
    async def job_stream(
        request: Request, job_id: str, who: Annotated[Visitor, signed_in]
    ) -> StreamingResponse:
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
                if current.finished:  # with what the page links on to (the loop's new checkpoint)
                    final = {**view, "checkpoint_id": (current.result or {}).get("checkpoint_id")}
                    yield f"event: done\ndata: {json.dumps(final)}\n\n"
                    return
                await asyncio.sleep(0.5)
                if await request.is_disconnected():
                    return
                latest = await asyncio.to_thread(jobs.get, job_id)
                current = latest or current

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"cache-control": "no-store"}
        )
