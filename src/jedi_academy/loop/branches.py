"""The one branch model of a case, and the two actions on it (``academy case branch|switch`` and the web app's
"Return here and branch" call these, nothing else).

A case's checkpoints are its first (the baseline) and every child a loop made after one of its sessions. A
branch is a line of sessions started from one of them (``main`` from the first), recorded as a
``CaseBranch`` row; a session grows the branch the case was on when it started, so returning to an earlier
checkpoint and working on gives a sibling. Along a branch, the checkpoints are its start and then, session by
session, the checkpoint the session ran on and the one its loop made: every branch keeps its loop
checkpoints whichever branch the case is on now.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from jedi_academy.errors import AcademyError
from jedi_academy.store.models import Case, CaseBranch, LoopRun, TherapySession

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.orm import Session

    from jedi_academy.store import Database
    from jedi_academy.store.lock import DataDirLock

MAIN = "main"
_DEFAULT_NAME = re.compile(r"branch-(\d+)")


@dataclass(frozen=True)
class BranchInfo:
    name: str
    from_checkpoint_id: str
    parent_branch: str | None
    after_session: int | None  # the session whose loop made the start checkpoint (None: the case's first)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BranchMade:
    """What ``branch_case`` did; ``as_dict()`` is ``academy case branch --json``."""

    case_id: str
    branch: str
    from_checkpoint_id: str
    after_session: int | None  # the session whose loop made the start checkpoint (None: the case's first)
    parent_branch: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BranchSwitched:
    """What ``switch_branch`` did; ``as_dict()`` is ``academy case switch --json``."""

    case_id: str
    branch: str
    checkpoint_id: str  # the branch's newest checkpoint, where the next session runs

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BranchStep:
    """One checkpoint along a branch: ``session`` is the session whose loop made it (None: the branch's
    start, or a checkpoint a session ran on without a loop of that branch having made it)."""

    checkpoint_id: str
    session: int | None


def get_case(session: Session, case_id: str) -> Case:
    from jedi_academy.sessions.records import get_case as lookup

    return lookup(session, case_id)


def case_branches(session: Session, case: Case) -> list[BranchInfo]:
    """``main`` first, then the recorded branches in the order they were made. A branch that sessions (or the
    case) name without a ``CaseBranch`` row (made by an older web app) is listed too, starting where its
    first session ran, so it can be switched to and is never named twice."""
    found = [BranchInfo(MAIN, case.start_checkpoint_id, None, None)]
    rows = session.scalars(
        select(CaseBranch).where(CaseBranch.case_id == case.id).order_by(CaseBranch.created_at, CaseBranch.id)
    )
    found += [BranchInfo(b.name, b.from_checkpoint_id, b.parent_branch, b.after_session) for b in rows]
    known = {b.name for b in found}
    sessions = session.scalars(
        select(TherapySession).where(TherapySession.case_id == case.id).order_by(TherapySession.number)
    )
    for row in sessions:
        if row.branch not in known:
            found.append(BranchInfo(row.branch, row.checkpoint_id, None, None))
            known.add(row.branch)
    if case.current_branch not in known:
        found.append(BranchInfo(case.current_branch, case.current_checkpoint_id, None, None))
    return found


def branch_steps(session: Session, case: Case, branch: BranchInfo) -> list[BranchStep]:
    """The checkpoints along ``branch`` in order: its start, then per session (by number) the checkpoint it
    ran on and the one its loop made; the case's current checkpoint last when the case is on this branch."""
    steps = [BranchStep(branch.from_checkpoint_id, None)]
    seen = {branch.from_checkpoint_id}
    loops = {
        loop.session_id: loop
        for loop in session.scalars(
            select(LoopRun).where(LoopRun.case_id == case.id, LoopRun.branch == branch.name)
        )
    }
    sessions = session.scalars(
        select(TherapySession)
        .where(TherapySession.case_id == case.id, TherapySession.branch == branch.name)
        .order_by(TherapySession.number)
    )
    for row in sessions:
        if row.checkpoint_id not in seen:
            steps.append(BranchStep(row.checkpoint_id, None))
            seen.add(row.checkpoint_id)
        loop = loops.get(row.id)
        if loop is not None and loop.checkpoint_id and loop.checkpoint_id not in seen:
            steps.append(BranchStep(loop.checkpoint_id, row.number))
            seen.add(loop.checkpoint_id)
    if case.current_branch == branch.name and case.current_checkpoint_id not in seen:
        steps.append(BranchStep(case.current_checkpoint_id, None))
    return steps


def case_checkpoints(session: Session, case: Case) -> dict[str, int | None]:
    """Checkpoint id -> the session whose loop made it (None for the case's first)."""
    found: dict[str, int | None] = {case.start_checkpoint_id: None}
    rows = session.execute(
        select(LoopRun.checkpoint_id, TherapySession.number)
        .join(TherapySession, TherapySession.id == LoopRun.session_id)
        .where(LoopRun.case_id == case.id, LoopRun.checkpoint_id.is_not(None))
    )
    for checkpoint, number in rows:
        if checkpoint is not None:  # the query's filter: never None here
            found[checkpoint] = number
    return found


