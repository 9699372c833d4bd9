"""Comparing two assessment runs of the same instrument, and the baseline check (patient vs base model)."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select

from jedi_academy.assessment import stats
from jedi_academy.errors import AcademyError
from jedi_academy.instruments import load_instrument, reliable_change
from jedi_academy.store import Database
from jedi_academy.store.models import AssessmentRun


def load_run(database: Database, run_id: int) -> AssessmentRun:
    with database.session() as session:
        run = session.get(AssessmentRun, run_id)
        if run is None:
            raise AcademyError(f"no assessment run {run_id}", "see the ids printed by `academy assess`")
        _ = run.items  # load while the session is open
        return run


def compare_runs(before: AssessmentRun, after: AssessmentRun, *, seed: int = 0) -> dict[str, Any]:
    """Per-item and total change, Reliable Change Index, Cohen's d, paired permutation test over items."""
    if before.instrument_id != after.instrument_id:
        raise AcademyError(
            f"run {before.id} used {before.instrument_id} but run {after.id} used {after.instrument_id}"
        )
    if before.total is None or after.total is None:
        raise AcademyError("one of the runs has no valid total (too many missing answers)")
    instrument = load_instrument(before.instrument_id)
    scored = {item.id for item in instrument.scored_items}
    after_items = {i.item_id: i for i in after.items}
    items, differences = [], []
    for item in before.items:
        other = after_items.get(item.item_id)
        if other is None or item.expected_value is None or other.expected_value is None:
            continue
        change = other.expected_value - item.expected_value
        items.append(
            {
                "item": item.item_id,
                "scored": item.item_id in scored,
                "before": item.expected_value,
                "after": other.expected_value,
                "change": change,
            }
        )
        if item.item_id in scored:
            differences.append(change)
    low, high = instrument.definition.scoring.range
    change_result = reliable_change(
        instrument, _clamp(before.total, low, high), _clamp(after.total, low, high)
    )
    sd_before, sd_after = before.result.get("total_sd"), after.result.get("total_sd")
    pooled = math.sqrt(((sd_before or 0) ** 2 + (sd_after or 0) ** 2) / 2)
    return {
        "instrument": instrument.id,
        "before_run": before.id,
        "after_run": after.id,
        "before": {
            "total": before.total,
            "ci": [before.ci_low, before.ci_high],
            "target": before.result.get("target"),
        },
        "after": {
            "total": after.total,
            "ci": [after.ci_low, after.ci_high],
            "target": after.result.get("target"),
        },
        "change": after.total - before.total,
        "reliable_change": change_result.as_dict(),
        "cohens_d": (after.total - before.total) / pooled if pooled > 0 else None,
        "permutation_p": stats.paired_permutation_p(differences, seed=seed),
        "items": items,
    }


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


MIN_EFFECT = 0.2  # Cohen's "small" effect: a shift too small to matter is not called a pass


def verdict(comparisons: list[dict[str, Any]], alpha: float = 0.05) -> dict[str, Any]:
    """The construct-validity check: do the fine-tuned patients score higher than the base model?

    Passes when the mean change across personas is positive, the pooled item-level permutation test (or, with
    five or more personas, the persona-level one) finds it unlikely under no difference, and the mean effect
    size is at least small (d >= 0.2)."""
    if not comparisons:
        raise AcademyError("nothing to compare")
    changes = [c["change"] for c in comparisons]
    mean_change = sum(changes) / len(changes)
    item_diffs = [i["change"] for c in comparisons for i in c["items"] if i["scored"]]
    p_items = stats.paired_permutation_p(item_diffs)
    p_personas = stats.paired_permutation_p(changes) if len(changes) >= 5 else None
    p_value = p_personas if p_personas is not None else p_items
    effect = stats.cohens_d(
        [c["before"]["total"] for c in comparisons], [c["after"]["total"] for c in comparisons]
    )
    reliable = sum(
        1 for c in comparisons if c["reliable_change"]["classification"] == "reliable deterioration"
    )
    mean_d = _mean([c["cohens_d"] for c in comparisons])
    return {
        "personas": len(comparisons),
        "mean_change": mean_change,
        "p_value": p_value,
        "p_value_basis": "personas" if p_personas is not None else "items",
        "cohens_d_across_personas": effect,
        "mean_cohens_d": mean_d,
        "reliably_more_symptomatic": reliable,
        "patients_score_higher": mean_change > 0 and p_value < alpha and (mean_d or 0.0) >= MIN_EFFECT,
    }


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def latest_checkpoint_id(database: Database, specialization: str) -> str:
    from jedi_academy.store.models import Checkpoint

    with database.session() as session:
        row = session.scalars(
            select(Checkpoint)
            .where(Checkpoint.specialization_id == specialization, Checkpoint.kind != "base")
            .order_by(Checkpoint.created_at.desc())
        ).first()
        if row is None:
            raise AcademyError(f"no checkpoint for {specialization}", "fine-tune one: `academy finetune ...`")
        return row.id
