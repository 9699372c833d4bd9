"""``academy baseline``: the base model in character against the specialization's patient checkpoint, for
every persona and instrument of the specialization, with the construct-validity verdict and an HTML report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from jedi_academy.assessment.compare import compare_runs, latest_checkpoint_id, verdict
from jedi_academy.assessment.report import comparison_section, verdict_section, write_report
from jedi_academy.assessment.runner import SampleOptions, assess, checkpoint_target, model_target
from jedi_academy.errors import AcademyError
from jedi_academy.instruments import instruments_for_specialization, load_instrument
from jedi_academy.store import Database
from jedi_academy.store.models import Persona

if TYPE_CHECKING:
    from collections.abc import Callable

    from jedi_academy.config import Settings


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
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    checkpoint_id = checkpoint or latest_checkpoint_id(database, specialization)
    llms: dict = {}
    patient = checkpoint_target(settings, database, checkpoint_id, llms)
    base = model_target(settings.model_copy(update={"backend": patient.backend}), patient.model, llms)
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
    with database.session() as session:
        persona_ids: list[str | None] = list(
            session.scalars(
                select(Persona.id).where(Persona.specialization_id == specialization).order_by(Persona.id)
            )
        )
    if max_personas is not None:
        persona_ids = persona_ids[:max_personas]
    if not persona_ids:
        echo(f"no personas for {specialization}: assessing without a persona card")
        persona_ids = [None]

    results: dict[str, Any] = {
        "specialization": specialization,
        "checkpoint": checkpoint_id,
        "instruments": {},
    }
    sections: list[tuple[str, str]] = []
    for instrument_id in usable:
        comparisons = []
        for persona_id in persona_ids:
            echo(f"{instrument_id}: persona {persona_id or '-'}: base model, then checkpoint {checkpoint_id}")
            before = assess(settings, database, base, instrument_id, persona_id=persona_id, mode=mode,
                            sample_options=sample_options)  # fmt: skip
            after = assess(settings, database, patient, instrument_id, persona_id=persona_id, mode=mode,
                           sample_options=sample_options)  # fmt: skip
            comparison = compare_runs(before, after, seed=settings.seed)
            comparison["persona"] = persona_id
            comparisons.append(comparison)
        outcome = verdict(comparisons)
        results["instruments"][instrument_id] = {"verdict": outcome, "comparisons": comparisons}
        sections.append((f"{instrument_id}: validity verdict", verdict_section(outcome)))
        sections.extend(
            (f"{instrument_id}, persona {c['persona'] or '(none)'}", comparison_section(c))
            for c in comparisons
        )
    results["skipped_instruments"] = skipped
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    report = settings.path("reports", f"baseline-{specialization}-{stamp}.html")
    write_report(report, f"Baseline: {specialization}, base model vs {checkpoint_id}", sections)
    results["report"] = str(report)
    return results
