"""Turning a model reply into a validated card, or the reason it was rejected.

Rejection reasons: ``empty``, ``truncated`` (the JSON stops mid-way: the token limit was reached),
``invalid_json``, ``schema`` (valid JSON that PersonaCard refuses) and ``invalid_evidence`` (a trait cites
a label that was not shown). Fields that may be "not stated" are normalised first: basis ``not stated``, the
value "not stated" or no evidence all make the field "not stated". Accepted cards carry real comment ids in
``evidence`` instead of the labels.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from jedi_academy.personas.card import NOT_STATED, PersonaCard

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class ParsedCard:
    card: PersonaCard | None
    reason: str | None = None
    detail: str = ""


def parse_card(reply: str, labels: Mapping[str, str]) -> ParsedCard:
    """``labels``: label shown to the model -> real comment id."""
    text = reply.strip()
    if not text:
        return ParsedCard(None, "empty")
    try:
        # strict=False: control characters inside strings are cleaned below rather than fatal
        data = json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        reason = "truncated" if text.startswith("{") and _unfinished(text) else "invalid_json"
        return ParsedCard(None, reason, exc.msg)
    data = normalise_not_stated(_clean(data))
    try:
        card = PersonaCard.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return ParsedCard(None, "schema", f"{where}: {first['msg']}")
    unknown = sorted(card.evidence_ids() - set(labels))
    if unknown:
        return ParsedCard(None, "invalid_evidence", f"cites {len(unknown)} label(s) that were not shown")
    return ParsedCard(PersonaCard.model_validate(_map_evidence(card.model_dump(), labels)))


def _unfinished(text: str) -> bool:
    """Whether the text stops inside a string or with brackets still open (a reply cut by the token limit)."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
    return in_string or depth > 0


def _clean(value: Any) -> Any:
    """Control characters become spaces and runs of whitespace one space, in every string."""
    if isinstance(value, str):
        return " ".join(_CONTROL.sub(" ", value).split())
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _map_evidence(value: Any, labels: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        mapped = {k: _map_evidence(v, labels) for k, v in value.items()}
        if "evidence" in mapped:
            mapped["evidence"] = list(dict.fromkeys(labels[label] for label in value["evidence"]))
        return mapped
    if isinstance(value, list):
        return [_map_evidence(v, labels) for v in value]
    return value


_MAYBE_FIELDS = (
    ("demographics", "gender", "text"),
    ("demographics", "occupation", "text"),
    ("demographics", "relationships", "text"),
    ("demographics", "living_situation", "text"),
    (None, "speaking_style", "text"),
    (None, "stage_of_change", "stage"),
    ("risk", "suicidal_ideation", "level"),
    ("risk", "self_harm", "level"),
    ("risk", "substances", "level"),
)


def normalise_not_stated(data: Any) -> Any:
    """Fields that may be "not stated" become exactly that when the reply says so or cites nothing."""
    if not isinstance(data, dict):
        return data
    for parent, name, value_key in _MAYBE_FIELDS:
        holder = data.get(parent) if parent else data
        field = holder.get(name) if isinstance(holder, dict) else None
        if not isinstance(field, dict):
            continue
        unstated = (
            field.get("basis") == NOT_STATED
            or str(field.get(value_key, "")).strip().casefold() == NOT_STATED
            or not field.get("evidence")
        )
        if unstated:
            field.update({value_key: NOT_STATED, "basis": NOT_STATED, "evidence": []})
    return data
