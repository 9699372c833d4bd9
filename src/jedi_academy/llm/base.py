"""The one LLM interface every stage uses, in the spirit of lm-evaluation-harness:
``generate`` for text and ``loglikelihood`` for scoring given continuations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from jedi_academy.errors import AcademyError

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}
Conversation = list[Message]

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class GenerationParams:
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None
    json_schema: dict[str, Any] | None = None  # constrain the reply to JSON valid under this schema

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise AcademyError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise AcademyError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise AcademyError(f"max_tokens must be >= 1, got {self.max_tokens}")


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """Log-probability of ``continuation`` as the assistant's reply after ``context``.

    ``context`` ends with a user message; ``adapter`` selects a LoRA adapter folder (transformers backend)
    or a served adapter name (openai backend); ``None`` means the base model. ``complete=True`` scores the
    continuation as the whole reply, including the end-of-turn marker (``</s>``), so that "1" is not counted
    as the start of "10" or of "1 or 2".
    """

    context: Conversation
    continuation: str
    adapter: str | None = None
    complete: bool = False


@dataclass(frozen=True)
class LoglikelihoodResult:
    logprob: float  # sum over the continuation's tokens
    num_tokens: int
    is_greedy: bool  # every continuation token was the model's argmax


@dataclass
class LLMInfo:
    backend: str
    model: str
    details: dict[str, Any] = field(default_factory=dict)


class LLM(Protocol):
    backend_name: str
    model_name: str

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams, adapter: str | None = None
    ) -> list[str]: ...

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]: ...

    def describe(self) -> dict[str, Any]: ...


def validate_conversation(conversation: Conversation, *, where: str = "conversation") -> None:
    """Clear errors for malformed messages before any backend sees them."""
    if not conversation:
        raise AcademyError(f"{where}: no messages")
    for index, message in enumerate(conversation):
        role = message.get("role")
        if role not in ROLES:
            raise AcademyError(f"{where}, message {index}: role {role!r} is not one of {', '.join(ROLES)}")
        if not isinstance(message.get("content"), str):
            raise AcademyError(f"{where}, message {index}: 'content' must be a string")
        if role == "system" and index != 0:
            raise AcademyError(f"{where}, message {index}: a system message may only come first")


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """Cut ``text`` before the earliest stop string."""
    cut = len(text)
    for marker in stop:
        if marker and (position := text.find(marker)) != -1:
            cut = min(cut, position)
    return text[:cut]
