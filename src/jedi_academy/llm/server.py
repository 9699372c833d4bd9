"""``academy serve``: a local model behind the OpenAI chat-completions wire format.

It implements the subset that Jedi Academy and common clients use, including vLLM's extensions for
scoring (``prompt_logprobs``, ``continue_final_message``, ``add_generation_prompt``), so that the ``openai``
backend can be pointed at it or at a real vLLM server interchangeably. Adapters passed with
``--lora NAME=DIR`` are served as model ``NAME``, as with ``vllm serve --lora-modules``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from jedi_academy.errors import AcademyError
from jedi_academy.llm.base import GenerationParams
from jedi_academy.llm.transformers_backend import TokenScore, TransformersLLM


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float = Field(1.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(1, ge=1, le=1)
    stream: bool = False
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    prompt_logprobs: int | None = Field(None, ge=0, le=20)
    add_generation_prompt: bool = True
    continue_final_message: bool = False
    response_format: dict[str, Any] | None = None


class APIError(Exception):
    def __init__(self, status: int, message: str, kind: str = "BadRequestError") -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


def requested_schema(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """The JSON schema of an OpenAI-style ``response_format`` (``json_object`` means any object)."""
    if not response_format or response_format.get("type") == "text":
        return None
    if response_format.get("type") == "json_object":
        return {"type": "object"}
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            return schema
    raise APIError(400, f"unsupported response_format {response_format.get('type')!r}")


def create_app(llm: TransformersLLM, served_name: str, adapters: dict[str, str] | None = None) -> FastAPI:
    adapters = dict(adapters or {})
    app = FastAPI(title="Jedi Academy model server", version="1")
    formatter = llm.formatter

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        body = {"error": {"message": exc.message, "type": exc.kind, "code": exc.status}}
        return JSONResponse(status_code=exc.status, content=body)

    @app.exception_handler(AcademyError)
    async def _academy_error(_: Request, exc: AcademyError) -> JSONResponse:
        body = {"error": {"message": str(exc), "type": "BadRequestError", "code": 400}}
        return JSONResponse(status_code=400, content=body)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        created = int(time.time())
        data = [{"id": served_name, "object": "model", "created": created, "owned_by": "jedi-academy"}]
        data += [
            {
                "id": name,
                "object": "model",
                "created": created,
                "owned_by": "jedi-academy",
                "parent": served_name,
            }
            for name in adapters
        ]
        return {"object": "list", "data": data}

    def adapter_for(model: str) -> str | None:
        if model == served_name:
            return None
        if model in adapters:
            return adapters[model]
        raise APIError(404, f"The model `{model}` does not exist.", "NotFoundError")

    def prompt_ids(req: ChatCompletionRequest) -> list[int]:
        messages = [m.model_dump() for m in req.messages]
        if req.continue_final_message:
            if messages[-1]["role"] != "assistant":
                raise APIError(400, "continue_final_message needs a final assistant message")
            if req.add_generation_prompt:
                raise APIError(400, "continue_final_message and add_generation_prompt cannot both be true")
            return formatter.encode_with_reply(messages[:-1], messages[-1]["content"], close=False)
        if messages[-1]["role"] == "assistant":
            if req.add_generation_prompt:
                raise APIError(
                    400, "the last message is from the assistant; set continue_final_message to extend it"
                )
            # a finished assistant message (vLLM renders it with its end-of-turn marker): for scoring it
            return formatter.encode_with_reply(messages[:-1], messages[-1]["content"], close=True)
        return formatter.encode_prompt(messages)

    def logprob_entry(score: TokenScore, top_k: int) -> dict[str, Any]:
        token = formatter.token_text(score.token_id)
        return {
            "token": token,
            "logprob": score.logprob,
            "bytes": list(token.encode()),
            "top_logprobs": [
                {
                    "token": formatter.token_text(t),
                    "logprob": lp,
                    "bytes": list(formatter.token_text(t).encode()),
                }
                for t, lp in score.top[:top_k]
            ],
        }

    def prompt_logprob_entry(score: TokenScore) -> dict[str, Any]:
        # vLLM's layout: the prompt token and the top-k alternatives, keyed by token id.
        entry = {
            str(score.token_id): {
                "logprob": score.logprob,
                "rank": score.rank,
                "decoded_token": formatter.token_text(score.token_id),
            }
        }
        for rank, (token_id, logprob) in enumerate(score.top, start=1):
            entry.setdefault(
                str(token_id),
                {"logprob": logprob, "rank": rank, "decoded_token": formatter.token_text(token_id)},
            )
        return entry

    @app.post("/v1/chat/completions")
    def chat_completions(req: ChatCompletionRequest) -> dict[str, Any]:
        if req.stream:
            raise APIError(400, "streaming is not supported by academy serve")
        adapter = adapter_for(req.model)
        prompt = prompt_ids(req)
        stop = (req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ())
        params = GenerationParams(
            temperature=req.temperature,
            top_p=req.top_p,
            max_tokens=req.max_completion_tokens or req.max_tokens or 256,
            stop=stop,
            seed=req.seed,
            json_schema=requested_schema(req.response_format),
        )
        generated = llm.generate_ids([prompt], params, adapter=adapter)[0]
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": generated.text},
            "finish_reason": generated.finish_reason,
            "logprobs": None,
        }
        body: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.model,
            "choices": [choice],
            "usage": {
                "prompt_tokens": len(prompt),
                "completion_tokens": len(generated.token_ids),
                "total_tokens": len(prompt) + len(generated.token_ids),
            },
        }
        if req.logprobs and generated.token_ids:
            top_k = req.top_logprobs or 0
            scores = llm.token_scores(prompt + generated.token_ids, len(prompt), top_k, adapter)
            choice["logprobs"] = {"content": [logprob_entry(s, top_k) for s in scores]}
        if req.prompt_logprobs is not None:
            scores = llm.token_scores(prompt, 1, req.prompt_logprobs, adapter)
            body["prompt_logprobs"] = [None] + [prompt_logprob_entry(s) for s in scores]
        return body

    return app
