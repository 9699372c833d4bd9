"""Therapist plans: which move (technique) the therapist makes at each turn of a generated conversation.

Each conversation gets one approach (intake interview, CBT, motivational interviewing, supportive,
psychoeducation), rotated so that a run mixes them evenly. Its plan opens with the approach's opening move,
cycles through its moves and ends with its closing move. A configured share of the turns after the opening
is replaced by unhelpful moves (premature advice, lecturing, judgement, ignoring a disclosure); the share
holds over the whole run, not only on average (the count per conversation carries the rounding over). A
risk disclosure inserts the risk-assessment moves before the rest of the plan (see ``generate``).
Techniques, instructions and approaches are package YAML (``data/plans.yaml``).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from jedi_academy.errors import AcademyError

_DATA = "jedi_academy.conversations"


@dataclass(frozen=True)
class Technique:
    name: str
    helpful: bool
    instruction: str


@dataclass(frozen=True)
class Approach:
    name: str
    description: str
    opening: str
    moves: tuple[str, ...]
    closing: str


@dataclass(frozen=True)
class PlanLibrary:
    techniques: dict[str, Technique]
    approaches: dict[str, Approach]
    risk_followup: tuple[str, ...]
    unhelpful: tuple[str, ...]
    version: str  # hash of plans.yaml

    def technique(self, name: str) -> Technique:
        return self.techniques[name]


@cache
def load_plans() -> PlanLibrary:
    text = resources.files(_DATA).joinpath("data", "plans.yaml").read_text(encoding="utf-8")
    return parse_plans(text, "plans.yaml")


def parse_plans(text: str, where: str) -> PlanLibrary:
    data: Any = yaml.safe_load(text) or {}
    try:
        techniques = {
            name: Technique(name, bool(entry["helpful"]), " ".join(str(entry["instruction"]).split()))
            for name, entry in data["techniques"].items()
        }
        approaches = {
            name: Approach(
                name, str(entry["description"]), entry["opening"], tuple(entry["moves"]), entry["closing"]
            )
            for name, entry in data["approaches"].items()
        }
        risk_followup = tuple(data["risk_followup"])
        unhelpful = tuple(data["unhelpful"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise AcademyError(f"{where}: missing or malformed field {exc}") from exc
    used = [t for a in approaches.values() for t in (a.opening, *a.moves, a.closing)]
    unknown = sorted({t for t in [*used, *risk_followup, *unhelpful] if t not in techniques})
    if unknown:
        raise AcademyError(f"{where}: unknown technique(s) {', '.join(unknown)}")
    if any(techniques[t].helpful for t in unhelpful):
        raise AcademyError(f"{where}: an unhelpful move is marked helpful")
    version = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return PlanLibrary(techniques, approaches, risk_followup, unhelpful, version)


def approach_for(approaches: tuple[str, ...], position: int, seed: int) -> str:
    """Approaches in a seeded order, taken in turn, so that a run mixes them evenly."""
    order = sorted(approaches, key=lambda a: hashlib.sha256(f"{seed}:{a}".encode()).hexdigest())
    return order[position % len(order)]


def unhelpful_counts(turns: list[int], share: float) -> list[int]:
    """Unhelpful turns per conversation so that the running total is round(share * eligible turns so far);
    the opening turn is never unhelpful."""
    counts, done, eligible = [], 0, 0
    for total in turns:
        eligible += max(0, total - 1)
        wanted = round(share * eligible)
        counts.append(wanted - done)
        done = wanted
    return counts


def build_plan(
    library: PlanLibrary, approach: str, turns: int, unhelpful: int, rng: random.Random
) -> list[str]:
    """The technique of each of ``turns`` therapist turns."""
    chosen = library.approaches[approach]
    if turns <= 0:
        return []
    plan = [chosen.opening]
    middle = turns - 1 - (1 if turns >= 4 else 0)
    plan += [chosen.moves[i % len(chosen.moves)] for i in range(middle)]
    if turns >= 4:
        plan.append(chosen.closing)
    positions = rng.sample(range(1, turns), k=min(unhelpful, turns - 1))
    for position in positions:
        plan[position] = rng.choice(library.unhelpful)
    return plan
