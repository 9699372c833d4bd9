"""Change between two administrations: Jacobson-Truax Reliable Change Index, fixed service thresholds and
clinically significant change.

RCI (Jacobson & Truax 1991; S_diff after Christensen & Mendoza 1986):
    SE_measurement = SD * sqrt(1 - r);  S_diff = sqrt(2) * SE_measurement;  RC = (after - before) / S_diff
and |RC| > 1.96 is a reliable change (p < .05). Services such as NHS Talking Therapies use fixed thresholds
instead (PHQ-9: a change of 6 or more; GAD-7: 4 or more). Clinically significant change here is a reliable
change that also crosses the instrument's caseness cut-off in the same direction.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from jedi_academy.errors import AcademyError
from jedi_academy.instruments.model import Instrument

Classification = Literal["reliable improvement", "no reliable change", "reliable deterioration"]
Method = Literal["auto", "rci", "fixed_threshold"]
Z_95 = 1.96


@dataclass(frozen=True)
class ChangeResult:
    instrument: str
    before: float
    after: float
    change: float  # after - before
    method: Literal["rci", "fixed_threshold"]  # which criterion gave ``classification``
    classification: Classification
    rci: float | None
    se_diff: float | None
    min_reliable_change: float | None  # 1.96 * S_diff: the smallest change the RCI calls reliable
    rci_classification: Classification | None
    fixed_threshold: float | None
    threshold_classification: Classification | None
    caseness_cutoff: float | None
    case_before: bool | None
    case_after: bool | None
    clinically_significant: bool | None  # None when the instrument has no caseness cut-off

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def change_criterion(instrument: Instrument) -> Literal["rci", "fixed_threshold"] | None:
    """The criterion ``reliable_change(..., method="auto")`` would use, or None when the instrument publishes
    neither a fixed threshold nor an SD and reliability (its change cannot be classified)."""
    spec = instrument.change
    if spec is None:
        return None
    if spec.fixed_threshold is not None:
        return "fixed_threshold"
    if spec.sd is not None and spec.reliability is not None:
        return "rci"
    return None


def se_difference(sd: float, reliability: float) -> float:
    """Standard error of the difference between two scores: SD * sqrt(2) * sqrt(1 - r)."""
    if sd <= 0:
        raise AcademyError(f"SD must be positive, got {sd}")
    if not 0 < reliability < 1:
        raise AcademyError(f"reliability must lie between 0 and 1, got {reliability}")
    return sd * math.sqrt(2) * math.sqrt(1 - reliability)


def reliable_change_index(before: float, after: float, sd: float, reliability: float) -> float:
    """Jacobson-Truax RC = (after - before) / S_diff."""
    return (after - before) / se_difference(sd, reliability)


def _classify(change: float, reliable: bool, higher_is_worse: bool) -> Classification:
    if not reliable or change == 0:
        return "no reliable change"
    improved = change < 0 if higher_is_worse else change > 0
    return "reliable improvement" if improved else "reliable deterioration"


def reliable_change(
    instrument: Instrument | str,
    before: float,
    after: float,
    *,
    sd: float | None = None,
    reliability: float | None = None,
    method: Method = "auto",
) -> ChangeResult:
    """Classify the change from ``before`` to ``after`` (two totals on ``instrument``).

    ``sd`` and ``reliability`` override the instrument's published values (use the SD of your own reference
    sample where you have one). ``method="auto"`` uses the instrument's fixed service threshold when it
    declares one, else the RCI; both are reported whenever their inputs exist.
    """
    if isinstance(instrument, str):
        from jedi_academy.instruments.api import load_instrument

        instrument = load_instrument(instrument)
    if method not in ("auto", "rci", "fixed_threshold"):
        raise AcademyError(f"unknown change method {method!r}", "use auto, rci or fixed_threshold")
    spec = instrument.change
    low, high = instrument.definition.scoring.range
    for name, value in (("before", before), ("after", after)):
        if not low <= value <= high:
            raise AcademyError(f"{instrument.id}: {name} score {value} lies outside {low:g}-{high:g}")
    sd = sd if sd is not None else (spec.sd if spec else None)
    reliability = reliability if reliability is not None else (spec.reliability if spec else None)
    threshold = spec.fixed_threshold if spec else None
    higher_is_worse = spec.higher_is_worse if spec else True
    change = after - before

    rci = se_diff = min_change = None
    rci_class: Classification | None = None
    if sd is not None and reliability is not None:
        se_diff = se_difference(sd, reliability)
        rci = change / se_diff
        min_change = Z_95 * se_diff
        rci_class = _classify(change, abs(rci) > Z_95, higher_is_worse)
    threshold_class = (
        None if threshold is None else _classify(change, abs(change) >= threshold, higher_is_worse)
    )

    chosen = ("fixed_threshold" if threshold is not None else "rci") if method == "auto" else method
    classification = threshold_class if chosen == "fixed_threshold" else rci_class
    if classification is None:
        missing = "a fixed threshold" if chosen == "fixed_threshold" else "a published SD and reliability"
        raise AcademyError(
            f"{instrument.id} declares no {missing}, so change cannot be classified by {chosen}",
            "pass sd= and reliability= from a reference sample" if chosen == "rci" else "use method='rci'",
        )

    cutoff = spec.caseness_cutoff if spec else None
    case_before = case_after = significant = None
    if cutoff is not None:
        case_before, case_after = before >= cutoff, after >= cutoff
        if higher_is_worse:
            significant = (classification == "reliable improvement" and case_before and not case_after) or (
                classification == "reliable deterioration" and not case_before and case_after
            )
        else:
            significant = (classification == "reliable improvement" and not case_before and case_after) or (
                classification == "reliable deterioration" and case_before and not case_after
            )
    return ChangeResult(
        instrument=instrument.id,
        before=before,
        after=after,
        change=change,
        method=chosen,
        classification=classification,
        rci=rci,
        se_diff=se_diff,
        min_reliable_change=min_change,
        rci_classification=rci_class,
        fixed_threshold=threshold,
        threshold_classification=threshold_class,
        caseness_cutoff=cutoff,
        case_before=case_before,
        case_after=case_after,
        clinically_significant=significant,
    )
