"""Whole operations over sessions, for the CLI, the web app and the loop: replay a script, stats."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from jedi_academy.sessions import records
from jedi_academy.sessions.models import ModelPool, ModelSpec
from jedi_academy.sessions.runner import Progress, SessionOptions, SessionRunner, TurnResult
from jedi_academy.sessions.scripts import ScriptTurn

if TYPE_CHECKING:
    from jedi_academy.sessions.views import SessionView
    from jedi_academy.store import Database


def replay_session(
    database: Database,
    pool: ModelPool,
    case_id: str,
    script: Sequence[ScriptTurn],
    *,
    seed: int,
    options: SessionOptions | None = None,
    teacher: ModelSpec | None = None,
    on_turn: Callable[[TurnResult], None] | None = None,
    progress: Progress | None = None,
) -> SessionView:
    """A scripted therapist: each script turn said in order, one patient reply each, then the end."""
    runner = SessionRunner.start(
        database, pool, case_id, seed=seed, mode="replay", options=options, teacher=teacher
    )
    for turn in script:
        result = runner.say(turn.therapist, recommendations=turn.recommendations)
        if on_turn is not None:
            on_turn(result)
    runner.end(progress)
    return records.session_json(database, runner.session_id)
