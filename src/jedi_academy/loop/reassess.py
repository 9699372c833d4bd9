"""Loop step 4, re-assess: the case's instruments on the child checkpoint for the case's persona, each
measurement validity-gated, with the change against the previous checkpoint and against the case's baseline
(its first checkpoint) classified by the instrument's reliable-change rule.

Runs are looked up before they are made (same checkpoint, persona, instrument, mode, seed, samples, prompt and
attention versions: ``assessment.protocol``), so a resumed loop reuses what a killed one stored and the
baseline is measured once per case.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jedi_academy.assessment.protocol import Protocol, make_protocol, protocol_run
from jedi_academy.assessment.runner import assess, checkpoint_target
from jedi_academy.assessment.summary import reported_of
from jedi_academy.instruments import load_instrument, reliable_change
from jedi_academy.results import Result
from jedi_academy.store.models import AssessmentRun

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.store import Database


def find_run(database: Database, protocol: Protocol, checkpoint_id: str, instrument: str) -> int | None:
    """The stored run of ``instrument`` on the checkpoint under ``protocol`` (persona, mode, seed, samples,
    prompt and attention versions), or None."""
    with database.session() as session:
        run = protocol_run(session, protocol, checkpoint_id, instrument)
        return None if run is None else run.id


def measure_run(
    settings: Settings,
    database: Database,
    protocol: Protocol,
    checkpoint_id: str,
    instrument: str,
    *,
    llms: MutableMapping[Any, Any],
) -> dict[str, Any]:
    """The checkpoint's measurement on ``instrument`` under ``protocol`` (stored, or administered now)."""
    run_id = find_run(database, protocol, checkpoint_id, instrument)
    if run_id is None:
        target = checkpoint_target(settings, database, checkpoint_id, llms)
        run_id = assess(
            settings, database, target, instrument, persona_id=protocol.persona_id, mode=protocol.mode,
            seed=protocol.seed, sample_options=protocol.sample_options(),
        ).id  # fmt: skip
    with database.session() as session:
        run = session.get(AssessmentRun, run_id)
        assert run is not None
        return measurement_json(run)


def measure(
    settings: Settings,
    database: Database,
    checkpoint_id: str,
    persona_id: str,
    instrument: str,
    *,
    mode: str,
    seed: int,
    llms: dict[Any, Any],
    samples: int | None = None,
) -> dict[str, Any]:
    """The checkpoint's measurement on ``instrument`` for the persona (stored, or administered now)."""
    protocol = make_protocol(persona_id, [instrument], mode=mode, seed=seed, samples=samples)
    return measure_run(settings, database, protocol, checkpoint_id, instrument, llms=llms)


def measurement_json(run: AssessmentRun) -> dict[str, Any]:
    """Scores with their uncertainty, or the reasons the measurement is invalid (then no score is shown)."""
    problems = []
    validity = run.result.get("validity")
    if isinstance(validity, dict) and validity.get("valid") is False:
        reasons = [str(r.get("detail") or r.get("code")) for r in validity.get("reasons") or []]
        problems.extend(reasons or ["failed the assessment's validity gates"])
    if run.total is None:
        problems.append("no valid total (too many missing answers)")
    valid = not problems
    return {
        "run_id": run.id,
        "checkpoint_id": run.checkpoint_id,
        "instrument": run.instrument_id,
        "valid": valid,
        "problems": problems,
        "total": run.total if valid else None,
        "ci95": [run.ci_low, run.ci_high] if valid else None,
        "standard_error": run.result.get("standard_error") if valid else None,
        "sd": run.result.get("total_sd") if valid else None,
        "band": reported_of(run.result)["band"] if valid else None,
        "missing_items": run.result.get("missing_items", []),
        "validity": validity,
    }


def change_json(instrument_id: str, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """After minus before, classified; an invalid side makes the change unclassifiable, never a number."""
    if not (before["valid"] and after["valid"]):
        return {
            "before": before["total"],
            "after": after["total"],
            "change": None,
            "classification": None,
            "note": "not classifiable: one of the measurements is invalid",
        }
    instrument = load_instrument(instrument_id)
    low, high = instrument.definition.scoring.range
    b, a = min(max(before["total"], low), high), min(max(after["total"], low), high)
    result = reliable_change(instrument, b, a)
    return {
        "before": before["total"],
        "after": after["total"],
        "change": after["total"] - before["total"],
        "classification": result.classification,
        "method": result.method,
        "rci": result.rci,
        "min_reliable_change": result.min_reliable_change,
        "clinically_significant": result.clinically_significant,
        "caseness_cutoff": result.caseness_cutoff,
    }


CANNOT_CONCLUDE = (
    "one simulated patient measured on one checkpoint: a change says how this model's answers moved, "
    "not that a real client would improve, nor by itself that the therapist caused it (the therapist "
    "effect sets it against the loop's no-therapist control child)"
)


@dataclass(frozen=True)
class Reassessment(Result):
    """A child checkpoint measured against its previous checkpoint and the case's baseline (its ``as_dict()``
    is stored as a loop's ``assessment``). Per instrument: the measurements (:func:`measurement_json`) and
    the changes (:func:`change_json`), stored JSON shapes that the trajectory and the effect read."""

    persona_id: str
    checkpoint_id: str
    previous_checkpoint_id: str
    baseline_checkpoint_id: str
    mode: str
    seed: int
    scores: dict[str, dict[str, Any]]
    valid: bool  # every measurement of the child is valid
    previous_scores: dict[str, dict[str, Any]]
    baseline_scores: dict[str, dict[str, Any]]
    change_vs_previous: dict[str, dict[str, Any]]
    change_vs_baseline: dict[str, dict[str, Any]]
    cannot_conclude: str = CANNOT_CONCLUDE


def reassess(
    settings: Settings,
    database: Database,
    *,
    child: str,
    previous: str,
    baseline: str,
    persona_id: str,
    instruments: list[str],
    mode: str,
    seed: int,
    llms: dict[Any, Any],
    progress: Any = None,
    samples: int | None = None,
) -> Reassessment:
    scores, previous_scores, baseline_scores = {}, {}, {}
    change_previous, change_baseline = {}, {}
    for instrument in instruments:
        if progress is not None:
            progress(f"assessing {instrument} on {child}")
        measured = {
            ck: measure(
                settings, database, ck, persona_id, instrument,
                mode=mode, seed=seed, llms=llms, samples=samples,
            )
            for ck in dict.fromkeys([child, previous, baseline])
        }
        scores[instrument] = measured[child]
        previous_scores[instrument] = measured[previous]
        baseline_scores[instrument] = measured[baseline]
        change_previous[instrument] = change_json(instrument, measured[previous], measured[child])
        change_baseline[instrument] = change_json(instrument, measured[baseline], measured[child])
    return Reassessment(
        persona_id=persona_id,
        checkpoint_id=child,
        previous_checkpoint_id=previous,
        baseline_checkpoint_id=baseline,
        mode=mode,
        seed=seed,
        scores=scores,
        valid=all(s["valid"] for s in scores.values()),
        previous_scores=previous_scores,
        baseline_scores=baseline_scores,
        change_vs_previous=change_previous,
        change_vs_baseline=change_baseline,
    )
