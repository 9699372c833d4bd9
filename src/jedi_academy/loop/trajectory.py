"""The one trajectory module of a case, over the one branch model (``loop.branches``): the session-wise view
(``academy case show``), the chart series (the web case page and the dashboard), the tree of checkpoints and
sessions (``academy case tree``, the page's checkpoint list) and the comparison of two branches.

A loop row left ``running`` while nobody runs it (its process was killed) is shown as ``interrupted``, with
the command that resumes it: while a loop runs it holds its case's writer lock under the command ``loop``, so
a ``running`` row whose case lock is free (or held by another command) has no process behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from jedi_academy.assessment.protocol import Protocol, other_run_json, other_runs, protocol_of, protocol_run
from jedi_academy.errors import AcademyError
from jedi_academy.loop.branches import MAIN, BranchInfo, branch_steps, case_branches, get_case
from jedi_academy.loop.control_view import CANNOT_CONCLUDE, case_line_effect, loop_control_view
from jedi_academy.loop.protocol import protocol_view
from jedi_academy.results import Result, plain
from jedi_academy.sessions.views import CaseView, SessionSummary
from jedi_academy.store.models import (
    AssessmentRun,
    Checkpoint,
    LoopRun,
    Recommendation,
    Specialization,
    TherapySession,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from jedi_academy.config import Settings
    from jedi_academy.store import Database

ONE_PATIENT = (
    "one simulated patient: a difference between branches beyond the instrument's reliable-change threshold "
    "says the two lines of sessions left this patient model measurably apart, not that one approach works "
    "better for people; that needs many personas (`academy experiment therapists`)"
)


RESUMABLE = ("interrupted", "failed")  # loop states that `academy loop --session S` finishes


@dataclass(frozen=True)
class SessionLoop(Result):
    """A session's loop in the case view: its state (``resume``: the command that finishes an interrupted or
    failed one), the checkpoint it made, the scores after it with their change, and its control child with
    the therapist effect (``loop/control_view.py``)."""

    loop_id: str
    status: str  # running | done | failed | interrupted (running, but no process runs it)
    stopped_at: str | None  # the first step not done (None once done)
    error: str | None
    resume: str | None
    checkpoint_id: str | None
    parent_checkpoint_id: str | None
    dataset_id: str | None
    scores: dict[str, Any] | None  # per instrument, the measurement after the loop
    change_vs_previous: dict[str, Any] | None
    change_vs_baseline: dict[str, Any] | None
    therapist_effect: dict[str, Any] | None  # per instrument: the child's change minus the control's
    therapist_effect_reason: str | None
    control_checkpoint_id: str | None
    uncontrolled: bool
    control: dict[str, Any] | None  # the control child's status, checkpoint, scores and change


@dataclass(frozen=True)
class CaseSession(SessionSummary):
    """One session in the case view: the sessions stage's summary, the recommendations by decision and its
    loop (None: no loop yet)."""

    accepted_recommendations: list[str]
    ignored_recommendations: list[str]
    undecided_recommendations: list[str]
    invalid_preference_recommendations: list[str]
    loop: SessionLoop | None


@dataclass(frozen=True)
class Baseline(Result):
    checkpoint_id: str
    scores: dict[str, Any] | None  # per instrument (None: not measured)


@dataclass(frozen=True)
class CaseCheckpoint(Result):
    """A checkpoint of the case's chain: its start (``session`` None) and each one a loop made."""

    checkpoint_id: str
    parent_checkpoint_id: str | None
    session: int | None
    branch: str
    dataset_id: str | None


@dataclass(frozen=True)
class CaseTrajectory(CaseView[list[CaseSession]]):
    """``academy case show --json`` and the web case page: the sessions stage's case view (its first
    fields), the protocol, the baseline, the branches, the sessions with their loops and the checkpoint chain.
    """

    protocol_note: str
    baseline: Baseline
    branches: list[BranchInfo]
    checkpoints: list[CaseCheckpoint]
    other_runs: list[dict[str, Any]]  # assessment runs outside the protocol (assessment.protocol)
    therapist_effect: dict[str, Any]  # per instrument, along the current line (loop/control_view.py)
    cannot_conclude: str


