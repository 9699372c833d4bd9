"""The assessment stage's reads and look-ups that its commands need, behind plain functions (the CLI holds no
SQL): personas and checkpoints named by id or prefix, the personas of a checkpoint's specialization, and the
stored runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from jedi_academy.errors import ConfigError
from jedi_academy.results import Result
from jedi_academy.store.lookup import one_by_id_or_prefix
from jedi_academy.store.models import AssessmentRun, Checkpoint, Persona, Specialization

if TYPE_CHECKING:
    from jedi_academy.store import Database


@dataclass(frozen=True)
class RunRow(Result):
    """One stored run as ``academy assess list`` shows it (``--json``: a list of these)."""

    run: int
    instrument: str
    target: str
    checkpoint: str | None
    model: str
    persona: str | None
    mode: str
    seed: int
    valid: bool
    reasons: list[str]  # the codes of the validity gates it failed
    total: float | None  # an invalid run has no score to list
    ci_low: float | None
    ci_high: float | None
    started_at: str


def persona_id(database: Database, persona: str) -> str:
    """The full id of the persona named by id or prefix."""
    with database.session() as session:
        return one_by_id_or_prefix(session, Persona, persona, "persona", "see `academy personas list`").id


def specialization_personas(database: Database, checkpoint_id: str | None) -> list[str | None]:
    """Every persona of the checkpoint's specialization, in id order (``--all-personas``)."""
    with database.session() as session:
        found = session.get(Checkpoint, checkpoint_id) if checkpoint_id else None
        specialization = found.specialization_id if found is not None else None
        if specialization is None:
            raise ConfigError("--all-personas needs a checkpoint that belongs to a specialization")
        query = select(Persona.id).where(Persona.specialization_id == specialization).order_by(Persona.id)
        return list(session.scalars(query))


def baseline_checkpoint(database: Database, checkpoint: str | None, specialization: str) -> str | None:
    """The full id of ``checkpoint`` (when given), checked to be a patient of ``specialization``, which must
    exist: both refused before any model loads."""
    found_id = None
    with database.session() as session:
        if checkpoint is not None:
            found = one_by_id_or_prefix(
                session, Checkpoint, checkpoint, "checkpoint", "see `academy checkpoints list`"
            )
            if found.specialization_id not in (None, specialization):
                raise ConfigError(
                    f"checkpoint {found.id} is a {found.specialization_id} patient, not {specialization}",
                    f"pick one of `academy checkpoints list --specialization {specialization}`, "
                    f"or --specialization {found.specialization_id}",
                )
            found_id = found.id
        if session.get(Specialization, specialization) is None:
            raise ConfigError(
                f"unknown specialization {specialization!r} (or nothing was run for it yet)",
                "see `academy specializations list`; `academy run` or `specializations sync` adds it",
            )
    return found_id


def list_runs(
    database: Database, *, checkpoint: str | None, instrument: str | None, persona: str | None
) -> list[RunRow]:
    """Stored assessment runs, oldest first (``academy assess list``)."""
    with database.session() as session:
        query = select(AssessmentRun).order_by(AssessmentRun.id)
        if checkpoint is not None:
            found = one_by_id_or_prefix(
                session, Checkpoint, checkpoint, "checkpoint", "see `academy checkpoints list`"
            )
            query = query.where(AssessmentRun.checkpoint_id == found.id)
        if persona is not None:
            found_persona = one_by_id_or_prefix(
                session, Persona, persona, "persona", "see `academy personas list`"
            )
            query = query.where(AssessmentRun.persona_id == found_persona.id)
        if instrument is not None:
            query = query.where(AssessmentRun.instrument_id == instrument)
        return [_run_row(run) for run in session.scalars(query)]


def _run_row(run: AssessmentRun) -> RunRow:
    from jedi_academy.assessment.compare import run_validity

    validity = run_validity(run)
    valid = validity.valid
    return RunRow(
        run=run.id,
        instrument=run.instrument_id,
        target=run.result.get("target") or run.checkpoint_id or f"model {run.model}",
        checkpoint=run.checkpoint_id,
        model=run.model,
        persona=run.persona_id,
        mode=run.mode,
        seed=run.seed,
        valid=valid,
        reasons=[reason["code"] for reason in validity.reasons],
        total=run.total if valid else None,
        ci_low=run.ci_low if valid else None,
        ci_high=run.ci_high if valid else None,
        started_at=run.started_at.isoformat(),
    )
