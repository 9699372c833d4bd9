"""Attention (infrequency) items: known-answer questions mixed into every administration.

Careless-responding research (Meade & Craig 2012; Curran 2016) catches respondents who do not read with bogus
items whose honest answer is known. An LLM respondent that answers a label at random, or a fixed mixture of
labels whatever the item, passes a position-sensitivity gate (its answer does not depend on the order at all)
but gives the honest answer to a bogus item only at chance. The items live in ``data/attention.yaml``
(versioned); a few are drawn per run with a seeded generator, put at seeded random places among the
instrument's items, asked exactly like the instrument's items on the instrument's own response scale, and
never scored.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from jedi_academy.instruments.model import Instrument, Item, Option

PREFIX = "attention:"  # item ids of attention items; instrument item ids never contain a colon


@dataclass(frozen=True)
class AttentionSet:
    version: str
    per_run: int
    families: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]]  # name -> (honest labels, items)


@dataclass(frozen=True)
class AttentionPlan:
    """The attention items of one run: which, where, and the option that is the honest answer."""

    version: str
    family: str
    items: tuple[Item, ...]  # ids start with PREFIX; ``position`` is the place in the administered sequence
    honest_code: int
    chance: float  # the probability of the honest answer for a respondent who ignores the question

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "family": self.family,
            "honest_code": self.honest_code,
            "chance": self.chance,
            "items": [{"id": item.id, "text": item.text, "position": item.position} for item in self.items],
        }


@cache
def attention_set() -> AttentionSet:
    text = resources.files("jedi_academy.assessment").joinpath("data/attention.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    families = {
        name: (
            tuple(family["honest"]),
            tuple((entry["id"], entry["text"]) for entry in family["items"]),
        )
        for name, family in raw["families"].items()
    }
    return AttentionSet(str(raw["version"]), int(raw["per_run"]), families)


def plan_attention(
    instrument: Instrument, askable: list[Item], seed: int, items_set: AttentionSet | None = None
) -> AttentionPlan | None:
    """Draw the attention items of one run (seeded) and their places, on the response scale of the
    instrument's scored items. None when no family fits that scale (a forced choice between statements)."""
    items_set = items_set or attention_set()
    scored = [item for item in askable if item.scored] or askable
    if not scored:
        return None
    options = scored[0].options
    for family, (honest_labels, entries) in items_set.families.items():
        honest = [option for option in options if option.label in honest_labels]
        if len(honest) != 1:
            continue
        rng = random.Random(f"attention/{items_set.version}/{instrument.id}/{seed}")
        chosen = rng.sample(entries, min(items_set.per_run, len(entries)))
        total = len(askable) + len(chosen)
        positions = sorted(rng.sample(range(1, total + 1), len(chosen)))
        plain = tuple(Option(option.code, option.label, float(option.code)) for option in options)
        items = tuple(
            Item(f"{PREFIX}{entry_id}", position, text, plain, False, True, "attention")
            for (entry_id, text), position in zip(chosen, positions, strict=True)
        )
        return AttentionPlan(items_set.version, family, items, honest[0].code, 1 / len(options))
    return None


def interleave(askable: list[Item], plan: AttentionPlan | None) -> list[Item]:
    """The administered sequence: the instrument's items in order, attention items at their planned places."""
    if plan is None:
        return list(askable)
    sequence: list[Item] = []
    remaining = iter(askable)
    by_position = {item.position: item for item in plan.items}
    for place in range(1, len(askable) + len(plan.items) + 1):
        sequence.append(by_position[place] if place in by_position else next(remaining))
    return sequence


def is_attention(item_id: str) -> bool:
    return item_id.startswith(PREFIX)


def threshold(chance: float) -> float:
    """The smallest mean probability of the honest answer that counts as reading the question: a third of
    the way from chance to certainty (0.5, twice chance, with four options; 2/3 with two). Calibrated on
    planted and trained respondents (docs/assessment.md): every blind one sits at chance or below, the tiny
    trained patient that reads the question near 0.63, a real model near 1."""
    return chance + (1 - chance) / 3


def attention_measures(plan: AttentionPlan | None, outcomes: list[Any]) -> dict[str, Any]:
    """Per attention item the probability of the honest answer (its answer distribution averaged over the
    option shifts, so a position preference cannot supply it), and their mean: the ``inattention`` measure."""
    if plan is None:
        return _measures(None, None, [])
    return _measures(plan.honest_code, plan.chance, [(o.item_id, o.distribution) for o in outcomes])


def measures_from_record(record: dict[str, Any] | None) -> dict[str, Any]:
    """The same measures re-derived from what a run stored (``result["attention"]``)."""
    if not record:
        return _measures(None, None, [])
    rows = [
        (row["id"], {int(code): float(p) for code, p in row["distribution"].items()})
        for row in record["items"]
    ]
    return _measures(int(record["honest_code"]), float(record["chance"]), rows)


def _measures(
    honest_code: int | None, chance: float | None, rows: list[tuple[str, dict[int, float]]]
) -> dict[str, Any]:
    if honest_code is None or chance is None:
        return {"attention_p_honest": None, "attention_chance": None, "attention_threshold": None,
                "attention_items": []}  # fmt: skip
    items: list[dict[str, Any]] = [
        {"id": item_id, "p_honest": d.get(honest_code, 0.0) if d else None} for item_id, d in rows
    ]
    present = [row["p_honest"] for row in items if row["p_honest"] is not None]
    return {
        "attention_p_honest": sum(present) / len(present) if present else None,
        "attention_chance": chance,
        "attention_threshold": threshold(chance),
        "attention_items": items,
    }
