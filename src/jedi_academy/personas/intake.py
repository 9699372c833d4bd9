"""The intake sheet: what a referral would tell a therapist about a persona, and all a therapist ever sees.

It is derived from the card read as plain data, so that it works with today's card (v1: ``context``,
``presenting_problems``, no risk block) and with card v2 when it lands (``demographics``, ``stage_of_change``,
``risk``; traits marked ``stated`` or ``inferred``). Only stated facts are reported; the invented name, the
evidence ids and anything in quotation marks never appear.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

NOT_STATED = "not stated"
INTAKE_VERSION = "intake-1"

_NOT_STATED_VALUES = {"", "not stated", "unknown", "none stated", "n/a"}
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|'[^']{12,}'")
_DURATION = re.compile(
    r"\b(?:for|over|since|during|in)\s+(?:the\s+)?(?:past|last|several|many|a\s+few|a|an|\d+|one|two|three|four|"
    r"five|six|seven|eight|nine|ten|twelve)?\s*(?:days?|weeks?|months?|years?|decades?)\b(?:\s+now)?"
    r"|\bsince\s+(?:childhood|adolescence|school|university|college|(?:his|her|their|my)\s+\w+)\b"
    r"|\b(?:lifelong|all\s+(?:my|his|her|their)\s+life|for\s+as\s+long\s+as\s+\w+\s+can\s+remember)\b",
    re.IGNORECASE,
)
_RISK_FIELDS = ("suicidal_ideation", "ideation", "self_harm", "substances", "harm_to_others")


def intake_sheet(card: BaseModel | dict[str, Any]) -> dict[str, Any]:
    """The referral summary of a persona card (v1 or v2), as JSON data."""
    data = card.model_dump() if isinstance(card, BaseModel) else dict(card)
    problems = [text for text in (_stated_text(t) for t in _as_list(data.get("presenting_problems"))) if text]
    if not problems and (single := _stated_text(data.get("presenting_problem"))):
        problems = [single]
    sheet = {
        "version": INTAKE_VERSION,
        "age": _age(data),
        "gender": _demographic(data, "gender"),
        "occupation": _occupation(data),
        "presenting_problem": problems,
        "duration": _duration(data, problems),
        "risk": _risk_summary(data.get("risk")),
        "stage_of_change": _stage(data.get("stage_of_change")),
    }
    name = data.get("name")
    return _without_name(sheet, name) if isinstance(name, str) and len(name.strip()) >= 2 else sheet


def card_resistances(card: BaseModel | dict[str, Any]) -> list[str]:
    """How the persona pushes back in therapy (v1 traits, v2 entries), stated or inferred: it is the patient's
    own prompt that reads them, never the therapist."""
    data = card.model_dump() if isinstance(card, BaseModel) else dict(card)
    texts = []
    for entry in _as_list(data.get("resistances")):
        if isinstance(entry, dict):
            parts = [
                str(v) for k, v in entry.items() if k not in ("evidence", "status") and isinstance(v, str)
            ]
            text = _clean(": ".join(parts)) if parts else None
        else:
            text = _clean(str(entry))
        if text:
            texts.append(text)
    return texts


def card_stage_of_change(card: BaseModel | dict[str, Any]) -> str | None:
    """The persona's stage of change (card v2), or None when the card has none."""
    data = card.model_dump() if isinstance(card, BaseModel) else dict(card)
    value = data.get("stage_of_change")
    if isinstance(value, dict):
        value = value.get("stage", value.get("text"))
    text = _clean(str(value)) if isinstance(value, str) else None
    return text.replace("_", " ") if text else None


