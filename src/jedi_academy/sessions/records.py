"""Therapists, cases and sessions in the store, and their views (``sessions.views``): what every command and
the web app print.

Each write is its own short transaction, so that whatever was said before a crash is on disk.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from jedi_academy.errors import AcademyError
from jedi_academy.sessions.preference import INVALID_PREFERENCE, decision_of
from jedi_academy.sessions.views import (
    CaseDetail,
    CaseRow,
    CaseView,
    RecommendationView,
    Sessions,
    SessionSummary,
    SessionView,
    TherapistView,
    TurnView,
)
from jedi_academy.store.lookup import one_by_id_or_prefix
from jedi_academy.store.models import (
    Case,
    Checkpoint,
    Persona,
    Recommendation,
    SessionTurn,
    Specialization,
    Therapist,
    TherapySession,
)
from jedi_academy.store.retirement import refuse_retired

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.orm import Session

    from jedi_academy.store import Database

MAIN_BRANCH = "main"


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(5)}"


# ---------------------------------------------------------------- therapists


def add_therapist(database: Database, name: str) -> TherapistView:
    name = " ".join(name.split())
    if not name:
        raise AcademyError("a therapist needs a name")
    with database.session() as session:
        if session.scalars(select(Therapist).where(Therapist.name == name)).first() is not None:
            raise AcademyError(f"therapist {name!r} already exists", "see `academy therapist list`")
        row = Therapist(id=new_id("t"), name=name)
        session.add(row)
        session.flush()
        return therapist_json(row)


def get_therapist(session: Session, wanted: str) -> Therapist:
    """By exact name, id, or unique id prefix."""
    by_name = session.scalars(select(Therapist).where(Therapist.name == wanted)).first()
    if by_name is not None:
        return by_name
    return one_by_id_or_prefix(session, Therapist, wanted, "therapist", "see `academy therapist list`")


def active_therapist(session: Session, wanted: str) -> Therapist:
    """:func:`get_therapist`, refusing a disabled one (no new case, no session)."""
    row = get_therapist(session, wanted)
    refuse_disabled(row)
    return row


def refuse_disabled(row: Therapist) -> None:
    if row.disabled_at is not None:
        raise AcademyError(
            f"therapist {row.name} is disabled",
            f"enable them with `academy therapist disable {row.id} --undo`",
        )


def list_therapists(database: Database) -> list[TherapistView]:
    with database.session() as session:
        return [therapist_json(t) for t in session.scalars(select(Therapist).order_by(Therapist.created_at))]


def therapist_json(row: Therapist) -> TherapistView:
    return TherapistView(
        id=row.id, name=row.name, created_at=row.created_at.isoformat(), disabled=row.disabled_at is not None
    )


# ---------------------------------------------------------------- cases


def get_case(session: Session, wanted: str) -> Case:
    return one_by_id_or_prefix(session, Case, wanted, "case", "see `academy case list`")


def get_checkpoint_row(session: Session, wanted: str) -> Checkpoint:
    return one_by_id_or_prefix(session, Checkpoint, wanted, "checkpoint", "see `academy checkpoints list`")


def patient_checkpoint_row(session: Session, wanted: str) -> Checkpoint:
    """A checkpoint a case may run on: any but a loop's no-therapist control (loop/control.py)."""
    model = get_checkpoint_row(session, wanted)
    if model.role == "control":
        raise AcademyError(
            f"checkpoint {model.id} is a loop's no-therapist control, not a patient model",
            "pick a patient checkpoint: see `academy case tree` or `academy checkpoints list`",
        )
    return model


def current_patient_checkpoint(session: Session, specialization: str) -> Checkpoint:
    """The specialization's newest fine-tuned checkpoint: its current patient model."""
    row = session.scalars(
        select(Checkpoint)
        .where(
            Checkpoint.specialization_id == specialization,
            Checkpoint.kind != "base",
            Checkpoint.retired_at.is_(None),  # retired: trained on erased data
            Checkpoint.role != "control",
        )
        .order_by(Checkpoint.created_at.desc(), Checkpoint.id)
    ).first()
    if row is None:
        raise AcademyError(
            f"no patient checkpoint for specialization '{specialization}'",
            f"fine-tune one (`academy finetune --specialization {specialization} ...`) or pass --checkpoint",
        )
    return row


