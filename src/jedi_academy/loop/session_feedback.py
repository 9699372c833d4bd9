"""MITI feedback on an ended session: the session's teacher codes its transcript through the feedback stage's
public API and the result is stored under the session id. It lives here because the loop sits above both the
sessions and the feedback stages (neither may import the other); the CLI's ``session end|replay|show`` and the
web app call it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jedi_academy.errors import AcademyError
from jedi_academy.results import Result

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

    record = session_json(database, session_id).as_dict()  # the coder reads the session's JSON form
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
    # the session's recorded teacher (the pool's key for it); a part not recorded is the configured one, as
    # open_llm would pick it
    settings = pool.settings
    backend, model = teacher.get("backend") or settings.backend, teacher.get("model") or settings.model
    spec = ModelSpec(backend, model, teacher.get("base_url"))
    options = CodingOptions(seed=derive_seed(record["seed"], "feedback"), max_tokens=max_tokens)
    feedback = code_session(pool.get(spec), turns, session_id=record["session_id"], options=options)
    save_feedback(database, feedback)
    return feedback


@dataclass(frozen=True)
class FeedbackView(Result):
    """A session's stored MITI feedback as `session show` and the session page show it: the summary's
    figures (``feedback.summary.SessionSummary``'s fields, its indicators and suggestions as plain values)
    and who coded it with which prompt and scheme."""

    turns: int
    coded_turns: int
    counts: dict[str, int]
    reflections: int
    questions: int
    reflection_to_question: float | None  # None: no questions asked
    percent_complex_reflections: float | None  # None: no reflections
    mi_adherent: int
    mi_non_adherent: int
    ratings: dict[str, int] | None
    technical_global: float | None
    relational_global: float | None
    indicators: list[dict[str, Any]]
    suggestions: list[dict[str, Any]]
    limits: list[str]
    coder: dict[str, str]  # backend, model
    prompt_version: str
    scheme_version: str


def feedback_view(database: Database, session_id: str) -> FeedbackView | None:
    """The stored feedback's summary (with its coder), or None when the session has none."""
    from jedi_academy.feedback import load_feedback

    feedback = load_feedback(database, session_id)
    if feedback is None:
        return None
    return FeedbackView(
        **feedback.summary.as_dict(),
        coder={"backend": feedback.backend, "model": feedback.model},
        prompt_version=feedback.prompt_version,
        scheme_version=feedback.scheme_version,
    )


# The MITI summary figures a case's feedback is averaged over.
CASE_FIGURES = (
    "reflection_to_question",
    "percent_complex_reflections",
    "technical_global",
    "relational_global",
    "mi_adherent",
    "mi_non_adherent",
)


@dataclass(frozen=True)
class CaseFeedback(Result):
    """The MITI figures of a case, averaged over its sessions with feedback (the portfolio page)."""

    case_id: str
    sessions_with_feedback: int
    figures: dict[str, dict[str, Any]]  # figure -> {"mean": float | None, "sessions": int}
    cannot_conclude: str = "model-made MITI codes of simulated sessions; not part of the signed portfolio"


def case_feedback(database: Database, case_id: str) -> CaseFeedback:
    """The mean of each MITI summary figure over the case's sessions that have stored feedback. A figure that
    was not measured in a session (no question, no reflection, unusable ratings) is left out of its mean, and
    each mean says over how many sessions it was taken (``None`` when over none)."""
    from jedi_academy.sessions import list_sessions

    views = [
        view
        for row in list_sessions(database, case_id)
        if (view := feedback_view(database, row.session_id)) is not None
    ]
    figures: dict[str, dict[str, Any]] = {}
    for name in CASE_FIGURES:
        values = [float(value) for view in views if (value := getattr(view, name)) is not None]
        figures[name] = {"mean": sum(values) / len(values) if values else None, "sessions": len(values)}
    return CaseFeedback(case_id, len(views), figures)
