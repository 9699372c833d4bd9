"""Two teacher-model judges over persona generation, each answering in constrained JSON.

- **First person**: do an author's comments describe their own experience? A parent writing about a child on
  r/autism would otherwise become the "patient". A cheap heuristic runs first (first-person pronouns in most
  comments, not mostly about a relative); the judge then reads the comments.
- **Grounding by meaning**: does each cited comment support the trait that cites it? Checking ids only
  passes a card whose cited comments say nothing about the trait. Unsupported traits are dropped (a list
  item) or become "not stated" (a single field); a card left without a presenting problem or with fewer
  than two situation chains is regenerated.

A judge reply that is not the asked-for JSON counts as ``judge_failed`` and changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from jedi_academy.guard.contamination import FIRST_PERSON
from jedi_academy.guard.overlap import words
from jedi_academy.llm import LLM, GenerationParams, Message
from jedi_academy.personas.card import NOT_STATED, PersonaCard
from jedi_academy.personas.selection import Candidate

JUDGE_PROMPT_VERSION = "persona-judge-1"

_RELATIVE = re.compile(
    r"\bmy\s+(?:\w+\s+)?(?:son|daughter|kid|kids|child|children|husband|wife|partner|boyfriend|girlfriend|"
    r"mom|mum|mother|dad|father|brother|sister|student|students|client|clients)\b",
    re.IGNORECASE,
)


def first_person_heuristic(comments: Sequence[str]) -> bool:
    """Most comments use first-person singular pronouns, and fewer than half are about a relative."""
    if not comments:
        return False
    personal = sum(1 for text in comments if FIRST_PERSON & set(words(text)))
    about_other = sum(1 for text in comments if _RELATIVE.search(text))
    return personal * 2 >= len(comments) and about_other * 2 < len(comments)


_FIRST_PERSON_SYSTEM = (
    "You screen forum comments for a study of people's own experience of mental health. Read the comments of "
    "one writer and say whose experience they mainly describe: the writer's own, someone else's (a child, "
    "partner, parent, friend, client), both, or unclear. Reply with one JSON object."
)
FIRST_PERSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "writes_about": {"type": "string", "enum": ["own experience", "someone else", "both", "unclear"]}
    },
    "required": ["writes_about"],
    "additionalProperties": False,
}
FIRST_PERSON_KEPT = ("own experience", "both")


def judge_first_person(llm: LLM, candidates: Sequence[Candidate], seed: int) -> list[str | None]:
    """The judge's answer per candidate (``None`` when the reply was not valid)."""
    if not candidates:
        return []
    conversations: list[list[Message]] = []
    for candidate in candidates:
        shown = "\n\n".join(f"[{c.label}] {c.text}" for c in candidate.comments)
        conversations.append(
            [{"role": "system", "content": _FIRST_PERSON_SYSTEM}, {"role": "user", "content": shown}]
        )
    params = GenerationParams(temperature=0.0, max_tokens=24, seed=seed, json_schema=FIRST_PERSON_SCHEMA)
    answers: list[str | None] = []
    for reply in llm.generate(conversations, params):
        data = _json(reply)
        value = data.get("writes_about") if data else None
        answers.append(value if value in FIRST_PERSON_SCHEMA["properties"]["writes_about"]["enum"] else None)
    return answers


_GROUNDING_SYSTEM = (
    "You check a persona card against the forum comments it cites. For each numbered claim, answer "
    '"supported" when its cited comments say it or clearly imply it, and "unsupported" when they do not '
    "(they are about something else, or the claim adds details they never give). Reply with one JSON object."
)


@dataclass
class GroundingResult:
    checked: int = 0
    supported: int = 0
    dropped: list[str] = field(default_factory=list)  # paths of unsupported elements
    judge_failed: bool = False
    card: PersonaCard | None = None  # the card without unsupported elements; None when it must be redone

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "supported": self.supported,
            "dropped": list(self.dropped),
            "judge_failed": self.judge_failed,
            "support_rate": round(self.supported / self.checked, 4) if self.checked else None,
        }


def grounding_schema(claims: int) -> dict[str, Any]:
    verdict = {"type": "string", "enum": ["supported", "unsupported"]}
    properties = {f"t{n}": verdict for n in range(1, claims + 1)}
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def grounding_messages(card: PersonaCard, candidate: Candidate) -> list[Message]:
    by_id = {c.comment_id: c for c in candidate.comments}
    cited = [c for c in candidate.comments if c.comment_id in card.evidence_ids()]
    lines = ["Comments:"] + [f"[{c.label}] {c.text}" for c in cited] + ["", "Claims:"]
    for n, (_, text, evidence) in enumerate(card.grounded(), start=1):
        labels = ", ".join(by_id[e].label for e in evidence if e in by_id)
        lines.append(f"t{n}: {text} (cites {labels})")
    return [{"role": "system", "content": _GROUNDING_SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


def judge_grounding(
    llm: LLM, items: Sequence[tuple[PersonaCard, Candidate]], seed: int
) -> list[GroundingResult]:
    """One verdict per grounded element of each card; cards with the same number of claims share a call."""
    results: list[GroundingResult] = [GroundingResult() for _ in items]
    groups: dict[int, list[int]] = {}
    for position, (card, _) in enumerate(items):
        groups.setdefault(len(list(card.grounded())), []).append(position)
    for claims, positions in groups.items():
        params = GenerationParams(
            temperature=0.0, max_tokens=12 * claims + 16, seed=seed, json_schema=grounding_schema(claims)
        )
        replies = llm.generate([grounding_messages(*items[p]) for p in positions], params)
        for position, reply in zip(positions, replies, strict=True):
            results[position] = apply_verdicts(items[position][0], _json(reply), claims)
    return results


def apply_verdicts(card: PersonaCard, verdicts: dict[str, Any] | None, claims: int) -> GroundingResult:
    paths = [path for path, _, _ in card.grounded()]
    if verdicts is None or any(
        verdicts.get(f"t{n}") not in ("supported", "unsupported") for n in range(1, claims + 1)
    ):
        return GroundingResult(checked=0, judge_failed=True, card=card)
    unsupported = [paths[n - 1] for n in range(1, claims + 1) if verdicts[f"t{n}"] == "unsupported"]
    result = GroundingResult(checked=claims, supported=claims - len(unsupported), dropped=unsupported)
    result.card = drop_elements(card, unsupported)
    return result


def drop_elements(card: PersonaCard, paths: Sequence[str]) -> PersonaCard | None:
    """The card without the elements at ``paths`` (list items removed, single fields made "not stated");
    ``None`` when what is left is not a valid card."""
    data = card.model_dump()
    removals: dict[tuple[str, ...], set[int]] = {}
    for path in paths:
        parts = path.split(".")
        if parts[-1].isdigit():
            removals.setdefault(tuple(parts[:-1]), set()).add(int(parts[-1]))
            continue
        holder: Any = data
        for part in parts[:-1]:
            holder = holder[part]
        target = holder[parts[-1]]
        key = "level" if "level" in target else "stage" if "stage" in target else "text"
        target.update({key: NOT_STATED, "basis": NOT_STATED, "evidence": []})
    for listed, indexes in removals.items():
        holder = data
        for part in listed[:-1]:
            holder = holder[part]
        holder[listed[-1]] = [item for n, item in enumerate(holder[listed[-1]]) if n not in indexes]
    try:
        return PersonaCard.model_validate(data)
    except ValidationError:
        return None


def _json(reply: str) -> dict[str, Any] | None:
    try:
        data = json.loads(reply.strip())
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None
