"""From item outcomes to the numbers a therapist sees: the expected total with its standard error, the spread
of one administration, band, screen, outcomes.

Two different uncertainties are kept apart:

* ``standard_error``: how precisely the expected total is known. In logprob mode the probabilities are exact;
  what the total still depends on is the presentation, so the standard error is the spread of the per-shift
  totals over the cyclic option shifts / sqrt(number of shifts). In sample mode it is a two-level bootstrap
  (shifts, then each shift's replies, resampled with replacement): it shrinks towards the same order spread
  as more replies are drawn.
* ``ci_low``/``ci_high`` (the *predictive* interval): where the total of one simulated administration (one
  answer per item drawn from its distribution) falls 95% of the time. It does not shrink with more replies.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from jedi_academy.assessment import stats
from jedi_academy.assessment.administer import ItemOutcome
from jedi_academy.instruments import score
from jedi_academy.instruments.model import Instrument

DRAWS = 2000
BOOTSTRAP = 1000


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
    distribution): how far one administration's total may fall from the expectation. ``reported``: band,
    screen and safety flags of the reported total (see :func:`reported`). ``modal``: the full score of the
    most likely answer to every item, kept as a detail: the most likely answer is not the reported score (a
    respondent at 40% "Not at all" and 60% spread over the rest has a non-zero answer 60% of the time).
    """
    distributions = {o.item_id: (o.distribution or None) for o in outcomes}
    modal_answers = {o.item_id: o.argmax_code for o in outcomes}
    modal = score(instrument, modal_answers)
    results = [score(instrument, answers) for answers in _draw(distributions, DRAWS, seed)]
    totals = np.array([r.total for r in results if r.total is not None], dtype=float)
    screens = [r.positive_screen for r in results if r.positive_screen is not None]
    exact = expected_total(instrument, outcomes)
    total = exact if exact is not None else (float(totals.mean()) if len(totals) else None)
    error, basis = standard_error(instrument, outcomes, seed) if total is not None else (None, None)
    return {
        "total": total,
        "reported": reported(instrument, outcomes, total, results),
        "standard_error": error,
        "standard_error_basis": basis,
        "ci_low": float(np.percentile(totals, 2.5)) if len(totals) else None,
        "ci_high": float(np.percentile(totals, 97.5)) if len(totals) else None,
        "total_sd": float(totals.std(ddof=1)) if len(totals) > 1 else None,
        "valid_share": len(totals) / DRAWS,
        "p_positive_screen": (sum(screens) / len(screens)) if screens else None,
        "modal": modal.as_dict(),
        "missing_items": [o.item_id for o in outcomes if o.missing],
        "mean_order_sensitivity": _mean([o.order_sensitivity for o in outcomes]),
    }


def reported(
    instrument: Instrument, outcomes: list[ItemOutcome], total: float | None, sheets: list[Any]
) -> dict[str, Any]:
    """Band, screen and safety flags of the *reported* score, not of the most likely answer per item.

    The band is the band of the reported total (rounded half up onto the bands' whole-number ranges where the
    total is not whole); ``band_probabilities`` is the share of simulated answer sheets in each band. The
    screen compares the reported total with the cut-off. A safety item is flagged when the probability of an
    answer at or above its threshold is at least 0.5 (and when it is unanswered: the risk is not ruled out),
    with that probability (None when unanswered)."""
    definition = instrument.definition
    band = None
    if total is not None and definition.bands:
        whole = math.floor(total + 0.5) if all(b.min == int(b.min) for b in definition.bands) else total
        band = next((b.label for b in definition.bands if b.min <= whole <= b.max), None)
    counted = [sheet.band for sheet in sheets if sheet.total is not None]
    probabilities = (
        {b.label: counted.count(b.label) / len(counted) for b in definition.bands} if counted else {}
    )
    screen = None
    if definition.screening is not None and total is not None:
        screen = total >= definition.screening.cutoff
    by_id = {o.item_id: o for o in outcomes}
    flags: list[str] = []
    flag_p: dict[str, float | None] = {}
    for rule in definition.safety:
        outcome = by_id.get(rule.item)
        if outcome is None or outcome.missing:
            flags.append(rule.item)
            flag_p[rule.item] = None
            continue
        p = sum(prob for code, prob in outcome.distribution.items() if code >= rule.code_at_least)
        flag_p[rule.item] = p
        if p >= 0.5:
            flags.append(rule.item)
    return {
        "band": band,
        "band_probabilities": probabilities,
        "positive_screen": screen,
        "safety_flags": flags,
        "safety_flag_probabilities": flag_p,
    }


