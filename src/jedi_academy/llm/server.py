"""``academy serve``: a local model behind the OpenAI chat-completions wire format, as vLLM serves it.

Clients written for OpenAI or vLLM work unchanged: the official ``openai`` client, streaming (server-sent
events), text content parts, ``n`` choices, the ``developer`` role, ``logprobs``/``top_logprobs`` with decoded
token text, errors in OpenAI's shape, and vLLM's scoring extensions (``prompt_logprobs``,
``continue_final_message``, ``add_generation_prompt``, ``min_tokens``). LoRA adapters are served as named
models, as with ``vllm serve --enable-lora --lora-modules NAME=PATH``, and with ``runtime_lora`` they are
loaded and unloaded while running through vLLM's ``/v1/load_lora_adapter`` and ``/v1/unload_lora_adapter``.

Limits protect a shared machine: an optional bearer token, a request body size, a prompt no longer than the
model's positions, a cap on ``max_tokens``, a cap on concurrent requests, and a shutdown (SIGTERM) that ends
generation in progress within a token instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from jedi_academy.errors import AcademyError
from jedi_academy.llm.base import GenerationParams
from jedi_academy.llm.constrained import UnusableSchema, require_usable_schema
from jedi_academy.llm.server_protocol import (
    APIError,
    ChatCompletionRequest,
    LoadAdapterRequest,
    UnloadAdapterRequest,
    conversation,
    parse_model,
    parse_request,
    requested_schema,
)
from jedi_academy.llm.streaming import ChoiceStreams, Delta, TokenLogprob
from jedi_academy.llm.transformers_backend import TokenScore, TransformersLLM

DEFAULT_MAX_TOKENS = 4096
DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
DEFAULT_MAX_CONCURRENT = 64


@dataclass(frozen=True)
class ServerLimits:
    """``max_model_len`` None: the model's own positions. ``api_key`` None: no authentication."""

    api_key: str | None = None
    max_model_len: int | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_concurrent: int = DEFAULT_MAX_CONCURRENT


def model_positions(llm: TransformersLLM) -> int | None:
    value = getattr(llm.model.config, "max_position_embeddings", None)
    return int(value) if isinstance(value, int) and value > 0 else None


def context_length(llm: TransformersLLM, wanted: int | None) -> int:
    """The longest prompt plus reply served: the model's positions, or less when asked."""
    positions = model_positions(llm)
    if wanted is not None and wanted < 2:
        raise AcademyError(f"--max-model-len must be at least 2, got {wanted}")
    if positions is None:
        if wanted is None:
            raise AcademyError(
                f"the model at {llm.model_dir} does not say how many positions it has",
                "pass --max-model-len",
            )
        return wanted
    if wanted is not None and wanted > positions:
        raise AcademyError(
            f"--max-model-len {wanted} is more than the model's {positions} positions",
            f"use at most {positions}",
        )
    return wanted or positions


def token_text(raw: bytes) -> str:
    """A token's text; bytes of an incomplete UTF-8 character show as ``\\xNN`` as OpenAI shows them."""
    return raw.decode("utf-8", errors="backslashreplace")


class ServedModels:
    """The base model's served name and the adapters served by name (name -> adapter folder)."""

    def __init__(self, base: str, adapters: dict[str, str]) -> None:
        self.base = base
        self.adapters = dict(adapters)
        self.lock = threading.Lock()

    def adapter_for(self, model: str) -> str | None:
        if model == self.base:
            return None
        with self.lock:
            path = self.adapters.get(model)
        if path is None:
            raise APIError(
                404,
                f"The model `{model}` does not exist.",
                kind="NotFoundError",
                param="model",
                code="model_not_found",
            )
        return path


