"""``create_app``: the server's routes put together over one ``Server`` (its model, limits and workers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from jedi_academy.llm.server.chat import add_chat_routes
from jedi_academy.llm.server.errors import install_error_handlers
from jedi_academy.llm.server.models import add_adapter_routes, add_health_route, add_model_routes
from jedi_academy.llm.server.state import ServedModels, Server, ServerLimits, context_length
from jedi_academy.llm.transformers_backend import TransformersLLM


def create_app(
    llm: TransformersLLM,
    served_name: str,
    adapters: dict[str, str] | None = None,
    *,
    limits: ServerLimits | None = None,
    runtime_lora: bool = False,
) -> FastAPI:
    limits = limits or ServerLimits()
    server = Server(
        llm=llm,
        served=ServedModels(served_name, adapters or {}),
        limits=limits,
        context=context_length(llm, limits.max_model_len),
        workers=ThreadPoolExecutor(max_workers=limits.max_concurrent, thread_name_prefix="generate"),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        server.stopping.set()
        server.workers.shutdown(wait=False, cancel_futures=True)

    # With a key, the API's description is behind it too (the routes below); without one it stays open.
    hidden: dict[str, Any] = {}
    if limits.api_key:
        hidden = {"docs_url": None, "redoc_url": None, "openapi_url": None}
    app = FastAPI(title="Jedi Academy model server", version="1", lifespan=lifespan, **hidden)
    app.state.server = server
    app.state.stopping = server.stopping  # what SIGTERM sets (also reachable from the app alone)
    install_error_handlers(app)
    add_health_route(app, server)

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(server.require_key)])
    add_model_routes(v1, server)
    add_chat_routes(v1, server)
    if runtime_lora:
        add_adapter_routes(v1, server)
    app.include_router(v1)

    if limits.api_key:
        described = APIRouter(dependencies=[Depends(server.require_key)], include_in_schema=False)

        @described.get("/openapi.json")
        def openapi() -> dict[str, Any]:
            return app.openapi()

        @described.get("/docs", response_class=HTMLResponse)
        def docs() -> HTMLResponse:
            return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs")

        app.include_router(described)
    return app