def _no_personas_yet(specialization: str) -> AcademyError:
    return AcademyError(
        f"no personas for {specialization} yet",
        f"make them with `academy personas generate --specialization {specialization}` (from comments "
        "ingested with `academy ingest`), or run the whole pipeline with "
        f"`academy run --specializations {specialization}`",
    )


def _is_defined_specialization(specialization: str) -> bool:
    """A specialization with a definition (shipped or a user file) that the database has not seen yet."""
    from jedi_academy.specializations import SpecializationError, get_specialization

    try:
        get_specialization(specialization)
    except SpecializationError:
        return False
    return True


def _pick_persona(session: Session, therapist: Therapist, specialization: str) -> Persona:
    """The persona this therapist has worked least often (oldest first among equals)."""
    personas = list(
        session.scalars(
            select(Persona)
            .where(Persona.specialization_id == specialization, Persona.erased_at.is_(None))
            .order_by(Persona.created_at, Persona.id)
        )
    )
    if not personas:
        raise _no_personas_yet(specialization)
    counts = dict(
        session.execute(
            select(Case.persona_id, func.count())
            .where(Case.therapist_id == therapist.id, Case.specialization_id == specialization)
            .group_by(Case.persona_id)
        ).all()
    )
    return min(personas, key=lambda p: counts.get(p.id, 0))


@dataclass(frozen=True)
class CasePlan:
    """What a case about to be opened will be: read, nothing written (the baseline is measured between the
    plan and the row, so that no case exists without one)."""

    therapist_id: str
    specialization: str
    persona_id: str
    checkpoint_id: str
    intake: dict[str, Any]


def plan_case(
    database: Database,
    therapist: str,
    specialization: str,
    *,
    persona: str | None = None,
    checkpoint: str | None = None,
) -> CasePlan:
    """The therapist, persona (``persona``, else the one this therapist worked least), checkpoint
    (``checkpoint``, else the specialization's current patient) and intake sheet of a new case."""
    from jedi_academy.personas.intake import intake_sheet

    with database.session() as session:
        worker = active_therapist(session, therapist)
        field = session.get(Specialization, specialization)
        if field is None and _is_defined_specialization(specialization):
            raise _no_personas_yet(specialization)  # defined, but nothing was ingested or generated for it
        if field is None:
            raise AcademyError(
                f"unknown specialization {specialization!r}", "see `academy specializations list`"
            )
        if persona is not None:
            chosen = one_by_id_or_prefix(session, Persona, persona, "persona", "see `academy personas list`")
            if chosen.erased_at is not None:
                raise AcademyError(
                    f"persona {chosen.id} was erased (its source was removed)", "choose another persona"
                )
            if chosen.specialization_id != specialization:
                raise AcademyError(
                    f"persona {chosen.id} belongs to '{chosen.specialization_id}', not '{specialization}'"
                )
        else:
            chosen = _pick_persona(session, worker, specialization)
        if checkpoint is not None:
            model = patient_checkpoint_row(session, checkpoint)
            refuse_retired(model)
            if model.specialization_id not in (None, specialization):
                raise AcademyError(
                    f"checkpoint {model.id} is a '{model.specialization_id}' patient, not '{specialization}'"
                )
        else:
            model = current_patient_checkpoint(session, specialization)
        sheet = {"specialization": field.display_name, **intake_sheet(chosen.card)}
        return CasePlan(worker.id, specialization, chosen.id, model.id, sheet)


def create_case(
    database: Database,
    plan: CasePlan,
    *,
    protocol: dict[str, Any] | None = None,
    baseline_runs: dict[str, int] | None = None,
) -> CaseRow:
    """Write the planned case (with its measurement protocol and baseline runs, when given) in one
    transaction."""
    with database.session() as session:
        row = Case(
            id=new_id("case"),  # "case-": conversation ids have "c-"
            therapist_id=plan.therapist_id,
            specialization_id=plan.specialization,
            persona_id=plan.persona_id,
            start_checkpoint_id=plan.checkpoint_id,
            current_checkpoint_id=plan.checkpoint_id,
            current_branch=MAIN_BRANCH,
            intake=plan.intake,
            protocol=protocol,
            baseline_runs=baseline_runs,
        )
        session.add(row)
        session.flush()
        return case_json(session, row)


def open_case(
    database: Database,
    therapist: str,
    specialization: str,
    *,
    persona: str | None = None,
    checkpoint: str | None = None,
) -> CaseRow:
    """A new case without a measurement protocol: one persona of ``specialization`` on its current patient
    checkpoint (or ``checkpoint``). ``academy case open`` and the web app go through the loop's
    ``open_case_with_baseline``, which fixes the protocol and measures the baseline first."""
    return create_case(
        database, plan_case(database, therapist, specialization, persona=persona, checkpoint=checkpoint)
    )


