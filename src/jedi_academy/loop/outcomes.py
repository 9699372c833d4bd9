"""What happened after an accepted recommendation depends on the advice: the teacher's judgement of it for
this persona (``sessions.advice``) picks the row of ``OUTCOME_TABLE`` the follow-up's outcome is drawn from.

Harmful advice that the patient followed makes a setback likely, helpful advice progress; no row holds a cure.
A recommendation the teacher could not judge (``unjudged``: its reply was not one of the three labels, or the
session ended before advice was judged) is drawn from the neutral row, and its provenance says so. The draw is
``u ~ U(0, 1)`` from NumPy's generator seeded with (session seed, "outcome", recommendation index), recorded
with the follow-up; the outcome is the first whose cumulative probability exceeds ``u``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jedi_academy.sessions.seeds import derive_seed

OUTCOMES = ("progress", "partial", "mixed", "obstacles", "setback")

# judgement -> probability of each outcome, in OUTCOMES order; each row sums to 1
OUTCOME_TABLE: dict[str, tuple[float, ...]] = {
    "helpful": (0.45, 0.25, 0.15, 0.10, 0.05),
    "neutral": (0.10, 0.25, 0.25, 0.25, 0.15),
    "harmful": (0.00, 0.05, 0.10, 0.15, 0.70),
}
FALLBACK_ROW = "neutral"  # for unjudged advice


@dataclass(frozen=True)
class OutcomeDraw:
    outcome: str
    judgement: str  # helpful|neutral|harmful|unjudged
    row: str  # the table row drawn from
    u: float

    def as_dict(self) -> dict[str, object]:
        return {"outcome": self.outcome, "judgement": self.judgement, "row": self.row, "u": self.u}


def outcome_row(judgement: str) -> str:
    return judgement if judgement in OUTCOME_TABLE else FALLBACK_ROW


def pick_outcome(judgement: str, u: float) -> OutcomeDraw:
    """The outcome at ``u`` in the row of ``judgement`` (the neutral row for anything else)."""
    if not 0.0 <= u < 1.0:
        raise ValueError(f"u must be in [0, 1), not {u}")
    row = outcome_row(judgement)
    cumulative = 0.0
    for outcome, p in zip(OUTCOMES, OUTCOME_TABLE[row], strict=True):
        cumulative += p
        if u < cumulative:
            return OutcomeDraw(outcome, judgement, row, u)
    return OutcomeDraw(OUTCOMES[-1], judgement, row, u)  # rounding: the row sums to 1 up to float error


def outcome_draw(session_seed: int, recommendation_index: int) -> float:
    """u for one accepted recommendation's follow-up, the same in every process."""
    seed = derive_seed(session_seed, "outcome", recommendation_index)
    return float(np.random.default_rng(seed).random())


def draw_outcome(session_seed: int, recommendation_index: int, judgement: str) -> OutcomeDraw:
    return pick_outcome(judgement, outcome_draw(session_seed, recommendation_index))


def outcome_table_markdown() -> str:
    """The table as docs/loop.md shows it."""
    lines = [
        "| judgement | " + " | ".join(OUTCOMES) + " |",
        "|---|" + "---|" * len(OUTCOMES),
    ]
    for judgement, row in OUTCOME_TABLE.items():
        lines.append(f"| {judgement} | " + " | ".join(f"{p:.2f}" for p in row) + " |")
    lines.append(f"| unjudged | the {FALLBACK_ROW} row |" + " |" * (len(OUTCOMES) - 1))
    return "\n".join(lines)
