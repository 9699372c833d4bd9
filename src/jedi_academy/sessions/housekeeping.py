"""Housekeeping (issue 29 point 5): archiving a case or a session, disabling a therapist.

Archiving hides a record from the lists and pages (CLI and web) and keeps it: nothing is deleted, a session's
ledger entry stays valid (``archived_at`` is not part of its sealed content), and ``--undo`` brings it back.
A disabled therapist cannot sign in to the web app (their browser sessions end at once), open a case or start
a session; their records stay as they are."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from jedi_academy.errors import AcademyError
from jedi_academy.sessions.records import case_json, get_case, get_session, get_therapist, therapist_json
from jedi_academy.sessions.views import CaseRow, SessionArchived, TherapistDisabled
from jedi_academy.store.models import TherapySession, WebSession

if TYPE_CHECKING:
    from jedi_academy.store import Database


def archive_case(database: Database, case_id: str, *, undo: bool = False) -> CaseRow:
    """Archive a case (or bring it back). An open case with an unfinished session is refused: end it first."""
    with database.session() as session:
        case = get_case(session, case_id)
        if not undo:
            active = session.scalars(
                select(TherapySession).where(
                    TherapySession.case_id == case.id, TherapySession.status != "ended"
                )
            ).first()
            if active is not None:
                raise AcademyError(
                    f"case {case.id} has an unfinished session {active.id}",
                    f"end it first (`academy session end {active.id}`)",
                )
        case.archived_at = None if undo else (case.archived_at or datetime.now(UTC))
        session.flush()
        return case_json(session, case)


def archive_session(database: Database, session_id: str, *, undo: bool = False) -> SessionArchived:
    """Archive an ended session (or bring it back)."""
    with database.session() as session:
        row = get_session(session, session_id)
        if not undo and row.status != "ended":
            raise AcademyError(
                f"session {row.id} is {row.status}", f"end it first (`academy session end {row.id}`)"
            )
        row.archived_at = None if undo else (row.archived_at or datetime.now(UTC))
        return SessionArchived(row.id, row.case_id, archived=row.archived_at is not None)


def disable_therapist(database: Database, therapist: str, *, undo: bool = False) -> TherapistDisabled:
    """Disable a therapist (or enable them again); their signed-in browsers are signed out."""
    with database.session() as session:
        row = get_therapist(session, therapist)
        row.disabled_at = None if undo else (row.disabled_at or datetime.now(UTC))
        signed_out = 0
        if not undo:
            result = session.execute(delete(WebSession).where(WebSession.therapist_id == row.id))
            signed_out = int(result.rowcount or 0)  # type: ignore[attr-defined]
        view = therapist_json(row)
        return TherapistDisabled(view.id, view.name, view.created_at, view.disabled, signed_out=signed_out)