def render_intake(sheet: dict[str, Any]) -> str:
    """The sheet as a few readable lines for the terminal."""
    problems = sheet.get("presenting_problem") or []
    lines = [
        f"Age: {sheet.get('age', NOT_STATED)}   Gender: {sheet.get('gender', NOT_STATED)}   "
        f"Occupation: {sheet.get('occupation', NOT_STATED)}",
        "Presenting problem: " + ("; ".join(problems) if problems else NOT_STATED),
        f"Duration: {sheet.get('duration', NOT_STATED)}",
        f"Risk: {sheet.get('risk', {}).get('summary', NOT_STATED)}",
        f"Stage of change: {sheet.get('stage_of_change', NOT_STATED)}",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- reading the card defensively


def _without_name(value: Any, name: str) -> Any:
    """The persona's invented name is a pseudonym: a referral says "the client"."""
    if isinstance(value, str):
        return re.sub(rf"\b{re.escape(name.strip())}\b", "the client", value, flags=re.IGNORECASE)
    if isinstance(value, dict):
        return {k: _without_name(v, name) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_name(v, name) for v in value]
    return value


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _clean(text: str) -> str | None:
    text = _QUOTED.sub("", text)
    text = re.sub(r"\s+", " ", text).strip(" .;,-")
    return None if text.lower() in _NOT_STATED_VALUES else text


def _stated_text(value: Any) -> str | None:
    """A trait's text when it is stated: a plain string, or ``{"text": ...}`` not marked ``inferred``."""
    if isinstance(value, dict):
        status = str(value.get("status") or value.get("basis") or "stated").lower()
        if status == "inferred":
            return None
        text = value.get("text", value.get("value"))
        return _clean(str(text)) if isinstance(text, str | int | float) else None
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return _clean(str(value))
    return None


def _demographic(data: dict[str, Any], name: str) -> str:
    demographics = data.get("demographics")
    if isinstance(demographics, dict) and (text := _stated_text(demographics.get(name))):
        return text
    return NOT_STATED


def _age(data: dict[str, Any]) -> str:
    stated = _demographic(data, "age")
    if stated == NOT_STATED:
        stated = _demographic(data, "age_band")
    if stated != NOT_STATED:
        return stated
    context = data.get("context")
    if isinstance(context, dict) and (band := _stated_text(context.get("age_band"))):
        return band
    return NOT_STATED


def _occupation(data: dict[str, Any]) -> str:
    stated = _demographic(data, "occupation")
    if stated != NOT_STATED:
        return stated
    context = data.get("context")
    if isinstance(context, dict) and (text := _stated_text(context.get("occupation"))):
        return text
    return NOT_STATED


def _duration(data: dict[str, Any], problems: list[str]) -> str:
    for key in ("duration", "onset"):
        if text := _stated_text(data.get(key)):
            return text
    history = [text for text in (_stated_text(t) for t in _as_list(data.get("history"))) if text]
    for text in [*problems, *history]:
        if match := _DURATION.search(text):
            return match.group(0).strip()
    return NOT_STATED


def _stage(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("stage", value.get("text"))
    text = _stated_text(value) if value is not None else None
    return text.replace("_", " ") if text else NOT_STATED


def _risk_summary(risk: Any) -> dict[str, Any]:
    """Structured risk (card v2) summarised; v1 cards carry none, which the sheet says plainly."""
    if not isinstance(risk, dict):
        return {
            "assessed": False,
            "summary": "no structured risk information in the referral; assess risk at intake",
        }
    facts: dict[str, Any] = {"assessed": True}
    parts = []
    for name in _RISK_FIELDS:
        if name not in risk:
            continue
        value = risk[name]
        text = _risk_value(value)
        facts[name] = text
        parts.append(f"{name.replace('_', ' ')}: {text}")
    protective = [t for t in (_stated_text(v) for v in _as_list(risk.get("protective_factors"))) if t]
    facts["protective_factors"] = protective
    if protective:
        parts.append("protective factors: " + ", ".join(protective))
    facts["summary"] = "; ".join(parts) if parts else NOT_STATED
    return facts


def _risk_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "none stated"
    if isinstance(value, dict):
        level = value.get("level", value.get("status", value.get("text")))
        return (_stated_text(level) if level is not None else None) or NOT_STATED
    if isinstance(value, list):
        items = [t for t in (_stated_text(v) for v in value) if t]
        return ", ".join(items) if items else "none stated"
    return _stated_text(value) or NOT_STATED
