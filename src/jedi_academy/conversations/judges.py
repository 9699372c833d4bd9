"""Checks on generated patient turns: risk disclosures, the self-cure judge and the consistency judge.

- **Risk disclosure** (a trigger, so it errs towards recall): thoughts of death or suicide, self-harm, or
  losing control of drinking or drugs, in the patient's words. Any hit makes the therapist's next turns a
  risk assessment.
- **Self-cure** (the teacher model, constrained to yes/no): does the answer claim that the problems are
  resolved or that the therapist has fixed them? Masking ("I'm much better at pretending I'm fine at
  work") is not recovery. Only answers that mention getting better, being fine, help or thanks are asked
  about (the judge call is spent where it can matter); the rest pass unasked.
- **Consistency** (the teacher model, on a sampled share of conversations): do the patient's answers stay
  consistent with the card and in its conversational style? Reported, never used to reject.

A judge reply that is not the asked-for JSON is counted as unreadable and changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from jedi_academy.llm import LLM, GenerationParams, Message
from jedi_academy.personas.card import STYLE_NOTES, AnyCard, PersonaCard, system_prompt

JUDGE_PROMPT_VERSION = "conversation-judge-1"

_RISK = re.compile(
    r"\b(?:suicid\w*|kill(?:ing)?\s+myself|end(?:ing)?\s+(?:it\s+all|my\s+life|things)|"
    r"better\s+off\s+dead|(?:want(?:ed)?|wish(?:ed)?)\s+(?:to\s+be\s+|i\s+was\s+|i\s+were\s+)?dead|"
    r"not\s+(?:wake|waking)\s+up|don'?t\s+want\s+to\s+(?:be\s+here|live|exist)|"
    r"hurt(?:ing)?\s+myself|cut(?:ting)?\s+myself|self[-\s]?harm\w*|overdos\w*|"
    r"drink(?:ing)?\s+(?:myself|until|till)|can'?t\s+stop\s+(?:drinking|using))",
    re.IGNORECASE,
)


def risk_disclosed(text: str) -> bool:
    return _RISK.search(text.replace("\u2019", "'")) is not None


_RECOVERY_WORDS = re.compile(
    r"\b(?:better|fine|okay|ok|alright|good|great|cured|fixed|healed|solved|recovered|helped|thank\w*|"
    r"gone|over\s+it)\b",
    re.IGNORECASE,
)


def may_claim_recovery(text: str) -> bool:
    return _RECOVERY_WORDS.search(text) is not None


_SELF_CURE_SYSTEM = (
    "You review a simulated therapy client's reply in a first session, where nothing is solved yet. Answer "
    '"yes" if the reply claims the client\'s problems are now resolved or gone, or that the therapist has '
    'already cured or fixed them; answer "no" otherwise. Describing pretending to be fine, small '
    "improvements, hopes, or politeness is not a claim of recovery. Reply with one JSON object."
)
_YES_NO = {"type": "string", "enum": ["yes", "no"]}
SELF_CURE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"claims_recovery": _YES_NO},
    "required": ["claims_recovery"],
    "additionalProperties": False,
}


def judge_self_cure(llm: LLM, items: Sequence[tuple[str, str]], seed: int) -> list[bool | None]:
    """``items``: (therapist turn, patient answer); True when the answer claims recovery."""
    if not items:
        return []
    conversations: list[list[Message]] = [
        [
            {"role": "system", "content": _SELF_CURE_SYSTEM},
            {"role": "user", "content": f"Therapist: {asked}\nClient: {answered}"},
        ]
        for asked, answered in items
    ]
    params = GenerationParams(temperature=0.0, max_tokens=16, seed=seed, json_schema=SELF_CURE_SCHEMA)
    verdicts: list[bool | None] = []
    for reply in llm.generate(conversations, params):
        value = (_json(reply) or {}).get("claims_recovery")
        verdicts.append(None if value not in ("yes", "no") else value == "yes")
    return verdicts


_CONSISTENCY_SYSTEM = (
    "You review a simulated therapy client. Below is the client's profile, then everything the client said "
    "in one session. Judge whether what they said is consistent with the profile (no contradicting facts, "
    'beliefs or history): "yes", "partly" or "no"; and whether they kept the conversational style the '
    'profile describes: "yes" or "no". Reply with one JSON object.'
)
CONSISTENCY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "consistent": {"type": "string", "enum": ["yes", "partly", "no"]},
        "in_style": _YES_NO,
    },
    "required": ["consistent", "in_style"],
    "additionalProperties": False,
}


def judge_consistency(
    llm: LLM, items: Sequence[tuple[AnyCard, Sequence[str]]], seed: int
) -> list[dict[str, str] | None]:
    """``items``: (card, the patient's answers); each verdict is {consistent, in_style} or None."""
    if not items:
        return []
    conversations: list[list[Message]] = []
    for card, answers in items:
        style = (
            f"\nConversational style: {card.conversational_style}: {STYLE_NOTES[card.conversational_style]}"
            if isinstance(card, PersonaCard)
            else ""
        )
        said = "\n".join(f"- {answer}" for answer in answers)
        conversations.append(
            [
                {"role": "system", "content": _CONSISTENCY_SYSTEM},
                {
                    "role": "user",
                    "content": f"Profile:\n{system_prompt(card)}{style}\n\nThe client said:\n{said}",
                },
            ]
        )
    params = GenerationParams(temperature=0.0, max_tokens=24, seed=seed, json_schema=CONSISTENCY_SCHEMA)
    verdicts: list[dict[str, str] | None] = []
    for reply in llm.generate(conversations, params):
        data = _json(reply) or {}
        ok = data.get("consistent") in ("yes", "partly", "no") and data.get("in_style") in ("yes", "no")
        verdicts.append({"consistent": data["consistent"], "in_style": data["in_style"]} if ok else None)
    return verdicts


def _json(reply: str) -> dict[str, Any] | None:
    try:
        data = json.loads(reply.strip())
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None
