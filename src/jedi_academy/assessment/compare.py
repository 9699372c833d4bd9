"""Comparing two assessment runs of the same instrument, and the verdict across personas.

The persona is the unit of analysis. One comparison is one persona's paired change (patient - reference); the
verdict tests those per-persona changes across personas, never the items within a persona (items of one
respondent are not independent patients)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import select

from jedi_academy.assessment import stats
from jedi_academy.assessment.summary import reported_of
from jedi_academy.errors import AcademyError
from jedi_academy.instruments import change_criterion, load_instrument, reliable_change
from jedi_academy.instruments.model import Instrument
from jedi_academy.results import Result, plain
from jedi_academy.store import Database
from jedi_academy.store.models import AssessmentRun

ALPHA = 0.05
MIN_EFFECT = 0.2  # Cohen's "small" effect: a shift too small to matter is not called a pass
NOT_CLASSIFIABLE = "not classifiable"

RULE = (
    "The persona is the unit of analysis: each persona's change is the patient's total minus the reference "
    "total. PASS needs all three: (1) a one-sided exact sign-flip test across personas gives p < {alpha} for "
    "patients scoring higher (over the non-zero changes: a change of exactly zero carries no sign); (2) at "
    "least a small effect: d_z (mean change / SD of the per-persona changes) of 0.2 or more, or every "
    "persona changing by the same positive amount, and, where the instrument publishes a population SD, a "
    "mean change of at least 0.2 of that SD; (3) a reliable change (the instrument's own criterion) in more "
    "than half of the personas whose change can be classified. UNDERPOWERED when too few valid personas with "
    "a non-zero change are left for any outcome to reach p < {alpha} (the smallest reachable p is reported), "
    "and when no persona changed at all. FAIL otherwise. Runs that fail a validity gate are excluded with "
    "their persona."
)
MISMATCH_FIELDS = ("persona_id", "mode", "instrument_version", "prompt_version")


@dataclass(frozen=True)
class RunValidity(Result):
    """A run's validity: ``valid``, the gates it failed (``reasons``: the stored ``{"code", "detail"}``
    records) and the gate measures stored with it; ``as_dict()`` is the stored form, measures flattened."""

    valid: bool
    reasons: list[dict[str, Any]]
    measures: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"valid": self.valid, "reasons": self.reasons, **self.measures}


@dataclass(frozen=True)
class RunSide(Result):
    """One run of a comparison, as a therapist reads it (an invalid run reports no band, screen or flag)."""

    run: int
    total: float | None
    standard_error: float | None
    ci: list[float | None]
    target: str | None
    mode: str
    persona: str | None
    band: str | None
    positive_screen: bool | None
    safety_flags: list[str]
    safety_flag_probabilities: dict[str, float | None]
    valid: bool
    reasons: list[dict[str, Any]]
    order_sensitivity: float | None
    option_mass: float | None
    missing_share: float | None


@dataclass(frozen=True)
class Mismatch(Result):
    """A field in which two compared runs differ (compared anyway with ``allow_mismatch``)."""

    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class ItemChange(Result):
    item: str
    scored: bool
    before: float
    after: float
    change: float


@dataclass(frozen=True)
class Comparison(Result):
    """One persona's paired change (``compare_runs``); ``as_dict()`` is ``academy compare --json``.

    ``split`` (set by ``academy baseline``: the persona's training or held-out split) and ``report`` (set by
    ``academy compare``: the HTML report it wrote) appear in the JSON only when set."""

    instrument: str
    persona: str | None
    before_run: int
    after_run: int
    before: RunSide
    after: RunSide
    valid: bool
    mismatches: list[Mismatch]
    change: float | None
    change_se: float | None
    change_sd_units: float | None
    reliable_change: dict[str, Any]  # the instrument library's classification (ChangeResult.as_dict())
    items: list[ItemChange]
    split: str | None = None
    report: str | None = None

    def as_dict(self) -> dict[str, Any]:
        optional = ("split", "report")
        return {
            f.name: plain(getattr(self, f.name))
            for f in fields(self)
            if f.name not in optional or getattr(self, f.name) is not None
        }


@dataclass(frozen=True)
class Criterion(Result):
    criterion: str
    met: bool | None  # None: not applicable (no classifiable persona)
    detail: str


@dataclass(frozen=True)
class ExcludedPersona(Result):
    """A persona left out of a verdict, with the validity gates its runs failed (each naming its run)."""

    persona: str | None
    reasons: list[dict[str, Any]]


@dataclass(frozen=True)
class ReliableShare(Result):
    classifiable: int
    reliably_higher: int
    share: float | None
    criterion: str


@dataclass(frozen=True)
class Verdict(Result):
    """Do the patients score higher than the reference (``verdict``)? ``as_dict()`` is the JSON form the
    baseline prints and the pipeline stores."""

    verdict: str  # pass, fail or underpowered
    reference: str
    unit: str
    n_personas: int
    n_excluded: int
    excluded: list[ExcludedPersona]
    test: str
    n_changed: int
    n_unchanged: int
    alpha: float
    p: float | None
    min_reachable_p: float
    mean_change: float | None
    d_z: float | None
    population_sd: float | None
    mean_change_sd_units: float | None
    reliable_change: ReliableShare
    criteria: list[Criterion]
    rule: str
    cannot_conclude: list[str]


@dataclass(frozen=True)
class ControlNotRun(Result):
    """A control the baseline could not run (no sham checkpoint), in place of its verdict."""

    reason: str
    verdict: str = "not run"

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reason": self.reason}


def load_run(database: Database, run_id: int) -> AssessmentRun:
    with database.session() as session:
        run = session.get(AssessmentRun, run_id)
        if run is None:
            raise AcademyError(f"no assessment run {run_id}", "see the ids printed by `academy assess`")
        _ = run.items  # load while the session is open
        return run


def run_validity(run: AssessmentRun) -> RunValidity:
    """The run's stored validity; runs scored before the gates existed are not valid measurements."""
    validity = run.result.get("validity")
    if validity is None:
        reason = {"code": "not_gated", "detail": f"prompt {run.prompt_version} predates the validity gates"}
        return RunValidity(False, [reason], {})
    if run.total is None and validity.get("valid"):
        return RunValidity(False, [{"code": "missing", "detail": "no valid total"}], {})
    measures = {k: v for k, v in validity.items() if k not in ("valid", "reasons")}
    return RunValidity(bool(validity["valid"]), list(validity["reasons"]), measures)