def _loops(session: Session, case_id: str) -> dict[str, LoopRun]:
    rows = session.scalars(select(LoopRun).where(LoopRun.case_id == case_id))
    return {loop.session_id: loop for loop in rows}


def loop_is_running(data_dir: Path, case_id: str) -> bool:
    """Whether a process runs a loop of this case now (it holds the case's lock as ``loop``)."""
    from jedi_academy.store import case_lock

    return case_lock(data_dir, case_id, "probe").held_by() == "loop"


def _recommendations(session: Session, session_id: str) -> dict[str, list[str]]:
    rows = list(
        session.scalars(
            select(Recommendation)
            .where(Recommendation.session_id == session_id)
            .order_by(Recommendation.index)
        )
    )
    return {
        "accepted": [r.text for r in rows if r.accepted is True],
        "ignored": [r.text for r in rows if r.accepted is False],
        # the patient did not answer Yes or No: no decision, left out of rates and of the follow-ups
        "invalid_preference": [r.text for r in rows if r.decision == "invalid_preference"],
        "undecided": [r.text for r in rows if r.accepted is None and r.decision != "invalid_preference"],
    }


def _loop_view(loop: LoopRun | None, running: bool | None) -> SessionLoop | None:
    """``running``: whether a process runs a loop of the case now (None: not known, no data directory)."""
    from jedi_academy.loop.run import STEPS

    if loop is None:
        return None
    assessment = loop.assessment or {}
    status = loop.status
    if status == "running" and running is False:
        status = "interrupted"
    stopped_at = next((s for s in STEPS if (loop.steps or {}).get(s, {}).get("status") != "done"), None)
    return SessionLoop(
        loop_id=loop.id,
        status=status,
        stopped_at=None if status == "done" else stopped_at,
        error=loop.error,
        resume=f"academy loop --session {loop.session_id}" if status in RESUMABLE else None,
        checkpoint_id=loop.checkpoint_id,
        parent_checkpoint_id=loop.parent_checkpoint_id,
        dataset_id=loop.dataset_id,
        scores=assessment.get("scores"),
        change_vs_previous=assessment.get("change_vs_previous"),
        change_vs_baseline=assessment.get("change_vs_baseline"),
        **plain(loop_control_view(loop)),  # the control child and the therapist effect (loop/control_view.py)
    )


