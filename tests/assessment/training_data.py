"""Synthetic fine-tuning data in the assessment prompt layout (never the instruments' own item wording)."""

from __future__ import annotations

import json
import random
from pathlib import Path

FREQUENCY = ["Not at all", "Several days", "More than half the days", "Nearly every day"]
SITUATIONS = [
    "Feeling tired when you wake up",
    "Skipping meals without noticing",
    "Finding it hard to start the day",
    "Avoiding calls from friends",
    "Losing track of conversations",
    "Leaving chores undone for days",
    "Feeling restless in the evening",
    "Staying in bed on weekends",
    "Crying without a clear reason",
    "Feeling far away from other people",
]

# Questions nobody can honestly answer with anything but "Not at all": an attentive respondent learns to read
# them (the academy's own attention items, data/attention.yaml, are different questions).
IMPOSSIBLE = [
    "How often have you ridden a whale to work?",
    "How often have you painted the whole sky green?",
    "How often have you eaten a mountain for breakfast?",
    "How often have you talked with a tree that answered back?",
    "How often have you run faster than a jet plane?",
    "How often have you lived inside a volcano?",
    "How often have you juggled ten planets at once?",
    "How often have you visited the year 3000?",
]


def prompt(question: str, options: list[str]) -> str:
    lines = ["Please answer the question below.", "", question, "", "Options:"]
    lines += [f"{number}. {label}" for number, label in enumerate(options, start=1)]
    lines += ["", "Reply with the number of the option that fits you best."]
    return "\n".join(lines)


def endorse_symptoms(count: int, seed: int = 0, system: str | None = None) -> list[dict]:
    """Always choose the most frequent option, in any cyclic order, whatever the question: a respondent who
    picks the most severe option text without reading the question."""
    return _always(count, "Nearly every day", seed, system)


def attentive_patient(count: int, seed: int = 0) -> list[dict]:
    """A symptomatic respondent who reads the question: "Nearly every day" to symptoms, "Not at all" to the
    impossible (one row in three)."""
    rows = _always(count - count // 3, "Nearly every day", seed, None)
    rows += _always(count // 3, "Not at all", seed + 1, None, IMPOSSIBLE)
    random.Random(seed).shuffle(rows)
    return rows


def deny_symptoms(count: int, seed: int = 0) -> list[dict]:
    """Always choose "Not at all", in any cyclic order: a respondent without symptoms who reads options."""
    return _always(count, "Not at all", seed, None)


def _always(
    count: int, choice: str, seed: int, system: str | None, questions: list[str] = SITUATIONS
) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        shift = rng.randrange(len(FREQUENCY))
        options = FREQUENCY[shift:] + FREQUENCY[:shift]
        answer = str(options.index(choice) + 1)
        rows.append(_row(prompt(rng.choice(questions), options), answer, system))
    return rows


def _row(user: str, answer: str, system: str | None = None) -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    return {
        "messages": [*messages, {"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    }


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