def mismatches(before: AssessmentRun, after: AssessmentRun) -> list[Mismatch]:
    return [
        Mismatch(name, getattr(before, name), getattr(after, name))
        for name in MISMATCH_FIELDS
        if getattr(before, name) != getattr(after, name)
    ]


def _side(run: AssessmentRun) -> RunSide:
    validity = run_validity(run)
    shown = reported_of({**run.result, "validity": validity.as_dict()})
    return RunSide(
        run=run.id,
        total=run.total,
        standard_error=run.result.get("standard_error"),
        ci=[run.ci_low, run.ci_high],
        target=run.result.get("target"),
        mode=run.mode,
        persona=run.persona_id,
        band=shown["band"],
        positive_screen=shown["positive_screen"],
        safety_flags=shown["safety_flags"],
        safety_flag_probabilities=shown["safety_flag_probabilities"],
        valid=validity.valid,
        reasons=validity.reasons,
        order_sensitivity=validity.measures.get("median_order_sensitivity"),
        option_mass=validity.measures.get("median_option_mass"),
        missing_share=validity.measures.get("missing_share"),
    )


def compare_runs(
    before: AssessmentRun, after: AssessmentRun, *, allow_mismatch: bool = False
) -> Comparison:
    """One paired change (after - before): per item and in total, with its standard error, the instrument's
    reliable-change classification and the change in population-SD units.

    Runs of different personas, modes, instrument versions or prompt versions are refused unless
    ``allow_mismatch``; the comparison then lists what differs."""
    if before.instrument_id != after.instrument_id:
        raise AcademyError(
            f"run {before.id} used {before.instrument_id} but run {after.id} used {after.instrument_id}"
        )
    differing = mismatches(before, after)
    if differing and not allow_mismatch:
        listed = ", ".join(f"{d.field} ({d.before} vs {d.after})" for d in differing)
        raise AcademyError(
            f"runs {before.id} and {after.id} differ in {listed}",
            "pass --allow-mismatch to compare them anyway",
        )
    instrument = load_instrument(before.instrument_id)
    scored = {item.id for item in instrument.scored_items}
    after_items = {i.item_id: i for i in after.items}
    items = []
    for item in before.items:
        other = after_items.get(item.item_id)
        if other is None or item.expected_value is None or other.expected_value is None:
            continue
        items.append(
            ItemChange(
                item=item.item_id,
                scored=item.item_id in scored,
                before=item.expected_value,
                after=other.expected_value,
                change=other.expected_value - item.expected_value,
            )
        )
    reference, patient = _side(before), _side(after)
    # an invalid run is no measurement: no change figure comes from it, whatever total it stored
    change = None
    if reference.valid and patient.valid and before.total is not None and after.total is not None:
        change = after.total - before.total
    valid = change is not None
    errors = (reference.standard_error, patient.standard_error)
    change_se = (
        math.hypot(errors[0], errors[1])
        if change is not None and errors[0] is not None and errors[1] is not None
        else None
    )
    population_sd = instrument.change.sd if instrument.change else None
    return Comparison(
        instrument=instrument.id,
        persona=after.persona_id,
        before_run=before.id,
        after_run=after.id,
        before=reference,
        after=patient,
        valid=valid,
        mismatches=differing,
        change=change,
        change_se=change_se,
        change_sd_units=change / population_sd if change is not None and population_sd else None,
        reliable_change=_reliable(instrument, before.total, after.total)
        if valid
        else {"classification": NOT_CLASSIFIABLE, "method": None, "rci": None, "reason": "a run is invalid"},
        items=items,
    )