def case_trajectory(database: Database, case_id: str, data_dir: Path | None = None) -> CaseTrajectory:
    """``academy case show --json``: the sessions stage's case view plus its branches, its checkpoint chain
    and, per session, the recommendations accepted and ignored and the scores after its loop (with
    uncertainty, validity, change and reliable change). With ``data_dir``, a loop whose process was killed
    is ``interrupted`` (with ``resume``, the command that finishes it)."""
    from jedi_academy.sessions.records import show_case

    view = plain(show_case(database, case_id))  # the sessions stage's view, as its --json keys
    with database.session() as session:
        case = get_case(session, view["id"])
        loops = _loops(session, case.id)
        unfinished = any(loop.status == "running" for loop in loops.values())
        running = loop_is_running(data_dir, case.id) if data_dir is not None and unfinished else None
        by_id = {
            s.id: s for s in session.scalars(select(TherapySession).where(TherapySession.case_id == case.id))
        }
        protocol = protocol_of(case)
        view.update(plain(protocol_view(protocol)))
        baseline = _protocol_baseline(session, case) if protocol is not None else None
        for loop in sorted(loops.values(), key=lambda item: item.created_at):
            if baseline is None and (loop.assessment or {}).get("baseline_scores"):
                baseline = loop.assessment["baseline_scores"]
                break
        sessions = []
        for row in view.pop("sessions"):
            recs = _recommendations(session, row["session_id"])
            sessions.append(
                CaseSession(
                    **row,
                    accepted_recommendations=recs["accepted"],
                    ignored_recommendations=recs["ignored"],
                    undecided_recommendations=recs["undecided"],
                    invalid_preference_recommendations=recs["invalid_preference"],
                    loop=_loop_view(loops.get(row["session_id"]), running),
                )
            )
        checkpoints = [CaseCheckpoint(case.start_checkpoint_id, None, None, MAIN, None)] + [
            CaseCheckpoint(
                loop.checkpoint_id,
                loop.parent_checkpoint_id,
                by_id[loop.session_id].number,
                loop.branch,
                loop.dataset_id,
            )
            for loop in sorted(loops.values(), key=lambda item: by_id[item.session_id].number)
            if loop.checkpoint_id
        ]
        others = other_runs(session, protocol, case.persona_id, [c.checkpoint_id for c in checkpoints])
        return CaseTrajectory(
            **view,
            sessions=sessions,
            baseline=Baseline(case.start_checkpoint_id, baseline),
            branches=case_branches(session, case),
            checkpoints=checkpoints,
            other_runs=[other_run_json(run) for run in others],
            therapist_effect=case_line_effect(sessions, case.current_branch),
            cannot_conclude=CANNOT_CONCLUDE,
        )


def _protocol_baseline(session: Session, case: Any) -> dict[str, Any] | None:
    """The baseline measured at `case open` (one measurement per protocol instrument)."""
    from jedi_academy.loop.reassess import measurement_json

    scores = {}
    for instrument, run_id in (case.baseline_runs or {}).items():
        run = session.get(AssessmentRun, run_id)
        if run is not None:
            scores[instrument] = measurement_json(run)
    return scores or None


# ---------------------------------------------------------------- tree


@dataclass(frozen=True)
class TreeNode(Result):
    """A checkpoint in ``academy case tree``: the baseline (``session`` None) or the child a session's loop
    made, with the scores after it and the branches that start on it."""

    checkpoint_id: str
    session: int | None
    branch: str
    branches_start: list[str]
    scores: dict[str, Any] | None
    change_vs_previous: dict[str, Any] | None
    children: list[TreeNode | PendingSession]


@dataclass(frozen=True)
class PendingSession(Result):
    """A session without a loop yet, under the checkpoint it ran on (a leaf)."""

    checkpoint_id: None
    session: int
    branch: str
    status: str
    children: list[TreeNode | PendingSession]  # always empty: the same shape as a checkpoint's


@dataclass(frozen=True)
class CaseTree(Result):
    """``academy case tree --json``: the tree and its text (``text``, what the command prints)."""

    case_id: str
    current_branch: str
    tree: TreeNode
    text: str


def _score_text(scores: dict[str, Any] | None, changes: dict[str, Any] | None = None) -> str:
    if not scores:
        return ""
    parts = []
    for instrument, score in scores.items():
        if not score["valid"]:
            parts.append(f"{instrument} invalid")
            continue
        low, high = score["ci95"]
        text = f"{instrument} {score['total']:.1f} [{low:.1f}-{high:.1f}]"
        change = (changes or {}).get(instrument)
        if change and change.get("classification"):
            text += f" {change['change']:+.1f} {change['classification']}"
        parts.append(text)
    return "  " + "; ".join(parts)


