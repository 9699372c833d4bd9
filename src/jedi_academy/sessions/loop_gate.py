"""No session starts while the loop after the case's previous session has not finished.

A loop iteration moves the case to the child checkpoint it trains. A session started before it finishes would
run on the old checkpoint, and the finished loop would then fork the case silently (the portfolio would credit
scores to the wrong checkpoints). So a session may not start on a case whose current checkpoint is the one a
session of its current branch ran on while that session's loop is queued, running, interrupted or failed.
Branching (``academy case branch C --at CHECKPOINT``) moves the case to a new branch, which is free to go on.

The loop sits above this stage; its state is read from the tables it writes (``loop_runs``, ``jobs``) and
from its case lock (a running loop holds it as ``loop``; a ``running`` row whose lock nobody holds that way
was interrupted), as ``loop.trajectory`` reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from jedi_academy.errors import AcademyError
from jedi_academy.store.models import Job, LoopRun, TherapySession

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from jedi_academy.store import Database
    from jedi_academy.store.models import Case


class LoopNotFinishedError(AcademyError):
    """A session was refused because the loop after the case's previous session has not finished."""


def unfinished_loop(session: Session, case: Case, data_dir: Path | None = None) -> str | None:
    """Why no session may start on ``case`` now (one line), or None when one may."""
    ran_here = session.scalars(
        select(TherapySession)
        .where(
            TherapySession.case_id == case.id,
            TherapySession.branch == case.current_branch,
            TherapySession.checkpoint_id == case.current_checkpoint_id,
            TherapySession.status == "ended",
        )
        .order_by(TherapySession.number.desc())
    ).all()
    if not ran_here:
        return None
    ids = {row.id for row in ran_here}
    loops = {
        loop.session_id: loop
        for loop in session.scalars(select(LoopRun).where(LoopRun.session_id.in_(ids)))
    }
    jobs = {
        str((job.args or {}).get("session_id")): job.status
        for job in session.scalars(
            select(Job).where(Job.kind == "loop", Job.status.in_(("queued", "running")))
        )
    }
    for row in ran_here:
        state = _state(loops.get(row.id), jobs.get(row.id), case.id, data_dir)
        if state is not None:
            return _message(case, row, state)
    return None


def _state(loop: LoopRun | None, job: str | None, case_id: str, data_dir: Path | None) -> str | None:
    if loop is None:
        return job  # queued (or claimed by a worker that has not written the loop row yet), or no loop
    if loop.status == "done":
        return None
    if loop.status == "failed":
        return "failed" + (f" ({loop.error})" if loop.error else "")
    if data_dir is not None and not _loop_holds_case(data_dir, case_id):
        return "interrupted" if job != "queued" else "queued"
    return "running"


def _loop_holds_case(data_dir: Path, case_id: str) -> bool:
    from jedi_academy.store import case_lock

    return case_lock(data_dir, case_id, "probe").held_by() == "loop"


def _message(case: Case, row: TherapySession, state: str) -> str:
    resume = f"`academy loop --session {row.id}`"
    if state == "queued":
        wait = f"wait for it (`academy worker` runs queued loops, or {resume} runs it here)"
    elif state == "running":
        wait = "wait for it to finish (`academy jobs` follows a queued one)"
    else:  # interrupted or failed
        wait = f"finish it with {resume} (or `academy worker` for a queued one)"
    return (
        f"case {case.id}: the loop after session {row.number} ({row.id}) is {state}, and a session now would "
        f"run on the checkpoint it is replacing; {wait}, or branch "
        f"(`academy case branch {case.id} --at {case.current_checkpoint_id}`)"
    )


def refuse_if_loop_unfinished(session: Session, case: Case, data_dir: Path | None = None) -> None:
    """Raise :class:`LoopNotFinishedError` (one line, no hint) when :func:`unfinished_loop` says why."""
    reason = unfinished_loop(session, case, data_dir)
    if reason is not None:
        raise LoopNotFinishedError(reason)


def session_blocked(database: Database, case_id: str, data_dir: Path | None = None) -> str | None:
    """:func:`unfinished_loop` for a case by id (the web app's case page shows it instead of the start
    button)."""
    from jedi_academy.sessions.records import get_case

    with database.session() as session:
        return unfinished_loop(session, get_case(session, case_id), data_dir)
