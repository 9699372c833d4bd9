"""Therapy sessions with a simulated patient, and the recommendation preference system.

Public API (imported lazily, so the CLI stays fast); the results are ``sessions.views``' typed results, whose
``as_dict()`` is the ``--json`` form::

    add_therapist(database, name) -> TherapistView
    open_case(database, therapist, specialization, *, persona=None, checkpoint=None) -> CaseRow
    set_case_checkpoint(database, case_id, checkpoint_id, *, branch=None) -> CaseRow   # the loop's hook
    list_cases(database, therapist=None) -> list[CaseRow], show_case(database, case_id) -> CaseDetail
    ModelPool(settings)                           # loaded models, shared by all sessions of a process
    SessionRunner.start(database, pool, case_id, seed=..., options=SessionOptions(), teacher=None)
    SessionRunner.open(database, pool, session_id)  # resume
        .say(text, recommendations=(), on_text=callback) -> TurnResult   # streamed reply
        .mark(text=None, turn=None) -> RecommendationView
        .end(progress=None) -> SessionView          # extraction, p_accept, u, accepted
    replay_session(database, pool, case_id, script, seed=...) -> SessionView
    load_script(path, transcript=None) -> list[ScriptTurn]
    session_json(database, session_id) -> SessionView
    list_sessions(database, case_id) -> list[SessionSummary]
    session_stats(database, case=None, specialization=None) -> SessionStats
    intake_sheet(card) lives in jedi_academy.personas.intake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jedi_academy.lazy import lazy_exports

if TYPE_CHECKING:
    from jedi_academy.sessions.models import ModelPool, ModelSpec
    from jedi_academy.sessions.records import (
        add_therapist,
        list_cases,
        list_sessions,
        list_therapists,
        open_case,
        session_json,
        set_case_checkpoint,
        show_case,
    )
    from jedi_academy.sessions.runner import SessionOptions, SessionRunner, TurnResult
    from jedi_academy.sessions.scripts import ScriptTurn, load_script
    from jedi_academy.sessions.service import replay_session
    from jedi_academy.sessions.stats import session_stats

_LAZY = {
    "ModelPool": "models",
    "ModelSpec": "models",
    "add_therapist": "records",
    "list_cases": "records",
    "list_sessions": "records",
    "list_therapists": "records",
    "open_case": "records",
    "session_json": "records",
    "set_case_checkpoint": "records",
    "show_case": "records",
    "SessionOptions": "runner",
    "SessionRunner": "runner",
    "TurnResult": "runner",
    "ScriptTurn": "scripts",
    "load_script": "scripts",
    "replay_session": "service",
    "session_stats": "stats",
}

__all__ = [
    "ModelPool",
    "ModelSpec",
    "ScriptTurn",
    "SessionOptions",
    "SessionRunner",
    "TurnResult",
    "add_therapist",
    "list_cases",
    "list_sessions",
    "list_therapists",
    "load_script",
    "open_case",
    "replay_session",
    "session_json",
    "session_stats",
    "set_case_checkpoint",
    "show_case",
]

__getattr__ = lazy_exports(__name__, _LAZY)