def case_tree(database: Database, case_id: str) -> CaseTree:
    """The case's checkpoints as a tree: each child under the checkpoint its session ran on, labelled with the
    session, its branch and the scores after its loop; sessions without a loop yet hang under theirs."""
    view = case_trajectory(database, case_id)
    children: dict[str, list[CaseSession]] = {}
    for row in view.sessions:
        children.setdefault(row.checkpoint_id, []).append(row)
    starts: dict[str, list[str]] = {}
    for branch in view.branches[1:]:
        starts.setdefault(branch.from_checkpoint_id, []).append(branch.name)

    def node(checkpoint: str, session_row: CaseSession | None) -> TreeNode:
        loop = session_row.loop if session_row else None
        kids: list[TreeNode | PendingSession] = []
        for row in children.get(checkpoint, []):
            if row.loop and row.loop.checkpoint_id:
                kids.append(node(row.loop.checkpoint_id, row))
            else:
                kids.append(PendingSession(None, row.number, row.branch, row.status, []))
        return TreeNode(
            checkpoint_id=checkpoint,
            session=session_row.number if session_row else None,
            branch=session_row.branch if session_row else MAIN,
            branches_start=starts.get(checkpoint, []),
            scores=loop.scores if loop else view.baseline.scores,
            change_vs_previous=loop.change_vs_previous if loop else None,
            children=kids,
        )

    root = node(view.start_checkpoint_id, None)
    return CaseTree(view.id, view.branch, root, render_tree(root))


def render_tree(root: TreeNode) -> str:
    lines = [f"{root.checkpoint_id} (baseline){_score_text(root.scores)}" + _starts(root)]

    def walk(node: TreeNode | PendingSession, prefix: str) -> None:
        for index, child in enumerate(node.children):
            last = index == len(node.children) - 1
            if isinstance(child, PendingSession):
                label = f"session {child.session} [{child.branch}] {child.status}, no loop yet"
            else:
                label = (
                    f"session {child.session} [{child.branch}] -> {child.checkpoint_id}"
                    f"{_score_text(child.scores, child.change_vs_previous)}{_starts(child)}"
                )
            lines.append(prefix + ("└── " if last else "├── ") + label)
            walk(child, prefix + ("    " if last else "│   "))

    walk(root, "")
    return "\n".join(lines)


def _starts(node: TreeNode) -> str:
    return f"  <- {', '.join(node.branches_start)} start(s) here" if node.branches_start else ""


# ---------------------------------------------------------------- compare


@dataclass(frozen=True)
class BranchLine(Result):
    """One branch in ``academy case compare``: its start, sessions, latest scores and acceptance."""

    branch: str
    from_checkpoint_id: str
    after_session: int | None
    sessions: list[int]
    final_checkpoint_id: str | None
    final_scores: dict[str, Any] | None
    change_vs_baseline: dict[str, Any] | None
    recommendations_accepted: int
    recommendations_decided: int
    recommendations_invalid_preference: int
    acceptance_rate: float | None


@dataclass(frozen=True)
class BranchComparison(Result):
    """``academy case compare --json``: the two branches and, per instrument both measured, their difference
    (keyed by the two branch names, then ``difference``, ``classification`` and ``note``)."""

    case_id: str
    branches: list[BranchLine]
    difference: dict[str, dict[str, Any]]
    difference_direction: str
    cannot_conclude: str


def _branch_line(view: CaseTrajectory, name: str) -> BranchLine:
    branch = next((b for b in view.branches if b.name == name), None)
    if branch is None:
        known = ", ".join(b.name for b in view.branches)
        raise AcademyError(f"case {view.id} has no branch {name!r}", f"its branches: {known}")
    rows = [r for r in view.sessions if r.branch == name]
    looped = [r.loop for r in rows if r.loop and r.loop.status == "done"]
    accepted = sum(len(r.accepted_recommendations) for r in rows)
    decided = accepted + sum(len(r.ignored_recommendations) for r in rows)
    invalid = sum(len(r.invalid_preference_recommendations) for r in rows)
    final = looped[-1] if looped else None
    return BranchLine(
        branch=name,
        from_checkpoint_id=branch.from_checkpoint_id,
        after_session=branch.after_session,
        sessions=[r.number for r in rows],
        final_checkpoint_id=final.checkpoint_id if final else None,
        final_scores=final.scores if final else None,
        change_vs_baseline=final.change_vs_baseline if final else None,
        recommendations_accepted=accepted,
        recommendations_decided=decided,
        recommendations_invalid_preference=invalid,
        acceptance_rate=accepted / decided if decided else None,
    )


