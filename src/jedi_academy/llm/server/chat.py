"""``POST /v1/chat/completions``: the prompt checked against the context and the server's caps, generation in
the worker threads, and the reply as one JSON body or as server-sent events."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from jedi_academy.llm.base import GenerationParams
from jedi_academy.llm.constrained import UnusableSchema, require_usable_schema
from jedi_academy.llm.server.errors import as_api_error
from jedi_academy.llm.server.state import Server, shutting_down
from jedi_academy.llm.server_protocol import (
    APIError,
    ChatCompletionRequest,
    conversation,
    parse_request,
    requested_schema,
)
from jedi_academy.llm.streaming import ChoiceStreams, Delta, TokenLogprob
from jedi_academy.llm.transformers_backend import TokenScore


def token_text(raw: bytes) -> str:
    """A token's text; bytes of an incomplete UTF-8 character show as ``\\xNN`` as OpenAI shows them."""
    return raw.decode("utf-8", errors="backslashreplace")


def prompt_ids(server: Server, req: ChatCompletionRequest) -> list[int]:
    formatter = server.llm.formatter
    messages = conversation(req)
    if req.continue_final_message:
        if messages[-1]["role"] != "assistant":
            raise APIError(400, "continue_final_message needs a final assistant message", param="messages")
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


async def check_schema(server: Server, schema: dict[str, Any]) -> None:
    try:
        await asyncio.get_running_loop().run_in_executor(
            server.workers, require_usable_schema, server.llm.formatter, schema
        )
    except UnusableSchema as exc:
        raise APIError(
            400,
            f"response_format.json_schema.schema cannot be followed: {exc}",
            param="response_format.json_schema",
        ) from exc


def reply_budget(server: Server, req: ChatCompletionRequest, prompt_length: int) -> int:
    """``max_tokens`` for this request: refused beyond the server's cap or the context; by default whatever
    room the context leaves, up to the cap."""
    context, cap = server.context, server.limits.max_tokens
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
        budget = min(cap, room)
    elif wanted > cap:
        raise APIError(
            400,
            f"max_tokens {wanted} is above this server's limit of {cap}",
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
        raise APIError(400, f"min_tokens {req.min_tokens} is above max_tokens {budget}", param="min_tokens")
    return budget


def logprob_entry(server: Server, entry: TokenLogprob) -> dict[str, Any]:
    token_bytes = server.llm.formatter.token_bytes
    raw = token_bytes(entry.token_id)
    return {
        "token": token_text(raw),
        "logprob": entry.logprob,
        "bytes": list(raw),
        "top_logprobs": [
            {"token": token_text(token_bytes(t)), "logprob": lp, "bytes": list(token_bytes(t))}
            for t, lp in entry.top
        ],
    }


def prompt_logprob_entry(server: Server, score: TokenScore) -> dict[str, Any]:
    """vLLM's layout: the prompt token and the top-k alternatives, keyed by token id."""

    def decoded(token_id: int) -> str:
        return token_text(server.llm.formatter.token_bytes(token_id))

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


def usage(prompt_length: int, streams: ChoiceStreams) -> dict[str, int]:
    completion = sum(len(c.token_ids) for c in streams.choices)
    return {
        "prompt_tokens": prompt_length,
        "completion_tokens": completion,
        "total_tokens": prompt_length + completion,
    }


def _discard(_: object) -> None:
    """A callback's result that nobody needs (``call_soon_threadsafe``'s handle)."""


def add_chat_routes(v1: APIRouter, server: Server) -> None:
    llm, stopping = server.llm, server.stopping

    @v1.post("/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> dict[str, Any] | StreamingResponse:
        req = parse_request(await server.read_body(request))
        adapter = server.served.adapter_for(req.model)
        prompt = prompt_ids(server, req)
        budget = reply_budget(server, req, len(prompt))
        schema = requested_schema(req.response_format)
        if schema is not None:
            await check_schema(server, schema)
        params = GenerationParams(
            temperature=req.temperature,
            top_p=req.top_p,
            max_tokens=budget,
            stop=req.stop_strings(),
            seed=req.seed,
            json_schema=schema,
        )
        release = server.claim_slot()
        client_gone = threading.Event()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Delta | None] = asyncio.Queue()
        streams = ChoiceStreams(
            llm.formatter,
            req.n,
            max_tokens=budget,
            min_tokens=req.min_tokens,
            stop=params.stop,
            top_logprobs=(req.top_logprobs or 0) if req.logprobs else None,
            on_delta=(lambda d: _discard(loop.call_soon_threadsafe(queue.put_nowait, d)))
            if req.stream
            else (lambda _: None),
            cancelled=lambda: stopping.is_set() or client_gone.is_set(),
        )

        def generate() -> None:
            if stopping.is_set() or client_gone.is_set():
                return
            llm.generate_ids([prompt] * req.n, params, adapter=adapter, hooks=streams.hooks())

        try:
            future = loop.run_in_executor(server.workers, generate)
        except RuntimeError as exc:  # the executor is shut down: the server is stopping
            release()
            raise shutting_down() from exc
        future.add_done_callback(lambda _: release())
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if req.stream:
            future.add_done_callback(lambda _: queue.put_nowait(None))
            reply = Reply(server, req, streams, completion_id, created, len(prompt))
            return StreamingResponse(
                reply.chunks(queue, future, client_gone),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
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
            raise shutting_down()
        choices = []
        for index, choice in enumerate(streams.choices):
            logprobs = None
            if req.logprobs:
                logprobs = {"content": [logprob_entry(server, e) for e in choice.logprobs]}
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
                server.workers, lambda: llm.token_scores(prompt, 1, req.prompt_logprobs or 0, adapter)
            )
            body["prompt_logprobs"] = [None] + [prompt_logprob_entry(server, s) for s in scores]
        return body


class Reply:
    """A streamed reply: the chunks of one completion as server-sent events."""

    def __init__(
        self,
        server: Server,
        req: ChatCompletionRequest,
        streams: ChoiceStreams,
        completion_id: str,
        created: int,
        prompt_length: int,
    ) -> None:
        self.server, self.req, self.streams = server, req, streams
        self.completion_id, self.created, self.prompt_length = completion_id, created, prompt_length

    def event(self, choices: list[dict[str, Any]], **extra: Any) -> str:
        chunk = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.req.model,
            "choices": choices,
            **extra,
        }
        return f"data: {json.dumps(chunk)}\n\n"

    async def chunks(
        self, queue: asyncio.Queue[Delta | None], future: asyncio.Future[None], client_gone: threading.Event
    ) -> AsyncIterator[str]:
        req = self.req
        try:
            for index in range(req.n):
                first = {"role": "assistant", "content": ""}
                yield self.event([{"index": index, "delta": first, "logprobs": None, "finish_reason": None}])
            while (delta := await queue.get()) is not None:
                logprobs = None
                if req.logprobs:
                    logprobs = {"content": [logprob_entry(self.server, e) for e in delta.logprobs]}
                content = {"content": delta.text} if delta.text else {}
                choice = {"index": delta.index, "delta": content, "logprobs": logprobs}
                yield self.event([{**choice, "finish_reason": delta.finish_reason}])
            problem: BaseException | None = future.exception()
            if problem is None and not self.streams.finished:
                problem = shutting_down()
            if problem is not None:
                yield f"data: {json.dumps(as_api_error(problem).body())}\n\n"
                return
            if req.stream_options is not None and req.stream_options.include_usage:
                yield self.event([], usage=usage(self.prompt_length, self.streams))
            yield "data: [DONE]\n\n"
        finally:
            client_gone.set()  # also when the client disconnected mid-stream: stop generating for it
