"""What the case page charts: the patient's score on the specialization's instrument, checkpoint by checkpoint
along each branch, with its interval, the instrument's cut-off and reliable change from the branch's start.

Read-only views over the store (sessions, checkpoints, assessment runs). A point is a checkpoint the case ran
on (its start, then each checkpoint a later session ran on, then the case's current one); its score is the
newest assessment of that checkpoint for the case's persona. A checkpoint without one is a gap, never a zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from jedi_academy.errors import AcademyError
from jedi_academy.store.models import AssessmentRun, Case, Checkpoint, Specialization, TherapySession

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from jedi_academy.config import Settings
    from jedi_academy.store import Database


@dataclass
class Point:
    step: int  # 0 = the checkpoint the branch started on, n = after its n-th session
    checkpoint_id: str
    session_number: int | None
    total: float | None = None  # None: not assessed, or its run failed a validity gate (see ``invalid``)
    ci_low: float | None = None
    ci_high: float | None = None
    invalid: list[str] | None = None  # reason codes when the newest run is invalid: never shown as a score


@dataclass
class Branch:
    name: str
    points: list[Point] = field(default_factory=list)
    change: dict[str, Any] | None = None  # reliable change from the first to the last scored point
    sessions: int = 0
    recommendations: int = 0
    accepted: int = 0


@dataclass
class Trajectory:
    instrument: str | None
    score_range: tuple[float, float] | None
    cutoff: float | None
    higher_is_worse: bool
    branches: list[Branch]


def primary_instrument(session: Session, specialization: str, settings: Settings | None = None) -> str | None:
    """The specialization's first instrument: from its definition (shipped or the operator's, as the loop
    reads it), else from the copy stored when it was synced."""
    from jedi_academy.specializations import get_specialization

    try:
        instruments = list(get_specialization(specialization, settings).instruments)
    except AcademyError:
        row = session.get(Specialization, specialization)
        instruments = (row.definition or {}).get("instruments", []) if row is not None else []
    return instruments[0] if instruments else None


def _score(session: Session, checkpoint_id: str, persona_id: str, instrument: str) -> AssessmentRun | None:
    """The newest assessment of the checkpoint for this persona (or, failing that, without a persona)."""
    for persona in (persona_id, None):
        query = select(AssessmentRun).where(
            AssessmentRun.checkpoint_id == checkpoint_id, AssessmentRun.instrument_id == instrument
        )
        query = query.where(
            AssessmentRun.persona_id == persona if persona else AssessmentRun.persona_id.is_(None)
        )
        row = session.scalars(
            query.order_by(AssessmentRun.started_at.desc(), AssessmentRun.id.desc())
        ).first()
        if row is not None:
            return row
    return None


def case_trajectory(database: Database, case_id: str, settings: Settings | None = None) -> Trajectory:
    from jedi_academy.instruments import load_instrument, reliable_change

    with database.session() as session:
        case = session.get(Case, case_id)
        if case is None:
            raise AcademyError(f"unknown case {case_id}")
        instrument_id = primary_instrument(session, case.specialization_id, settings)
        rows = list(
            session.scalars(
                select(TherapySession)
                .where(TherapySession.case_id == case.id)
                .order_by(TherapySession.number)
            )
        )
        branches: dict[str, Branch] = {}
        for row in rows:
            branch = branches.setdefault(row.branch, Branch(row.branch))
            if not branch.points:
                branch.points.append(Point(0, row.checkpoint_id, None))
            elif branch.points[-1].checkpoint_id != row.checkpoint_id:
                branch.points.append(Point(len(branch.points), row.checkpoint_id, row.number - 1))
            branch.sessions += 1
        current = branches.setdefault(case.current_branch, Branch(case.current_branch))
        if not current.points:
            current.points.append(Point(0, case.current_checkpoint_id, None))
        elif current.points[-1].checkpoint_id != case.current_checkpoint_id:
            last = rows[-1].number if rows else None
            current.points.append(Point(len(current.points), case.current_checkpoint_id, last))
        if instrument_id is not None:
            for branch in branches.values():
                for point in branch.points:
                    run = _score(session, point.checkpoint_id, case.persona_id, instrument_id)
                    if run is None:
                        continue
                    validity = (run.result or {}).get("validity") or {"valid": False, "reasons": []}
                    if validity.get("valid") and run.total is not None:
                        point.total, point.ci_low, point.ci_high = run.total, run.ci_low, run.ci_high
                    else:
                        reasons = validity.get("reasons", [])
                        codes = [str(r.get("code")) for r in reasons if isinstance(r, dict)]
                        point.invalid = codes or ["not_gated" if run.total is not None else "no_total"]
    cutoff = None
    score_range = None
    higher_is_worse = True
    if instrument_id is not None:
        instrument = load_instrument(instrument_id)
        low, high = instrument.definition.scoring.range
        score_range = (float(low), float(high))
        if instrument.change is not None:
            cutoff = instrument.change.caseness_cutoff
            higher_is_worse = instrument.change.higher_is_worse
        for branch in branches.values():
            scored = [p for p in branch.points if p.total is not None]
            if len(scored) >= 2:
                try:
                    branch.change = reliable_change(
                        instrument,
                        scored[0].total,
                        scored[-1].total,  # type: ignore[arg-type]
                    ).as_dict()
                except AcademyError as exc:
                    branch.change = {"classification": f"not classified: {exc.message}"}
    return Trajectory(instrument_id, score_range, cutoff, higher_is_worse, list(branches.values()))


def checkpoint_tree(database: Database, case_id: str) -> list[dict[str, Any]]:
    """The checkpoints of the case's lineage, from its start checkpoint down, depth-first:
    [{id, kind, depth, sessions: [numbers], branches: [names], current}]."""
    with database.session() as session:
        case = session.get(Case, case_id)
        if case is None:
            raise AcademyError(f"unknown case {case_id}")
        used: dict[str, list[TherapySession]] = {}
        for row in session.scalars(
            select(TherapySession).where(TherapySession.case_id == case.id).order_by(TherapySession.number)
        ):
            used.setdefault(row.checkpoint_id, []).append(row)
        wanted = {case.start_checkpoint_id, case.current_checkpoint_id, *used}
        nodes: dict[str, Checkpoint] = {}
        for checkpoint_id in wanted:  # each checkpoint the case touched, and its ancestors up to the start
            walk = session.get(Checkpoint, checkpoint_id)
            while walk is not None and walk.id not in nodes:
                nodes[walk.id] = walk
                if walk.id == case.start_checkpoint_id or walk.parent_id is None:
                    break
                walk = session.get(Checkpoint, walk.parent_id)
        children: dict[str | None, list[Checkpoint]] = {}
        for node in nodes.values():
            parent = (
                node.parent_id if node.parent_id in nodes and node.id != case.start_checkpoint_id else None
            )
            children.setdefault(parent, []).append(node)
        out: list[dict[str, Any]] = []

        def visit(node: Checkpoint, depth: int) -> None:
            sessions = used.get(node.id, [])
            out.append(
                {
                    "id": node.id,
                    "kind": node.kind,
                    "depth": depth,
                    "sessions": [s.number for s in sessions],
                    "branches": sorted({s.branch for s in sessions}),
                    "current": node.id == case.current_checkpoint_id,
                    "created_at": node.created_at.isoformat(),
                }
            )
            for child in sorted(children.get(node.id, []), key=lambda c: (c.created_at, c.id)):
                visit(child, depth + 1)

        for root in sorted(children.get(None, []), key=lambda c: (c.created_at, c.id)):
            visit(root, 0)
        return out
