"""Any OpenAI-compatible chat server: vLLM (with multi-LoRA), llama.cpp, Ollama, or ``academy serve``.

A checkpoint's adapter is selected by its served name (the checkpoint id), as ``academy serve-config`` writes
it for vLLM and ``academy serve`` serves it.

``loglikelihood`` uses vLLM's ``prompt_logprobs`` extension of the chat endpoint: the conversation is sent
with the candidate reply as a final assistant message (``continue_final_message``), and the log-probs of the
reply's tokens are read off the prompt. Servers without that extension get a clear error (score with
``--mode sample``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jedi_academy.errors import ConfigError, LogprobsUnavailableError
from jedi_academy.llm.base import (
    Conversation,
    GenerationParams,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    validate_conversation,
)
from jedi_academy.llm.http import JSONClient

if TYPE_CHECKING:
    from jedi_academy.config import Settings


def reply_text(body: dict[str, Any]) -> str:
    """The text of the first choice (string content, or a list of text chunks)."""
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise LogprobsUnavailableError(f"unexpected chat completion reply: {str(body)[:200]}") from exc
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def json_schema_format(schema: dict[str, Any]) -> dict[str, Any]:
    """The ``response_format`` for structured output (OpenAI, vLLM and Mistral share this shape)."""
    return {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema, "strict": True}}


class OpenAICompatibleLLM:
    backend_name = "openai"
    service = "OpenAI-compatible server"
    seed_field = "seed"  # the Mistral API calls it random_seed
    extra_payload: dict[str, Any] = {}  # noqa: RUF012  (read-only)

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        concurrency: int = 8,
    ) -> None:
        self.model_name = model
        self.base_url = base_url
        self.concurrency = concurrency
        self.client = JSONClient(base_url, api_key=api_key, timeout_s=timeout_s, service=self.service)

    @classmethod
    def from_settings(cls, settings: Settings, *, model: str | None = None) -> OpenAICompatibleLLM:
        if not settings.base_url:
            raise ConfigError(
                "the openai backend needs a server URL",
                "pass --base-url http://HOST:PORT (for example a vLLM server or `academy serve`)",
            )
        key = settings.api_key.get_secret_value() if settings.api_key else os.environ.get("OPENAI_API_KEY")
        return cls(
            settings.base_url, model or settings.model, api_key=key, timeout_s=settings.request_timeout_s
        )

    def _map(self, function: Any, items: Sequence[Any]) -> list[Any]:
        if len(items) <= 1:
            return [function(item) for item in items]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(function, items))

    def _chat(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self.client.post("/v1/chat/completions", payload)

    def served_model(self, adapter: str | None) -> str:
        """The ``model`` of a request: the base, or an adapter by its served name (a checkpoint id, see
        :mod:`jedi_academy.llm.adapters`). A local folder cannot be sent to a server."""
        if adapter is None:
            return self.model_name
        if adapter.startswith(("/", ".", "~")) or Path(adapter).expanduser().is_dir():
            raise ConfigError(
                f"the openai backend selects adapters by served name, not by folder ({adapter})",
                "serve the folder under a name (academy serve --lora NAME=DIR, or vLLM --lora-modules, "
                "see `academy serve-config`) and pass that name",
            )
        return adapter

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams, adapter: str | None = None
    ) -> list[str]:
        for number, conversation in enumerate(conversations):
            validate_conversation(conversation, where=f"conversation {number}")

        def one(numbered: tuple[int, Conversation]) -> str:
            number, conversation = numbered
            payload: dict[str, Any] = {
                "model": self.served_model(adapter),
                "messages": conversation,
                "temperature": params.temperature,
                "top_p": params.top_p,
                "max_tokens": params.max_tokens,
                **self.extra_payload,
            }
            if params.stop:
                payload["stop"] = list(params.stop)
            if params.seed is not None:
                payload[self.seed_field] = params.seed + number
            if params.json_schema is not None:
                payload["response_format"] = json_schema_format(params.json_schema)
            return reply_text(self._chat(payload))

        return self._map(one, list(enumerate(conversations)))

    def _prompt_length(self, context: Conversation, model: str) -> int:
        body = self._chat({"model": model, "messages": context, "max_tokens": 1, "temperature": 0.0})
        try:
            return int(body["usage"]["prompt_tokens"])
        except (KeyError, TypeError, ValueError) as exc:
            raise LogprobsUnavailableError(
                f"the server at {self.base_url} reports no usage.prompt_tokens", "score with --mode sample"
            ) from exc

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        for number, request in enumerate(requests):
            validate_conversation(request.context, where=f"request {number}")
        keys = [(self.served_model(request.adapter), repr(request.context)) for request in requests]
        contexts: dict[tuple[str, str], Conversation] = {}
        for key, request in zip(keys, requests, strict=True):
            contexts.setdefault(key, request.context)
        unique = list(contexts)
        lengths = self._map(lambda key: self._prompt_length(contexts[key], key[0]), unique)
        prompt_lengths = dict(zip(unique, lengths, strict=True))

        def one(pair: tuple[LoglikelihoodRequest, tuple[str, str]]) -> LoglikelihoodResult:
            request, key = pair
            body = self._chat(
                {
                    "model": key[0],
                    "messages": [*request.context, {"role": "assistant", "content": request.continuation}],
                    "add_generation_prompt": False,
                    # an open final message continues the reply; a closed one ends with the end-of-turn marker
                    "continue_final_message": not request.complete,
                    "max_tokens": 1,
                    "temperature": 0.0,
                    "prompt_logprobs": 1,
                }
            )
            return self._read_prompt_logprobs(body, prompt_lengths[key])

        return self._map(one, list(zip(requests, keys, strict=True)))

    def _read_prompt_logprobs(self, body: dict[str, Any], prompt_length: int) -> LoglikelihoodResult:
        positions = body.get("prompt_logprobs")
        if not isinstance(positions, list):
            raise LogprobsUnavailableError(
                f"the server at {self.base_url} returned no prompt_logprobs",
                "serve the model with vLLM or `academy serve`, or score with --mode sample",
            )
        continuation = positions[prompt_length:]
        if not continuation:
            raise LogprobsUnavailableError("the server's prompt_logprobs do not cover the continuation")
        total, greedy = 0.0, True
        for entry in continuation:
            # Each position maps token ids to {logprob, rank}; the prompt's own token is the entry with the
            # highest rank (it is also rank 1 when it is the model's top choice).
            actual = max(entry.values(), key=lambda item: item.get("rank") or 0)
            total += float(actual["logprob"])
            greedy = greedy and actual.get("rank") == 1
        return LoglikelihoodResult(total, len(continuation), greedy)

    def describe(self) -> dict[str, Any]:
        models = self.client.get("/v1/models")
        return {
            "backend": self.backend_name,
            "model": self.model_name,
            "base_url": self.base_url,
            "served_models": [m.get("id") for m in models.get("data", [])],
        }
