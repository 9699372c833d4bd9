"""MITI feedback on an ended session: the session's teacher codes its transcript through the feedback stage's
public API and the result is stored under the session id. It lives here because the loop sits above both the
sessions and the feedback stages (neither may import the other); the CLI's ``session end|replay|show`` and the
web app call it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jedi_academy.errors import AcademyError

if TYPE_CHECKING:
    from jedi_academy.feedback import SessionFeedback
    from jedi_academy.sessions import ModelPool
    from jedi_academy.store import Database

# Each coding reply is a short JSON object (at most three code ids, or four ratings): 64 tokens hold either,
# and keep the coding quick on a small model.
FEEDBACK_MAX_TOKENS = 64


def code_ended_session(
    database: Database, pool: ModelPool, session_id: str, *, max_tokens: int = FEEDBACK_MAX_TOKENS
) -> SessionFeedback | None:
    """Code an ended session with its own teacher and store the feedback; None for a session without turns."""
    from jedi_academy.feedback import CodingOptions, Turn, code_session, save_feedback
    from jedi_academy.sessions import ModelSpec, session_json
    from jedi_academy.sessions.seeds import derive_seed

    record = session_json(database, session_id)
    if record["status"] != "ended":
        raise AcademyError(
            f"session {record['session_id']} is {record['status']}: feedback needs an ended session",
            f"end it first with `academy session end {record['session_id']}`",
        )
    turns = [
        Turn(turn["therapist"], turn["patient"] or "", str(turn["index"]))
        for turn in record["turns"]
        if turn["therapist"].strip()
    ]
    if not turns:
        return None
    teacher = record["teacher_model"] or {}
    spec = ModelSpec(**{key: teacher.get(key) for key in ("backend", "model", "base_url")})
    options = CodingOptions(seed=derive_seed(record["seed"], "feedback"), max_tokens=max_tokens)
    feedback = code_session(pool.get(spec), turns, session_id=record["session_id"], options=options)
    save_feedback(database, feedback)
    return feedback


def feedback_view(database: Database, session_id: str) -> dict[str, Any] | None:
    """The stored feedback's summary (with its coder), or None when the session has none."""
    from jedi_academy.feedback import load_feedback

    feedback = load_feedback(database, session_id)
    if feedback is None:
        return None
    return {
        **feedback.summary.as_dict(),
        "coder": {"backend": feedback.backend, "model": feedback.model},
        "prompt_version": feedback.prompt_version,
        "scheme_version": feedback.scheme_version,
    }
