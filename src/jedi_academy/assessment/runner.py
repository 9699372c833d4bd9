"""``academy assess``: administer one instrument to one target (checkpoint or model), in character, and store
every item with full provenance."""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jedi_academy.assessment.administer import Administration, administer_logprob, administer_sample
from jedi_academy.assessment.attention import plan_attention
from jedi_academy.assessment.prompts import PROMPT_VERSION, askable_items, require_text
from jedi_academy.assessment.summary import NO_REPORT, reported_of, summarise
from jedi_academy.assessment.validity import judge
from jedi_academy.errors import AcademyError, ConfigError
from jedi_academy.instruments import load_instrument
from jedi_academy.llm import LLM, open_llm
from jedi_academy.results import Result
from jedi_academy.store import Database
from jedi_academy.store.ledger import append_record
from jedi_academy.store.models import AssessmentRun, Checkpoint, ItemResult

if TYPE_CHECKING:
    from jedi_academy.config import Settings

MODES = ("logprob", "sample")


@dataclass(frozen=True)
class ItemShown(Result):
    """One item of a stored run, as ``academy assess --json`` shows it."""

    item: str
    expected: float | None
    distribution: dict[str, float]
    entropy_bits: float | None
    order_sensitivity: float | None
    option_mass: Any
    missing_answers: int
    probe_replies: list[Any]


@dataclass(frozen=True)
class AssessedRun(Result):
    """A stored run as ``academy assess`` shows it (``--json``). ``validity``, ``reported``, ``modal`` and
    ``attention`` are the payloads stored with the run."""

    run: int
    instrument: str
    target: str
    persona: str | None
    mode: str
    total: float | None
    standard_error: float | None
    standard_error_basis: str | None
    ci_low: float | None
    ci_high: float | None
    validity: dict[str, Any]
    p_positive_screen: float | None
    reported: dict[str, Any]
    modal: dict[str, Any]
    missing_items: list[str]
    mean_order_sensitivity: float | None
    attention: dict[str, Any] | None
    items: list[ItemShown]

    @classmethod
    def of(cls, run: AssessmentRun) -> AssessedRun:
        """Read from the stored run (its items loaded)."""
        return cls(
            run=run.id,
            instrument=run.instrument_id,
            target=run.result["target"],
            persona=run.persona_id,
            mode=run.mode,
            total=run.total,
            standard_error=run.result.get("standard_error"),
            standard_error_basis=run.result.get("standard_error_basis"),
            ci_low=run.ci_low,
            ci_high=run.ci_high,
            validity=run.result.get("validity", {"valid": False, "reasons": []}),
            p_positive_screen=run.result["p_positive_screen"],
            reported=reported_of(run.result),
            modal=run.result["modal"],
            missing_items=run.result["missing_items"],
            mean_order_sensitivity=run.result["mean_order_sensitivity"],
            attention=run.result.get("attention"),
            items=[
                ItemShown(
                    item=item.item_id,
                    expected=item.expected_value,
                    distribution=item.distribution,
                    entropy_bits=item.entropy,
                    order_sensitivity=item.order_sensitivity,
                    option_mass=item.detail.get("option_mass"),
                    missing_answers=item.n_missing,
                    probe_replies=item.detail.get("probes", []),
                )
                for item in run.items
            ],
        )


@dataclass
class Target:
    """What answers the questionnaire: a base model, or a checkpoint (base + adapter, or a remote model)."""

    label: str
    backend: str
    model: str
    adapter: str | None
    checkpoint_id: str | None
    llm: LLM


@dataclass(frozen=True)
class SampleOptions:
    samples: int = 20  # constrained replies per item per option shift
    temperature: float = 1.0
    max_missing_share: float = 0.5  # an item with more missing replies than this counts as unanswered
    probes: int = 4  # unconstrained replies per item, where refusals can show


def checkpoint_target(
    settings: Settings, database: Database, checkpoint_id: str, llms: MutableMapping[Any, Any] | None = None
) -> Target:
    from jedi_academy.llm.targets import resolve_checkpoint

    with database.session() as session:
        found = resolve_checkpoint(session, settings, checkpoint_id)
    served = settings.model_copy(update={"base_url": found.base_url})
    llm = _llm(served, found.backend, found.model, llms)
    label = f"checkpoint {found.checkpoint_id}"
    return Target(label, found.backend, found.model, found.adapter, found.checkpoint_id, llm)


def model_target(settings: Settings, model: str, llms: dict | None = None) -> Target:
    return Target(
        f"model {model}", settings.backend, model, None, None, _llm(settings, settings.backend, model, llms)
    )


def _llm(settings: Settings, backend: str, model: str, cache: MutableMapping[Any, Any] | None) -> LLM:
    """One loaded model per (backend, model); adapters are switched per request."""
    if cache is None:
        return open_llm(settings, backend=backend, model=model)
    key = (backend, model)
    if key not in cache:
        cache[key] = open_llm(settings, backend=backend, model=model)
    return cache[key]


