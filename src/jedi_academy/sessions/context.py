"""How much of a session the patient model sees: its context (positions) and a token count for a
conversation, exact where the model's own formatter is at hand, a cautious estimate otherwise."""

from __future__ import annotations

import math
from collections.abc import Callable

from jedi_academy.limits import DEFAULT_CONTEXT_TOKENS
from jedi_academy.llm import LLM, Conversation

# Mistral's tokenizer averages about four characters of English per token; counting three errs towards
# leaving turns out rather than overflowing a remote server's context.
CHARS_PER_TOKEN_ESTIMATE = 3


def context_positions(llm: LLM) -> int:
    """The model's positions (prompt plus reply) when it says; otherwise Mistral-7B v0.3's."""
    model = getattr(llm, "model", None)
    positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    return positions if isinstance(positions, int) and positions > 0 else DEFAULT_CONTEXT_TOKENS


def token_counter(llm: LLM) -> Callable[[Conversation], int]:
    formatter = getattr(llm, "formatter", None)
    if formatter is not None and hasattr(formatter, "encode_prompt"):
        return lambda messages: len(formatter.encode_prompt(messages))

    def estimate(messages: Conversation) -> int:
        text = sum(len(m["content"]) + 8 for m in messages)  # 8: a message's role markers
        return math.ceil(text / CHARS_PER_TOKEN_ESTIMATE)

    return estimate
