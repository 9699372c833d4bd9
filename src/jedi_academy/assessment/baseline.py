"""``academy baseline``: the patient checkpoint in character against its controls (the base model, and a sham
checkpoint fine-tuned on non-clinical conversations), for every persona and instrument of the
specialization, with persona-level verdicts and an HTML report.

Personas whose conversations trained the checkpoint (the dataset's train split) are reported apart from
held-out ones (validation split, or not in the dataset); the headline verdict uses the held-out personas
whenever there are any."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from jedi_academy.assessment.compare import (
    Comparison,
    ControlNotRun,
    Verdict,
    compare_runs,
    latest_checkpoint_id,
    verdict,
)
from jedi_academy.assessment.report import baseline_sections, write_report
from jedi_academy.assessment.runner import SampleOptions, Target, assess, checkpoint_target, model_target
from jedi_academy.errors import AcademyError
from jedi_academy.instruments import instruments_for_specialization, load_instrument
from jedi_academy.results import plain
from jedi_academy.store import Database
from jedi_academy.store.models import Checkpoint, Conversation, DatasetMember, Persona

if TYPE_CHECKING:
    from collections.abc import Callable

    from jedi_academy.config import Settings

HELD_OUT, TRAINING = "held_out", "training"


def persona_splits(
    database: Database, checkpoint_id: str, persona_ids: list[str | None]
) -> dict[str | None, str]:
    """``training`` for personas in the checkpoint's training split, else ``held_out``."""
    with database.session() as session:
        checkpoint = session.get(Checkpoint, checkpoint_id)
        dataset_id = checkpoint.dataset_id if checkpoint else None
        trained: set[str] = set()
        if dataset_id is not None:
            trained = set(
                session.scalars(
                    select(Conversation.persona_id)
                    .join(DatasetMember, DatasetMember.conversation_id == Conversation.id)
                    .where(DatasetMember.dataset_id == dataset_id, DatasetMember.split == "train")
                )
            )
    return {persona: (TRAINING if persona in trained else HELD_OUT) for persona in persona_ids}


def _personas(database: Database, specialization: str, limit: int | None) -> list[str | None]:
    with database.session() as session:
        persona_ids: list[str | None] = list(
            session.scalars(
                select(Persona.id).where(Persona.specialization_id == specialization).order_by(Persona.id)
            )
        )
    return persona_ids[:limit] if limit is not None else persona_ids


def split_verdicts(
    comparisons: list[Comparison], overall: Verdict, *, seed: int = 0
) -> tuple[Verdict, str, dict[str, Verdict]]:
    """Verdicts for held-out and training personas apart, and the headline: the held-out verdict when both
    kinds were assessed (training personas would flatter the patient), else ``overall``."""
    by_split = {
        split: verdict(subset, seed=seed)
        for split in (HELD_OUT, TRAINING)
        if (subset := [c for c in comparisons if c.split == split])
    }
    if HELD_OUT in by_split and TRAINING in by_split:
        return by_split[HELD_OUT], "held-out personas vs the base model", by_split
    if TRAINING in by_split:
        return overall, "all personas vs the base model; every one was in the training data", by_split
    return overall, "all personas vs the base model", by_split