NO_REPORT: dict[str, Any] = {
    "band": None,
    "band_probabilities": {},
    "positive_screen": None,
    "safety_flags": [],
    "safety_flag_probabilities": {},
}


def reported_of(result: dict[str, Any]) -> dict[str, Any]:
    """What a stored run reports: nothing for an invalid run; older runs (before ``reported``) fall back on
    the most likely answers' score."""
    if not (result.get("validity") or {}).get("valid", False):
        return dict(NO_REPORT)
    if "reported" in result:
        return result["reported"]
    modal = result.get("modal") or {}
    return {**NO_REPORT, **{k: modal.get(k) for k in ("band", "positive_screen")},
            "safety_flags": modal.get("safety_flags") or []}  # fmt: skip


def _combine(instrument: Instrument, values: list[float]) -> float | None:
    """Sum or mean of the answered scored items, prorated within the instrument's missing-data rule."""
    scored = len(instrument.scored_items)
    if not values or scored - len(values) > instrument.definition.scoring.missing.max_missing:
        return None
    if instrument.definition.scoring.method == "mean":
        return sum(values) / len(values)
    return sum(values) * scored / len(values)


def standard_error(
    instrument: Instrument, outcomes: list[ItemOutcome], seed: int
) -> tuple[float | None, str | None]:
    by_id = {o.item_id: o for o in outcomes}
    scored = [by_id[item.id] for item in instrument.scored_items if item.id in by_id]
    answered = [o for o in scored if not o.missing]
    if not answered:
        return None, None
    if any(o.samples for o in answered):
        return _bootstrap_error(instrument, answered, seed), "bootstrap over option orders and replies"
    shifts = sorted({order for o in answered for order in o.by_order})
    if len(shifts) < 2 or any(set(o.by_order) != set(shifts) for o in answered):
        return None, None
    per_shift = []
    for order in shifts:
        values = [stats.expected(o.by_order[order], instrument.item(o.item_id).value_of) for o in answered]
        per_shift.append(_combine(instrument, values))
    if any(value is None for value in per_shift):
        return None, None
    spread = float(np.std(np.asarray(per_shift, dtype=float), ddof=1))
    return spread / math.sqrt(len(shifts)), "option orders"


def _bootstrap_error(instrument: Instrument, answered: list[ItemOutcome], seed: int) -> float | None:
    """Two-level bootstrap: draw the option shifts with replacement (the same draw for every item, since a
    position preference affects all items of a shift alike), then each drawn shift's replies with replacement.
    With many replies it tends to the logprob mode's spread over option orders; with few it is larger."""
    rng = np.random.default_rng(seed + 1)
    shift_names = sorted({order for o in answered for order in o.samples})
    picks = rng.integers(0, len(shift_names), size=(BOOTSTRAP, len(shift_names)))
    columns = []
    for outcome in answered:
        item = instrument.item(outcome.item_id)
        codes = list(item.codes)
        values = np.array([item.value_of(code) for code in codes], dtype=float)
        per_shift = np.full((BOOTSTRAP, len(shift_names)), np.nan)
        for index, order in enumerate(shift_names):
            given = [codes.index(a) for a in outcome.samples.get(order, []) if a is not None]
            if given:
                frequencies = np.bincount(given, minlength=len(codes)) / len(given)
                per_shift[:, index] = (
                    rng.multinomial(len(given), frequencies, size=BOOTSTRAP) / len(given) @ values
                )
        chosen = np.take_along_axis(per_shift, picks, axis=1)
        columns.append(
            np.nanmean(np.where(np.isnan(chosen), np.nanmean(per_shift, axis=1)[:, None], chosen), axis=1)
        )
    stacked = np.vstack(columns)  # items x draws
    if instrument.definition.scoring.method == "mean":
        totals = stacked.mean(axis=0)
    else:
        totals = stacked.sum(axis=0) * len(instrument.scored_items) / len(answered)
    return float(totals.std(ddof=1))


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
