"""From item outcomes to the numbers a therapist sees: total with a 95% interval, band, screen, outcomes."""

from __future__ import annotations

from typing import Any

import numpy as np

from jedi_academy.assessment.administer import ItemOutcome
from jedi_academy.instruments import score
from jedi_academy.instruments.model import Instrument

DRAWS = 2000


def expected_total(instrument: Instrument, outcomes: list[ItemOutcome]) -> float | None:
    """Exact expected total (sum or mean of the scored items' expected values); None if a scored item is
    missing (the interval then comes from the instrument's missing-data rule inside the simulation)."""
    by_id = {o.item_id: o for o in outcomes}
    values = []
    for item in instrument.scored_items:
        outcome = by_id.get(item.id)
        if outcome is None or outcome.expected_value is None:
            return None
        values.append(outcome.expected_value)
    if instrument.definition.scoring.method == "mean":
        return sum(values) / len(values)
    return sum(values)


def summarise(instrument: Instrument, outcomes: list[ItemOutcome], seed: int) -> dict[str, Any]:
    """Scores through the instrument library.

    ``total``: the expected total under the model's answer distributions. ``ci_low``/``ci_high``: the 2.5th
    and 97.5th percentiles of the totals of simulated administrations (one answer per item drawn from its
    distribution): how far one administration's total may fall from the expectation. ``modal``: the full
    score of the most likely answer to every item (band, screen, rule outcomes, safety flags).
    """
    distributions = {o.item_id: (o.distribution or None) for o in outcomes}
    modal_answers = {o.item_id: o.argmax_code for o in outcomes}
    modal = score(instrument, modal_answers)
    results = [score(instrument, answers) for answers in _draw(distributions, DRAWS, seed)]
    totals = np.array([r.total for r in results if r.total is not None], dtype=float)
    screens = [r.positive_screen for r in results if r.positive_screen is not None]
    exact = expected_total(instrument, outcomes)
    total = exact if exact is not None else (float(totals.mean()) if len(totals) else None)
    return {
        "total": total,
        "ci_low": float(np.percentile(totals, 2.5)) if len(totals) else None,
        "ci_high": float(np.percentile(totals, 97.5)) if len(totals) else None,
        "total_sd": float(totals.std(ddof=1)) if len(totals) > 1 else None,
        "valid_share": len(totals) / DRAWS,
        "p_positive_screen": (sum(screens) / len(screens)) if screens else None,
        "modal": modal.as_dict(),
        "missing_items": [o.item_id for o in outcomes if o.missing],
        "mean_order_sensitivity": _mean([o.order_sensitivity for o in outcomes]),
    }


def _draw(
    distributions: dict[str, dict[int, float] | None], draws: int, seed: int
) -> list[dict[str, int | None]]:
    rng = np.random.default_rng(seed)
    columns: dict[str, list[int | None]] = {}
    for item_id, distribution in distributions.items():
        if not distribution:
            columns[item_id] = [None] * draws
            continue
        codes = sorted(distribution)
        probabilities = np.array([distribution[c] for c in codes], dtype=float)
        picks = rng.choice(len(codes), size=draws, p=probabilities / probabilities.sum())
        columns[item_id] = [codes[i] for i in picks]
    return [{item_id: column[index] for item_id, column in columns.items()} for index in range(draws)]


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None