def run_baseline(
    settings: Settings,
    database: Database,
    specialization: str,
    *,
    checkpoint: str | None = None,
    instruments: list[str] | None = None,
    mode: str = "logprob",
    sample_options: SampleOptions = SampleOptions(),
    max_personas: int | None = None,
    sham: str | None = None,
    train_sham: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The baseline's results as plain data (``--json``; the pipeline stores them in its state file as they
    are): each instrument's block holds its verdicts' and comparisons' ``as_dict()`` forms."""
    checkpoint_id = checkpoint or latest_checkpoint_id(database, specialization)
    llms: dict = {}
    patient = checkpoint_target(settings, database, checkpoint_id, llms)
    base = model_target(settings.model_copy(update={"backend": patient.backend}), patient.model, llms)
    if train_sham and sham is None:
        from jedi_academy.assessment.sham import train_sham as train

        sham = train(settings, database, patient.checkpoint_id or checkpoint_id, echo=echo)
    sham_target = checkpoint_target(settings, database, sham, llms) if sham else None
    targets: dict[str, Target] = {"base": base, "patient": patient}
    if sham_target is not None:
        targets["sham"] = sham_target

    wanted = instruments or instruments_for_specialization(specialization)
    usable, skipped = [], {}
    for instrument_id in wanted:
        if load_instrument(instrument_id, settings.data_dir).text_available:
            usable.append(instrument_id)
        else:
            skipped[instrument_id] = "item text not shipped; import it with `academy instruments import`"
    if not usable:
        raise AcademyError(
            f"no instrument of {specialization} can be administered ({', '.join(wanted) or 'none mapped'})",
            "import the item text with `academy instruments import ID --items FILE`",
        )
    persona_ids = _personas(database, specialization, max_personas)
    if not persona_ids:
        echo(f"no personas for {specialization}: assessing without a persona card")
        persona_ids = [None]
    splits = persona_splits(database, patient.checkpoint_id or checkpoint_id, persona_ids)

    blocks: dict[str, Any] = {}
    for instrument_id in usable:
        blocks[instrument_id] = plain(
            _instrument_block(
                settings, database, instrument_id, targets, persona_ids, splits, mode, sample_options, echo
            )
        )
    primary = blocks[usable[0]]
    results: dict[str, Any] = {
        "specialization": specialization,
        "checkpoint": patient.checkpoint_id,
        "sham_checkpoint": sham_target.checkpoint_id if sham_target else None,
        "primary_instrument": usable[0],
        **_headline(primary),
        "personas": primary["personas"],
        "controls": primary["controls"],
        "instruments": blocks,
        "skipped_instruments": skipped,
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    report = settings.path("reports", f"baseline-{specialization}-{stamp}.html")
    title = f"Baseline: {specialization}, patient {patient.checkpoint_id} against its controls"
    write_report(report, title, [s for i, b in blocks.items() for s in baseline_sections(i, b)])
    results["report"] = str(report)
    return results


def _headline(block: dict[str, Any]) -> dict[str, Any]:
    chosen = block["verdict"]
    return {
        "verdict": chosen["verdict"],
        "verdict_basis": block["verdict_basis"],
        "unit": chosen["unit"],
        "n_personas": chosen["n_personas"],
        "min_reachable_p": chosen["min_reachable_p"],
        "p": chosen["p"],
        "d_z": chosen["d_z"],
        "mean_change": chosen["mean_change"],
    }


def _instrument_block(
    settings: Settings,
    database: Database,
    instrument_id: str,
    targets: dict[str, Target],
    persona_ids: list[str | None],
    splits: dict[str | None, str],
    mode: str,
    sample_options: SampleOptions,
    echo: Callable[[str], None],
) -> dict[str, Any]:
    by_control: dict[str, list[Comparison]] = {name: [] for name in targets if name != "patient"}
    rows = []
    for persona_id in persona_ids:
        runs = {}
        for name, target in targets.items():
            echo(f"{instrument_id}: persona {persona_id or '-'}: {name} ({target.label})")
            runs[name] = assess(settings, database, target, instrument_id, persona_id=persona_id, mode=mode,
                                sample_options=sample_options)  # fmt: skip
        row: dict[str, Any] = {"persona": persona_id, "split": splits[persona_id], "runs": {}}
        for name, control in by_control.items():
            comparison = replace(compare_runs(runs[name], runs["patient"]), split=splits[persona_id])
            control.append(comparison)
            row["runs"][name] = comparison.before
            row["runs"]["patient"] = comparison.after
            row[f"change_vs_{name}"] = comparison.change
            row[f"reliable_change_vs_{name}"] = comparison.reliable_change["classification"]
        row["valid"] = all(side.valid for side in row["runs"].values())
        rows.append(row)

    controls: dict[str, Verdict | ControlNotRun] = {}
    for name, comparisons in by_control.items():
        reference = "base model" if name == "base" else "sham control"
        controls[name] = verdict(comparisons, seed=settings.seed, reference=reference)
    if "sham" not in controls:
        controls["sham"] = ControlNotRun(
            "no sham checkpoint: pass --sham ID, or --train-sham to train one like the patient"
        )
    overall = controls["base"]
    assert isinstance(overall, Verdict)  # the base model always runs
    headline, basis, by_split = split_verdicts(by_control["base"], overall, seed=settings.seed)
    return {
        "verdict": headline,
        "verdict_basis": basis,
        "controls": controls,
        "by_split": by_split,
        "personas": rows,
        "comparisons": by_control,
    }