def set_case_checkpoint(
    database: Database, case_id: str, checkpoint_id: str, *, branch: str | None = None
) -> CaseRow:
    """Later sessions of the case run on ``checkpoint_id`` (the loop's child checkpoint, or an earlier one to
    branch from); ``branch`` names the line of sessions they grow."""
    with database.session() as session:
        case = get_case(session, case_id)
        model = patient_checkpoint_row(session, checkpoint_id)
        case.current_checkpoint_id = model.id
        if branch is not None:
            case.current_branch = branch
        session.flush()
        return case_json(session, case)


def list_cases(
    database: Database, therapist: str | None = None, *, archived: bool = False
) -> list[CaseRow]:
    """The cases (of a therapist), oldest first; archived ones only with ``archived``."""
    with database.session() as session:
        query = select(Case).order_by(Case.created_at, Case.id)
        if not archived:
            query = query.where(Case.archived_at.is_(None))
        if therapist is not None:
            query = query.where(Case.therapist_id == get_therapist(session, therapist).id)
        return [case_json(session, c) for c in session.scalars(query)]


def show_case(database: Database, case_id: str) -> CaseDetail:
    """A case with its sessions (archived ones left out): ``case show``'s own part."""
    with database.session() as session:
        case = get_case(session, case_id)
        summaries = [
            session_summary(session, s)
            for s in session.scalars(
                select(TherapySession)
                .where(TherapySession.case_id == case.id, TherapySession.archived_at.is_(None))
                .order_by(TherapySession.number)
            )
        ]
        return _case_view(session, case, summaries)


def case_json(session: Session, case: Case) -> CaseRow:
    """A case as the lists show it: its sessions counted (archived ones too)."""
    sessions = session.scalar(
        select(func.count()).select_from(TherapySession).where(TherapySession.case_id == case.id)
    )
    return _case_view(session, case, sessions or 0)


def _case_view(session: Session, case: Case, sessions: Sessions) -> CaseView[Sessions]:
    therapist = session.get(Therapist, case.therapist_id)
    return CaseView(
        id=case.id,
        therapist=therapist.name if therapist else None,
        therapist_id=case.therapist_id,
        specialization=case.specialization_id,
        persona_id=case.persona_id,
        checkpoint_id=case.current_checkpoint_id,
        start_checkpoint_id=case.start_checkpoint_id,
        branch=case.current_branch,
        status=case.status,
        closed_at=case.closed_at.isoformat() if case.closed_at else None,
        closure=case.closure,
        archived=case.archived_at is not None,
        protocol=case.protocol,
        baseline_runs=case.baseline_runs,
        sessions=sessions,
        intake=case.intake,
        created_at=case.created_at.isoformat(),
    )


# ---------------------------------------------------------------- sessions


def get_session(session: Session, wanted: str) -> TherapySession:
    return one_by_id_or_prefix(
        session, TherapySession, wanted, "session", "see `academy session list --case CASE`"
    )


def create_session(
    database: Database,
    case_id: str,
    *,
    seed: int,
    mode: str,
    params: dict[str, Any],
    patient: dict[str, Any],
    teacher: dict[str, Any],
    data_dir: Path | None = None,
) -> str:
    """The next session of the case (refused while a session of it is unfinished, or while the loop after
    its previous session has not finished: ``loop_gate``; ``data_dir`` tells a running loop from an
    interrupted one)."""
    from jedi_academy.sessions.loop_gate import refuse_if_loop_unfinished

    with database.session() as session:
        case = get_case(session, case_id)
        if case.status != "open":
            raise AcademyError(f"case {case.id} is {case.status}")
        if case.archived_at is not None:
            hint = f"`academy case archive {case.id} --undo` first"
            raise AcademyError(f"case {case.id} is archived", hint)
        therapist = session.get(Therapist, case.therapist_id)
        if therapist is not None:
            refuse_disabled(therapist)
        active = session.scalars(
            select(TherapySession).where(TherapySession.case_id == case.id, TherapySession.status != "ended")
        ).first()
        if active is not None:
            raise AcademyError(
                f"case {case.id} has an unfinished session {active.id}",
                f"continue it with `academy session resume {active.id}` or close it with "
                f"`academy session end {active.id}`",
            )
        refuse_if_loop_unfinished(session, case, data_dir)
        number = (
            session.scalar(select(func.max(TherapySession.number)).where(TherapySession.case_id == case.id))
            or 0
        ) + 1
        row = TherapySession(
            id=new_id("s"),
            case_id=case.id,
            number=number,
            branch=case.current_branch,
            checkpoint_id=case.current_checkpoint_id,
            seed=seed,
            mode=mode,
            status="active",
            params=params,
            patient=patient,
            teacher=teacher,
            flags=[],
        )
        session.add(row)
        return row.id


