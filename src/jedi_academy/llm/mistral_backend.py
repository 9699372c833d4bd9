"""The Mistral API (la Plateforme) for generation. It has no log-probabilities: ``loglikelihood`` raises
:class:`LogprobsUnavailableError` and callers fall back to sampling."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
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
from jedi_academy.llm.openai_backend import json_schema_format, reply_text

if TYPE_CHECKING:
    from jedi_academy.config import Settings

MISTRAL_API_URL = "https://api.mistral.ai"


class MistralAPILLM:
    backend_name = "mistral"

    def __init__(
        self,
        model: str,
        *,
        api_key: str,
        base_url: str = MISTRAL_API_URL,
        timeout_s: float = 120.0,
        concurrency: int = 4,
    ) -> None:
        self.model_name = model
        self.base_url = base_url
        self.concurrency = concurrency
        self.client = JSONClient(base_url, api_key=api_key, timeout_s=timeout_s, service="Mistral API")

    @classmethod
    def from_settings(cls, settings: Settings, *, model: str | None = None) -> MistralAPILLM:
        key = settings.api_key.get_secret_value() if settings.api_key else os.environ.get("MISTRAL_API_KEY")
        if not key:
            raise ConfigError(
                "the mistral backend needs an API key", "set MISTRAL_API_KEY or ACADEMY_API_KEY"
            )
        name = model or settings.model
        if name == "tiny":
            raise ConfigError(
                "the mistral backend serves Mistral's hosted models, not 'tiny'",
                "pass --model mistral-small-latest (or a fine-tuned ft:... id)",
            )
        return cls(
            name,
            api_key=key,
            base_url=settings.base_url or MISTRAL_API_URL,
            timeout_s=settings.request_timeout_s,
        )

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams, adapter: str | None = None
    ) -> list[str]:
        for number, conversation in enumerate(conversations):
            validate_conversation(conversation, where=f"conversation {number}")

        def one(numbered: tuple[int, Conversation]) -> str:
            number, conversation = numbered
            payload: dict[str, Any] = {
                "model": adapter or self.model_name,
                "messages": conversation,
                "temperature": params.temperature,
                "top_p": params.top_p,
                "max_tokens": params.max_tokens,
                "stream": False,
            }
            if params.stop:
                payload["stop"] = list(params.stop)
            if params.seed is not None:
                payload["random_seed"] = params.seed + number
            if params.json_schema is not None:
                payload["response_format"] = json_schema_format(params.json_schema)
            return reply_text(self.client.post("/v1/chat/completions", payload))

        items = list(enumerate(conversations))
        if len(items) <= 1:
            return [one(item) for item in items]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(one, items))

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        raise LogprobsUnavailableError(
            "the Mistral API returns no log-probabilities",
            "use sample mode, or serve the model yourself (vLLM or `academy serve`) with --backend openai",
        )

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend_name,
            "model": self.model_name,
            "base_url": self.base_url,
            "logprobs": False,
        }
