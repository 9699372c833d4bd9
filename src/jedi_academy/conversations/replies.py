"""Patient replies: generation with a truncation flag, clean-up, and trimming to the last full sentence.

``LLM.generate`` returns text only. The transformers backend also exposes ``generate_ids`` with each row's
finish reason, which is used when present; for other backends a reply is taken as truncated when it stops
without closing punctuation at roughly the token limit (about four characters a token).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jedi_academy.llm import LLM, Conversation, GenerationParams

STOP = ("\nTherapist:", "\nTHERAPIST:", "\nCounsellor:", "\nCounselor:")
CHARS_PER_TOKEN = 4.0

_SENTENCE_END = re.compile(r"[.!?…](?:[\"'”’)\]]*)(?=\s|$)")
_LABEL = re.compile(r"^\s*\**(?:patient|client|me|{name})\**\s*:\s*\**\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Reply:
    text: str
    truncated: bool  # stopped by the token limit


def generate_replies(
    llm: LLM, conversations: Sequence[Conversation], params: GenerationParams
) -> list[Reply]:
    generate_ids: Any = getattr(llm, "generate_ids", None)
    formatter: Any = getattr(llm, "formatter", None)
    if callable(generate_ids) and formatter is not None:
        prompts = [formatter.encode_prompt(c) for c in conversations]
        return [Reply(g.text, g.finish_reason == "length") for g in generate_ids(prompts, params)]
    return [Reply(t, looks_truncated(t, params.max_tokens)) for t in llm.generate(conversations, params)]


def looks_truncated(text: str, max_tokens: int) -> bool:
    stripped = text.rstrip()
    return len(stripped) >= 0.8 * CHARS_PER_TOKEN * max_tokens and not _ends_sentence(stripped)


def _ends_sentence(text: str) -> bool:
    return bool(text) and _SENTENCE_END.search(text, max(0, len(text) - 4)) is not None


def clean_answer(text: str, name: str) -> str:
    """Strip a leading speaker label and anything after a therapist line the model went on to write."""
    for marker in STOP:
        text = text.split(marker, 1)[0]
    label = re.compile(_LABEL.pattern.replace("{name}", re.escape(name)), re.IGNORECASE)
    return label.sub("", text.strip(), count=1).strip()


def trim_to_sentence(text: str, min_chars: int = 12) -> str | None:
    """``text`` cut after its last complete sentence, or ``None`` when that leaves under ``min_chars``."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    if not ends:
        return None
    trimmed = text[: ends[-1]].strip()
    return trimmed if len(trimmed) >= min_chars else None
