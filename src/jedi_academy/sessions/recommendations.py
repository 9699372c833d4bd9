"""Recommendations found by the teacher model in the therapist's turns, and their kinds.

The teacher answers under a JSON schema (constrained decoding), so its reply always parses; turn numbers can
only be therapist turns that exist and kinds only the listed ones. Extracted recommendations that repeat one
the therapist marked (or an earlier extracted one) are dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from jedi_academy.llm import LLM, GenerationParams
from jedi_academy.sessions.prompts import (
    RECOMMENDATION_KINDS,
    extraction_messages,
    extraction_schema,
    kind_messages,
    kind_schema,
)

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_WORD = re.compile(r"[a-z0-9']+")
SIMILAR_RATIO = 0.8
SIMILAR_WORDS = 0.6


@dataclass(frozen=True)
class Extracted:
    turn: int
    kind: str
    text: str


@dataclass(frozen=True)
class ExtractionOptions:
    max_items: int = 6
    max_chars: int = 160
    max_tokens: int = 700
    temperature: float = 0.0  # greedy: the same transcript gives the same list


def clean_text(text: str) -> str:
    return " ".join(_CONTROL.sub(" ", text).split())


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def is_duplicate(text: str, other: str) -> bool:
    """Same recommendation in other words: near-identical characters, or mostly the same words."""
    a, b = clean_text(text).lower(), clean_text(other).lower()
    if not a or not b:
        return False
    if a == b or SequenceMatcher(None, a, b).ratio() >= SIMILAR_RATIO:
        return True
    wa, wb = _words(a), _words(b)
    if not wa or not wb:
        return False
    overlap = len(wa & wb)
    return overlap / len(wa | wb) >= SIMILAR_WORDS or (
        min(len(wa), len(wb)) >= 3 and overlap == min(len(wa), len(wb))
    )


def parse_extraction(reply: str, turn_numbers: Sequence[int]) -> tuple[list[Extracted], str | None]:
    """The recommendations of a teacher reply, and a problem when the reply was unusable."""
    try:
        data = json.loads(reply)
    except json.JSONDecodeError as exc:
        return [], f"teacher reply is not JSON ({exc.msg}); was it cut by max_tokens?"
    items = data.get("recommendations") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return [], "teacher reply has no 'recommendations' list"
    found = []
    for item in items:
        if not isinstance(item, dict):
            continue
        text = clean_text(str(item.get("text", "")))
        turn, kind = item.get("turn"), item.get("kind")
        if len(text) >= 3 and turn is not None and turn in turn_numbers and kind in RECOMMENDATION_KINDS:
            found.append(Extracted(int(turn), str(kind), text))
    return found, None


def extract(
    llm: LLM,
    therapist_turns: Sequence[tuple[int, str]],
    marked: Sequence[str],
    *,
    seed: int,
    options: ExtractionOptions = ExtractionOptions(),
) -> tuple[list[Extracted], dict[str, Any]]:
    """New recommendations in the therapist's turns (marked ones and repeats removed), and a record."""
    record: dict[str, Any] = {"seed": seed, "max_tokens": options.max_tokens, "found": 0, "duplicates": 0}
    if not therapist_turns:
        return [], {**record, "problem": None}
    numbers = [index for index, _ in therapist_turns]
    params = GenerationParams(
        temperature=options.temperature,
        max_tokens=options.max_tokens,
        seed=seed,
        json_schema=extraction_schema(numbers, options.max_items, options.max_chars),
    )
    reply = llm.generate([extraction_messages(therapist_turns)], params)[0]
    found, problem = parse_extraction(reply, numbers)
    kept: list[Extracted] = []
    for candidate in found:
        if any(is_duplicate(candidate.text, m) for m in marked) or any(
            is_duplicate(candidate.text, k.text) for k in kept
        ):
            record["duplicates"] += 1
            continue
        kept.append(candidate)
    record.update(found=len(found), problem=problem, kept=len(kept))
    return kept, record


def classify_kinds(llm: LLM, texts: Sequence[str], *, seed: int) -> list[str]:
    """The kind of each therapist-marked recommendation (one constrained reply each, greedy)."""
    if not texts:
        return []
    params = GenerationParams(temperature=0.0, max_tokens=24, seed=seed, json_schema=kind_schema())
    replies = llm.generate([kind_messages(text) for text in texts], params)
    kinds = []
    for reply in replies:
        try:
            kind = json.loads(reply).get("kind")
        except (json.JSONDecodeError, AttributeError):
            kind = None
        kinds.append(kind if kind in RECOMMENDATION_KINDS else "other")
    return kinds