def _reliable(instrument: Instrument, before: float | None, after: float | None) -> dict[str, Any]:
    criterion = change_criterion(instrument)
    if criterion is None:
        return {
            "classification": NOT_CLASSIFIABLE,
            "method": None,
            "rci": None,
            "reason": f"{instrument.id} publishes no reliable-change criterion (fixed threshold, or SD and "
            "reliability)",
        }
    if before is None or after is None:
        return {
            "classification": NOT_CLASSIFIABLE,
            "method": criterion,
            "rci": None,
            "reason": "no valid total",
        }
    low, high = instrument.definition.scoring.range
    return reliable_change(instrument, _clamp(before, low, high), _clamp(after, low, high)).as_dict()


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _higher_reliably(comparison: Comparison) -> bool:
    classification = comparison.reliable_change["classification"]
    return (
        classification not in (NOT_CLASSIFIABLE, "no reliable change")
        and comparison.change is not None
        and comparison.change > 0
    )


def verdict(
    comparisons: list[Comparison], *, alpha: float = ALPHA, seed: int = 0, reference: str = "base model"
) -> Verdict:
    """Do the patients score higher than the reference? ``pass``, ``fail`` or ``underpowered`` (``RULE``)."""
    if not comparisons:
        raise AcademyError("nothing to compare")
    instrument = load_instrument(comparisons[0].instrument)
    valid = [c for c in comparisons if c.valid]
    excluded = [
        ExcludedPersona(
            c.persona,
            [{**reason, "run": side.run} for side in (c.before, c.after) for reason in side.reasons],
        )
        for c in comparisons
        if not c.valid
    ]
    changes = [c.change for c in valid if c.change is not None]  # a valid comparison has a change
    n = len(changes)
    # a persona whose change is exactly zero carries no sign: flipping it changes nothing, so counting it
    # would claim a power the data do not have. The test and its smallest reachable p use the others.
    signed = [change for change in changes if abs(change) > ZERO_CHANGE]
    floor = stats.min_reachable_p(len(signed))
    p = stats.sign_flip_p(signed, alternative="greater", seed=seed) if signed else None
    mean_change = sum(changes) / n if n else None
    d_z = stats.d_z(changes)
    population_sd = instrument.change.sd if instrument.change else None
    sd_units = mean_change / population_sd if mean_change is not None and population_sd else None
    classifiable = [c for c in valid if c.reliable_change["classification"] != NOT_CLASSIFIABLE]
    reliable = sum(1 for c in classifiable if _higher_reliably(c))

    identical = n > 0 and max(changes) - min(changes) <= 1e-9 * max(1.0, abs(max(changes)))
    effect_met = n > 0 and (
        (d_z is not None and d_z >= MIN_EFFECT) or (d_z is None and identical and changes[0] > 0)
    )
    if sd_units is not None:
        effect_met = effect_met and sd_units >= MIN_EFFECT
    reliable_met = (reliable > len(classifiable) / 2) if classifiable else None
    criteria = [
        Criterion(
            f"one-sided sign-flip p < {alpha}", p is not None and p < alpha, _test_detail(p, n, len(signed))
        ),
        Criterion(
            "at least a small effect", effect_met, _effect_detail(d_z, identical, sd_units, population_sd)
        ),
        Criterion(
            "reliable change in most classifiable personas",
            reliable_met,
            (
                f"{reliable} of {len(classifiable)} classifiable persona(s) reliably higher"
                if classifiable
                else f"not classifiable: {instrument.id} publishes no reliable-change criterion"
                if change_criterion(instrument) is None
                else "no classifiable persona"
            ),
        ),
    ]
    if floor >= alpha:
        outcome = "underpowered"
    elif criteria[0].met and effect_met and reliable_met is not False:
        outcome = "pass"
    else:
        outcome = "fail"
    return Verdict(
        verdict=outcome,
        reference=reference,
        unit="persona",
        n_personas=n,
        n_excluded=len(excluded),
        excluded=excluded,
        test="one-sided exact sign-flip permutation test of the non-zero per-persona changes",
        n_changed=len(signed),
        n_unchanged=n - len(signed),
        alpha=alpha,
        p=p,
        min_reachable_p=floor,
        mean_change=mean_change,
        d_z=d_z,
        population_sd=population_sd,
        mean_change_sd_units=sd_units,
        reliable_change=ReliableShare(
            classifiable=len(classifiable),
            reliably_higher=reliable,
            share=reliable / len(classifiable) if classifiable else None,
            criterion=change_criterion(instrument) or NOT_CLASSIFIABLE,
        ),
        criteria=criteria,
        rule=RULE.format(alpha=alpha),
        cannot_conclude=_limits(outcome, n, len(signed), floor, alpha, excluded, reference),
    )


