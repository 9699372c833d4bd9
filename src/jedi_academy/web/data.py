"""The web app's reads, behind plain functions: the route modules hold no SQL (an import contract test checks
that they do not import SQLAlchemy). Ownership checks answer None for "not yours", exactly as for "missing",
so that the routes turn both into the same 404."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from jedi_academy.store.models import Case, Checkpoint, Persona, Specialization, TherapySession

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from jedi_academy.store import Database


def owned_case(database: Database, therapist_id: str | None, case_id: str) -> Case | None:
    """The case (detached) when it exists and ``therapist_id`` works it, else None."""
    with database.session() as session:
        case = session.get(Case, case_id)
        if case is None or case.therapist_id != therapist_id or case.archived_at is not None:
            return None  # an archived case leaves the pages as it leaves the lists
        session.expunge(case)
        return case


def owned_session(database: Database, therapist_id: str | None, session_id: str) -> TherapySession | None:
    """The session (detached) when it exists and belongs to a case ``therapist_id`` works, else None."""
    with database.session() as session:
        row = session.get(TherapySession, session_id)
        case = session.get(Case, row.case_id) if row is not None else None
        if row is None or case is None or case.therapist_id != therapist_id:
            return None
        if row.archived_at is not None or case.archived_at is not None:
            return None
        session.expunge(row)
        return row


def open_specializations(database: Database) -> list[dict[str, str]]:
    """Specializations a case can be opened in: with personas and a patient checkpoint."""
    with database.session() as session:
        rows = session.scalars(select(Specialization).order_by(Specialization.display_name)).all()
        out = []
        for row in rows:
            has_persona = session.scalars(
                select(Persona.id)
                .where(Persona.specialization_id == row.id, Persona.erased_at.is_(None))
                .limit(1)
            ).first()
            if has_persona and _patient_checkpoint(session, row.id) is not None:
                out.append({"id": row.id, "name": row.display_name})
        return out


def patient_checkpoint(database: Database, specialization: str) -> str | None:
    """The specialization's newest fine-tuned checkpoint, else its newest base checkpoint (a deployment that
    has not fine-tuned yet still lets therapists practise; the case page shows the kind)."""
    with database.session() as session:
        return _patient_checkpoint(session, specialization)


def _patient_checkpoint(session: Session, specialization: str) -> str | None:
    for fine_tuned in (True, False):
        query = select(Checkpoint.id).where(
            Checkpoint.specialization_id == specialization,
            Checkpoint.retired_at.is_(None),
            Checkpoint.role != "control",
        )
        query = query.where((Checkpoint.kind != "base") if fine_tuned else (Checkpoint.kind == "base"))
        found = session.scalars(query.order_by(Checkpoint.created_at.desc(), Checkpoint.id)).first()
        if found is not None:
            return found
    return None
