"""Validity gates: is an administration a measurement at all? Every run gets a verdict
``{"valid": bool, "reasons": [{"code", "detail"}]}``; an invalid run is kept and shown, never scored into a
verdict.

``order_sensitivity``: the median over items of the mean total-variation distance between the answer
distributions of the item's cyclic option shifts. Calibration: if a respondent's answer is a mixture of a
content-driven part (the same option whatever the order) and a position-driven part (the same *label*
whatever the option), this distance equals the position-driven share of the answer. Above 0.5 the answers
follow the position more than the content, so the total measures the layout, not the respondent (a model
that always picks the first-listed label has 1.0; a respondent who reads the options has 0).

``option_mass`` (logprob mode): the median over items of the probability that the whole reply is one of the
option labels. Below 0.5 most of the model's reply is something else (prose, a refusal, another format), and
the normalised distribution over the labels describes a minority behaviour.

``inattention``: the mean probability of the honest answer on the run's attention items (known-answer
questions on the instrument's own scale, see ``attention.py``), each averaged over its option shifts so that a
preference for a position or a label cannot supply it. A respondent who ignores the question gets it at chance
(1/k with k options) whatever its label habits; the run is invalid below a third of the way from chance to
certainty (0.5, twice chance, with four options). docs/assessment.md has the calibration.

``missing`` (sample mode): more than 20% of the constrained replies were refusals, unparseable or hedged, or
more than 20% of the unconstrained probe replies were (judged on their own: pooled with the far more numerous
constrained replies, which cannot refuse, the probes' refusals could never reach the limit), or too many items
were left unanswered for the instrument's missing-data rule.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from jedi_academy.assessment.administer import ItemOutcome
from jedi_academy.assessment.attention import attention_measures


@dataclass(frozen=True)
class Thresholds:
    max_order_sensitivity: float = 0.5
    min_option_mass: float = 0.5
    max_missing_share: float = 0.2


THRESHOLDS = Thresholds()


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def gate_measures(mode: str, outcomes: list[ItemOutcome]) -> dict[str, Any]:
    """The numbers the gates look at (stored with the run even when every gate passes)."""
    answers = sum(o.n_answers for o in outcomes)
    missing = sum(o.n_missing for o in outcomes)
    probes = sum(len(o.probes) for o in outcomes)
    probe_missing = sum(o.probe_missing for o in outcomes)
    sample = mode == "sample"
    return {
        "median_order_sensitivity": _median([o.order_sensitivity for o in outcomes]),
        "median_option_mass": _median([o.option_mass for o in outcomes]) if mode == "logprob" else None,
        "missing_share": (missing / answers) if sample and answers else None,  # constrained replies
        "probe_replies": probes,
        "probe_missing": probe_missing,
        "probe_missing_share": (probe_missing / probes) if sample and probes else None,
    }


def judge(
    mode: str,
    outcomes: list[ItemOutcome],
    total_valid: bool,
    thresholds: Thresholds = THRESHOLDS,
    attention: dict[str, Any] | None = None,
) -> dict[str, Any]:
    measures = {**gate_measures(mode, outcomes), **(attention or attention_measures(None, []))}
    reasons: list[dict[str, str]] = []
    sensitivity = measures["median_order_sensitivity"]
    if sensitivity is not None and sensitivity > thresholds.max_order_sensitivity:
        reasons.append(
            {
                "code": "order_sensitivity",
                "detail": f"median order sensitivity {sensitivity:.2f} > {thresholds.max_order_sensitivity}: "
                "the answers follow the options' position more than their content",
            }
        )
    mass = measures["median_option_mass"]
    if mass is not None and mass < thresholds.min_option_mass:
        reasons.append(
            {
                "code": "option_mass",
                "detail": f"median option mass {mass:.2g} < {thresholds.min_option_mass}: "
                "most of the model's reply probability is not on the option labels",
            }
        )
    honest, limit = measures["attention_p_honest"], measures["attention_threshold"]
    if honest is not None and honest < limit:
        reasons.append(
            {
                "code": "inattention",
                "detail": f"P(honest answer) on {len(measures['attention_items'])} attention items "
                f"{honest:.2f} < {limit:.3g} (chance {measures['attention_chance']:.2f}): "
                "the answers do not depend on what is asked",
            }
        )
    shares = [
        (measures["missing_share"], "constrained replies"),
        (measures["probe_missing_share"], "free (unconstrained probe) replies"),
    ]
    over = [
        f"{share:.0%} of the {what}"
        for share, what in shares
        if share is not None and share > thresholds.max_missing_share
    ]
    if over:
        reasons.append(
            {
                "code": "missing",
                "detail": " and ".join(over) + " were refusals, unparseable or hedged "
                f"(limit {thresholds.max_missing_share:.0%} of each)",
            }
        )
    if not total_valid:
        unanswered = [o.item_id for o in outcomes if o.missing]
        reasons.append(
            {
                "code": "missing",
                "detail": "too many unanswered items for the instrument's missing-data rule: "
                + ", ".join(unanswered),
            }
        )
    return {"valid": not reasons, "reasons": reasons, **measures}
