"""The therapist's side: question banks (YAML package data) and the plan of one conversation.

A conversation opens with an intake question, ends with a goals question (from four turns on), and in
between mixes symptom exploration, everyday situations (the areas the specialization's instruments ask
about, in our own words), history and generic follow-ups. Questions are drawn without repetition, seeded per
conversation. A specialization without a bank of its own uses the shared questions only.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from jedi_academy.errors import AcademyError

PHASES = ("intake", "symptoms", "situations", "history", "follow_up", "goals")
_MIDDLE = (
    "symptoms",
    "situations",
    "history",
    "situations",
    "follow_up",
    "symptoms",
    "situations",
    "follow_up",
)
_DATA = "jedi_academy.conversations"


@dataclass(frozen=True)
class Question:
    id: str  # "<bank>:<phase>:<n>"
    phase: str
    text: str


@dataclass(frozen=True)
class QuestionBank:
    specialization: str
    questions: tuple[Question, ...]
    version: str  # hash of the bank files
    specific: bool  # False when only the shared questions exist for this specialization

    def phase(self, name: str) -> list[Question]:
        return [q for q in self.questions if q.phase == name]

    def without(self, excluded: set[str]) -> QuestionBank:
        kept = tuple(q for q in self.questions if q.id not in excluded)
        return QuestionBank(self.specialization, kept, self.version, self.specific)


def _read(name: str) -> str | None:
    entry = resources.files(_DATA).joinpath("data", "questions", f"{name}.yaml")
    return entry.read_text(encoding="utf-8") if entry.is_file() else None


def _parse(name: str, text: str) -> list[Question]:
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise AcademyError(f"question bank {name}.yaml is not a mapping of phases")
    found = []
    for phase, texts in data.items():
        if phase not in PHASES:
            raise AcademyError(
                f"question bank {name}.yaml: unknown phase {phase!r}", f"use {', '.join(PHASES)}"
            )
        for number, question in enumerate(texts or [], start=1):
            found.append(Question(f"{name}:{phase}:{number}", phase, str(question).strip()))
    return found


@cache
def load_question_bank(specialization: str) -> QuestionBank:
    common = _read("common")
    if common is None:
        raise AcademyError("the shared question bank is missing from the package", "reinstall jedi-academy")
    own = _read(specialization) if specialization != "common" else None
    questions = _parse("common", common) + (_parse(specialization, own) if own else [])
    digest = hashlib.sha256((common + (own or "")).encode("utf-8")).hexdigest()[:12]
    return QuestionBank(specialization, tuple(questions), digest, own is not None)


def phase_plan(turns: int) -> list[str]:
    """Which phase each of ``turns`` questions comes from."""
    if turns <= 0:
        return []
    if turns == 1:
        return ["intake"]
    middle_count = turns - 2 if turns >= 4 else turns - 1
    middle = [_MIDDLE[i % len(_MIDDLE)] for i in range(middle_count)]
    return ["intake", *middle, *(["goals"] if turns >= 4 else [])]


def plan_questions(bank: QuestionBank, turns: int, rng: random.Random, name: str) -> list[Question]:
    """``turns`` distinct questions following :func:`phase_plan`; a phase that runs dry borrows from the
    exploration phases, and the plan stops early when the whole bank is used up."""
    pools = {phase: rng.sample(bank.phase(phase), k=len(bank.phase(phase))) for phase in PHASES}
    plan: list[Question] = []
    for phase in phase_plan(turns):
        for source in (phase, "symptoms", "situations", "follow_up", "history"):
            if pools[source]:
                question = pools[source].pop()
                plan.append(Question(question.id, question.phase, question.text.replace("{name}", name)))
                break
    return plan