def compare_branches(database: Database, case_id: str, first: str, second: str) -> BranchComparison:
    """Two approaches on the same patient: each branch's latest scores and change from the baseline, and
    whether their difference exceeds the instrument's reliable-change threshold."""
    from jedi_academy.loop.reassess import change_json

    view = case_trajectory(database, case_id)
    a, b = _branch_line(view, first), _branch_line(view, second)
    a_scores, b_scores = a.final_scores or {}, b.final_scores or {}
    differences = {}
    for instrument in sorted(set(a_scores) & set(b_scores)):
        result = change_json(instrument, a_scores[instrument], b_scores[instrument])
        differences[instrument] = {
            first: a_scores[instrument]["total"],
            second: b_scores[instrument]["total"],
            "difference": result["change"],  # second minus first
            "classification": result["classification"],
            "note": result.get("note"),
        }
    return BranchComparison(
        case_id=view.id,
        branches=[a, b],
        difference=differences,
        difference_direction=f"{second} minus {first}; the classification reads {second} against {first}",
        cannot_conclude=ONE_PATIENT,
    )


# ---------------------------------------------------------------- the chart series (web case page, dashboard)


@dataclass
class Point:
    step: int  # 0 = the checkpoint the branch started on, then each later checkpoint along it
    checkpoint_id: str
    session_number: int | None  # the session whose loop made it (None: the branch's start)
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
    control_of: str | None = None  # a control series: the no-therapist children beside this branch's loops


@dataclass
class Trajectory:
    instrument: str | None
    score_range: tuple[float, float] | None
    cutoff: float | None
    higher_is_worse: bool
    branches: list[Branch]
    controls: list[Branch] = field(default_factory=list)  # per branch, its loops' control children


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


def _newest_run(
    session: Session, checkpoint_id: str, persona_id: str, instrument: str
) -> AssessmentRun | None:
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


def _score_point(
    session: Session, point: Point, persona_id: str, instrument: str, protocol: Protocol | None
) -> None:
    """The point's score: the protocol's run on the checkpoint (a case opened before protocols: the newest
    run for the persona)."""
    if protocol is not None:
        run = protocol_run(session, protocol, point.checkpoint_id, instrument)
    else:
        run = _newest_run(session, point.checkpoint_id, persona_id, instrument)
    if run is None:
        return
    validity = (run.result or {}).get("validity") or {"valid": False, "reasons": []}
    if validity.get("valid") and run.total is not None:
        point.total, point.ci_low, point.ci_high = run.total, run.ci_low, run.ci_high
    else:
        reasons = validity.get("reasons", [])
        codes = [str(r.get("code")) for r in reasons if isinstance(r, dict)]
        point.invalid = codes or ["not_gated" if run.total is not None else "no_total"]


def _chart_branch(session: Session, case: Any, info: BranchInfo) -> Branch:
    branch = Branch(info.name)
    for step, found in enumerate(branch_steps(session, case, info)):
        branch.points.append(Point(step, found.checkpoint_id, found.session))
    branch.sessions = len(
        session.scalars(
            select(TherapySession.id).where(
                TherapySession.case_id == case.id, TherapySession.branch == info.name
            )
        ).all()
    )
    return branch