ZERO_CHANGE = 1e-9  # a change this small is no change: it carries no sign


def _test_detail(p: float | None, n: int, changed: int) -> str:
    if n == 0:
        return "no valid persona"
    if p is None:
        return f"no persona changed ({n} zero change(s)): nothing to test"
    ties = f"; {n - changed} zero change(s) carry no sign and are left out" if changed < n else ""
    return f"p = {stats_p(p)} over the {changed} non-zero change(s){ties}"


def stats_p(p: float) -> str:
    return "< 0.0001" if p < 0.0001 else f"{p:.4g}"


def _effect_detail(d_z: float | None, identical: bool, sd_units: float | None, sd: float | None) -> str:
    if d_z is not None:
        text = f"d_z {d_z:.2f}"
    elif identical:
        text = "d_z undefined: every persona changed by the same amount"
    else:
        text = "d_z undefined: fewer than two personas"
    if sd_units is not None:
        text += f"; mean change {sd_units:+.2f} population SD (SD {sd:g})"
    else:
        text += "; no published population SD"
    return text


def _limits(
    outcome: str,
    n: int,
    changed: int,
    floor: float,
    alpha: float,
    excluded: list[ExcludedPersona],
    reference: str,
) -> list[str]:
    notes = [
        f"The verdict covers the {n} valid persona(s) assessed and this comparison with the {reference}; "
        "it says nothing about other personas, instruments or models.",
        "Scores are a simulated patient's answers, not a clinical measurement of any person.",
    ]
    if outcome == "underpowered" and n > 0 and changed == 0:
        notes.append(
            f"No persona changed: all {n} valid change(s) are exactly zero, so there is no direction to test."
        )
    elif outcome == "underpowered":
        counted = f"{changed} non-zero change(s)" if changed < n else f"{n} valid persona(s)"
        notes.append(
            f"With {counted} the smallest reachable p is {stats_p(floor)} >= {alpha}: no result could pass; "
            "assess more personas."
        )
    if excluded:
        notes.append(f"{len(excluded)} persona(s) were excluded because a run failed a validity gate.")
    if outcome == "fail":
        notes.append(
            "A fail does not show the absence of an effect, only that these data do not establish one."
        )
    return notes


def latest_checkpoint_id(database: Database, specialization: str) -> str:
    from jedi_academy.store.models import Checkpoint

    with database.session() as session:
        row = session.scalars(
            select(Checkpoint)
            .where(
                Checkpoint.specialization_id == specialization,
                Checkpoint.kind != "base",
                Checkpoint.role != "control",
            )
            .order_by(Checkpoint.created_at.desc())
        ).first()
        if row is None:
            raise AcademyError(f"no checkpoint for {specialization}", "fine-tune one: `academy finetune ...`")
        return row.id
