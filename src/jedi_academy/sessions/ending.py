"""The one end-of-session sequence, for every face that ends a session (``academy session end|replay``, the
interactive ``/end``, the web app): the runner closes the session (recommendations, p_accept, decisions), then
the stages above run their ``session_ended`` hooks (the loop: the teacher's MITI feedback, ``--refine``'s
queued loop). The sessions stage cannot import those stages; the hook registry reaches them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jedi_academy.hooks import hook, option_defaults
from jedi_academy.sessions.views import SessionView, WithSections, with_sections

if TYPE_CHECKING:
    from jedi_academy.sessions.runner import SessionRunner
    from jedi_academy.store import Database

# The extension options of `session end` apply to every way of ending a session (`session replay` takes
# the same ones, without --refine where a stage leaves it out).
END_COMMAND = "session end"


# A session with every stage's fields (``as_dict()`` is the --json of `session show|end|replay`) and the lines
# those stages print after it.
EndedSession = WithSections[SessionView]


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
    record: SessionView,
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
    shown = hook().session_sections(database=database, record=record)
    return with_sections(record, [*shown, *ended])


def session_view(database: Database, record: SessionView) -> EndedSession:
    """A stored session as ``session show`` presents it: the record and every stage's section."""
    return with_sections(record, hook().session_sections(database=database, record=record))