def trajectory_chart(database: Database, case_id: str, settings: Settings | None = None) -> Trajectory:
    """What the case page charts: the score on the specialization's instrument at every checkpoint along
    each branch (its start, then each checkpoint its sessions ran on and their loops made), with its
    interval, the instrument's cut-off and reliable change from the branch's first to its last scored point.
    A checkpoint without an assessment is a gap, never a zero."""
    from jedi_academy.instruments import load_instrument, reliable_change

    with database.session() as session:
        case = get_case(session, case_id)
        protocol = protocol_of(case)
        if protocol is not None:  # the protocol's first instrument, so every point is a protocol run
            instrument_id: str | None = protocol.instruments[0]
        else:
            instrument_id = primary_instrument(session, case.specialization_id, settings)
        branches = [_chart_branch(session, case, info) for info in case_branches(session, case)]
        controls = [_control_branch(session, case.id, branch) for branch in branches]
        controls = [c for c in controls if len(c.points) > 1]
        if instrument_id is not None:
            for branch in [*branches, *controls]:
                for point in branch.points:
                    _score_point(session, point, case.persona_id, instrument_id, protocol)
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
        for branch in branches:
            scored = [p.total for p in branch.points if p.total is not None]
            if len(scored) >= 2:
                try:
                    branch.change = reliable_change(instrument, scored[0], scored[-1]).as_dict()
                except AcademyError as exc:
                    branch.change = {"classification": f"not classified: {exc.message}"}
    return Trajectory(instrument_id, score_range, cutoff, higher_is_worse, branches, controls)


def _control_branch(session: Session, case_id: str, branch: Branch) -> Branch:
    """The control line beside ``branch``: from the branch's start, each loop's control child at the step of
    its therapist child (its sibling: both trained from the same parent with the same budget)."""
    loops = {
        loop.checkpoint_id: loop
        for loop in session.scalars(select(LoopRun).where(LoopRun.case_id == case_id))
        if loop.checkpoint_id
    }
    control = Branch(f"{branch.name}: no-therapist control", control_of=branch.name)
    for point in branch.points:
        loop = loops.get(point.checkpoint_id) if point.session_number is not None else None
        if point.step == 0:
            control.points.append(Point(0, point.checkpoint_id, None))
        elif loop is not None and (child := (loop.control or {}).get("checkpoint_id")):
            control.points.append(Point(point.step, child, point.session_number))
    return control


@dataclass(frozen=True)
class CheckpointNode(Result):
    """One checkpoint of the case page's list: its depth under the case's start, the sessions that ran on it
    and their branches, and whether the case is on it now."""

    id: str
    kind: str
    depth: int
    sessions: list[int]
    branches: list[str]
    current: bool
    created_at: str


def checkpoint_tree(database: Database, case_id: str) -> list[CheckpointNode]:
    """The checkpoints of the case's lineage, from its start checkpoint down, depth-first. Every checkpoint
    along every branch is in it (a loop's child before any session ran on it too)."""
    with database.session() as session:
        case = get_case(session, case_id)
        used: dict[str, list[TherapySession]] = {}
        for row in session.scalars(
            select(TherapySession).where(TherapySession.case_id == case.id).order_by(TherapySession.number)
        ):
            used.setdefault(row.checkpoint_id, []).append(row)
        along = {
            step.checkpoint_id: info.name
            for info in case_branches(session, case)
            for step in branch_steps(session, case, info)
        }
        wanted = {case.start_checkpoint_id, case.current_checkpoint_id, *used, *along}
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
        out: list[CheckpointNode] = []

        def visit(node: Checkpoint, depth: int) -> None:
            sessions = used.get(node.id, [])
            out.append(
                CheckpointNode(
                    id=node.id,
                    kind=node.kind,
                    depth=depth,
                    sessions=[s.number for s in sessions],
                    branches=sorted({s.branch for s in sessions}),
                    current=node.id == case.current_checkpoint_id,
                    created_at=node.created_at.isoformat(),
                )
            )
            for child in sorted(children.get(node.id, []), key=lambda c: (c.created_at, c.id)):
                visit(child, depth + 1)

        for root in sorted(children.get(None, []), key=lambda c: (c.created_at, c.id)):
            visit(root, 0)
        return out
