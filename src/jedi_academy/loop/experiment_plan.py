"""The therapist experiment's design, as pure functions: arms, the ordering it tests, the persona count it
needs, the common random numbers and the training budget every case gets.

* Arms: ``skilled``, ``placebo``, ``harmful`` (scripted sessions, each followed by a loop iteration) and
  ``loop-only`` (the loop with no session: the start checkpoint re-fine-tuned on its own data, the drift that
  fine-tuning alone produces).
* Common random numbers: the seed of session k of a persona (the patient's replies, the acceptance draws, the
  loop's training and assessment) depends on the experiment's seed, the persona and k, never on the arm, so
  the arms of one persona differ only by what the therapist said.
* One start and one budget: every case opens on the same start checkpoint, and every loop iteration of every
  arm trains the same number of steps with the same batch size, resolved once from the start checkpoint (the
  loop's own default, a quarter of the parent's steps, would shrink along a chain of children).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from jedi_academy.errors import AcademyError
from jedi_academy.loop.experiment_stats import ALPHA, minimum_personas

ARMS = ("skilled", "placebo", "harmful", "loop-only")
SESSION_ARMS = ("skilled", "placebo", "harmful")
LOOP_ONLY = "loop-only"
# The predicted ordering Page's test checks, best first. The three session arms get the same number of
# sessions and loop iterations and differ only in what the therapist says, so an ordered trend among them can
# only come from the content. Loop-only is the drift reference, compared pairwise with every arm, not ranked:
# whether a neutral session should beat no session at all is what the experiment asks of the patient model,
# not something it may assume.
ORDERING = ("skilled", "placebo", "harmful")


class UnderpoweredError(AcademyError):
    """Fewer personas than the design needs, without ``--allow-underpowered`` (a usage error on the CLI)."""


def choose_arms(arms: list[str] | None) -> list[str]:
    """The arms in their canonical order (default: all four)."""
    chosen = list(dict.fromkeys(arms or ARMS))
    unknown = [a for a in chosen if a not in ARMS]
    if unknown:
        raise AcademyError(f"unknown arm(s) {', '.join(unknown)}", f"use {', '.join(ARMS)}")
    return [a for a in ARMS if a in chosen]


def ordered_arms(arms: list[str]) -> list[str]:
    """The arms of :data:`ORDERING` that run (the ordering is tested only when all of them do)."""
    return [a for a in ORDERING if a in arms]


def needed_personas(arms: list[str], alpha: float = ALPHA) -> int:
    """The fewest personas with which the ordering test and every Holm-corrected pairwise comparison of these
    arms can reach p < alpha (four arms: 8; two arms: 6, the smallest n for one exact two-sided paired
    test)."""
    ordered = len(ORDERING) if all(a in arms for a in ORDERING) else 0
    return minimum_personas(len(arms), ordered, alpha)


def power_note(arms: list[str], personas: int, allow_underpowered: bool) -> str | None:
    """None when ``personas`` suffice; the underpowered statement when allowed; else UnderpoweredError."""
    needed = needed_personas(arms)
    if personas >= needed:
        return None
    message = (
        f"underpowered: {personas} persona(s); with {len(arms)} arms the exact tests need {needed} for "
        f"p < {ALPHA} to be reachable after Holm's correction"
    )
    if not allow_underpowered:
        raise UnderpoweredError(
            f"--personas {personas} is too few: the experiment needs at least {needed} personas with "
            f"{len(arms)} arms",
            "raise --personas, or pass --allow-underpowered to run it anyway (the output then says so)",
        )
    return message


def crn_seed(seed: int, persona: str, number: int) -> int:
    """The seed of session ``number`` of ``persona``: the same in every arm (common random numbers)."""
    key = f"{seed}:{persona}:{number}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class PlannedUnit:
    arm: str
    persona_id: str
    session: int
    seed: int


def plan_units(arms: list[str], personas: list[str], sessions: int, seed: int) -> list[PlannedUnit]:
    """Every (arm, persona, session) the experiment runs, session by session within a case."""
    return [
        PlannedUnit(arm, persona, number, crn_seed(seed, persona, number))
        for arm in arms
        for persona in personas
        for number in range(1, sessions + 1)
    ]


@dataclass(frozen=True)
class Budget:
    steps: int
    batch_size: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "batch_size": self.batch_size}


def training_budget(start_hyperparameters: dict[str, Any], steps: int | None) -> Budget:
    """Steps per loop iteration (given, else a quarter of the start checkpoint's) and its batch size, for
    every iteration of every arm."""
    start_steps = int(start_hyperparameters.get("max_steps", 40))
    batch = start_hyperparameters.get("batch_size")
    return Budget(steps=steps if steps is not None else max(1, start_steps // 4),
                  batch_size=int(batch) if batch is not None else None)  # fmt: skip


def order_personas(candidates: list[tuple[str, bool]], count: int) -> list[str]:
    """``count`` personas, those whose conversations the start checkpoint trained on first (in their given
    order), then held-out ones: a held-out persona's loop data validates rather than trains while the
    loop keeps the lineage's split, so its arms would all get the same training."""
    ranked = [p for p, trains in candidates if trains] + [p for p, trains in candidates if not trains]
    return ranked[:count]