def persona_prompt(database: Database, persona_id: str | None) -> str | None:
    from jedi_academy.personas import persona_system_prompt

    return None if persona_id is None else persona_system_prompt(database, persona_id)


def assess(
    settings: Settings,
    database: Database,
    target: Target,
    instrument_id: str,
    *,
    persona_id: str | None = None,
    mode: str = "logprob",
    seed: int | None = None,
    sample_options: SampleOptions = SampleOptions(),
) -> AssessmentRun:
    if mode not in MODES:
        raise ConfigError(f"unknown assessment mode {mode!r}", "use logprob or sample")
    instrument = load_instrument(instrument_id, settings.data_dir)
    require_text(instrument)
    seed = settings.seed if seed is None else seed
    prompt = persona_prompt(database, persona_id)
    started = time.monotonic()
    administration = administer(target.llm, instrument, prompt, mode, seed, target.adapter, sample_options)
    summary = summarise(instrument, administration.items, seed)
    summary["validity"] = judge(
        mode, administration.items, summary["total"] is not None, attention=administration.attention_measures
    )
    if not summary["validity"]["valid"]:  # an invalid run reports no band, screen or safety flag at all
        summary["reported"] = dict(NO_REPORT)
    return _store(
        database, target, instrument, persona_id, mode, seed, administration, summary, sample_options, started
    )


def administer(
    llm: LLM,
    instrument: Any,
    prompt: str | None,
    mode: str,
    seed: int,
    adapter: str | None,
    sample_options: SampleOptions = SampleOptions(),
) -> Administration:
    """One administration with its attention items (drawn and placed from ``seed``, so a rerun asks the
    same ones at the same places)."""
    plan = plan_attention(instrument, askable_items(instrument), seed)
    if mode == "logprob":
        administration = administer_logprob(llm, instrument, prompt, adapter, plan)
    else:
        administration = administer_sample(
            llm,
            instrument,
            prompt,
            samples=sample_options.samples,
            temperature=sample_options.temperature,
            seed=seed,
            adapter=adapter,
            max_missing_share=sample_options.max_missing_share,
            probes=sample_options.probes,
            plan=plan,
        )
    return administration


def _store(
    database: Database,
    target: Target,
    instrument: Any,
    persona_id: str | None,
    mode: str,
    seed: int,
    administration: Administration,
    summary: dict[str, Any],
    sample_options: SampleOptions,
    started: float,
) -> AssessmentRun:
    result = {
        **summary,
        "target": target.label,
        "adapter": target.adapter,
        "model_calls": administration.model_calls,
        "administration_seconds": administration.seconds,
        "attention": _attention_record(administration),
        "sample_options": sample_options.__dict__ if mode == "sample" else None,
    }
    with database.session() as session:
        if target.checkpoint_id is not None and session.get(Checkpoint, target.checkpoint_id) is None:
            raise AcademyError(f"checkpoint {target.checkpoint_id} vanished during the assessment")
        run = AssessmentRun(
            checkpoint_id=target.checkpoint_id,
            model=target.model,
            backend=target.backend,
            persona_id=persona_id,
            instrument_id=instrument.id,
            instrument_version=str(instrument.definition.version),
            prompt_version=PROMPT_VERSION,
            mode=mode,
            seed=seed,
            total=summary["total"],
            ci_low=summary["ci_low"],
            ci_high=summary["ci_high"],
            result=result,
            duration_s=time.monotonic() - started,
        )
        run.items = [
            ItemResult(
                item_id=o.item_id,
                position=o.position,
                distribution={str(code): p for code, p in o.distribution.items()},
                expected_value=o.expected_value,
                argmax_value=None
                if o.argmax_code is None
                else instrument.item(o.item_id).value_of(o.argmax_code),
                entropy=o.entropy_bits,
                order_sensitivity=o.order_sensitivity,
                n_missing=o.n_missing,
                detail={
                    "argmax_code": o.argmax_code,
                    "option_mass": o.option_mass,
                    "mass_by_order": o.mass_by_order,
                    "probes": o.probes,
                    "by_order": {order: {str(c): p for c, p in d.items()} for order, d in o.by_order.items()},
                    "samples": o.samples,
                    "n_answers": o.n_answers,
                },
            )
            for o in administration.items
        ]
        session.add(run)
        append_record(session, run)
        return run


def _attention_record(administration: Administration) -> dict[str, Any] | None:
    """What the attention items were, where they stood and how they were answered: kept with the run (not as
    item results: they are no questionnaire items) so that the gate can be checked and the run repeated."""
    if administration.plan is None:
        return None
    answers = {o.item_id: o for o in administration.attention}
    record = administration.plan.as_dict()
    for row in record["items"]:
        outcome = answers.get(row["id"])
        row["distribution"] = {} if outcome is None else {str(c): p for c, p in outcome.distribution.items()}
        row["order_sensitivity"] = None if outcome is None else outcome.order_sensitivity
        row["n_missing"] = 0 if outcome is None else outcome.n_missing
    record["model_calls"] = administration.attention_calls
    return record
