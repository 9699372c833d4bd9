"""What every route of ``academy serve`` shares: the limits, the served models, and the plumbing of a request
(the bearer key, the body size, a slot among the concurrent requests)."""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from fastapi import Request

from jedi_academy.errors import AcademyError
from jedi_academy.llm.server_protocol import APIError
from jedi_academy.llm.transformers_backend import TransformersLLM

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


def shutting_down() -> APIError:
    return APIError(503, "the server is shutting down", kind="server_error", code="shutting_down")


@dataclass
class Server:
    """One running server: its model, what it serves, its limits, and the requests in flight. The app keeps it
    as ``app.state.server``; ``stopping`` is set on SIGTERM so that generation in progress ends within a
    token."""

    llm: TransformersLLM
    served: ServedModels
    limits: ServerLimits
    context: int
    workers: ThreadPoolExecutor
    stopping: threading.Event = field(default_factory=threading.Event)
    in_flight: int = 0

    async def require_key(self, request: Request) -> None:
        """A dependency of every ``/v1`` route (and of the API's description when a key is set)."""
        key = self.limits.api_key
        if key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
            raise APIError(
                401,
                "missing or wrong API key: send 'Authorization: Bearer <key>'",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )

    async def read_body(self, request: Request) -> bytes:
        """The request body, refused as soon as it grows past the limit (not after reading it all)."""
        limit = self.limits.max_body_bytes
        too_large = APIError(
            413,
            f"the request body is larger than this server's limit of {limit} bytes",
            code="request_too_large",
        )
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    def claim_slot(self) -> Callable[[], None]:
        """Count a request in flight (refused above the limit); the returned function releases it once."""
        if self.stopping.is_set():
            raise shutting_down()
        limit = self.limits.max_concurrent
        if self.in_flight >= limit:
            raise APIError(
                429,
                f"this server is at its limit of {limit} concurrent requests; retry later",
                kind="server_error",
                code="too_many_requests",
                headers={"Retry-After": "1"},
            )
        self.in_flight += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.in_flight -= 1

        return release