def create_app(
    llm: TransformersLLM,
    served_name: str,
    adapters: dict[str, str] | None = None,
    *,
    limits: ServerLimits | None = None,
    runtime_lora: bool = False,
) -> FastAPI:
    limits = limits or ServerLimits()
    served = ServedModels(served_name, adapters or {})
    context = context_length(llm, limits.max_model_len)
    formatter = llm.formatter
    workers = ThreadPoolExecutor(max_workers=limits.max_concurrent, thread_name_prefix="generate")
    stopping = threading.Event()  # set on SIGTERM: generation in progress ends within a token

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        stopping.set()
        workers.shutdown(wait=False, cancel_futures=True)

    # With a key, the API's description is behind it too (the routes below); without one it stays open.
    hidden = {"docs_url": None, "redoc_url": None, "openapi_url": None} if limits.api_key else {}
    app = FastAPI(title="Jedi Academy model server", version="1", lifespan=lifespan, **hidden)
    app.state.stopping = stopping
    app.state.in_flight = 0
    app.state.served = served

    # ------------------------------------------------------------------ errors, always in OpenAI's shape

    def error_response(error: APIError) -> JSONResponse:
        return JSONResponse(status_code=error.status, content=error.body(), headers=error.headers)

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(AcademyError)
    async def _academy_error(_: Request, exc: AcademyError) -> JSONResponse:
        return error_response(APIError(400, str(exc)))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['msg']}" for e in exc.errors()
        )
        return error_response(APIError(400, problems or "invalid request"))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "NotFoundError" if exc.status_code == 404 else "invalid_request_error"
        return error_response(APIError(exc.status_code, str(exc.detail), kind=kind))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        traceback.print_exception(exc)
        return error_response(APIError(500, f"internal error: {type(exc).__name__}", kind="server_error"))

    # ------------------------------------------------------------------ request plumbing

    async def require_key(request: Request) -> None:
        if limits.api_key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), limits.api_key.encode()
        ):
            raise APIError(
                401,
                "missing or wrong API key: send 'Authorization: Bearer <key>'",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )

    async def read_body(request: Request) -> bytes:
        too_large = APIError(
            413,
            f"the request body is larger than this server's limit of {limits.max_body_bytes} bytes",
            code="request_too_large",
        )
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
            raise too_large
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.max_body_bytes:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    def claim_slot() -> Callable[[], None]:
        """Count a request in flight (refused above the limit); the returned function releases it once."""
        if stopping.is_set():
            raise APIError(503, "the server is shutting down", kind="server_error", code="shutting_down")
        if app.state.in_flight >= limits.max_concurrent:
            raise APIError(
                429,
                f"this server is at its limit of {limits.max_concurrent} concurrent requests; retry later",
                kind="server_error",
                code="too_many_requests",
                headers={"Retry-After": "1"},
            )
        app.state.in_flight += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                app.state.in_flight -= 1

        return release

    def prompt_ids(req: ChatCompletionRequest) -> list[int]:
        messages = conversation(req)
        if req.continue_final_message:
            if messages[-1]["role"] != "assistant":
                raise APIError(
                    400, "continue_final_message needs a final assistant message", param="messages"
                )
            if req.add_generation_prompt:
                raise APIError(400, "continue_final_message and add_generation_prompt cannot both be true")
            return formatter.encode_with_reply(messages[:-1], messages[-1]["content"], close=False)
        if messages[-1]["role"] == "assistant":
            if req.add_generation_prompt:
                raise APIError(
                    400,
                    "the last message is from the assistant; set continue_final_message to extend it",
                    param="messages",
                )
            # a finished assistant message (vLLM renders it with its end-of-turn marker): for scoring it
            return formatter.encode_with_reply(messages[:-1], messages[-1]["content"], close=True)
        return formatter.encode_prompt(messages)

    async def check_schema(schema: dict[str, Any]) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(
                workers, require_usable_schema, formatter, schema
            )
        except UnusableSchema as exc:
            raise APIError(
                400,
                f"response_format.json_schema.schema cannot be followed: {exc}",
                param="response_format.json_schema",
            ) from exc

    def reply_budget(req: ChatCompletionRequest, prompt_length: int) -> int:
        """``max_tokens`` for this request: refused beyond the server's cap or the context; by default
        whatever room the context leaves, up to the cap."""
        if prompt_length >= context:
            raise APIError(
                400,
                f"this model's context is {context} tokens and the messages take {prompt_length}; "
                "shorten the conversation",
                param="messages",
                code="context_length_exceeded",
            )
        room = context - prompt_length
        wanted = req.wanted_tokens()
        if wanted is None:
            budget = min(limits.max_tokens, room)
        elif wanted > limits.max_tokens:
            raise APIError(
                400,
                f"max_tokens {wanted} is above this server's limit of {limits.max_tokens}",
                param="max_tokens",
                code="max_tokens_exceeded",
            )
        elif wanted > room:
            raise APIError(
                400,
                f"max_tokens {wanted} does not fit: this model's context is {context} tokens and the "
                f"messages take {prompt_length}, leaving {room}",
                param="max_tokens",
                code="context_length_exceeded",
            )
        else:
            budget = wanted
        if req.min_tokens > budget:
            raise APIError(
                400, f"min_tokens {req.min_tokens} is above max_tokens {budget}", param="min_tokens"
            )
        return budget

    def logprob_entry(entry: TokenLogprob) -> dict[str, Any]:
        raw = formatter.token_bytes(entry.token_id)
        return {
            "token": token_text(raw),
            "logprob": entry.logprob,
            "bytes": list(raw),
            "top_logprobs": [
                {
                    "token": token_text(formatter.token_bytes(t)),
                    "logprob": lp,
                    "bytes": list(formatter.token_bytes(t)),
                }
                for t, lp in entry.top
            ],
        }

    def prompt_logprob_entry(score: TokenScore) -> dict[str, Any]:
        # vLLM's layout: the prompt token and the top-k alternatives, keyed by token id.
        def decoded(token_id: int) -> str:
            return token_text(formatter.token_bytes(token_id))

        entry = {
            str(score.token_id): {
                "logprob": score.logprob,
                "rank": score.rank,
                "decoded_token": decoded(score.token_id),
            }
        }
        for rank, (token_id, logprob) in enumerate(score.top, start=1):
            entry.setdefault(
                str(token_id), {"logprob": logprob, "rank": rank, "decoded_token": decoded(token_id)}
            )
        return entry

    # ------------------------------------------------------------------ endpoints

    @app.get("/health")
    def health() -> dict[str, str | int]:
        # in_flight: requests being answered now (what a load balancer, or a test, waits on)
        return {"status": "shutting down" if stopping.is_set() else "ok", "in_flight": app.state.in_flight}

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_key)])

    @v1.get("/models")
    def models() -> dict[str, Any]:
        created = int(time.time())
        card = {"object": "model", "created": created, "owned_by": "jedi-academy", "max_model_len": context}
        with served.lock:
            names = list(served.adapters)
        data = [{"id": served.base, **card, "root": str(llm.model_name), "parent": None}]
        data += [{"id": name, **card, "root": name, "parent": served.base} for name in names]
        return {"object": "list", "data": data}

    @v1.post("/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> dict[str, Any] | StreamingResponse:
        req = parse_request(await read_body(request))
        adapter = served.adapter_for(req.model)
        prompt = prompt_ids(req)
        budget = reply_budget(req, len(prompt))
        schema = requested_schema(req.response_format)
        if schema is not None:
            await check_schema(schema)
        params = GenerationParams(
            temperature=req.temperature,
            top_p=req.top_p,
            max_tokens=budget,
            stop=req.stop_strings(),
            seed=req.seed,
            json_schema=schema,
        )
        release = claim_slot()
        client_gone = threading.Event()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Delta | None] = asyncio.Queue()
        streams = ChoiceStreams(
            formatter,
            req.n,
            max_tokens=budget,
            min_tokens=req.min_tokens,
            stop=params.stop,
            top_logprobs=(req.top_logprobs or 0) if req.logprobs else None,
            on_delta=(lambda d: loop.call_soon_threadsafe(queue.put_nowait, d))
            if req.stream
            else (lambda _: None),
            cancelled=lambda: stopping.is_set() or client_gone.is_set(),
        )

        def generate() -> None:
            if stopping.is_set() or client_gone.is_set():
                return
            llm.generate_ids([prompt] * req.n, params, adapter=adapter, hooks=streams.hooks())

        try:
            future = loop.run_in_executor(workers, generate)
        except RuntimeError as exc:  # the executor is shut down: the server is stopping
            release()
            raise APIError(
                503, "the server is shutting down", kind="server_error", code="shutting_down"
            ) from exc
        future.add_done_callback(lambda _: release())
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if req.stream:
            future.add_done_callback(lambda _: queue.put_nowait(None))
            chunks = stream_chunks(
                req, streams, queue, future, completion_id, created, len(prompt), client_gone
            )
            return StreamingResponse(
                chunks, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
            )
        try:
            while not future.done():
                await asyncio.wait({future}, timeout=0.25)
                if not future.done() and await request.is_disconnected():
                    client_gone.set()
            future.result()
        finally:
            client_gone.set()
        if not streams.finished:  # stopped early: the server is shutting down (or nobody is listening)
            raise APIError(503, "the server is shutting down", kind="server_error", code="shutting_down")
        choices = []
        for index, choice in enumerate(streams.choices):
            logprobs = None
            if req.logprobs:
                logprobs = {"content": [logprob_entry(e) for e in choice.logprobs]}
            choices.append(
                {
                    "index": index,
                    "message": {"role": "assistant", "content": choice.text},
                    "finish_reason": choice.finish_reason,
                    "logprobs": logprobs,
                }
            )
        body: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": req.model,
            "choices": choices,
            "usage": usage(len(prompt), streams),
        }
        if req.prompt_logprobs is not None:
            scores = await loop.run_in_executor(
                workers, lambda: llm.token_scores(prompt, 1, req.prompt_logprobs or 0, adapter)
            )
            body["prompt_logprobs"] = [None] + [prompt_logprob_entry(s) for s in scores]
        return body

    def usage(prompt_length: int, streams: ChoiceStreams) -> dict[str, int]:
        completion = sum(len(c.token_ids) for c in streams.choices)
        return {
            "prompt_tokens": prompt_length,
            "completion_tokens": completion,
            "total_tokens": prompt_length + completion,
        }

    async def stream_chunks(
        req: ChatCompletionRequest,
        streams: ChoiceStreams,
        queue: asyncio.Queue[Delta | None],
        future: asyncio.Future[None],
        completion_id: str,
        created: int,
        prompt_length: int,
        client_gone: threading.Event,
    ) -> AsyncIterator[str]:
        def event(choices: list[dict[str, Any]], **extra: Any) -> str:
            chunk = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": req.model,
                "choices": choices,
                **extra,
            }
            return f"data: {json.dumps(chunk)}\n\n"

        try:
            for index in range(req.n):
                first = {"role": "assistant", "content": ""}
                yield event([{"index": index, "delta": first, "logprobs": None, "finish_reason": None}])
            while (delta := await queue.get()) is not None:
                logprobs = None
                if req.logprobs:
                    logprobs = {"content": [logprob_entry(e) for e in delta.logprobs]}
                content = {"content": delta.text} if delta.text else {}
                choice = {"index": delta.index, "delta": content, "logprobs": logprobs}
                yield event([{**choice, "finish_reason": delta.finish_reason}])
            problem = future.exception()
            if problem is None and not streams.finished:
                problem = APIError(
                    503, "the server is shutting down", kind="server_error", code="shutting_down"
                )
            if problem is not None:
                error = problem if isinstance(problem, APIError) else APIError(400, str(problem))
                if not isinstance(problem, AcademyError | APIError):
                    traceback.print_exception(problem)
                    error = APIError(500, f"internal error: {type(problem).__name__}", kind="server_error")
                yield f"data: {json.dumps(error.body())}\n\n"
                return
            if req.stream_options is not None and req.stream_options.include_usage:
                yield event([], usage=usage(prompt_length, streams))
            yield "data: [DONE]\n\n"
        finally:
            client_gone.set()  # also when the client disconnected mid-stream: stop generating for it

    # ------------------------------------------------------------------ vLLM's runtime adapter endpoints

    if runtime_lora:

        @v1.post("/load_lora_adapter", response_class=PlainTextResponse)
        async def load_lora_adapter(request: Request) -> str:
            body: LoadAdapterRequest = parse_model(await read_body(request), LoadAdapterRequest)
            with served.lock:
                taken = body.lora_name == served.base or body.lora_name in served.adapters
            if taken:
                raise APIError(
                    400, f"The lora adapter '{body.lora_name}' has already been loaded.", param="lora_name"
                )
            path = str(Path(body.lora_path).expanduser().resolve())
            await asyncio.get_running_loop().run_in_executor(workers, llm.ensure_adapter, path)
            with served.lock:
                served.adapters[body.lora_name] = path
            return f"Success: LoRA adapter '{body.lora_name}' added successfully."

        @v1.post("/unload_lora_adapter", response_class=PlainTextResponse)
        async def unload_lora_adapter(request: Request) -> str:
            body: UnloadAdapterRequest = parse_model(await read_body(request), UnloadAdapterRequest)
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
                await asyncio.get_running_loop().run_in_executor(workers, llm.release_adapter, path)
            return f"Success: LoRA adapter '{body.lora_name}' removed successfully."

    app.include_router(v1)
    if limits.api_key:
        described = APIRouter(dependencies=[Depends(require_key)], include_in_schema=False)

        @described.get("/openapi.json")
        def openapi() -> dict[str, Any]:
            return app.openapi()

        @described.get("/docs", response_class=HTMLResponse)
        def docs() -> HTMLResponse:
            return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs")

        app.include_router(described)
    return app


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

    class _Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            if not app.state.stopping.is_set():
                busy = app.state.in_flight
                print(f"academy serve: stopping ({busy} request(s) in flight)", file=sys.stderr, flush=True)
            app.state.stopping.set()
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
