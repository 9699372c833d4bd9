"""The served models: ``GET /v1/models``, ``GET /health``, and vLLM's runtime adapter endpoints
(``/v1/load_lora_adapter``, ``/v1/unload_lora_adapter``) when ``runtime_lora`` is on."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import PlainTextResponse

from jedi_academy.llm.server.state import Server
from jedi_academy.llm.server_protocol import (
    APIError,
    LoadAdapterRequest,
    UnloadAdapterRequest,
    parse_model,
)


def add_health_route(app: FastAPI, server: Server) -> None:
    @app.get("/health")
    def health() -> dict[str, str | int]:
        # in_flight: requests being answered now (what a load balancer, or a test, waits on)
        status = "shutting down" if server.stopping.is_set() else "ok"
        return {"status": status, "in_flight": server.in_flight}


def add_model_routes(v1: APIRouter, server: Server) -> None:
    served = server.served

    @v1.get("/models")
    def models() -> dict[str, Any]:
        created = int(time.time())
        card = {
            "object": "model",
            "created": created,
            "owned_by": "jedi-academy",
            "max_model_len": server.context,
        }
        with served.lock:
            names = list(served.adapters)
        data = [{"id": served.base, **card, "root": str(server.llm.model_name), "parent": None}]
        data += [{"id": name, **card, "root": name, "parent": served.base} for name in names]
        return {"object": "list", "data": data}


def add_adapter_routes(v1: APIRouter, server: Server) -> None:
    served, llm = server.served, server.llm

    @v1.post("/load_lora_adapter", response_class=PlainTextResponse)
    async def load_lora_adapter(request: Request) -> str:
        body: LoadAdapterRequest = parse_model(await server.read_body(request), LoadAdapterRequest)
        with served.lock:
            taken = body.lora_name == served.base or body.lora_name in served.adapters
        if taken:
            raise APIError(
                400, f"The lora adapter '{body.lora_name}' has already been loaded.", param="lora_name"
            )
        path = str(Path(body.lora_path).expanduser().resolve())
        await asyncio.get_running_loop().run_in_executor(server.workers, llm.ensure_adapter, path)
        with served.lock:
            served.adapters[body.lora_name] = path
        return f"Success: LoRA adapter '{body.lora_name}' added successfully."

    @v1.post("/unload_lora_adapter", response_class=PlainTextResponse)
    async def unload_lora_adapter(request: Request) -> str:
        body: UnloadAdapterRequest = parse_model(await server.read_body(request), UnloadAdapterRequest)
        with served.lock:
            path = served.adapters.pop(body.lora_name, None)
            still_used = path in served.adapters.values()
        if path is None:
            raise APIError(
                404,
                f"The lora adapter '{body.lora_name}' cannot be found.",
                kind="NotFoundError",
                param="lora_name",
            )
        if not still_used:
            await asyncio.get_running_loop().run_in_executor(server.workers, llm.release_adapter, path)
        return f"Success: LoRA adapter '{body.lora_name}' removed successfully."
