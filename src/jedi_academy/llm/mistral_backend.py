"""The Mistral API (la Plateforme) for generation. It has no log-probabilities: ``loglikelihood`` raises
:class:`LogprobsUnavailableError` and callers fall back to sampling.

Its chat wire format is the OpenAI one with ``random_seed`` for ``seed`` and an explicit ``stream``; fields it
does not know (``seed``, ``logprobs``) are rejected by the API, so none are sent."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jedi_academy.errors import ConfigError, LogprobsUnavailableError
from jedi_academy.llm.base import LoglikelihoodRequest, LoglikelihoodResult
from jedi_academy.llm.openai_backend import OpenAICompatibleLLM

if TYPE_CHECKING:
    from jedi_academy.config import Settings

MISTRAL_API_URL = "https://api.mistral.ai"


class MistralAPILLM(OpenAICompatibleLLM):
    backend_name = "mistral"
    service = "Mistral API"
    seed_field = "random_seed"
    extra_payload = {"stream": False}  # noqa: RUF012  (read-only)

    def __init__(
        self, model: str, *, api_key: str, base_url: str = MISTRAL_API_URL, timeout_s: float = 120.0
    ) -> None:
        super().__init__(base_url, model, api_key=api_key, timeout_s=timeout_s, concurrency=4)

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
