"""Therapists, cases and sessions in the store, and the JSON views every command and the web app print.

Each write is its own short transaction, so that whatever was said before a crash is on disk.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from jedi_academy.errors import AcademyError
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

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from jedi_academy.store import Database

MAIN_BRANCH = "main"


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(5)}"


# ---------------------------------------------------------------- therapists


def add_therapist(database: Database, name: str) -> dict[str, Any]:
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


def list_therapists(database: Database) -> list[dict[str, Any]]:
    with database.session() as session:
        return [therapist_json(t) for t in session.scalars(select(Therapist).order_by(Therapist.created_at))]


def therapist_json(row: Therapist) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "created_at": row.created_at.isoformat()}


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
            .where(Persona.specialization_id == specialization)
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


def open_case(
    database: Database,
    therapist: str,
    specialization: str,
    *,
    persona: str | None = None,
    checkpoint: str | None = None,
) -> dict[str, Any]:
    """A new case: one persona of ``specialization`` on its current patient checkpoint (or ``checkpoint``)."""
    from jedi_academy.personas.intake import intake_sheet

    with database.session() as session:
        worker = get_therapist(session, therapist)
        field = session.get(Specialization, specialization)
        if field is None and _is_defined_specialization(specialization):
            raise _no_personas_yet(specialization)  # defined, but nothing was ingested or generated for it
        if field is None:
            raise AcademyError(
                f"unknown specialization {specialization!r}", "see `academy specializations list`"
            )
        if persona is not None:
            chosen = one_by_id_or_prefix(session, Persona, persona, "persona", "see `academy personas list`")
            if chosen.specialization_id != specialization:
                raise AcademyError(
                    f"persona {chosen.id} belongs to '{chosen.specialization_id}', not '{specialization}'"
                )
        else:
            chosen = _pick_persona(session, worker, specialization)
        if checkpoint is not None:
            model = patient_checkpoint_row(session, checkpoint)
            if model.specialization_id not in (None, specialization):
                raise AcademyError(
                    f"checkpoint {model.id} is a '{model.specialization_id}' patient, not '{specialization}'"
                )
        else:
            model = current_patient_checkpoint(session, specialization)
        sheet = {"specialization": field.display_name, **intake_sheet(chosen.card)}
        row = Case(
            id=new_id("case"),  # "case-": conversation ids have "c-"
            therapist_id=worker.id,
            specialization_id=specialization,
            persona_id=chosen.id,
            start_checkpoint_id=model.id,
            current_checkpoint_id=model.id,
            current_branch=MAIN_BRANCH,
            intake=sheet,
        )
        session.add(row)
        session.flush()
        return case_json(session, row)


def set_case_checkpoint(
    database: Database, case_id: str, checkpoint_id: str, *, branch: str | None = None
) -> dict[str, Any]:
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


def list_cases(database: Database, therapist: str | None = None) -> list[dict[str, Any]]:
    with database.session() as session:
        query = select(Case).order_by(Case.created_at, Case.id)
        if therapist is not None:
            query = query.where(Case.therapist_id == get_therapist(session, therapist).id)
        return [case_json(session, c) for c in session.scalars(query)]


def show_case(database: Database, case_id: str) -> dict[str, Any]:
    with database.session() as session:
        case = get_case(session, case_id)
        view = case_json(session, case)
        view["sessions"] = [
            session_summary(session, s)
            for s in session.scalars(
                select(TherapySession)
                .where(TherapySession.case_id == case.id)
                .order_by(TherapySession.number)
            )
        ]
        return view


def case_json(session: Session, case: Case) -> dict[str, Any]:
    therapist = session.get(Therapist, case.therapist_id)
    sessions = session.scalar(
        select(func.count()).select_from(TherapySession).where(TherapySession.case_id == case.id)
    )
    return {
        "id": case.id,
        "therapist": therapist.name if therapist else None,
        "therapist_id": case.therapist_id,
        "specialization": case.specialization_id,
        "persona_id": case.persona_id,
        "checkpoint_id": case.current_checkpoint_id,
        "start_checkpoint_id": case.start_checkpoint_id,
        "branch": case.current_branch,
        "status": case.status,
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "closure": case.closure,
        "sessions": sessions or 0,
        "intake": case.intake,
        "created_at": case.created_at.isoformat(),
    }


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
) -> str:
    with database.session() as session:
        case = get_case(session, case_id)
        if case.status != "open":
            raise AcademyError(f"case {case.id} is {case.status}")
        active = session.scalars(
            select(TherapySession).where(TherapySession.case_id == case.id, TherapySession.status != "ended")
        ).first()
        if active is not None:
            raise AcademyError(
                f"case {case.id} has an unfinished session {active.id}",
                f"continue it with `academy session resume {active.id}` or close it with "
                f"`academy session end {active.id}`",
            )
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


def recommendation_json(row: Recommendation) -> dict[str, Any]:
    return {
        "id": row.id,
        "index": row.index,
        "text": row.text,
        "turn": row.turn,
        "kind": row.kind,
        "source": row.source,
        "mode": row.mode,
        "p_accept": row.p_accept,
        "u": row.u,
        "accepted": row.accepted,
        "phrasings": row.phrasings,
    }


def session_json(database: Database, session_id: str) -> dict[str, Any]:
    """The full record of a session: the shape of ``session show --json`` and ``session replay --json``."""
    with database.session() as session:
        row = get_session(session, session_id)
        case = session.get(Case, row.case_id)
        assert case is not None  # foreign key
        therapist = session.get(Therapist, case.therapist_id)
        return {
            "session_id": row.id,
            "case_id": row.case_id,
            "therapist": therapist.name if therapist else None,
            "therapist_id": case.therapist_id,
            "checkpoint_id": row.checkpoint_id,
            "persona_id": case.persona_id,
            "specialization": case.specialization_id,
            "number": row.number,
            "branch": row.branch,
            "seed": row.seed,
            "mode": row.mode,
            "status": row.status,
            "params": row.params,
            "patient_model": row.patient,
            "teacher_model": row.teacher,
            "flags": row.flags,
            "extraction": row.extraction,
            "turns": [
                {
                    "index": t.index,
                    "therapist": t.therapist,
                    "patient": t.patient,
                    "seed": t.seed,
                    "risk": t.risk,
                    "context_dropped": t.context_dropped,
                }
                for t in session_turns(session, row.id)
            ],
            "recommendations": [recommendation_json(r) for r in session_recommendations(session, row.id)],
            "started_at": row.started_at.isoformat(),
            "ended_at": row.ended_at.isoformat() if row.ended_at else None,
        }


def session_summary(session: Session, row: TherapySession) -> dict[str, Any]:
    recommendations = session_recommendations(session, row.id)
    return {
        "session_id": row.id,
        "number": row.number,
        "branch": row.branch,
        "checkpoint_id": row.checkpoint_id,
        "status": row.status,
        "mode": row.mode,
        "seed": row.seed,
        "turns": len(session_turns(session, row.id)),
        "recommendations": len(recommendations),
        "accepted": sum(1 for r in recommendations if r.accepted),
        "ignored": sum(1 for r in recommendations if r.accepted is False),
        # not yet put to the patient, or no usable answer: neither accepted nor ignored
        "undecided": sum(1 for r in recommendations if r.accepted is None),
        "flags": len(row.flags),
        "started_at": row.started_at.isoformat(),
    }


def list_sessions(database: Database, case_id: str) -> list[dict[str, Any]]:
    with database.session() as session:
        case = get_case(session, case_id)
        rows = session.scalars(
            select(TherapySession).where(TherapySession.case_id == case.id).order_by(TherapySession.number)
        )
        return [session_summary(session, r) for r in rows]