def session_turns(session: Session, session_id: str) -> list[SessionTurn]:
    return list(
        session.scalars(
            select(SessionTurn).where(SessionTurn.session_id == session_id).order_by(SessionTurn.index)
        )
    )


def session_recommendations(session: Session, session_id: str) -> list[Recommendation]:
    return list(
        session.scalars(
            select(Recommendation)
            .where(Recommendation.session_id == session_id)
            .order_by(Recommendation.index)
        )
    )


def recommendation_json(row: Recommendation) -> RecommendationView:
    return RecommendationView(
        id=row.id,
        index=row.index,
        text=row.text,
        turn=row.turn,
        kind=row.kind,
        source=row.source,
        mode=row.mode,
        p_accept=row.p_accept,
        u=row.u,
        accepted=row.accepted,
        # accepted|ignored|invalid_preference|undecided; older records have no stored decision
        decision=decision_of({"decision": row.decision, "accepted": row.accepted}),
        preference_mass=row.preference_mass,
        phrasings=row.phrasings,
        advice=row.advice,
    )


def session_json(database: Database, session_id: str) -> SessionView:
    """The full record of a session: the shape of ``session show --json`` and ``session replay --json``."""
    with database.session() as session:
        row = get_session(session, session_id)
        case = session.get(Case, row.case_id)
        assert case is not None  # foreign key
        therapist = session.get(Therapist, case.therapist_id)
        return SessionView(
            session_id=row.id,
            case_id=row.case_id,
            therapist=therapist.name if therapist else None,
            therapist_id=case.therapist_id,
            checkpoint_id=row.checkpoint_id,
            persona_id=case.persona_id,
            specialization=case.specialization_id,
            number=row.number,
            branch=row.branch,
            seed=row.seed,
            mode=row.mode,
            status=row.status,
            params=row.params,
            patient_model=row.patient,
            teacher_model=row.teacher,
            flags=row.flags,
            extraction=row.extraction,
            turns=[
                TurnView(
                    index=t.index,
                    therapist=t.therapist,
                    patient=t.patient,
                    seed=t.seed,
                    risk=t.risk,
                    context_dropped=t.context_dropped,
                )
                for t in session_turns(session, row.id)
            ],
            recommendations=[recommendation_json(r) for r in session_recommendations(session, row.id)],
            started_at=row.started_at.isoformat(),
            ended_at=row.ended_at.isoformat() if row.ended_at else None,
        )


def session_summary(session: Session, row: TherapySession) -> SessionSummary:
    recommendations = session_recommendations(session, row.id)
    return SessionSummary(
        session_id=row.id,
        number=row.number,
        branch=row.branch,
        checkpoint_id=row.checkpoint_id,
        status=row.status,
        mode=row.mode,
        seed=row.seed,
        turns=len(session_turns(session, row.id)),
        recommendations=len(recommendations),
        accepted=sum(1 for r in recommendations if r.accepted),
        ignored=sum(1 for r in recommendations if r.accepted is False),
        invalid_preference=sum(1 for r in recommendations if r.decision == INVALID_PREFERENCE),
        undecided=sum(1 for r in recommendations if r.accepted is None and r.decision != INVALID_PREFERENCE),
        flags=len(row.flags),
        started_at=row.started_at.isoformat(),
        archived=row.archived_at is not None,
    )


def list_sessions(database: Database, case_id: str, *, archived: bool = False) -> list[SessionSummary]:
    """A case's sessions in order; archived ones only with ``archived``."""
    with database.session() as session:
        case = get_case(session, case_id)
        query = select(TherapySession).where(TherapySession.case_id == case.id)
        if not archived:
            query = query.where(TherapySession.archived_at.is_(None))
        rows = session.scalars(query.order_by(TherapySession.number))
        return [session_summary(session, r) for r in rows]