def next_branch_name(taken: set[str]) -> str:
    """The naming rule of every face: the first free ``branch-N``, N from 2 (``main`` is the first)."""
    used = {int(m.group(1)) for name in taken if (m := _DEFAULT_NAME.fullmatch(name))}
    number = 2
    while number in used:
        number += 1
    return f"branch-{number}"


def _case_writer(database: Database, data_dir: Path, case_id: str, command: str) -> DataDirLock:
    """The case's writer lock (as ``session end`` and the loop take it), by the case's full id: a branch or a
    switch must not move the case under a session ending or a loop training it."""
    from jedi_academy.store import case_lock

    with database.session() as session:
        full_id = get_case(session, case_id).id
    return case_lock(data_dir, full_id, command)


def branch_case(
    database: Database,
    case_id: str,
    *,
    data_dir: Path,
    at: str | None = None,
    after_session: int | None = None,
    name: str | None = None,
) -> BranchMade:
    """Start a new branch of the case from one of its checkpoints (``at``, an id or prefix, or the one
    ``after_session``'s loop made); later sessions grow it. Writes the ``CaseBranch`` row and moves the case,
    in one transaction, under the case's writer lock."""
    if (at is None) == (after_session is None):
        raise AcademyError("give exactly one of --at CHECKPOINT or --after-session N")
    with _case_writer(database, data_dir, case_id, "case branch"):
        return _branch_locked(database, case_id, at=at, after_session=after_session, name=name)


def _branch_locked(
    database: Database, case_id: str, *, at: str | None, after_session: int | None, name: str | None
) -> BranchMade:
    with database.session() as session:
        case = get_case(session, case_id)
        unfinished = session.scalars(
            select(TherapySession.id).where(
                TherapySession.case_id == case.id, TherapySession.status != "ended"
            )
        ).first()
        if unfinished is not None:
            raise AcademyError(
                f"case {case.id} has an unfinished session {unfinished}",
                f"end it first: `academy session end {unfinished}`",
            )
        checkpoints = case_checkpoints(session, case)
        chosen = _chosen_checkpoint(session, case, checkpoints, at, after_session)
        taken = {b.name for b in case_branches(session, case)}
        name = name or next_branch_name(taken)
        if name in taken:
            raise AcademyError(f"case {case.id} already has a branch {name!r}", "choose another --name")
        parent = case.current_branch
        session.add(
            CaseBranch(
                case_id=case.id,
                name=name,
                from_checkpoint_id=chosen,
                parent_branch=parent,
                after_session=checkpoints[chosen],
            )
        )
        case.current_checkpoint_id, case.current_branch = chosen, name
        case_id = case.id
    return BranchMade(case_id, name, chosen, checkpoints[chosen], parent)


def _chosen_checkpoint(
    session: Session,
    case: Case,
    checkpoints: dict[str, int | None],
    at: str | None,
    after_session: int | None,
) -> str:
    if after_session is not None:
        row = session.scalars(
            select(TherapySession).where(
                TherapySession.case_id == case.id, TherapySession.number == after_session
            )
        ).first()
        if row is None:
            raise AcademyError(f"case {case.id} has no session {after_session}")
        loop = session.scalars(select(LoopRun).where(LoopRun.session_id == row.id)).first()
        if loop is None or loop.checkpoint_id is None:
            raise AcademyError(
                f"session {after_session} has no re-fine-tuned checkpoint yet",
                f"run `academy loop --session {row.id}` first",
            )
        return loop.checkpoint_id
    assert at is not None
    matches = [c for c in checkpoints if c == at] or [c for c in checkpoints if c.startswith(at)]
    if len(matches) != 1:
        raise AcademyError(
            f"checkpoint {at!r} is {'ambiguous' if matches else 'not one of'} case {case.id}'s",
            f"the case's checkpoints: {', '.join(checkpoints)}",
        )
    return matches[0]


def switch_branch(database: Database, case_id: str, name: str, *, data_dir: Path) -> BranchSwitched:
    """Continue an existing branch: later sessions run on its newest checkpoint (under the case's writer
    lock)."""
    with _case_writer(database, data_dir, case_id, "case switch"), database.session() as session:
        case = get_case(session, case_id)
        branches = case_branches(session, case)
        branch = next((b for b in branches if b.name == name), None)
        if branch is None:
            known = ", ".join(b.name for b in branches)
            raise AcademyError(f"case {case.id} has no branch {name!r}", f"its branches: {known}")
        loops = [s for s in branch_steps(session, case, branch) if s.session is not None]
        latest = loops[-1].checkpoint_id if loops else branch.from_checkpoint_id
        case.current_checkpoint_id, case.current_branch = latest, name
        return BranchSwitched(case.id, name, latest)
