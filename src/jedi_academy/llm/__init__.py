"""The LLM layer: one interface (``generate``, ``loglikelihood``) over three backends.

* ``transformers`` - local Hugging Face causal LMs (CPU/GPU), LoRA adapters per request.
* ``openai`` - any OpenAI-compatible server (vLLM, llama.cpp, ``academy serve``).
* ``mistral`` - the Mistral API (generation only: it has no log-probabilities).

Importing this package is cheap; backends load torch or httpx only when opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jedi_academy.llm.base import (
    LLM,
    Conversation,
    GenerationParams,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    Message,
)

if TYPE_CHECKING:
    from jedi_academy.config import Settings

__all__ = [
    "LLM",
    "Conversation",
    "GenerationParams",
    "LoglikelihoodRequest",
    "LoglikelihoodResult",
    "Message",
    "open_llm",
]


def open_llm(settings: Settings, *, backend: str | None = None, model: str | None = None) -> LLM:
    """The backend named in the settings (or by ``backend``), serving ``model``."""
    from jedi_academy.config import KNOWN_BACKENDS
    from jedi_academy.errors import ConfigError

    name = backend or settings.backend
    model_name = model or settings.model
    if name == "transformers":
        from jedi_academy.llm.transformers_backend import TransformersLLM

        return TransformersLLM.from_settings(settings, model=model_name)
    if name == "openai":
        from jedi_academy.llm.openai_backend import OpenAICompatibleLLM

        return OpenAICompatibleLLM.from_settings(settings, model=model_name)
    if name == "mistral":
        from jedi_academy.llm.mistral_backend import MistralAPILLM

        return MistralAPILLM.from_settings(settings, model=model_name)
    raise ConfigError(f"unknown backend {name!r}", f"choose one of {', '.join(KNOWN_BACKENDS)}")
