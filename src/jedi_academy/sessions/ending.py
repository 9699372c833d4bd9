"""The one end-of-session sequence, for every face that ends a session (``academy session end|replay``, the
interactive ``/end``, the web app): the runner closes the session (recommendations, p_accept, decisions), then
the stages above run their ``session_ended`` hooks (the loop: the teacher's MITI feedback, ``--refine``'s
queued loop). The sessions stage cannot import those stages; the hook registry reaches them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jedi_academy.hooks import hook, merge_sections, option_defaults

if TYPE_CHECKING:
    from jedi_academy.sessions.runner import SessionRunner
    from jedi_academy.store import Database

# The extension options of `session end` apply to every way of ending a session (`session replay` takes
# the same ones, without --refine where a stage leaves it out).
END_COMMAND = "session end"


@dataclass
class EndedSession:
    """The ended session's record, with every stage's fields, and the lines those stages print after it."""

    record: dict[str, Any]
    lines: list[str] = field(default_factory=list)


def end_session(
    runner: SessionRunner,
    *,
    options: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    command: str = END_COMMAND,
) -> EndedSession:
    """End the runner's session (safe to repeat after a crash) and run the stages' ``session_ended`` hooks
    with ``options`` (the values of the options the stages add to ``command``; the rest take defaults)."""
    record = runner.end(progress=progress)
    return after_end(
        runner.database, runner.pool, record, options=options, progress=progress, command=command
    )


def after_end(
    database: Database,
    pool: Any,
    record: dict[str, Any],
    *,
    options: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    command: str = END_COMMAND,
) -> EndedSession:
    """The hooks' part of the sequence, for a session a runner has just ended (``replay_session``); the
    result also carries what the stages show about a session (``session_view``), as ``session show``."""
    chosen = {**option_defaults(command), **(options or {})}
    ended = hook().session_ended(
        settings=pool.settings, database=database, pool=pool, record=record, options=chosen, progress=progress
    )
    view = session_view(database, record)
    merged, lines = merge_sections(view.record, ended)
    return EndedSession(merged, view.lines + lines)


def session_view(database: Database, record: dict[str, Any]) -> EndedSession:
    """A stored session as ``session show`` presents it: the record and every stage's section."""
    merged, lines = merge_sections(record, hook().session_sections(database=database, record=record))
    return EndedSession(merged, lines)
