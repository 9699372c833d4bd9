"""The ``feedback`` table: one row per session id, written in one transaction, its hash checked on load."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from jedi_academy.errors import AcademyError
from jedi_academy.feedback.coding import SessionFeedback
from jedi_academy.store.models import FeedbackRecord as FeedbackRow

if TYPE_CHECKING:
    from jedi_academy.store import Database


def payload_sha256(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def save_feedback(database: Database, feedback: SessionFeedback) -> str:
    """Store (or replace) the feedback of ``feedback.session_id``; returns the payload hash."""
    if not feedback.session_id:
        raise AcademyError("feedback without a session id cannot be stored", "pass a session id")
    payload = feedback.as_dict()
    digest = payload_sha256(payload)
    with database.session() as session:
        session.merge(
            FeedbackRow(
                session_id=feedback.session_id,
                transcript_sha256=feedback.transcript_sha256,
                backend=feedback.backend,
                model=feedback.model,
                prompt_version=feedback.prompt_version,
                scheme_version=feedback.scheme_version,
                payload=payload,
                payload_sha256=digest,
            )
        )
    return digest


def load_feedback(database: Database, session_id: str) -> SessionFeedback | None:
    """The stored feedback of a session (id or unique prefix), or None; a row that no longer matches its hash
    is an error, and so is a prefix that fits the feedback of two sessions."""
    from jedi_academy.store.lookup import id_or_prefix_matches

    with database.session() as session:
        matches = id_or_prefix_matches(session, FeedbackRow, session_id, key="session_id")
        if not matches:
            return None
        if len(matches) > 1:
            raise AcademyError(
                f"session {session_id!r} is ambiguous: feedback of several sessions starts with it",
                "give more of the session id (`academy session list`)",
            )
        row = matches[0]
        session_id, payload, digest = row.session_id, row.payload, row.payload_sha256
    if payload_sha256(payload) != digest:
        raise AcademyError(
            f"feedback of session {session_id!r} does not match its stored hash",
            "the row was changed outside the academy; code the session again",
        )
    return SessionFeedback.from_dict(payload)
