"""The request side of ``academy serve``: OpenAI chat-completion requests, validated into plain messages, and
errors in OpenAI's shape (``{"error": {"message", "type", "param", "code"}}``) rather than FastAPI's."""

from __future__ import annotations

import math
import re
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from jedi_academy.llm.base import Conversation

MAX_CHOICES = 16
MAX_TOP_LOGPROBS = 20  # vLLM's engine cap
MAX_STOP_STRINGS = 16
# Deeper JSON than any real request needs; refused before a parser (or a schema compiler) recurses into it.
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class APIError(Exception):
    """An error reply in OpenAI's format."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind
        self.param, self.code, self.headers = param, code, headers

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[Any] | None = None

    @field_validator("content")
    @classmethod
    def _text_parts_only(
        cls, content: str | list[dict[str, Any]] | None
    ) -> str | list[dict[str, Any]] | None:
        if isinstance(content, list):
            for part in content:
                kind = part.get("type")
                if kind != "text":
                    raise ValueError(f"only text content parts are supported, got type {kind!r}")
                if not isinstance(part.get("text"), str):
                    raise ValueError("a text content part needs a 'text' string")
        return content

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part["text"] for part in self.content)
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The OpenAI fields ``academy serve`` implements, plus vLLM's scoring extensions. Unknown fields are
    ignored, as OpenAI-compatible servers do; known fields it cannot honour are refused
    (:func:`refuse_unsupported`)."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    min_tokens: int = Field(0, ge=0)  # vLLM extension
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=0, lt=2**63)
    n: int = Field(1, ge=1, le=MAX_CHOICES)
    stream: bool = False
    stream_options: StreamOptions | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    prompt_logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    add_generation_prompt: bool = True
    continue_final_message: bool = False
    response_format: dict[str, Any] | None = None
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    logit_bias: dict[str, float] | None = None
    tools: list[Any] | None = None
    tool_choice: Any = None
    functions: list[Any] | None = None

    @field_validator("stop")
    @classmethod
    def _few_stops(cls, stop: str | list[str] | None) -> str | list[str] | None:
        if isinstance(stop, list) and len(stop) > MAX_STOP_STRINGS:
            raise ValueError(f"at most {MAX_STOP_STRINGS} stop strings")
        return stop

    def stop_strings(self) -> tuple[str, ...]:
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())

    def wanted_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


def json_too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text nests arrays or objects more than ``limit`` levels deep, found without parsing
    it: strings are blanked out and the brackets that are left are counted."""
    brackets = _JSON_STRING.sub(b"", raw).translate(None, delete=_NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        if depth > limit:
            return True
    return False


def decode_json(raw: bytes) -> Any:
    """The request body as JSON: too deep, not UTF-8 (lone surrogates included) or not JSON is a 400."""
    if json_too_deep(raw):
        raise APIError(400, f"the request body nests JSON more than {MAX_JSON_DEPTH} levels deep")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise APIError(400, f"the request body is not valid JSON: {exc}") from exc


def parse_request(raw: bytes) -> ChatCompletionRequest:
    """Decode and validate a request body; every problem becomes a 400 naming the field."""
    data = decode_json(raw)
    if not isinstance(data, dict):
        raise APIError(400, "the request body must be a JSON object")
    try:
        request = ChatCompletionRequest.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from exc
    refuse_unsupported(request)
    return request


def validation_error(exc: ValidationError) -> APIError:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"] if part != "body")
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    first = exc.errors()[0]["loc"] if exc.errors() else ()
    param = ".".join(str(part) for part in first if part != "body") or None
    return APIError(400, "; ".join(problems), param=param)


def refuse_unsupported(request: ChatCompletionRequest) -> None:
    """Fields a client may send that this server cannot honour: a clear 400 instead of silently ignoring."""
    if request.tools or request.functions or request.tool_choice not in (None, "none"):
        raise APIError(400, "tool calling is not supported by academy serve", param="tools")
    if request.logit_bias:
        raise APIError(400, "logit_bias is not supported by academy serve", param="logit_bias")
    for name in ("frequency_penalty", "presence_penalty"):
        value = getattr(request, name)
        if not math.isfinite(value) or value != 0:
            raise APIError(
                400, f"{name} is not supported by academy serve (send 0 or leave it out)", param=name
            )
    for index, message in enumerate(request.messages):
        if message.tool_calls:
            raise APIError(400, "tool calls are not supported", param=f"messages.{index}.tool_calls")
    if request.stream and request.prompt_logprobs is not None:
        raise APIError(400, "prompt_logprobs cannot be combined with stream", param="prompt_logprobs")
    if request.top_logprobs and not request.logprobs:
        raise APIError(400, "top_logprobs needs logprobs set to true", param="top_logprobs")


def conversation(request: ChatCompletionRequest) -> Conversation:
    """Plain messages for the chat formatter. ``developer`` is OpenAI's newer name for ``system``; leading
    system and developer messages are joined (the Mistral format has one system prompt)."""
    system: list[str] = []
    messages: Conversation = []
    for index, message in enumerate(request.messages):
        if message.role in ("system", "developer"):
            if messages:
                raise APIError(
                    400,
                    f"messages[{index}]: a {message.role} message may only come before the conversation",
                    param=f"messages.{index}.role",
                )
            system.append(message.text())
            continue
        messages.append({"role": message.role, "content": message.text()})
    if not messages:
        raise APIError(400, "messages: the conversation needs a user message", param="messages")
    if system:
        messages.insert(0, {"role": "system", "content": "\n\n".join(system)})
    return messages


def requested_schema(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """The JSON schema of an OpenAI-style ``response_format`` (``json_object`` means any object)."""
    if not response_format or response_format.get("type") == "text":
        return None
    if response_format.get("type") == "json_object":
        return {"type": "object"}
    if response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if isinstance(schema, dict):
            return schema
        raise APIError(
            400,
            "response_format.json_schema needs a 'schema' object",
            param="response_format.json_schema",
        )
    raise APIError(
        400, f"unsupported response_format {response_format.get('type')!r}", param="response_format"
    )


class LoadAdapterRequest(BaseModel):
    """vLLM's ``/v1/load_lora_adapter`` body."""

    model_config = ConfigDict(extra="ignore")

    lora_name: str = Field(min_length=1, max_length=256)
    lora_path: str = Field(min_length=1)


class UnloadAdapterRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lora_name: str = Field(min_length=1, max_length=256)


def parse_model(raw: bytes, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(decode_json(raw))
    except ValidationError as exc:
        raise validation_error(exc) from exc
