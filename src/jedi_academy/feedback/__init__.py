"""Feedback on technique: MITI 4.2.1 utterance codes and global ratings by the teacher model, a session
summary with the MITI fair/good thresholds and suggestions quoting the therapist, and agreement with human
coders on transcripts in the AnnoMI layout.

Public API (imported lazily, so the CLI stays fast)::

    Turn(therapist, patient="", turn_id=None); read_transcript(path) -> list[Turn]
    code_session(llm, turns, *, session_id=None, options=None) -> SessionFeedback
    summarize(codes, ratings=None) -> SessionSummary          # codes: list[TurnCodes]
    render_feedback(feedback) -> str; feedback.as_dict()      # terminal text / JSON
    save_feedback(database, feedback); load_feedback(database, session_id) -> SessionFeedback | None
    evaluate_file(llm, path, *, limit=None) -> EvaluationReport
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jedi_academy.lazy import lazy_exports

if TYPE_CHECKING:
    from jedi_academy.feedback.coding import CodingOptions, SessionFeedback, code_session
    from jedi_academy.feedback.evaluate import EvaluationReport, evaluate_file
    from jedi_academy.feedback.render import render_evaluation, render_feedback
    from jedi_academy.feedback.storage import load_feedback, save_feedback
    from jedi_academy.feedback.summary import SessionSummary, TurnCodes, summarize
    from jedi_academy.feedback.transcript import Turn, read_transcript

_LAZY = {
    "CodingOptions": "coding",
    "SessionFeedback": "coding",
    "code_session": "coding",
    "EvaluationReport": "evaluate",
    "evaluate_file": "evaluate",
    "render_evaluation": "render",
    "render_feedback": "render",
    "load_feedback": "storage",
    "save_feedback": "storage",
    "SessionSummary": "summary",
    "TurnCodes": "summary",
    "summarize": "summary",
    "Turn": "transcript",
    "read_transcript": "transcript",
}

__all__ = [
    "CodingOptions",
    "EvaluationReport",
    "SessionFeedback",
    "SessionSummary",
    "Turn",
    "TurnCodes",
    "code_session",
    "evaluate_file",
    "load_feedback",
    "read_transcript",
    "render_evaluation",
    "render_feedback",
    "save_feedback",
    "summarize",
]

__getattr__ = lazy_exports(__name__, _LAZY)
